// The payer's side of finding a payee: this bank's own customers' receive terms come from the
// bank; another bank's from the terms it handed out before while they hold and have room, else
// from one signed request to it (room asked for several payments of the size at once); an
// alias that is not this bank's is asked of each peer bank in turn. The two-step flow's quotes
// come the same way.
import { fail, isCbdcError } from '../protocol/errors.js';
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

  /**
   * The payer side: the terms to pay `payee` with. This bank's own customers' are computed now;
   * another bank's come from what it handed out before while they hold and have room, else
   * from one signed request to it (asking room for several payments of this size at once).
   */
  async terms(payee: PayeeRef, amountFen: bigint): Promise<ReceiveTerms> {
    const bank = payee.bank ?? (payee.account?.includes('.') ? payee.account.split('.')[0] : undefined) ?? this.o.bankId;
    const name = payee.account ?? payee.alias ?? '';
    if (bank === this.o.bankId) {
      if (payee.alias === undefined || this.o.store.aliases.get(payee.alias) !== undefined || payee.bank !== undefined) return this.o.localTerms(payee, amountFen);
      // An alias that is not ours: the peer that knows it answers (its terms are then kept under its name).
      for (const peer of this.o.peers.keys()) {
        const held = this.remoteTerms.usable(peer, name, amountFen);
        if (held !== undefined) return held;
      }
      for (const peer of this.o.peers.keys()) {
        try {
          return await this.fetchTerms(peer, { alias: payee.alias }, amountFen);
        } catch (e) {
          if (isCbdcError(e) && e.code === 'CBDC_ERR_PAYEE_UNKNOWN') continue;
          throw e;
        }
      }
      fail('CBDC_ERR_PAYEE_UNKNOWN');
    }
    return this.remoteTerms.usable(bank, name, amountFen) ?? this.fetchTerms(bank, payee, amountFen);
  }

  private async fetchTerms(bank: string, payee: PayeeRef, amountFen: bigint): Promise<ReceiveTerms> {
    const client = this.clientFor(bank);
    const wanted = amountFen * BigInt(ROOM_ASKED_PAYMENTS);
    // The room left in terms held for this payee goes back as the new terms are asked for.
    let unusedFen = this.remoteTerms.release(bank, payee.account ?? payee.alias ?? '');
    if (unusedFen > AMOUNT_FEN_MAX) unusedFen = AMOUNT_FEN_MAX;
    let r;
    try {
      r = await client.post<ReceiveTermsJson & { code?: string; message?: string }>('/v1/interbank/receive-terms', {
        ...(payee.alias ? { alias: payee.alias } : {}), ...(payee.account ? { account: payee.account } : {}),
        room_fen: (wanted > AMOUNT_FEN_MAX ? AMOUNT_FEN_MAX : wanted).toString(),
        ...(unusedFen > 0n ? { unused_fen: unusedFen.toString() } : {}),
      });
    } catch (e) {
      fail('CBDC_ERR_PAYEE_REFUSED', `bank ${bank} did not answer: ${(e as Error).message}`);
    }
    if (r.status !== 200) {
      if (r.body.code === 'CBDC_ERR_PAYEE_UNKNOWN' || r.body.code === 'CBDC_ERR_ACCOUNT_FROZEN' || r.body.code === 'CBDC_ERR_VISITOR_EXPIRED') fail(r.body.code, r.body.message);
      fail('CBDC_ERR_PAYEE_REFUSED', `${bank}: ${r.body.code ?? r.status} ${r.body.message ?? ''}`);
    }
    const t = termsFromJson(r.body);
    const registered = this.o.peerKeyOf(bank);
    if (t.bank !== bank || (registered !== undefined && !registered.equals(t.bankKey))) fail('CBDC_ERR_PAYEE_REFUSED', `${bank} sent terms that name another bank or key`);
    // Kept under the name the payer used, and under the account id (payments that name it).
    this.remoteTerms.put(bank, payee.account ?? payee.alias ?? t.account, t);
    if (payee.account === undefined) this.remoteTerms.put(bank, t.account, t);
    return t;
  }

  /** The payer side of the two-step flow: a quote from the payee's bank (this one, or one signed request to another). */
  async quote(payee: PayeeRef, amountFen: bigint): Promise<Quote> {
    const bank = payee.bank ?? (payee.account?.includes('.') ? payee.account.split('.')[0] : undefined) ?? this.o.bankId;
    if (bank === this.o.bankId) {
      if (payee.alias !== undefined && this.o.store.aliases.get(payee.alias) === undefined && payee.bank === undefined) {
        return this.resolveRemoteAlias(payee.alias, amountFen);
      }
      return this.o.localQuote(payee, amountFen);
    }
    return this.resolveAt(bank, payee, amountFen);
  }

  /** An alias that is not ours: ask each peer bank in turn (the one that knows it answers). */
  private async resolveRemoteAlias(alias: string, amountFen: bigint): Promise<Quote> {
    for (const bank of this.o.peers.keys()) {
      try {
        return await this.resolveAt(bank, { alias }, amountFen);
      } catch (e) {
        if (isCbdcError(e) && e.code === 'CBDC_ERR_PAYEE_UNKNOWN') continue;
        throw e;
      }
    }
    fail('CBDC_ERR_PAYEE_UNKNOWN');
  }

  private async resolveAt(bank: string, payee: PayeeRef, amountFen: bigint): Promise<Quote> {
    const client = this.clientFor(bank);
    let r;
    try {
      r = await client.post<{ code?: string; message?: string; account: string; wallet_fen: string; excess_fen: string; outputs: { value: string; lock: unknown }[] }>(
        '/v1/interbank/quote', { ...(payee.alias ? { alias: payee.alias } : {}), ...(payee.account ? { account: payee.account } : {}), amount_fen: amountFen.toString() });
    } catch (e) {
      fail('CBDC_ERR_PAYEE_REFUSED', `bank ${bank} did not answer: ${(e as Error).message}`);
    }
    if (r.status !== 200) {
      if (r.body.code === 'CBDC_ERR_PAYEE_UNKNOWN' || r.body.code === 'CBDC_ERR_BALANCE_CAP' || r.body.code === 'CBDC_ERR_ACCOUNT_FROZEN' || r.body.code === 'CBDC_ERR_VISITOR_EXPIRED') fail(r.body.code, r.body.message);
      fail('CBDC_ERR_PAYEE_REFUSED', `${bank}: ${r.body.code ?? r.status} ${r.body.message ?? ''}`);
    }
    const outputs = r.body.outputs.map((o) => ({ value: BigInt(o.value), lock: parseLock(o.lock) }));
    const total = outputs.reduce((s, o) => s + o.value, 0n);
    if (total !== amountFen || outputs.length < 1 || outputs.length > 2) fail('CBDC_ERR_PAYEE_REFUSED', `${bank} quoted outputs that do not add up to the amount`);
    return { bank, account: r.body.account, walletFen: BigInt(r.body.wallet_fen), excessFen: BigInt(r.body.excess_fen), outputs };
  }
}
