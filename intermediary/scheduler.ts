// Scheduled and recurring payments, run by the bank's scheduler.
//
// Consent and funds: the payer's wallet signs one ordinary payment (the funding) into a pot
// locked key(derived bank key): money set aside for this schedule that only the bank can
// spend, and only the scheduler does, slot by slot, to the payee the wallet named. When the
// schedule ends (all slots done, or the wallet cancels it) what is left goes back to the
// wallet's lock.
//
// Slots: slot k is due at first_at_ms + k * interval_ms (k < count). Each slot runs at most
// once ever: its record, with the idempotency key of its payment (ss-<schedule>-<k>), is
// written in the same LMDB transaction that moves the schedule past it, before anything is
// sent; the payment then goes through the bank's own idempotent payment path (same key, same
// payment), so a crash at any point resumes the same payment rather than starting another.
// At run time the payment is checked like any other: the payer's tier limits (single, daily,
// annual), a frozen or closed account, the payee. A refusal is recorded on the slot with its
// code and is not retried; the schedule moves on to its next slot.
//
// Catch-up rule (after a restart, or any time the scheduler fell behind): a slot whose due
// time has passed runs late if it is at most `catchUpWindowMs` (default 3 days) overdue,
// oldest first, at most SCHEDULER_SLOTS_PER_TICK_MAX slots per tick; a slot overdue by more
// is recorded as missed (CBDC_ERR_SCHEDULE_MISSED) and not run. A slot whose payment could
// not reach central is tried again on later ticks within the same window, then refused.
import { createHash, randomBytes } from 'node:crypto';
import { CbdcError, type ErrorCode, assert, isCbdcError } from '../protocol/errors.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import { decodeLockTrusted } from '../protocol/lock.js';
import { keyLock, makeTx } from '../protocol/tx_builder.js';
import type { Bank, PayeeRef } from './bank.js';
import type { PaymentRec } from './store.js';
import type { ContractsStore, ScheduleRec, SlotRec } from './contracts/store.js';
import { checkActive } from './accounts.js';

/** Open schedules (awaiting funding or active) one account may have. */
export const SCHEDULES_PER_ACCOUNT_MAX = 16;
/** Slots one schedule may have. */
export const SCHEDULE_SLOTS_MAX = 1_000;
/** The shortest interval between slots of a recurring schedule. */
export const SCHEDULE_INTERVAL_MS_MIN = 1_000;
/** The longest interval (a year and a day). */
export const SCHEDULE_INTERVAL_MS_MAX = 366 * 86_400_000;
/** How far ahead the last slot may lie. */
export const SCHEDULE_HORIZON_MS_MAX = 10 * 366 * 86_400_000;
/** How far in the past a first slot may be asked for (clock skew between wallet and bank). */
export const SCHEDULE_PAST_MS_MAX = 60_000;
/** Slots started or resumed per tick, at most. */
export const SCHEDULER_SLOTS_PER_TICK_MAX = 32;
/** Ended schedules whose pots are given back per tick, at most. */
export const SCHEDULER_REFUNDS_PER_TICK_MAX = 16;
/** Attempts at one slot's payment whose earlier attempt lapsed unsent (a restart outlasted its TTL). */
export const SLOT_ATTEMPTS_MAX = 5;
export const CATCH_UP_WINDOW_MS_DEFAULT = 3 * 86_400_000;
export const SCHEDULER_TICK_MS_DEFAULT = 1_000;

/** Codes that mean "not known yet": the slot stays running and is tried again within the window. */
const TRANSIENT: ReadonlySet<string> = new Set(['CBDC_ERR_CENTRAL_UNAVAILABLE', 'CBDC_ERR_OVERLOADED']);

export interface SchedulerOptions {
  tickMs?: number;
  catchUpWindowMs?: number;
  clock?: () => number;
}

export interface ScheduleRequest {
  idempotencyKey: string;
  payee: PayeeRef;
  amountFen: bigint;
  firstAtMs: number;
  intervalMs: number;
  count: number;
  /** Money to set aside now (default amount x count); the rest comes back when it ends. */
  fundFen?: bigint;
}

function terms(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_CONTRACT_TERMS', message);
}

export class Scheduler {
  readonly tickMs: number;
  readonly catchUpWindowMs: number;
  private readonly clock: () => number;
  private busy: Promise<void> | null = null;

  constructor(readonly bank: Bank, readonly store: ContractsStore, o: SchedulerOptions = {}) {
    this.tickMs = o.tickMs ?? SCHEDULER_TICK_MS_DEFAULT;
    this.catchUpWindowMs = o.catchUpWindowMs ?? CATCH_UP_WINDOW_MS_DEFAULT;
    this.clock = o.clock ?? Date.now;
    assert(this.tickMs >= 10 && this.catchUpWindowMs >= 0, 'scheduler options in range');
  }

  /** Waits for a tick under way (ContractServices runs the ticks on its timer). */
  async stop(): Promise<void> {
    await this.busy;
  }

  // ---------------------------------------------------------------- creating and cancelling

  /**
   * The wallet's request: records the schedule (awaiting funding) and prepares the funding
   * payment into its pot, for the wallet to sign like any payment. The same idempotency key
   * returns the same schedule and payment.
   */
  async create(accountId: string, r: ScheduleRequest): Promise<{ schedule: ScheduleRec; payment: PaymentRec }> {
    const now = this.clock();
    const fundFen = r.fundFen ?? r.amountFen * BigInt(r.count);
    const digest = createHash('sha256').update(JSON.stringify([r.payee, r.amountFen.toString(), r.firstAtMs, r.intervalMs, r.count, fundFen.toString()])).digest('hex');
    const earlier = this.store.idem.get([accountId, r.idempotencyKey]);
    if (earlier !== undefined) return this.same(accountId, earlier, digest);

    if (!Number.isInteger(r.count) || r.count < 1 || r.count > SCHEDULE_SLOTS_MAX) throw terms(`count is 1 to ${SCHEDULE_SLOTS_MAX}`);
    if (r.count === 1 && r.intervalMs !== 0) throw terms('a one-off payment (count 1) has interval_ms 0');
    if (r.count > 1 && (r.intervalMs < SCHEDULE_INTERVAL_MS_MIN || r.intervalMs > SCHEDULE_INTERVAL_MS_MAX)) {
      throw terms(`a recurring payment's interval_ms is ${SCHEDULE_INTERVAL_MS_MIN} to ${SCHEDULE_INTERVAL_MS_MAX}`);
    }
    if (r.firstAtMs < now - SCHEDULE_PAST_MS_MAX) throw terms('first_at_ms is in the past');
    if (r.firstAtMs + r.intervalMs * (r.count - 1) > now + SCHEDULE_HORIZON_MS_MAX) throw terms('the last slot lies too far ahead');
    if (fundFen < r.amountFen || fundFen > AMOUNT_FEN_MAX) throw terms('fund_fen covers at least one slot and at most AMOUNT_FEN_MAX');
    if (r.payee.account === accountId) throw new CbdcError('CBDC_ERR_PAYEE_REFUSED', 'a wallet cannot pay itself');
    const a = this.bank.account(accountId);
    checkActive(a);
    if (BigInt(a.balanceFen) < fundFen) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS', 'the wallet does not hold what the schedule sets aside');

    const id = `sch-${randomBytes(8).toString('hex')}`;
    const potOwner = `sched:${id}`;
    const made = await this.bank.atomic(() => {
      const again = this.store.idem.get([accountId, r.idempotencyKey]);
      if (again !== undefined) return { again };
      let open = 0;
      for (const { key } of this.store.byAccount.getRange({ start: [accountId, 'sch-'], end: [accountId, 'sch-~'] })) {
        const s = this.store.schedules.get(key[1]);
        if (s !== undefined && (s.status === 'active' || s.status === 'awaiting_funding')) open++;
      }
      if (open >= SCHEDULES_PER_ACCOUNT_MAX) throw new CbdcError('CBDC_ERR_CONTRACT_LIMIT', `an account may have ${SCHEDULES_PER_ACCOUNT_MAX} open schedules`);
      const k = this.bank.contractKey();
      const potLock = keyLock(k.pk);
      const potLockHex = this.bank.registerContractLock(potLock, potOwner, k.index);
      const rec: ScheduleRec = {
        id, account: accountId, idempotencyKey: r.idempotencyKey, requestDigest: digest, payee: r.payee, amountFen: r.amountFen.toString(),
        firstAtMs: r.firstAtMs, intervalMs: r.intervalMs, slots: r.count, nextSlot: 0, status: 'awaiting_funding', potOwner, potLockHex,
        fundFen: fundFen.toString(), fundingPaymentId: '', fundingTxid: '', createdAtMs: now, settled: 0, refused: 0, missed: 0, refundedFen: '0',
      };
      this.store.schedules.putSync(id, rec);
      return { potLock };
    });
    if ('again' in made) return this.same(accountId, made.again!, digest);
    let payment: PaymentRec;
    try {
      payment = await this.bank.preparePayment(accountId, {
        idempotencyKey: `sf-${id}`, amountFen: fundFen,
        payee: { contract: id, outputs: [{ value: fundFen, lock: made.potLock }], limitsNow: false },
      });
    } catch (e) {
      // Refused (limits, balance, a freeze meanwhile): nothing of the schedule stays.
      await this.bank.atomic(() => this.store.schedules.removeSync(id));
      throw e;
    }
    const schedule = await this.bank.atomic(() => {
      const s = { ...this.store.schedules.get(id)!, fundingPaymentId: payment.id, fundingTxid: payment.txid };
      this.store.schedules.putSync(id, s);
      this.store.idem.putSync([accountId, r.idempotencyKey], id);
      this.store.byAccount.putSync([accountId, id], '');
      this.store.byTxid.putSync(payment.txid, `fund:${id}`);
      return s;
    });
    await this.bank.durable();
    return { schedule, payment };
  }

  private same(accountId: string, id: string, digest: string): { schedule: ScheduleRec; payment: PaymentRec } {
    const s = this.store.schedules.get(id);
    assert(s !== undefined, 'idempotency index points at a schedule');
    if (s.requestDigest !== digest) throw new CbdcError('CBDC_ERR_IDEMPOTENCY_CONFLICT');
    return { schedule: s, payment: this.bank.payment(accountId, s.fundingPaymentId) };
  }

  schedule(accountId: string | null, id: string): ScheduleRec {
    const s = this.store.schedules.get(id);
    if (s === undefined || (accountId !== null && s.account !== accountId)) throw new CbdcError('CBDC_ERR_CONTRACT_UNKNOWN', 'no such schedule for this account');
    return s;
  }

  schedulesOf(accountId: string, limit = 100): ScheduleRec[] {
    const out: ScheduleRec[] = [];
    for (const { key } of this.store.byAccount.getRange({ start: [accountId, 'sch-'], end: [accountId, 'sch-~'] })) {
      const s = this.store.schedules.get(key[1]);
      if (s !== undefined) out.push(s);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Every schedule at the bank, for staff (optionally by status), at most `limit`. */
  allSchedules(status: string | null, limit = 500): ScheduleRec[] {
    const out: ScheduleRec[] = [];
    for (const { value } of this.store.schedules.getRange({})) {
      if (status === null || value.status === status) out.push(value);
      if (out.length >= limit) break;
    }
    return out;
  }

  slotsOf(id: string, fromSlot = 0, limit = 100): SlotRec[] {
    return [...this.store.slots.getRange({ start: [id, fromSlot], end: [id, Number.MAX_SAFE_INTEGER], limit })].map((e) => e.value);
  }

  /** The wallet (or staff) cancels: no slot starts after this; the pot's money goes back. */
  async cancel(accountId: string | null, id: string): Promise<ScheduleRec> {
    const s = await this.bank.atomic(() => {
      const cur = this.schedule(accountId, id);
      if (cur.status === 'cancelled' || cur.status === 'finished' || cur.status === 'void') return cur;
      this.store.due.removeSync([this.dueAt(cur, cur.nextSlot), id]);
      const next = { ...cur, status: 'cancelled' as const };
      this.store.schedules.putSync(id, next);
      this.store.refunds.putSync(id, '');
      return next;
    });
    await this.bank.durable();
    return s;
  }

  // ---------------------------------------------------------------- settlement hooks

  /** Inside the transaction applying `txid`: a settled funding activates its schedule. */
  onApplied(txid: string): void {
    const what = this.store.byTxid.get(txid);
    if (what === undefined || !what.startsWith('fund:')) return;
    const id = what.slice('fund:'.length);
    const s = this.store.schedules.get(id);
    if (s === undefined || s.status !== 'awaiting_funding') return;
    this.store.schedules.putSync(id, { ...s, status: 'active' });
    this.store.due.putSync([this.dueAt(s, s.nextSlot), id], '');
  }

  private dueAt(s: ScheduleRec, slot: number): number {
    return s.firstAtMs + s.intervalMs * slot;
  }

  // ---------------------------------------------------------------- running

  /** One pass: resume running slots, start due ones, give back ended pots. Never overlaps itself. */
  tick(): Promise<void> {
    if (this.busy !== null) return this.busy;
    this.busy = this.runTick().catch((e: Error) => {
      process.stderr.write(`bank ${this.bank.id}: scheduler tick failed: ${e.message}\n`);
    }).finally(() => { this.busy = null; });
    return this.busy;
  }

  private async runTick(): Promise<void> {
    let budget = SCHEDULER_SLOTS_PER_TICK_MAX;
    const now = this.clock();
    await this.voidUnfunded(now);
    // Slots started before (a restart, or a payment still pending at central) come first.
    const running = [...this.store.running.getKeys({ limit: budget })];
    for (const [sid, k] of running) {
      budget--;
      await this.execute(sid, k);
    }
    // Then due slots, oldest due time first.
    while (budget > 0) {
      const first = [...this.store.due.getKeys({ end: [now + 1, ''], limit: 1 })][0];
      if (first === undefined) break;
      budget--;
      const started = await this.startSlot(first[1], now);
      if (started !== null) await this.execute(first[1], started);
    }
    await this.refundEnded();
  }

  /** A schedule whose funding payment lapsed or was refused never starts. */
  private async voidUnfunded(now: number): Promise<void> {
    const stale: string[] = [];
    for (const { value } of this.store.schedules.getRange({})) {
      if (value.status !== 'awaiting_funding' || value.fundingPaymentId === '') continue;
      const p = this.store.bank.payments.get(value.fundingPaymentId);
      if (p !== undefined && (p.status === 'expired' || p.status === 'rejected')) stale.push(value.id);
      if (stale.length >= SCHEDULER_SLOTS_PER_TICK_MAX) break;
    }
    void now;
    if (stale.length === 0) return;
    await this.bank.atomic(() => {
      for (const id of stale) {
        const s = this.store.schedules.get(id)!;
        if (s.status === 'awaiting_funding') this.store.schedules.putSync(id, { ...s, status: 'void' });
      }
    });
  }

  /**
   * Claims the schedule's next slot: records it (running, with its payment's idempotency key)
   * and moves the schedule past it in one transaction, before any payment exists. A slot past
   * the catch-up window is recorded as missed instead. Returns the slot to run, or null.
   */
  private async startSlot(id: string, now: number): Promise<number | null> {
    return this.bank.atomic(() => {
      const s = this.store.schedules.get(id);
      assert(s !== undefined, 'the due index names a schedule');
      const k = s.nextSlot;
      const dueAt = this.dueAt(s, k);
      this.store.due.removeSync([dueAt, id]);
      if (s.status !== 'active' || k >= s.slots) return null;
      assert(this.store.slots.get([id, k]) === undefined, 'a slot is started once');
      const missed = now - dueAt > this.catchUpWindowMs;
      const slot: SlotRec = {
        schedule: id, slot: k, dueAtMs: dueAt, idempotencyKey: `ss-${id.slice(4)}-${k}`, attempts: 1,
        status: missed ? 'missed' : 'running', paymentId: null, txid: null,
        code: missed ? 'CBDC_ERR_SCHEDULE_MISSED' : null, message: missed ? `due ${now - dueAt} ms ago, past the catch-up window` : null,
        startedAtMs: now, finishedAtMs: missed ? now : null,
      };
      this.store.slots.putSync([id, k], slot);
      const last = k + 1 >= s.slots;
      const next: ScheduleRec = { ...s, nextSlot: k + 1, missed: s.missed + (missed ? 1 : 0), status: last ? 'finished' : 'active' };
      this.store.schedules.putSync(id, next);
      if (last) this.store.refunds.putSync(id, '');
      else this.store.due.putSync([this.dueAt(s, k + 1), id], '');
      if (missed) return null;
      this.store.running.putSync([id, k], '');
      return k;
    });
  }

  /** Runs (or resumes) a started slot's payment through the bank's payment path. */
  private async execute(id: string, k: number): Promise<void> {
    const s = this.store.schedules.get(id)!;
    let slot = this.store.slots.get([id, k])!;
    if (slot.status !== 'running') {
      await this.bank.atomic(() => this.store.running.removeSync([id, k]));
      return;
    }
    let p: PaymentRec;
    try {
      p = await this.bank.preparePayment(s.account, {
        idempotencyKey: slot.idempotencyKey, payee: s.payee, amountFen: BigInt(s.amountFen),
        source: { owner: s.potOwner, changeLock: decodeLockTrusted(Buffer.from(s.potLockHex, 'hex')) },
      });
      if (slot.paymentId === null) {
        slot = await this.bank.atomic(() => {
          const cur = { ...this.store.slots.get([id, k])!, paymentId: p.id, txid: p.txid };
          this.store.slots.putSync([id, k], cur);
          return cur;
        });
      }
      if (p.status === 'expired' && slot.attempts < SLOT_ATTEMPTS_MAX) {
        // Its payment lapsed before it was ever sent (the bank was down past its TTL): a fresh
        // key for a fresh payment; the lapsed one can no longer settle.
        await this.bank.atomic(() => {
          const cur = this.store.slots.get([id, k])!;
          this.store.slots.putSync([id, k], { ...cur, attempts: cur.attempts + 1, idempotencyKey: `ss-${id.slice(4)}-${k}-${cur.attempts + 1}`, paymentId: null, txid: null });
        });
        return;
      }
      if (p.status === 'awaiting_signature') p = await this.bank.settleByBank(s.account, p.id);
    } catch (e) {
      if (!isCbdcError(e)) throw e;
      await this.finish(id, k, null, e.code, e.message);
      return;
    }
    if (p.status === 'settled') await this.finish(id, k, p, null, null);
    else if (p.status === 'rejected' || p.status === 'expired') {
      const r = (p.result ?? {}) as { code?: ErrorCode; message?: string };
      await this.finish(id, k, p, r.code ?? 'CBDC_ERR_PAYMENT_EXPIRED', r.message ?? 'the payment was not settled');
    }
    // 'submitted': central's answer is not certain yet; resumed on the next tick.
  }

  /** Records a slot's outcome. A transient failure inside the window leaves it running. */
  private async finish(id: string, k: number, p: PaymentRec | null, code: string | null, message: string | null): Promise<void> {
    const now = this.clock();
    await this.bank.atomic(() => {
      const slot = this.store.slots.get([id, k])!;
      if (slot.status !== 'running') return;
      if (code !== null && TRANSIENT.has(code) && now - slot.dueAtMs <= this.catchUpWindowMs) return;
      const s = this.store.schedules.get(id)!;
      const settled = code === null;
      this.store.slots.putSync([id, k], {
        ...slot, status: settled ? 'settled' : 'refused', code, message: message === null ? null : message.slice(0, 200),
        paymentId: p?.id ?? slot.paymentId, txid: settled ? (p?.txid ?? slot.txid) : slot.txid, finishedAtMs: now,
      });
      this.store.running.removeSync([id, k]);
      this.store.schedules.putSync(id, { ...s, settled: s.settled + (settled ? 1 : 0), refused: s.refused + (settled ? 0 : 1) });
    });
    await this.bank.durable();
  }

  /** Gives back what is left in the pots of ended schedules (once no slot of theirs is running). */
  private async refundEnded(): Promise<void> {
    const ids = [...this.store.refunds.getKeys({ limit: SCHEDULER_REFUNDS_PER_TICK_MAX })];
    for (const id of ids) {
      const s = this.store.schedules.get(id)!;
      const busy = [...this.store.running.getKeys({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER], limit: 1 })].length > 0;
      if (busy) continue;
      const coins = this.bank.coinsOf(s.potOwner);
      if (coins.length === 0) {
        // Nothing left, or a spend of it still in flight (its coins are reserved): look again later
        // unless the pot is empty for good.
        const anyCoin = [...this.store.bank.coinsByOwner.getKeys({ start: [s.potOwner, ''], end: [s.potOwner, '~'], limit: 1 })].length > 0;
        if (!anyCoin) await this.bank.atomic(() => this.store.refunds.removeSync(id));
        continue;
      }
      const sum = coins.reduce((t, c) => t + BigInt(c.value), 0n);
      const tx = makeTx({
        network: this.bank.network,
        inputs: coins.map((c) => ({ pos: BigInt(c.pos), id: Buffer.from(c.id, 'hex') })),
        outputs: [{ value: sum, lock: this.bank.payLockOf(s.account) }],
      });
      try {
        const r = await this.bank.submitContractTx({ owner: s.potOwner, tx, label: `schedule ${id}: what was set aside, given back` });
        if (r.status === 'settled') {
          await this.bank.atomic(() => {
            const cur = this.store.schedules.get(id)!;
            this.store.schedules.putSync(id, { ...cur, refundedFen: (BigInt(cur.refundedFen) + sum).toString() });
          });
        }
      } catch (e) {
        if (!isCbdcError(e)) throw e;
      }
    }
  }
}

/** The JSON view of a schedule. */
export function scheduleJson(s: ScheduleRec, potFen: bigint): { id: string; status: string; amount_fen: string; pot_fen: string; next_slot: number; [k: string]: unknown } {
  return {
    id: s.id, account: s.account, status: s.status, payee: s.payee, amount_fen: s.amountFen, first_at_ms: s.firstAtMs,
    interval_ms: s.intervalMs, count: s.slots, next_slot: s.nextSlot, next_due_at_ms: s.nextSlot < s.slots ? s.firstAtMs + s.intervalMs * s.nextSlot : null,
    fund_fen: s.fundFen, pot_fen: potFen.toString(), refunded_fen: s.refundedFen, funding_payment_id: s.fundingPaymentId,
    settled: s.settled, refused: s.refused, missed: s.missed, created_at_ms: s.createdAtMs, idempotency_key: s.idempotencyKey,
  };
}

export function slotJson(x: SlotRec): { slot: number; status: string; [k: string]: unknown } {
  return {
    slot: x.slot, due_at_ms: x.dueAtMs, status: x.status, idempotency_key: x.idempotencyKey, attempts: x.attempts,
    payment_id: x.paymentId, txid: x.txid, code: x.code, message: x.message, started_at_ms: x.startedAtMs, finished_at_ms: x.finishedAtMs,
  };
}
