// The payer's side of finding a payee: this bank's own customers' receive terms come from the
// bank; another bank's from the terms it handed out before while they hold and have room, else
// from one signed request to it (room asked for several payments of the size at once); an
// alias that is not this bank's is asked of each peer bank in turn. The two-step flow's quotes
// come the same way.
import { type ErrorCode, fail, isCbdcError } from '../protocol/errors.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import { parseLock } from '../protocol/lock.js';
import { SignedClient } from '../platform/signed_client.js';
import type { Clock } from '../platform/clock.js';
import { ROOM_ASKED_PAYMENTS, RemoteTerms, type ReceiveTerms, type ReceiveTermsJson, termsFromJson } from './payee_terms.js';
import type { BankStore } from './store.js';
import type { PayeeRef, Quote } from './bank.js';

export interface PayeeLookupOptions {
  bankId: string;
  network: string;
  secretKey: Buffer;
  /** The CA other banks' TLS certificates chain to (the central link's), if any. */
  ca: () => Buffer | undefined;
  peers: ReadonlyMap<string, string>;
  store: BankStore;
  clock: Clock;
  /** Another bank's key as central's directory has it (undefined: not known here). */
  peerKeyOf: (bank: string) => Buffer | undefined;
  /** This bank's own payee's terms and quote. */
  localTerms: (payee: PayeeRef, amountFen: bigint) => ReceiveTerms;
  localQuote: (payee: PayeeRef, amountFen: bigint) => Promise<Quote>;
}

export class PayeeLookup {
  /** Other banks' payees' receive terms, held while they last (intermediary/payee_terms.ts). */
  readonly remoteTerms: RemoteTerms;

  constructor(private readonly o: PayeeLookupOptions) {
    this.remoteTerms = new RemoteTerms(o.clock);
  }

  /** A client signing as this bank to a peer bank's node. */
  private clientFor(bank: string): SignedClient {
    const url = this.o.peers.get(bank);
    if (url === undefined) fail('CBDC_ERR_PAYEE_UNKNOWN', `unknown bank "${bank.slice(0, 32)}"`);
    return new SignedClient(url, this.o.network, this.o.bankId, this.o.secretKey, 10_000, this.o.ca());
  }

  /** The bank a payee is at: as named, else by its account id's prefix, else this one (an alias). */
  private bankOf(payee: PayeeRef): string {
    return payee.bank ?? (payee.account?.includes('.') ? payee.account.split('.')[0] : undefined) ?? this.o.bankId;
  }

  /** The alias of a payee named by an alias alone that no customer here has (a peer's, if any), else null. */
  private foreignAlias(payee: PayeeRef): string | null {
    if (payee.alias === undefined || payee.bank !== undefined || this.o.store.aliases.get(payee.alias) !== undefined) return null;
    return payee.alias;
  }

  /** An alias that is not ours: each peer bank is asked in turn; the one that knows it answers. */
  private async firstPeerKnowing<T>(ask: (peer: string) => Promise<T>): Promise<T> {
    for (const peer of this.o.peers.keys()) {
      try {
        return await ask(peer);
      } catch (e) {
        if (isCbdcError(e) && e.code === 'CBDC_ERR_PAYEE_UNKNOWN') continue;
        throw e;
      }
    }
    fail('CBDC_ERR_PAYEE_UNKNOWN');
  }

  /**
   * One signed request to a peer bank. Its refusals in `passed` are the payer's answer as they
   * are; any other, or no answer, is CBDC_ERR_PAYEE_REFUSED naming the bank.
   */
  private async askPeer<T>(bank: string, route: string, body: Record<string, unknown>, passed: readonly ErrorCode[]): Promise<T> {
    const client = this.clientFor(bank);
    let r;
    try {
      r = await client.post<T & { code?: string; message?: string }>(route, body);
    } catch (e) {
      fail('CBDC_ERR_PAYEE_REFUSED', `bank ${bank} did not answer: ${(e as Error).message}`);
    }
    if (r.status !== 200) {
      const code = r.body.code as ErrorCode | undefined;
      if (code !== undefined && passed.includes(code)) fail(code, r.body.message);
      fail('CBDC_ERR_PAYEE_REFUSED', `${bank}: ${r.body.code ?? r.status} ${r.body.message ?? ''}`);
    }
    return r.body;
  }

  /**
   * The payer side: the terms to pay `payee` with. This bank's own customers' are computed now;
   * another bank's come from what it handed out before while they hold and have room, else
   * from one signed request to it (asking room for several payments of this size at once).
   */
  async terms(payee: PayeeRef, amountFen: bigint): Promise<ReceiveTerms> {
    const bank = this.bankOf(payee);
    const name = payee.account ?? payee.alias ?? '';
    if (bank === this.o.bankId) {
      const alias = this.foreignAlias(payee);
      if (alias === null) return this.o.localTerms(payee, amountFen);
      // An alias that is not ours: the peer that knows it answers (its terms are then kept under its name).
      for (const peer of this.o.peers.keys()) {
        const held = this.remoteTerms.usable(peer, name, amountFen);
        if (held !== undefined) return held;
      }
      return this.firstPeerKnowing((peer) => this.fetchTerms(peer, { alias }, amountFen));
    }
    return this.remoteTerms.usable(bank, name, amountFen) ?? this.fetchTerms(bank, payee, amountFen);
  }

  private async fetchTerms(bank: string, payee: PayeeRef, amountFen: bigint): Promise<ReceiveTerms> {
    const wanted = amountFen * BigInt(ROOM_ASKED_PAYMENTS);
    // The room left in terms held for this payee goes back as the new terms are asked for.
    let unusedFen = this.remoteTerms.release(bank, payee.account ?? payee.alias ?? '');
    if (unusedFen > AMOUNT_FEN_MAX) unusedFen = AMOUNT_FEN_MAX;
    const body = await this.askPeer<ReceiveTermsJson>(bank, '/v1/interbank/receive-terms', {
      ...(payee.alias ? { alias: payee.alias } : {}), ...(payee.account ? { account: payee.account } : {}),
      room_fen: (wanted > AMOUNT_FEN_MAX ? AMOUNT_FEN_MAX : wanted).toString(),
      ...(unusedFen > 0n ? { unused_fen: unusedFen.toString() } : {}),
    }, ['CBDC_ERR_PAYEE_UNKNOWN', 'CBDC_ERR_ACCOUNT_FROZEN', 'CBDC_ERR_VISITOR_EXPIRED']);
    const t = termsFromJson(body);
    const registered = this.o.peerKeyOf(bank);
    if (t.bank !== bank || (registered !== undefined && !registered.equals(t.bankKey))) fail('CBDC_ERR_PAYEE_REFUSED', `${bank} sent terms that name another bank or key`);
    // Kept under the name the payer used, and under the account id (payments that name it).
    this.remoteTerms.put(bank, payee.account ?? payee.alias ?? t.account, t);
    if (payee.account === undefined) this.remoteTerms.put(bank, t.account, t);
    return t;
  }

  /** The payer side of the two-step flow: a quote from the payee's bank (this one, or one signed request to another). */
  async quote(payee: PayeeRef, amountFen: bigint): Promise<Quote> {
    const bank = this.bankOf(payee);
    if (bank === this.o.bankId) {
      const alias = this.foreignAlias(payee);
      if (alias !== null) return this.firstPeerKnowing((peer) => this.resolveAt(peer, { alias }, amountFen));
      return this.o.localQuote(payee, amountFen);
    }
    return this.resolveAt(bank, payee, amountFen);
  }

  private async resolveAt(bank: string, payee: PayeeRef, amountFen: bigint): Promise<Quote> {
    const body = await this.askPeer<{ account: string; wallet_fen: string; excess_fen: string; outputs: { value: string; lock: unknown }[] }>(
      bank, '/v1/interbank/quote', { ...(payee.alias ? { alias: payee.alias } : {}), ...(payee.account ? { account: payee.account } : {}), amount_fen: amountFen.toString() },
      ['CBDC_ERR_PAYEE_UNKNOWN', 'CBDC_ERR_BALANCE_CAP', 'CBDC_ERR_ACCOUNT_FROZEN', 'CBDC_ERR_VISITOR_EXPIRED']);
    const outputs = body.outputs.map((o) => ({ value: BigInt(o.value), lock: parseLock(o.lock) }));
    const total = outputs.reduce((s, o) => s + o.value, 0n);
    if (total !== amountFen || outputs.length < 1 || outputs.length > 2) fail('CBDC_ERR_PAYEE_REFUSED', `${bank} quoted outputs that do not add up to the amount`);
    return { bank, account: body.account, walletFen: BigInt(body.wallet_fen), excessFen: BigInt(body.excess_fen), outputs };
  }
}
