// What every lock-based contract shares (docs/CONTRACTS.md): it is funded by one ordinary
// payment its creator's wallet signs (outputs under the contract's locks, which name a fresh
// derived key of this bank); it is spent by proposals: the bank builds the transaction, the
// parties whose consent its lock needs sign its txid, the bank checks the spend as central
// will (protocol/spend.ts), adds its own signature and settles it; and past its deadline the
// bank spends it alone through the time-locked branch, back to whom the terms say.
//
// Every step is idempotent: the same idempotency key creates the same contract; a proposal is
// one transaction, and proposing the same transaction again returns the same proposal; signing
// twice adds one signature. A refusal changes nothing: checks run before any write, and coins
// are reserved only when the complete transaction is sent.
import { createHash, randomBytes } from 'node:crypto';
import { CbdcError, type ErrorCode, assert, isCbdcError } from '../../protocol/errors.js';
import { decodeLockTrusted, encodeLock, type Lock } from '../../protocol/lock.js';
import type { WitnessCertificateJson } from '../../protocol/merchant_cert.js';
import { nativeVerifier } from '../../protocol/sig.js';
import { parseTx, txId, txToJson, type TxJson } from '../../protocol/tx.js';
import { makeTx } from '../../protocol/tx_builder.js';
import type { Bank } from '../bank.js';
import type { PaymentRec } from '../store.js';
import type { ContractKind, ContractRec, ContractsStore } from './store.js';
import { checkActive } from '../accounts.js';

/** Open contracts (awaiting funding or active) one account may have created. */
export const CONTRACTS_PER_ACCOUNT_MAX = 32;
/** Proposals waiting for signatures on one contract at once. */
export const SPENDS_OPEN_PER_CONTRACT_MAX = 8;
/** How long a proposal waits for its signatures. */
export const SPEND_TTL_MS = 10 * 60_000;
/** How far ahead a contract's deadline may lie. */
export const CONTRACT_HORIZON_MS_MAX = 10 * 366 * 86_400_000;
/** Contracts past their deadline settled by the bank alone per tick, at most. */
export const CONTRACTS_DUE_PER_TICK_MAX = 16;

export type SpendStatus = 'awaiting_signatures' | 'submitted' | 'settled' | 'refused';

/** A proposed spend of a contract's coins, waiting for (or done with) its parties' signatures. */
export interface SpendRec {
  id: string;
  contract: string;
  action: string;
  /** Coin owner it spends ('ctr:<id>' or 'ctr:<id>:<n>'). */
  owner: string;
  txid: string;
  /** The unsigned transaction. */
  tx: TxJson;
  /** Who may sign (party: an account id, or 'delegate'), and how many of them must. */
  signers: { party: string; key: string }[];
  need: number;
  sigs: { key: string; sig: string }[];
  preimages: string[];
  certs: WitnessCertificateJson[];
  /** What settling it does to the contract (the service reads it back in onSettled). */
  effect: Record<string, unknown>;
  status: SpendStatus;
  code: string | null;
  message: string | null;
  createdAtMs: number;
  expiresAtMs: number;
}

/** Who is asking: an account of this bank, bank staff, or a key (a delegate). */
export interface Actor {
  account: string | null;
  staff: boolean;
  key: Buffer;
}

export function terms(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_CONTRACT_TERMS', message);
}

export function state(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_CONTRACT_STATE', message);
}

/** What a service tells the engine when it makes a contract. */
export interface Plan {
  /** Coin owners and their locks, one funding output each. */
  pots: { owner: string; lock: Lock; valueFen: bigint }[];
  parties: string[];
  terms: Record<string, unknown>;
  state: Record<string, unknown>;
  /** When the bank may spend the pots alone (null: never). */
  deadlineMs: number | null;
  /** Whether the creator's tier limits count the funding (money leaves its control). */
  limitsNow: boolean;
}

/** One service (prepaid, escrow, hashlock, subsidy). */
export interface Service {
  kind: ContractKind;
  /** Validates the request and builds the locks; `key` is the contract's fresh bank key. */
  plan(e: Engine, creator: string, body: Record<string, unknown>, key: Buffer, now: number): Plan;
  /** Handles an action (builds a proposal, or spends at once); returns the proposal. */
  act(e: Engine, c: ContractRec, actor: Actor, action: string, body: Record<string, unknown>, now: number): Promise<SpendRec>;
  /** Inside the transaction applying a proposal: the contract after it. */
  onSettled(e: Engine, c: ContractRec, s: SpendRec): ContractRec;
  /** The bank alone, past the deadline: the spends to make (one per pot still holding money). */
  expire(e: Engine, c: ContractRec, now: number): { owner: string; action: string; to: string; effect: Record<string, unknown> }[];
}

export class Engine {
  readonly services = new Map<ContractKind, Service>();

  constructor(readonly bank: Bank, readonly store: ContractsStore, private readonly clock: () => number) {}

  register(s: Service): void {
    this.services.set(s.kind, s);
  }

  now(): number {
    return this.clock();
  }

  // ---------------------------------------------------------------- reading

  contract(id: string): ContractRec {
    const c = this.store.contracts.get(id);
    if (c === undefined) throw new CbdcError('CBDC_ERR_CONTRACT_UNKNOWN');
    return c;
  }

  /** The contract if `actor` is a party to it (or staff, or its delegate key). */
  contractFor(actor: Actor, id: string): ContractRec {
    const c = this.store.contracts.get(id);
    const delegate = c?.terms.delegate_key;
    const allowed = c !== undefined && (actor.staff || (actor.account !== null && c.parties.includes(actor.account)) || (typeof delegate === 'string' && delegate === actor.key.toString('hex')));
    if (!allowed) throw new CbdcError('CBDC_ERR_CONTRACT_UNKNOWN', 'no such contract, or you are not a party to it');
    return c!;
  }

  contractsOf(account: string, limit = 100): ContractRec[] {
    const out: ContractRec[] = [];
    for (const { key } of this.store.byAccount.getRange({ start: [account, 'ctr-'], end: [account, 'ctr-~'] })) {
      const c = this.store.contracts.get(key[1]);
      if (c !== undefined) out.push(c);
      if (out.length >= limit) break;
    }
    return out;
  }

  spend(contract: string, id: string): SpendRec {
    const s = this.store.spends.get(id);
    if (s === undefined || s.contract !== contract) throw new CbdcError('CBDC_ERR_NOT_FOUND', 'no such proposal for this contract');
    return s;
  }

  spendsOf(contract: string, limit = 50): SpendRec[] {
    return [...this.store.spendsByContract.getKeys({ start: [contract, ''], end: [contract, '~'], limit })].map((k) => this.store.spends.get(k[1])!).filter((s) => s !== undefined);
  }

  /** Sum of an owner's coins (reserved or not). */
  heldFen(owner: string): bigint {
    let sum = 0n;
    for (const { key } of this.bank.store.coinsByOwner.getRange({ start: [owner, ''], end: [owner, '~'] })) {
      const c = this.bank.store.coins.get(key[1]);
      if (c !== undefined) sum += BigInt(c.value);
    }
    return sum;
  }

  /** A party account of this bank that can take part (exists, not closed). */
  partyAccount(id: unknown, what: string): string {
    if (typeof id !== 'string') throw terms(`${what} must be an account id at this bank`);
    const a = this.bank.store.accounts.get(id);
    if (a === undefined || a.status === 'closed') throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', `${what} ${id.slice(0, 40)} is not an open account at ${this.bank.id}`);
    return id;
  }

  walletKeyOf(account: string): Buffer {
    return Buffer.from(this.bank.account(account).walletKey, 'hex');
  }

  // ---------------------------------------------------------------- creating

  /**
   * Records the contract (awaiting funding) and prepares its funding payment, which the
   * creator's wallet signs like any payment. The same idempotency key returns the same pair.
   */
  async create(kind: ContractKind, creator: string, idempotencyKey: string, body: Record<string, unknown>): Promise<{ contract: ContractRec; payment: PaymentRec }> {
    const service = this.services.get(kind);
    assert(service !== undefined, 'a registered service');
    const digest = createHash('sha256').update(JSON.stringify([kind, body])).digest('hex');
    const earlier = this.store.idem.get([creator, idempotencyKey]);
    if (earlier !== undefined) return this.same(creator, earlier, digest);
    const a = this.bank.account(creator);
    checkActive(a);

    const id = `ctr-${randomBytes(8).toString('hex')}`;
    const now = this.clock();
    // Validate with a throwaway key first (nothing written on a refusal), then for real.
    service.plan(this, creator, body, this.bank.publicKey, now);
    // The contract and its idempotency key in one transaction: a retry after a crash at any
    // later step finds this contract and finishes it, never starts a second one.
    const made = await this.bank.atomic(() => {
      const again = this.store.idem.get([creator, idempotencyKey]);
      if (again !== undefined) return { again };
      let open = 0;
      for (const { key } of this.store.byAccount.getRange({ start: [creator, 'ctr-'], end: [creator, 'ctr-~'] })) {
        const c = this.store.contracts.get(key[1]);
        if (c !== undefined && c.account === creator && (c.status === 'active' || c.status === 'awaiting_funding')) open++;
      }
      if (open >= CONTRACTS_PER_ACCOUNT_MAX) throw new CbdcError('CBDC_ERR_CONTRACT_LIMIT', `an account may have ${CONTRACTS_PER_ACCOUNT_MAX} open contracts`);
      const k = this.bank.contractKey();
      const plan = service.plan(this, creator, body, k.pk, now);
      const pots = plan.pots.map((p) => ({ owner: p.owner.replace('{id}', id), lock: p.lock, valueFen: p.valueFen }));
      for (const p of pots) this.bank.registerContractLock(p.lock, p.owner, k.index);
      const amount = pots.reduce((s, p) => s + p.valueFen, 0n);
      const rec: ContractRec = {
        id, kind, account: creator, parties: [...new Set([creator, ...plan.parties])], idempotencyKey, requestDigest: digest, status: 'awaiting_funding',
        amountFen: amount.toString(), fundingPaymentId: '', fundingTxid: '', fundingLimitsNow: plan.limitsNow, createdAtMs: now,
        terms: { ...plan.terms, bank_key: k.pk.toString('hex'), deadline_ms: plan.deadlineMs, pots: pots.map((p) => ({ owner: p.owner, lock: encodeLock(p.lock).toString('hex'), value_fen: p.valueFen.toString() })) },
        state: plan.state,
      };
      this.store.contracts.putSync(id, rec);
      this.store.idem.putSync([creator, idempotencyKey], id);
      return { rec };
    });
    if ('again' in made) return this.same(creator, made.again!, digest);
    return this.fund(made.rec!, true);
  }

  /**
   * Prepares the contract's funding payment (the bank's payment idempotency key `cf-<id>`
   * returns the same payment to a retry) and links it. A contract created here whose payment
   * is refused is removed with its idempotency key, as if it had never been asked for.
   */
  private async fund(rec: ContractRec, fresh: boolean): Promise<{ contract: ContractRec; payment: PaymentRec }> {
    const id = rec.id;
    const pots = (rec.terms.pots as { lock: string; value_fen: string }[]).map((p) => ({ value: BigInt(p.value_fen), lock: decodeLockTrusted(Buffer.from(p.lock, 'hex')) }));
    let payment: PaymentRec;
    try {
      payment = await this.bank.preparePayment(rec.account, {
        idempotencyKey: `cf-${id}`, amountFen: BigInt(rec.amountFen), payee: { contract: id, outputs: pots, limitsNow: rec.fundingLimitsNow ?? true },
      });
    } catch (e) {
      if (fresh) {
        await this.bank.atomic(() => {
          this.store.contracts.removeSync(id);
          this.store.idem.removeSync([rec.account, rec.idempotencyKey]);
        });
      }
      throw e;
    }
    const contract = await this.bank.atomic(() => {
      const c: ContractRec = { ...this.store.contracts.get(id)!, fundingPaymentId: payment.id, fundingTxid: payment.txid };
      this.store.contracts.putSync(id, c);
      for (const p of c.parties) this.store.byAccount.putSync([p, id], '');
      this.store.byTxid.putSync(payment.txid, `fund:${id}`);
      return c;
    });
    await this.bank.durable();
    return { contract, payment };
  }

  private async same(creator: string, id: string, digest: string): Promise<{ contract: ContractRec; payment: PaymentRec }> {
    const c = this.store.contracts.get(id);
    assert(c !== undefined, 'idempotency index points at a contract');
    if (c.requestDigest !== digest) throw new CbdcError('CBDC_ERR_IDEMPOTENCY_CONFLICT');
    // Created, but the crash came before its funding payment was linked: finish it now.
    if (c.fundingPaymentId === '') return this.fund(c, false);
    return { contract: c, payment: this.bank.payment(creator, c.fundingPaymentId) };
  }

  // ---------------------------------------------------------------- acting

  async act(actor: Actor, id: string, action: string, body: Record<string, unknown>): Promise<SpendRec> {
    const c = this.contractFor(actor, id);
    const deadline = c.terms.deadline_ms;
    if (c.status === 'awaiting_funding') throw state('the contract is not funded yet');
    if (c.status !== 'active') {
      // Ended by its deadline: the parties' branches are closed (before(deadline) in the lock).
      if (typeof deadline === 'number' && this.clock() >= deadline && action !== 'refund') throw new CbdcError('CBDC_ERR_LOCK_TIMELOCK', 'the deadline has passed');
      throw state(`the contract is ${c.status}`);
    }
    return this.services.get(c.kind)!.act(this, c, actor, action, body, this.clock());
  }

  /**
   * A proposal: spends every free coin of `owner` to `outputs` (the service's), for `signers`
   * (need of them) to sign. The same transaction proposed again is the same proposal.
   */
  async propose(c: ContractRec, o: {
    action: string; owner: string; outputs: { value: bigint; lock: Lock }[]; amountFen: bigint; changeLock: Lock | null;
    signers: { party: string; key: Buffer }[]; need: number; preimages?: Buffer[]; certs?: WitnessCertificateJson[]; effect: Record<string, unknown>;
  }): Promise<SpendRec> {
    const coins = this.bank.coinsOf(o.owner);
    const held = coins.reduce((s, x) => s + BigInt(x.value), 0n);
    if (coins.length === 0) throw state('the contract holds nothing free to spend (a spend of it may be under way)');
    if (held < o.amountFen) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS', `the contract holds ${held} fen, ${o.amountFen} asked for`);
    const outputs = [...o.outputs];
    if (held > o.amountFen) {
      assert(o.changeLock !== null, 'a partial spend has a change lock');
      outputs.push({ value: held - o.amountFen, lock: o.changeLock });
    }
    const tx = makeTx({ network: this.bank.network, inputs: coins.map((x) => ({ pos: BigInt(x.pos), id: Buffer.from(x.id, 'hex') })), outputs });
    const txid = txId(tx).toString('hex');
    const now = this.clock();
    const rec = await this.bank.atomic(() => {
      const existing = this.store.byTxid.get(txid);
      if (existing !== undefined && existing.startsWith('spend:')) {
        const s = this.store.spends.get(existing.slice('spend:'.length))!;
        if (s.status === 'awaiting_signatures' && s.expiresAtMs > now) return s;
      }
      const open = this.spendsOf(c.id, 100).filter((s) => s.status === 'awaiting_signatures' && s.expiresAtMs > now).length;
      if (open >= SPENDS_OPEN_PER_CONTRACT_MAX) throw new CbdcError('CBDC_ERR_CONTRACT_LIMIT', `a contract may have ${SPENDS_OPEN_PER_CONTRACT_MAX} proposals waiting for signatures`);
      const s: SpendRec = {
        id: `sp-${randomBytes(8).toString('hex')}`, contract: c.id, action: o.action, owner: o.owner, txid, tx: txToJson(tx),
        signers: o.signers.map((x) => ({ party: x.party, key: x.key.toString('hex') })), need: o.need, sigs: [],
        preimages: (o.preimages ?? []).map((p) => p.toString('hex')), certs: o.certs ?? [], effect: o.effect,
        status: 'awaiting_signatures', code: null, message: null, createdAtMs: now, expiresAtMs: now + SPEND_TTL_MS,
      };
      this.store.spends.putSync(s.id, s);
      this.store.spendsByContract.putSync([c.id, s.id], '');
      this.store.byTxid.putSync(txid, `spend:${s.id}`);
      return s;
    });
    await this.bank.durable();
    return rec;
  }

  /**
   * A party's signature over a proposal's txid. Once enough have signed, the bank checks the
   * spend, adds its signature and settles it; the answer is the proposal as it then stands.
   */
  async sign(actor: Actor, contractId: string, spendId: string, sigHex: string): Promise<SpendRec> {
    this.contractFor(actor, contractId);
    const s = this.spend(contractId, spendId);
    if (s.status !== 'awaiting_signatures') return s;
    const contract = this.contract(contractId);
    const deadline = contract.terms.deadline_ms;
    // Every branch a party signs for closes at the deadline (before(deadline) in the lock).
    if (typeof deadline === 'number' && this.clock() >= deadline) throw new CbdcError('CBDC_ERR_LOCK_TIMELOCK', 'the deadline has passed: this proposal can no longer settle');
    if (contract.status !== 'active') throw state(`the contract is ${contract.status}: this proposal can no longer settle`);
    if (s.expiresAtMs <= this.clock()) throw new CbdcError('CBDC_ERR_PAYMENT_EXPIRED', 'the proposal waited too long for its signatures; propose it again');
    const keyHex = actor.key.toString('hex');
    const signer = s.signers.find((x) => x.key === keyHex && (x.party === 'delegate' || x.party === actor.account));
    if (signer === undefined) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'your key is not one this proposal asks to sign');
    const sig = Buffer.from(sigHex, 'hex');
    if (!nativeVerifier.verify(sig, Buffer.from(s.txid, 'hex'), actor.key)) throw new CbdcError('CBDC_ERR_BAD_SIGNATURE', "the signature is not this key's over the proposal's txid");
    const cur = await this.bank.atomic(() => {
      const now = this.store.spends.get(spendId)!;
      if (now.status !== 'awaiting_signatures' || now.sigs.some((x) => x.key === keyHex)) return now;
      const next = { ...now, sigs: [...now.sigs, { key: keyHex, sig: sigHex }] };
      this.store.spends.putSync(spendId, next);
      return next;
    });
    if (cur.status !== 'awaiting_signatures' || cur.sigs.length < cur.need) {
      await this.bank.durable();
      return cur;
    }
    return this.submit(cur);
  }

  /** Sends a fully signed proposal (or the bank's own spend, which needs no party). */
  async submit(s: SpendRec): Promise<SpendRec> {
    let tx = parseTx({ ...s.tx, witness: {} }, this.bank.network, { witnessLater: true });
    tx = { ...tx, sigs: s.sigs.map((x) => ({ key: Buffer.from(x.key, 'hex'), sig: Buffer.from(x.sig, 'hex') })) };
    const withWitness = parseTx({ ...txToJson(tx), witness: { ...txToJson(tx).witness, ...(s.preimages.length ? { preimages: s.preimages } : {}), ...(s.certs.length ? { certs: s.certs } : {}) } }, this.bank.network, { witnessLater: true });
    const c = this.contract(s.contract);
    try {
      await this.bank.submitContractTx({
        owner: s.owner, tx: withWitness, label: `${c.kind} contract ${c.id}`,
        prepare: () => {
          const cur = this.store.spends.get(s.id)!;
          if (cur.status !== 'awaiting_signatures') throw state('the proposal is already under way');
          this.store.spends.putSync(s.id, { ...cur, status: 'submitted' });
        },
      });
    } catch (e) {
      if (!isCbdcError(e)) throw e;
      // Refused before anything was sent (checked as central would): the proposal is done with.
      await this.bank.atomic(() => {
        const cur = this.store.spends.get(s.id)!;
        if (cur.status === 'awaiting_signatures') this.store.spends.putSync(s.id, { ...cur, status: 'refused', code: e.code, message: e.message.slice(0, 200) });
      });
      await this.bank.durable();
      throw e;
    }
    return this.store.spends.get(s.id)!;
  }

  /** The bank alone (time-locked branch): proposes and submits at once. */
  async bankSpend(c: ContractRec, o: { owner: string; action: string; to: string; effect: Record<string, unknown> }): Promise<SpendRec | null> {
    const coins = this.bank.coinsOf(o.owner);
    if (coins.length === 0) return null;
    const held = coins.reduce((s, x) => s + BigInt(x.value), 0n);
    const s = await this.propose(c, { action: o.action, owner: o.owner, outputs: [{ value: held, lock: this.bank.payLockOf(o.to) }], amountFen: held, changeLock: null, signers: [], need: 0, effect: { ...o.effect, amount_fen: held.toString() } });
    if (s.status !== 'awaiting_signatures') return s;
    return this.submit(s);
  }

  // ---------------------------------------------------------------- settlement

  /** Inside the transaction applying `txid`. */
  onApplied(txid: string): void {
    const what = this.store.byTxid.get(txid);
    if (what === undefined) return;
    if (what.startsWith('fund:ctr-')) {
      const c = this.store.contracts.get(what.slice('fund:'.length));
      if (c === undefined || c.status !== 'awaiting_funding') return;
      this.store.contracts.putSync(c.id, { ...c, status: 'active' });
      const deadline = c.terms.deadline_ms;
      if (typeof deadline === 'number') this.store.contractsDue.putSync([deadline, c.id], '');
      return;
    }
    if (!what.startsWith('spend:')) return;
    const s = this.store.spends.get(what.slice('spend:'.length));
    if (s === undefined || s.status === 'settled') return;
    const settled: SpendRec = { ...s, status: 'settled', code: null, message: null };
    this.store.spends.putSync(s.id, settled);
    const c = this.store.contracts.get(s.contract)!;
    const next = this.services.get(c.kind)!.onSettled(this, c, settled);
    this.store.contracts.putSync(c.id, next);
  }

  /** Inside the transaction giving up `txid` (central refused it). */
  onRefused(txid: string, code: ErrorCode, message: string): void {
    const what = this.store.byTxid.get(txid);
    if (what === undefined || !what.startsWith('spend:')) return;
    const s = this.store.spends.get(what.slice('spend:'.length));
    if (s === undefined || s.status === 'settled') return;
    this.store.spends.putSync(s.id, { ...s, status: 'refused', code, message: message.slice(0, 200) });
  }

  /** Whether every pot of a contract is empty (inside a transaction, after coins moved). */
  empty(c: ContractRec): boolean {
    return ((c.terms.pots ?? []) as { owner: string }[]).every((p) => this.heldFen(p.owner) === 0n);
  }

  // ---------------------------------------------------------------- time

  /** Past-deadline contracts: the bank spends their pots alone, as the terms say. Funding that lapsed voids. */
  async tick(): Promise<void> {
    const now = this.clock();
    const due = [...this.store.contractsDue.getKeys({ end: [now, '~'], limit: CONTRACTS_DUE_PER_TICK_MAX })];
    for (const [at, id] of due) {
      const c = this.store.contracts.get(id);
      if (c === undefined || c.status !== 'active') {
        await this.bank.atomic(() => this.store.contractsDue.removeSync([at, id]));
        continue;
      }
      const todo = this.services.get(c.kind)!.expire(this, c, now);
      for (const t of todo) {
        try {
          await this.bankSpend(c, t);
        } catch (e) {
          // Refused (for example central's batch time is not yet past the deadline): next tick.
          if (!isCbdcError(e)) throw e;
        }
      }
      const after = this.store.contracts.get(id)!;
      if (after.status !== 'active' || this.empty(after)) await this.bank.atomic(() => this.store.contractsDue.removeSync([at, id]));
    }
    const stale: string[] = [];
    for (const { value } of this.store.contracts.getRange({})) {
      if (value.status !== 'awaiting_funding' || value.fundingPaymentId === '') continue;
      const p = this.bank.store.payments.get(value.fundingPaymentId);
      if (p !== undefined && (p.status === 'expired' || p.status === 'rejected')) stale.push(value.id);
      if (stale.length >= CONTRACTS_DUE_PER_TICK_MAX) break;
    }
    if (stale.length > 0) {
      await this.bank.atomic(() => {
        for (const id of stale) {
          const c = this.store.contracts.get(id)!;
          if (c.status === 'awaiting_funding') this.store.contracts.putSync(id, { ...c, status: 'void' });
        }
      });
    }
  }
}

/** A lock of the contract as recorded in its terms. */
export function potLock(c: ContractRec, owner: string): Lock {
  const p = ((c.terms.pots ?? []) as { owner: string; lock: string }[]).find((x) => x.owner === owner);
  assert(p !== undefined, 'a pot of the contract');
  return decodeLockTrusted(Buffer.from(p.lock, 'hex'));
}

export function contractJson(e: Engine, c: ContractRec): { id: string; kind: string; status: string; amount_fen: string; held_fen: string; [k: string]: unknown } {
  const pots = ((c.terms.pots ?? []) as { owner: string; value_fen: string }[]).map((p) => ({ owner: p.owner, funded_fen: p.value_fen, held_fen: e.heldFen(p.owner).toString() }));
  const { pots: _p, ...termsRest } = c.terms;
  return {
    id: c.id, kind: c.kind, status: c.status, account: c.account, parties: c.parties, amount_fen: c.amountFen,
    funding_payment_id: c.fundingPaymentId, created_at_ms: c.createdAtMs, terms: termsRest, state: c.state, pots,
    held_fen: pots.reduce((s, p) => s + BigInt(p.held_fen), 0n).toString(),
  };
}

export function spendJson(s: SpendRec): { id: string; status: string; txid: string; action: string; [k: string]: unknown } {
  return {
    id: s.id, contract: s.contract, action: s.action, status: s.status, txid: s.txid, tx: s.tx, signers: s.signers, need: s.need,
    signed_by: s.sigs.map((x) => x.key), effect: s.effect, code: s.code, message: s.message, created_at_ms: s.createdAtMs, expires_at_ms: s.expiresAtMs,
  };
}
