// Property tests of the lock-policy language on random policies and random spends:
// - encoding: JSON -> lock -> bytes -> lock round trips; the encoding is canonical (any bytes
//   that decode re-encode to themselves); arbitrary bytes or JSON never crash the parsers;
// - evaluation: deterministic (same inputs, same verdict and work; order of signing keys and
//   preimages does not matter), bounded (never more work than the budget; a verdict reached
//   within a budget is the same under any larger one), and on plain key/multi locks the
//   ledger's fast path agrees with the evaluator.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCbdcError } from './errors.js';
import { sha256 } from './hash.js';
import { LOCK_BYTES_MAX, LOCK_CHILDREN_MAX, LOCK_EVAL_UNITS_MAX, LOCK_KEYS_MAX, LOCK_NODES_MAX } from './limits.js';
import { type Lock, checkLock, decodeLock, decodeLockTrusted, encodeLock, isSimpleLock, lockSatisfiedByKeys, lockToJson, parseLock } from './lock.js';
import { type LockEnv, evaluateLock } from './lock_eval.js';
import { publicKeyOf } from './sig.js';

const KEYS = Array.from({ length: 8 }, (_, i) => publicKeyOf(Buffer.from((BigInt(i) + 777n).toString(16).padStart(64, '0'), 'hex')));
const PREIMAGES = Array.from({ length: 4 }, (_, i) => Buffer.alloc(32, i + 1));
const HASHES = PREIMAGES.map((p) => sha256(p));
const TIMES = [0, 999, 1000, 1001, 5000];
const MCCS = [742, 4111, 4131, 5411, 5812];
const OWN = Buffer.from('the spent lock');

const distinctKeys = fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4, comparator: (a, b) => a.equals(b) });

/** Random locks of bounded size; some exceed the limits on purpose (checkLock decides). */
const lockArb: fc.Arbitrary<Lock> = fc.letrec<{ lock: Lock }>((tie) => ({
  lock: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...KEYS).map((key): Lock => ({ type: 'key', key })),
    distinctKeys.chain((keys) => fc.integer({ min: 1, max: keys.length }).map((k): Lock => ({ type: 'multi', k, keys }))),
    fc.constantFrom(...TIMES).map((timeMs): Lock => ({ type: 'after', timeMs })),
    fc.constantFrom(...TIMES).map((timeMs): Lock => ({ type: 'before', timeMs })),
    fc.constantFrom(...HASHES).map((hash): Lock => ({ type: 'hash', hash })),
    fc.uniqueArray(fc.constantFrom(...MCCS), { minLength: 1, maxLength: 3 }).map((m): Lock => ({ type: 'purpose', mccs: [...m].sort((x, y) => x - y) })),
    fc.array(tie('lock'), { minLength: 2, maxLength: 4 }).map((locks): Lock => ({ type: 'and', locks })),
    fc.array(tie('lock'), { minLength: 2, maxLength: 4 }).map((locks): Lock => ({ type: 'or', locks })),
    fc.array(tie('lock'), { minLength: 2, maxLength: 4 }).chain((locks) => fc.integer({ min: 1, max: locks.length }).map((k): Lock => ({ type: 'thresh', k, locks }))),
  ),
})).lock;

/** A lock within every limit (most random ones are). */
const validLockArb = lockArb.filter((l) => {
  try {
    checkLock(l);
    return true;
  } catch (e) {
    if (isCbdcError(e)) return false;
    throw e;
  }
});

const envArb: fc.Arbitrary<LockEnv> = fc.record({
  timeMs: fc.constantFrom(...TIMES),
  signedKeys: fc.subarray(KEYS),
  preimageHashes: fc.subarray(HASHES),
  outputs: fc.array(
    fc.oneof(
      fc.constant({ lockBytes: OWN, mcc: null }),
      fc.record({ lockBytes: fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => Buffer.from(b)), mcc: fc.option(fc.constantFrom(...MCCS), { nil: null }) }),
    ),
    { minLength: 1, maxLength: 6 },
  ),
});

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('lock encoding properties', () => {
  it('JSON -> lock -> bytes -> lock round trips for every valid lock', () => {
    fc.assert(
      fc.property(validLockArb, (lock) => {
        const bytes = encodeLock(lock);
        expect(bytes.length).toBeLessThanOrEqual(LOCK_BYTES_MAX);
        expect(decodeLock(bytes)).toEqual(lock);
        expect(decodeLockTrusted(bytes)).toEqual(lock);
        const json = JSON.parse(JSON.stringify(lockToJson(lock))) as unknown;
        const parsed = parseLock(json);
        expect(parsed).toEqual(lock);
        expect(encodeLock(parsed).equals(bytes)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('random locks are either valid or refused with a lock code', () => {
    fc.assert(
      fc.property(lockArb, (lock) => {
        try {
          parseLock(lockToJson(lock));
        } catch (e) {
          expect(isCbdcError(e) && ['CBDC_ERR_LOCK_TOO_DEEP', 'CBDC_ERR_LOCK_TOO_LARGE'].includes(e.code)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('canonical: mutated encodings either fail with a lock code or re-encode to exactly themselves', () => {
    const mutation = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), op: fc.constantFrom('set', 'insert', 'delete', 'truncate') });
    fc.assert(
      fc.property(validLockArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (lock, muts) => {
        let b = Buffer.from(encodeLock(lock));
        for (const m of muts) {
          const at = b.length === 0 ? 0 : m.at % b.length;
          if (m.op === 'set' && b.length > 0) b[at] = m.byte;
          else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.of(m.byte), b.subarray(at)]);
          else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
          else b = b.subarray(0, at);
        }
        let decoded: Lock;
        try {
          decoded = decodeLock(b);
        } catch (e) {
          expect(isCbdcError(e) && e.code.startsWith('CBDC_ERR_LOCK_')).toBe(true);
          return;
        }
        expect(encodeLock(decoded).equals(b)).toBe(true);
      }),
      { numRuns: 600 },
    );
  });

  it('arbitrary bytes and arbitrary JSON never crash the parsers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          const l = decodeLock(bytes);
          expect(encodeLock(l).equals(Buffer.from(bytes))).toBe(true);
        } catch (e) {
          expect(isCbdcError(e)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (json) => {
        try {
          parseLock(json);
        } catch (e) {
          expect(isCbdcError(e)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('the limits hold for every lock the parsers accept', () => {
    fc.assert(
      fc.property(validLockArb, (lock) => {
        let nodes = 0;
        let keys = 0;
        const walk = (l: Lock): void => {
          nodes++;
          if (l.type === 'key') keys++;
          if (l.type === 'multi') keys += l.keys.length;
          if (l.type === 'and' || l.type === 'or' || l.type === 'thresh') {
            expect(l.locks.length).toBeLessThanOrEqual(LOCK_CHILDREN_MAX);
            l.locks.forEach(walk);
          }
        };
        walk(lock);
        expect(nodes).toBeLessThanOrEqual(LOCK_NODES_MAX);
        expect(keys).toBeLessThanOrEqual(LOCK_KEYS_MAX);
      }),
      { numRuns: 200 },
    );
  });
});

describe('lock evaluation properties', () => {
  it('is deterministic: the same spend gives the same verdict and work, whatever the order of keys and preimages', () => {
    fc.assert(
      fc.property(validLockArb, envArb, fc.nat(), (lock, env, seed) => {
        const a = evaluateLock(lock, OWN, env);
        const b = evaluateLock(lock, OWN, env);
        expect(b).toEqual(a);
        const permuted: LockEnv = { ...env, signedKeys: shuffled(env.signedKeys, seed), preimageHashes: shuffled(env.preimageHashes, seed + 1) };
        expect(evaluateLock(lock, OWN, permuted)).toEqual(a);
        // The decoded lock (what the ledger evaluates) gives the same verdict as the built one.
        expect(evaluateLock(decodeLockTrusted(encodeLock(lock)), OWN, env)).toEqual(a);
      }),
      { numRuns: 500 },
    );
  });

  it('is bounded: work never exceeds the budget, and a verdict within a budget holds under any larger one', () => {
    fc.assert(
      fc.property(validLockArb, envArb, fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 400 }), (lock, env, budget, extra) => {
        const full = evaluateLock(lock, OWN, env);
        expect(full.units).toBeLessThanOrEqual(LOCK_EVAL_UNITS_MAX);
        const small = evaluateLock(lock, OWN, env, budget);
        expect(small.units).toBeLessThanOrEqual(budget);
        if (small.ok || small.code !== 'CBDC_ERR_LOCK_BUDGET') {
          expect(small).toEqual(full);
          expect(evaluateLock(lock, OWN, env, budget + extra)).toEqual(full);
        } else {
          expect(full.units).toBeGreaterThan(budget);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('adding signatures or preimages, or moving time, never breaks a lock with no time or purpose rule', () => {
    fc.assert(
      fc.property(validLockArb, envArb, fc.subarray(KEYS), fc.subarray(HASHES), (lock, env, moreKeys, moreHashes) => {
        const json = JSON.stringify(lockToJson(lock));
        if (json.includes('"after"') || json.includes('"before"') || json.includes('"purpose"')) return;
        if (!evaluateLock(lock, OWN, env).ok) return;
        const richer: LockEnv = { ...env, signedKeys: [...env.signedKeys, ...moreKeys], preimageHashes: [...env.preimageHashes, ...moreHashes] };
        expect(evaluateLock(lock, OWN, richer).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('on plain key and multi locks the fast path agrees with the evaluator', () => {
    const simple = validLockArb.filter(isSimpleLock);
    fc.assert(
      fc.property(simple, envArb, (lock, env) => {
        const v = evaluateLock(lock, OWN, env);
        expect(v.ok).toBe(lockSatisfiedByKeys(lock, env.signedKeys));
        if (!v.ok) expect(v.code).toBe('CBDC_ERR_LOCK_UNSATISFIED');
      }),
      { numRuns: 300 },
    );
  });
});
