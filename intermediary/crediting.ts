// Crediting: a transaction central settled, applied to the bank's books once (keyed by txid),
// from central's answer or its event stream, whichever comes first. It removes the bank's
// coins it spent and adds the outputs paying the bank's locks (recognising those paid to an
// account's receive key), settles the bank's payment if it is one, moves balances, deposits
// (over-cap sweeps) and holdings, writes one history entry per account touched, files AML
// reports, and tells the offline, receipt and contract services, all inside the one LMDB
// write transaction the caller runs.
import { assert } from '../protocol/errors.js';
import { type Lock, decodeLockTrusted } from '../protocol/lock.js';
import { paymentPublicKey } from '../protocol/receive_key.js';
import type { LockDerivation } from './bank_keys.js';
import type { IncomingHolds } from './incoming.js';
import { checkAml } from './aml.js';
import { type AccountRec, type BankStore, type HistoryRec, BANK_OWNER, SWEEP_PREFIX, posKey } from './store.js';
import type { AppliedTxHook, ContractHooks, ReceiptHooks } from './bank.js';

/** An output of a settled transaction as central reports it, with its lock's bytes. */
export interface SettledOutput {
  pos: string;
  id: string;
  value: string;
  lockHex: string;
}

/** What crediting needs of the bank. */
export interface CreditingContext {
  readonly store: BankStore;
  readonly bankId: string;
  readonly amlThresholdFen: bigint;
  readonly incoming: IncomingHolds;
  receiveKeyOf(accountId: string): Buffer;
  /** A history entry written by the running transaction, announced once it commits. */
  noteHistory(accountId: string, rec: HistoryRec): void;
  /** A payment the running transaction settled: its waiters wake once it commits. */
  paymentEnded(paymentId: string): void;
  /** The services listening to settlements, as set now. */
  hooks(): { onApplied: AppliedTxHook | null; receipts: ReceiptHooks | null; contractHooks: ContractHooks | null };
}

/** The bank's own CBDC (meta "holdings"), fen. */
export function holdingsFen(store: BankStore): bigint {
  return BigInt((store.meta.get('holdings') as string | undefined) ?? '0');
}

/**
 * Inside a transaction. Applies a settled transaction once (keyed by txid): removes our
 * coins it spent, adds outputs paying our locks, settles our payment if it is one, writes
 * history for each account it touched, and reports to compliance where the rules say.
 */
export function applyTx(ctx: CreditingContext, txid: string, spent: string[], outputs: SettledOutput[], atMs: number, exchangeFor: string | null): void {
  const store = ctx.store;
  if (store.applied.get(txid) !== undefined) return;
  // Another bank's business: it spends none of our coins and pays none of our locks. Every
  // transaction this bank submits spends a coin of ours (an issuance to us pays our
  // holdings lock), so nothing of ours is skipped, and nothing is written per foreign tx.
  // Each coin and lock is read once, here, and applied from what was read.
  const ownSpent = spent.map((pos) => posKey(pos)).map((pk) => ({ pk, c: store.coins.get(pk) }));
  const owners = outputs.map((o, i) => store.locks.get(o.lockHex) ?? recognisePaymentLock(ctx, o.lockHex, spent[0], i));
  if (!ownSpent.some((x) => x.c !== undefined) && !owners.some((owner) => owner !== undefined)) return;
  store.applied.putSync(txid, 1);
  store.pending.drop(txid);
  const paymentId = store.byTxid.get(txid) ?? null;
  const payment = paymentId === null ? undefined : store.payments.get(paymentId);
  // A contract's label and an exchange's account belong to transactions this bank submitted
  // from its own coins, never to a payment: nothing to look up for the others.
  const spendsOurs = ownSpent.some((x) => x.c !== undefined);
  const label = payment === undefined && spendsOurs ? (store.meta.get(`tx-label/${txid}`) as string | undefined) : undefined;
  if (payment === undefined && spendsOurs) exchangeFor ??= (store.meta.get(`exchange-tx/${txid}`) as string | undefined) ?? null;
  const delta = new Map<string, bigint>();
  const touch = (owner: string, d: bigint) => delta.set(owner, (delta.get(owner) ?? 0n) + d);
  // Each account is read once and written once, after its balance, deposit and history moved.
  const accounts = new Map<string, AccountRec | undefined>();
  const accountOf = (id: string): AccountRec | undefined => {
    if (!accounts.has(id)) accounts.set(id, store.accounts.get(id));
    return accounts.get(id);
  };
  const edited = new Set<string>();
  const edit = (a: AccountRec): void => {
    accounts.set(a.id, a);
    edited.add(a.id);
  };

  for (const { pk, c } of ownSpent) {
    if (c === undefined) continue;
    store.coins.removeSync(pk);
    store.coinsByOwner.removeSync([c.owner, pk]);
    store.reserved.release(pk);
    touch(c.owner, -BigInt(c.value));
  }
  const sweptTo = new Map<string, bigint>();
  const fromBank = new Map<string, string>();
  for (const [i, o] of outputs.entries()) {
    let owner = owners[i];
    if (owner === undefined) continue;
    if (owner.startsWith(SWEEP_PREFIX)) {
      // Over-cap money: the bank can spend it alone; it backs the customer's deposit.
      const acc = owner.slice(SWEEP_PREFIX.length);
      sweptTo.set(acc, (sweptTo.get(acc) ?? 0n) + BigInt(o.value));
      owner = BANK_OWNER;
    }
    const pk = posKey(o.pos);
    store.coins.putSync(pk, { pos: o.pos, id: o.id, value: o.value, owner, lockHex: o.lockHex });
    store.coinsByOwner.putSync([owner, pk], '');
    touch(owner, BigInt(o.value));
    const via = store.meta.get(`lock-payer/${o.lockHex}`) as string | undefined;
    if (via !== undefined) fromBank.set(owner, via);
  }
  for (const [owner, d] of delta) if (d > 0n) ctx.incoming.settle(owner, d);

  // Balances.
  for (const [owner, d] of delta) {
    if (owner === BANK_OWNER) {
      store.meta.putSync('holdings', (holdingsFen(store) + d).toString());
      continue;
    }
    const a = accountOf(owner);
    if (a === undefined) continue;
    const bal = BigInt(a.balanceFen) + d;
    assert(bal >= 0n, 'an account balance never goes negative');
    edit({ ...a, balanceFen: bal.toString() });
  }
  for (const [acc, v] of sweptTo) {
    const a = accountOf(acc);
    if (a !== undefined) edit({ ...a, depositFen: (BigInt(a.depositFen) + v).toString() });
  }
  if (payment?.payee.kind === 'deposit') {
    const a = accountOf(payment.account)!;
    edit({ ...a, depositFen: (BigInt(a.depositFen) + BigInt(payment.amountFen)).toString() });
  }

  // History, one entry per account touched.
  const addHistory = (accountId: string, e: Omit<HistoryRec, 'seq' | 'balanceAfterFen' | 'depositAfterFen'>): void => {
    const a = accountOf(accountId);
    if (a !== undefined) edit(writeHistory(ctx, a, e));
  };
  if (payment !== undefined) {
    ctx.paymentEnded(payment.id);
    store.payments.putSync(payment.id, {
      ...payment, status: 'settled',
      result: { status: 'settled', txid, outputs: outputs.map((o) => ({ pos: o.pos, id: o.id })) },
    });
    const counterparty = payment.payee.kind === 'deposit' ? 'own deposit'
      : payment.payee.kind === 'offline' ? `offline device ${payment.payee.account ?? ''}`
        : payment.payee.kind === 'contract' ? `contract ${payment.payee.account ?? ''}`
          : `${payment.payee.alias ?? payment.payee.account ?? ''}@${payment.payee.bank}`;
    addHistory(payment.account, { atMs, direction: 'out', kind: payment.payee.kind === 'deposit' ? 'exchange' : 'payment', amountFen: payment.amountFen, counterparty, txid, paymentId: payment.id });
  }
  for (const [owner, d] of delta) {
    if (owner === BANK_OWNER || owner === payment?.account) continue;
    if (d <= 0n) continue;
    const payer = payment !== undefined
      ? `${accountOf(payment.account)?.aliases[0] ?? payment.account}@${ctx.bankId}`
      : label !== undefined ? label
        : fromBank.has(owner) ? (fromBank.get(owner)!.startsWith('offline ') ? fromBank.get(owner)! : `a customer of ${fromBank.get(owner)}`) : 'another bank';
    addHistory(owner, { atMs, direction: 'in', kind: exchangeFor === owner ? 'exchange' : 'payment', amountFen: d.toString(), counterparty: exchangeFor === owner ? 'own deposit' : payer, txid, paymentId: null });
  }
  for (const [acc, v] of sweptTo) {
    addHistory(acc, { atMs, direction: 'in', kind: 'sweep', amountFen: v.toString(), counterparty: 'over the balance cap: to the linked deposit', txid, paymentId: null });
  }
  for (const id of edited) store.accounts.putSync(id, accounts.get(id)!);
  if (payment !== undefined) checkAml(store, ctx.amlThresholdFen, payment, atMs);
  ctx.hooks().onApplied?.(txid, payment);
  const receipts = ctx.hooks().receipts;
  if (receipts !== null) {
    // What this transaction paid into each account here: its wallet part and any sweep to its deposit.
    const credits = new Map<string, bigint>();
    for (const [owner, d] of delta) if (owner !== BANK_OWNER && d > 0n) credits.set(owner, d);
    for (const [acc, v] of sweptTo) credits.set(acc, (credits.get(acc) ?? 0n) + v);
    receipts.applied(txid, payment, credits, atMs);
  }
  ctx.hooks().contractHooks?.applied(txid, outputs, atMs);
}

/** Writes a history entry of account `a` (inside a transaction); returns the account with its next sequence number, for the caller to write. */
function writeHistory(ctx: CreditingContext, a: AccountRec, e: Omit<HistoryRec, 'seq' | 'balanceAfterFen' | 'depositAfterFen'>): AccountRec {
  const store = ctx.store;
  const rec: HistoryRec = { ...e, seq: a.historyNext, balanceAfterFen: a.balanceFen, depositAfterFen: a.depositFen };
  store.history.putSync([a.id, rec.seq], rec);
  // Wallets hear of it once it is committed (Bank.atomic emits after the commit).
  ctx.noteHistory(a.id, rec);
  return { ...a, historyNext: a.historyNext + 1 };
}

/**
 * Inside a transaction: the account an output pays when its lock is not on file, if it is
 * multi(2, [a customer's wallet key, the key derived from that account's receive key for
 * this output]); the lock is filed then, with how to derive its key.
 */
function recognisePaymentLock(ctx: CreditingContext, lockHex: string, firstInputPos: string | undefined, out: number): string | undefined {
  // multi(2, [33-byte key, 33-byte key]) encodes as tag, k, n, then the keys (protocol/lock.ts).
  if (firstInputPos === undefined || lockHex.length !== 2 * (3 + 66)) return undefined;
  let lock: Lock;
  try {
    lock = decodeLockTrusted(Buffer.from(lockHex, 'hex'));
  } catch {
    return undefined;
  }
  if (lock.type !== 'multi' || lock.k !== 2 || lock.keys.length !== 2) return undefined;
  const account = ctx.store.walletKeys.get(lock.keys[0]!.toString('hex'));
  if (account === undefined) return undefined;
  if (!paymentPublicKey(ctx.receiveKeyOf(account), BigInt(firstInputPos), out).equals(lock.keys[1]!)) return undefined;
  fileReceiveLock(ctx.store, lockHex, { account, pos: firstInputPos, out });
  return account;
}

/**
 * Inside a transaction: files the lock of output `d.out` of a payment to account `d.account`
 * (its key derived from the account's receive key) with how to derive its key, so crediting
 * finds it on file and the bank can co-sign its spending.
 */
export function fileReceiveLock(store: BankStore, lockHex: string, d: { account: string; pos: string; out: number }): void {
  store.locks.putSync(lockHex, d.account);
  store.meta.putSync(`lock-derivation/${lockHex}`, d satisfies LockDerivation);
}
