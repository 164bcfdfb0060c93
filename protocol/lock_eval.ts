// Evaluating a lock policy against a spend: pure, deterministic and bounded.
//
// The inputs are everything a verdict may depend on and nothing else: the lock, the spent
// output's own lock bytes (for the purpose rule's change), the keys that signed the spending
// transaction, the sha256 of each preimage in its witness, its outputs with the category a
// checked merchant certificate gives each, and the ledger's batch time. No clock, no I/O.
//
// Every node is evaluated (no short cut), so the work and the reported reason do not depend on
// the order of sub-locks being tried. Work is counted in units (docs/LOCKS.md, "Evaluation
// cost"); past the caller's budget evaluation stops with CBDC_ERR_LOCK_BUDGET.
//
// A failed node carries a rank saying how far the spend got; the reason reported for the whole
// lock follows from it (docs/LOCKS.md, "Which error"):
//   0 keys (CBDC_ERR_LOCK_UNSATISFIED) < 1 time < 2 preimage < 3 purpose < 4 satisfied
//   and = the lowest rank of its sub-locks, or = the highest, thresh(k) = satisfied when k
//   sub-locks are, else the highest rank among the failed ones.
// So in or(and(key A, before t), and(key B, after t)) spent by A too late, A's branch fails on
// time (1) and B's on keys (0): the reason is CBDC_ERR_LOCK_TIMELOCK.
import { LOCK_EVAL_UNITS_MAX } from './limits.js';
import type { Lock } from './lock.js';

export interface SpendOutputView {
  readonly lockBytes: Uint8Array;
  /** The merchant category a valid certificate gives this output's lock; null or absent when none. */
  readonly mcc?: number | null;
}

export interface LockEnv {
  /** The ledger's batch time, ms since the Unix epoch. */
  readonly timeMs: number;
  /** Keys whose signatures over the txid the witness carries (each is verified separately). */
  readonly signedKeys: readonly Uint8Array[];
  /** sha256 of each preimage the witness carries. */
  readonly preimageHashes: readonly Uint8Array[];
  /** The outputs of the spending transaction. */
  readonly outputs: readonly SpendOutputView[];
}

export type LockFailureCode = 'CBDC_ERR_LOCK_UNSATISFIED' | 'CBDC_ERR_LOCK_TIMELOCK' | 'CBDC_ERR_LOCK_PREIMAGE' | 'CBDC_ERR_LOCK_PURPOSE';

export type LockVerdict =
  | { readonly ok: true; readonly units: number }
  | { readonly ok: false; readonly code: LockFailureCode | 'CBDC_ERR_LOCK_BUDGET'; readonly units: number };

const RANK_KEYS = 0;
const RANK_TIME = 1;
const RANK_PREIMAGE = 2;
const RANK_PURPOSE = 3;
const SATISFIED = 4;
const RANK_CODES: readonly LockFailureCode[] = ['CBDC_ERR_LOCK_UNSATISFIED', 'CBDC_ERR_LOCK_TIMELOCK', 'CBDC_ERR_LOCK_PREIMAGE', 'CBDC_ERR_LOCK_PURPOSE'];

const OVER_BUDGET = Symbol('over budget');

/**
 * Evaluates `lock` (the lock of the output being spent, whose canonical bytes are
 * `ownLockBytes`) against a spend. At most `unitsMax` work units are spent.
 */
export function evaluateLock(lock: Lock, ownLockBytes: Uint8Array, env: LockEnv, unitsMax = LOCK_EVAL_UNITS_MAX): LockVerdict {
  const ev = new Evaluator(env, ownLockBytes, unitsMax);
  try {
    const rank = ev.node(lock);
    return rank === SATISFIED ? { ok: true, units: ev.units } : { ok: false, code: RANK_CODES[rank]!, units: ev.units };
  } catch (e) {
    if (e === OVER_BUDGET) return { ok: false, code: 'CBDC_ERR_LOCK_BUDGET', units: unitsMax };
    throw e;
  }
}

class Evaluator {
  units = 0;
  constructor(private readonly env: LockEnv, private readonly own: Uint8Array, private readonly unitsMax: number) {}

  private spend(n: number): void {
    this.units += n;
    if (this.units > this.unitsMax) throw OVER_BUDGET;
  }

  private signed(key: Buffer): boolean {
    for (const s of this.env.signedKeys) if (key.equals(s)) return true;
    return false;
  }

  node(lock: Lock): number {
    this.spend(1);
    switch (lock.type) {
      case 'key':
        this.spend(this.env.signedKeys.length);
        return this.signed(lock.key) ? SATISFIED : RANK_KEYS;
      case 'multi': {
        this.spend(lock.keys.length * this.env.signedKeys.length);
        let count = 0;
        for (const k of lock.keys) if (this.signed(k)) count++;
        return count >= lock.k ? SATISFIED : RANK_KEYS;
      }
      case 'after':
        return this.env.timeMs >= lock.timeMs ? SATISFIED : RANK_TIME;
      case 'before':
        return this.env.timeMs < lock.timeMs ? SATISFIED : RANK_TIME;
      case 'hash': {
        this.spend(this.env.preimageHashes.length);
        for (const h of this.env.preimageHashes) if (lock.hash.equals(h)) return SATISFIED;
        return RANK_PREIMAGE;
      }
      case 'and': {
        let rank = SATISFIED;
        for (const s of lock.locks) rank = Math.min(rank, this.node(s));
        return rank;
      }
      case 'or': {
        let rank = RANK_KEYS;
        for (const s of lock.locks) rank = Math.max(rank, this.node(s));
        return rank;
      }
      case 'thresh': {
        let held = 0;
        let failed = RANK_KEYS;
        for (const s of lock.locks) {
          const r = this.node(s);
          if (r === SATISFIED) held++;
          else failed = Math.max(failed, r);
        }
        return held >= lock.k ? SATISFIED : failed;
      }
      case 'purpose': {
        const outputs = this.env.outputs;
        this.spend(outputs.length * (1 + lock.mccs.length));
        let ok = true;
        for (const o of outputs) {
          if (Buffer.compare(o.lockBytes, this.own) === 0) continue; // change back to this same lock
          if (o.mcc === null || o.mcc === undefined || !lock.mccs.includes(o.mcc)) ok = false;
        }
        return ok ? SATISFIED : RANK_PURPOSE;
      }
    }
  }
}
