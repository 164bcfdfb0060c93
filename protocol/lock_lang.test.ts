// The lock-policy language beyond key/multi: JSON and binary forms of every operator, their
// refusals, evaluation semantics (including which error a failed spend reports), and the
// worked examples of docs/LOCKS.md.
import { describe, expect, it } from 'vitest';
import { isCbdcError } from './errors.js';
import { sha256 } from './hash.js';
import { LOCK_CHILDREN_MAX, LOCK_DEPTH_MAX, LOCK_EVAL_UNITS_MAX, LOCK_MCCS_MAX, LOCK_NODES_MAX } from './limits.js';
import {
  type Lock, type LockJson, LOCK_TIME_MS_MAX, afterLock, andLock, beforeLock, checkLock, decodeLock, encodeLock, hashLock, keyLock,
  lockHasPurpose, lockHashes, lockKeys, lockNamesKey, lockToJson, multiLock, orLock, parseLock, purposeLock, threshLock,
} from './lock.js';
import { type LockEnv, evaluateLock } from './lock_eval.js';
import { publicKeyOf } from './sig.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CbdcError, nothing was thrown');
}

const keyN = (i: number): Buffer => publicKeyOf(Buffer.from((BigInt(i) + 5000n).toString(16).padStart(64, '0'), 'hex'));
const [A, B, C, D] = [keyN(0), keyN(1), keyN(2), keyN(3)] as [Buffer, Buffer, Buffer, Buffer];
const hex = (b: Buffer): string => b.toString('hex');
const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const PRE = Buffer.alloc(32, 7);
const H = sha256(PRE);

function env(over: Partial<LockEnv> = {}): LockEnv {
  return { timeMs: T, signedKeys: [], preimageHashes: [], outputs: [], ...over };
}

describe('JSON and binary forms of every operator', () => {
  const cases: [string, LockJson, Lock, string][] = [
    ['after', { after: T }, afterLock(T), '03' + T.toString(16).padStart(16, '0')],
    ['before', { before: 0 }, beforeLock(0), '04' + '00'.repeat(8)],
    ['hash', { hash: hex(H) }, hashLock(H), '05' + hex(H)],
    ['and', { and: [{ key: hex(A) }, { after: 1 }] }, andLock(keyLock(A), afterLock(1)), '0602' + '01' + hex(A) + '03' + '0000000000000001'],
    ['or', { or: [{ key: hex(A) }, { key: hex(B) }] }, orLock(keyLock(A), keyLock(B)), '0702' + '01' + hex(A) + '01' + hex(B)],
    ['thresh', { thresh: { k: 2, locks: [{ key: hex(A) }, { key: hex(B) }, { hash: hex(H) }] } }, threshLock(2, [keyLock(A), keyLock(B), hashLock(H)]),
      '080203' + '01' + hex(A) + '01' + hex(B) + '05' + hex(H)],
    ['purpose', { purpose: { mccs: ['0742', '4111', '4131'] } }, purposeLock([4131, 742, 4111]), '0903' + '02e6' + '100f' + '1023'],
  ];
  it.each(cases)('%s', (_name, json, lock, bytesHex) => {
    expect(parseLock(json)).toEqual(lock);
    expect(lockToJson(lock)).toEqual(json);
    const bytes = encodeLock(lock);
    expect(bytes.toString('hex')).toBe(bytesHex);
    expect(decodeLock(bytes)).toEqual(lock);
    expect(() => checkLock(lock)).not.toThrow();
  });

  it('a lock nested to exactly LOCK_DEPTH_MAX levels is accepted, one more level is refused', () => {
    let json: LockJson = { key: hex(A) };
    for (let i = 1; i < LOCK_DEPTH_MAX; i++) json = { or: [json, { after: i }] };
    const lock = parseLock(json);
    expect(decodeLock(encodeLock(lock))).toEqual(lock);
    const deeper = { or: [json, { after: 0 }] };
    expect(codeOf(() => parseLock(deeper))).toBe('CBDC_ERR_LOCK_TOO_DEEP');
    const deeperLock = orLock(lock, afterLock(0));
    expect(codeOf(() => decodeLock(encodeLock(deeperLock)))).toBe('CBDC_ERR_LOCK_TOO_DEEP');
    expect(codeOf(() => checkLock(deeperLock))).toBe('CBDC_ERR_LOCK_TOO_DEEP');
  });

  it('shape queries walk the whole tree', () => {
    const lock = parseLock({ or: [{ and: [{ multi: { k: 1, keys: [hex(A), hex(B)] } }, { hash: hex(H) }] }, { and: [{ key: hex(C) }, { purpose: { mccs: ['4111'] } }] }] });
    expect(lockKeys(lock)).toEqual([A, B, C]);
    expect(lockHashes(lock)).toEqual([H]);
    expect(lockHasPurpose(lock)).toBe(true);
    expect(lockHasPurpose(keyLock(A))).toBe(false);
    expect(lockNamesKey(lock, C)).toBe(true);
    expect(lockNamesKey(lock, D)).toBe(false);
  });
});

describe('refusals, each with its code', () => {
  const leaf = { after: 1 };
  const many = (n: number): LockJson[] => Array.from({ length: n }, (_, i) => ({ after: i }));
  it.each<[string, unknown, string]>([
    ['after as a string', { after: '5' }, 'CBDC_ERR_LOCK_FORMAT'],
    ['after negative', { after: -1 }, 'CBDC_ERR_LOCK_FORMAT'],
    ['after fractional', { after: 1.5 }, 'CBDC_ERR_LOCK_FORMAT'],
    ['after above 2^53-1', { after: LOCK_TIME_MS_MAX + 1 }, 'CBDC_ERR_LOCK_FORMAT'],
    ['before null', { before: null }, 'CBDC_ERR_LOCK_FORMAT'],
    ['hash uppercase', { hash: hex(H).toUpperCase() }, 'CBDC_ERR_LOCK_FORMAT'],
    ['hash 31 bytes', { hash: hex(H).slice(2) }, 'CBDC_ERR_LOCK_FORMAT'],
    ['and with one lock', { and: [leaf] }, 'CBDC_ERR_LOCK_FORMAT'],
    ['or not a list', { or: leaf }, 'CBDC_ERR_LOCK_FORMAT'],
    ['and with a bad sub-lock', { and: [leaf, { key: 'zz' }] }, 'CBDC_ERR_LOCK_FORMAT'],
    ['and with an unknown sub-operator', { and: [leaf, { exec: 'rm -rf' }] }, 'CBDC_ERR_LOCK_UNKNOWN_OPERATOR'],
    [`or with ${LOCK_CHILDREN_MAX + 1} locks`, { or: many(LOCK_CHILDREN_MAX + 1) }, 'CBDC_ERR_LOCK_TOO_LARGE'],
    ['thresh k = 0', { thresh: { k: 0, locks: [leaf, leaf] } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['thresh k > n', { thresh: { k: 3, locks: [leaf, leaf] } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['thresh extra field', { thresh: { k: 1, locks: [leaf, leaf], note: 1 } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['purpose empty', { purpose: { mccs: [] } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['purpose mcc as a number', { purpose: { mccs: [4111] } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['purpose mcc of 3 digits', { purpose: { mccs: ['411'] } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['purpose mccs out of order', { purpose: { mccs: ['4131', '4111'] } }, 'CBDC_ERR_LOCK_FORMAT'],
    ['purpose mcc twice', { purpose: { mccs: ['4111', '4111'] } }, 'CBDC_ERR_LOCK_FORMAT'],
    [`purpose with ${LOCK_MCCS_MAX + 1} codes`, { purpose: { mccs: Array.from({ length: LOCK_MCCS_MAX + 1 }, (_, i) => String(1000 + i)) } }, 'CBDC_ERR_LOCK_TOO_LARGE'],
    [`more than ${LOCK_NODES_MAX} nodes`, { and: Array.from({ length: 5 }, () => ({ or: many(LOCK_CHILDREN_MAX) })) }, 'CBDC_ERR_LOCK_TOO_LARGE'],
  ])('%s -> %s', (_name, json, code) => {
    expect(codeOf(() => parseLock(json))).toBe(code);
  });

  it('binary: non-canonical or unknown forms are refused', () => {
    const and2 = encodeLock(andLock(afterLock(1), afterLock(2)));
    expect(codeOf(() => decodeLock(Buffer.concat([and2, Buffer.of(0)])))).toBe('CBDC_ERR_LOCK_FORMAT');
    expect(codeOf(() => decodeLock(and2.subarray(0, and2.length - 1)))).toBe('CBDC_ERR_LOCK_FORMAT');
    const one = Buffer.from(and2);
    one[1] = 1; // and with one sub-lock
    expect(codeOf(() => decodeLock(one))).toBe('CBDC_ERR_LOCK_FORMAT');
    const unsorted = Buffer.from('0902' + '1023' + '100f', 'hex');
    expect(codeOf(() => decodeLock(unsorted))).toBe('CBDC_ERR_LOCK_FORMAT');
    const tooBigMcc = Buffer.from('0901' + '2710', 'hex'); // 10000
    expect(codeOf(() => decodeLock(tooBigMcc))).toBe('CBDC_ERR_LOCK_FORMAT');
    const bigTime = Buffer.from('03' + '0020000000000000', 'hex'); // 2^53
    expect(codeOf(() => decodeLock(bigTime))).toBe('CBDC_ERR_LOCK_FORMAT');
    const thresh0 = Buffer.concat([Buffer.of(0x08, 0, 2), encodeLock(afterLock(1)), encodeLock(afterLock(2))]);
    expect(codeOf(() => decodeLock(thresh0))).toBe('CBDC_ERR_LOCK_FORMAT');
    expect(codeOf(() => decodeLock(Buffer.of(0x7f)))).toBe('CBDC_ERR_LOCK_UNKNOWN_OPERATOR');
  });
});

describe('evaluation', () => {
  const own = Buffer.from('own lock bytes');
  it('after(t) holds from t on; before(t) holds until just before t', () => {
    const at = (lock: Lock, timeMs: number) => evaluateLock(lock, own, env({ timeMs }));
    expect(at(afterLock(T), T - 1)).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(at(afterLock(T), T).ok).toBe(true);
    expect(at(beforeLock(T), T - 1).ok).toBe(true);
    expect(at(beforeLock(T), T)).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
  });

  it('hash(h) holds when a preimage of h is in the witness', () => {
    expect(evaluateLock(hashLock(H), own, env({ preimageHashes: [sha256(Buffer.alloc(32, 8)), H] })).ok).toBe(true);
    expect(evaluateLock(hashLock(H), own, env({ preimageHashes: [sha256(Buffer.alloc(32, 8))] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PREIMAGE' });
    expect(evaluateLock(hashLock(H), own, env())).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PREIMAGE' });
  });

  it('thresh(2, [a, b, c]) is 2-of-3 over any sub-locks', () => {
    const lock = threshLock(2, [keyLock(A), keyLock(B), andLock(keyLock(C), afterLock(T))]);
    expect(evaluateLock(lock, own, env({ signedKeys: [A, B] })).ok).toBe(true);
    expect(evaluateLock(lock, own, env({ signedKeys: [A, C] })).ok).toBe(true);
    expect(evaluateLock(lock, own, env({ signedKeys: [A, C], timeMs: T - 1 }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(evaluateLock(lock, own, env({ signedKeys: [B] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_UNSATISFIED' });
  });

  it('purpose: every output is change to this same lock or a certified merchant of an allowed category', () => {
    const lock = purposeLock([4111, 4131]);
    const merchant = (mcc: number | null) => ({ lockBytes: Buffer.from(`m${mcc}`), mcc });
    const change = { lockBytes: own, mcc: null };
    expect(evaluateLock(lock, own, env({ outputs: [merchant(4111), change] })).ok).toBe(true);
    expect(evaluateLock(lock, own, env({ outputs: [merchant(4131), merchant(4111)] })).ok).toBe(true);
    expect(evaluateLock(lock, own, env({ outputs: [change] })).ok).toBe(true);
    expect(evaluateLock(lock, own, env({ outputs: [merchant(5411), change] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PURPOSE' });
    expect(evaluateLock(lock, own, env({ outputs: [merchant(null)] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PURPOSE' });
  });

  it('reports the reason of the branch that came closest (docs/LOCKS.md, "Which error")', () => {
    // or(and(key A, before T), and(key B, after T))
    const lock = orLock(andLock(keyLock(A), beforeLock(T)), andLock(keyLock(B), afterLock(T)));
    expect(evaluateLock(lock, own, env({ signedKeys: [A], timeMs: T }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(evaluateLock(lock, own, env({ signedKeys: [B], timeMs: T - 1 }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(evaluateLock(lock, own, env({ signedKeys: [C], timeMs: T }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_UNSATISFIED' });
    expect(evaluateLock(lock, own, env({ signedKeys: [A], timeMs: T - 1 })).ok).toBe(true);
    expect(evaluateLock(lock, own, env({ signedKeys: [B], timeMs: T })).ok).toBe(true);
  });

  it('counts work and stops at the budget with CBDC_ERR_LOCK_BUDGET', () => {
    const lock = multiLock(2, [A, B, C]);
    const v = evaluateLock(lock, own, env({ signedKeys: [A, B] }));
    expect(v).toEqual({ ok: true, units: 1 + 3 * 2 });
    expect(evaluateLock(lock, own, env({ signedKeys: [A, B] }), 6)).toEqual({ ok: false, code: 'CBDC_ERR_LOCK_BUDGET', units: 6 });
    // The costliest legal lock against the widest spend: 64 outputs, 15 purpose rules of 32 codes.
    const wide = orLock(...Array.from({ length: 15 }, () => purposeLock(Array.from({ length: 32 }, (_, i) => 4000 + i))));
    checkLock(wide);
    const outputs = Array.from({ length: 64 }, (_, i) => ({ lockBytes: Buffer.of(i), mcc: 4000 }));
    expect(evaluateLock(wide, own, env({ outputs }))).toEqual({ ok: true, units: 16 + 15 * 64 * 33 });
    expect(16 + 15 * 64 * 33).toBeLessThan(LOCK_EVAL_UNITS_MAX);
    // What is left of a transaction's budget after other inputs may not cover it.
    expect(evaluateLock(wide, own, env({ outputs }), 30_000)).toEqual({ ok: false, code: 'CBDC_ERR_LOCK_BUDGET', units: 30_000 });
  });
});

describe('worked examples of docs/LOCKS.md', () => {
  const city = A;
  const citizen = B;
  const bank = C;
  const arbiter = D;
  const expiry = T + 30 * 86_400_000;
  const own = Buffer.from('own lock bytes');

  it('transport subsidy: spend at transit merchants until expiry, then back to the city', () => {
    const subsidy = orLock(andLock(multiLock(2, [citizen, bank]), beforeLock(expiry), purposeLock([4111, 4112, 4131])), andLock(keyLock(city), afterLock(expiry)));
    const json = lockToJson(subsidy);
    expect(parseLock(json)).toEqual(subsidy);
    const subsidyBytes = encodeLock(subsidy);
    const metro = { lockBytes: Buffer.from('metro'), mcc: 4111 };
    const grocer = { lockBytes: Buffer.from('grocer'), mcc: 5411 };
    const change = { lockBytes: subsidyBytes, mcc: null };
    const spend = (signedKeys: Buffer[], timeMs: number, outputs: LockEnv['outputs']) => evaluateLock(subsidy, subsidyBytes, env({ signedKeys, timeMs, outputs }));
    expect(spend([citizen, bank], T, [metro, change]).ok).toBe(true);
    expect(spend([citizen, bank], T, [grocer, change])).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PURPOSE' });
    expect(spend([citizen, bank], expiry, [metro])).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(spend([city], T, [{ lockBytes: Buffer.from('city'), mcc: null }])).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(spend([city], expiry, [{ lockBytes: Buffer.from('city'), mcc: null }]).ok).toBe(true);
  });

  it('escrow with an arbiter: 2-of-3 of buyer, seller, arbiter', () => {
    const escrow = multiLock(2, [A, B, arbiter]);
    const also = threshLock(2, [keyLock(A), keyLock(B), keyLock(arbiter)]);
    for (const keys of [[A, B], [A, arbiter], [B, arbiter]]) {
      expect(evaluateLock(escrow, own, env({ signedKeys: keys })).ok).toBe(true);
      expect(evaluateLock(also, own, env({ signedKeys: keys })).ok).toBe(true);
    }
    expect(evaluateLock(escrow, own, env({ signedKeys: [arbiter] })).ok).toBe(false);
  });

  it('hash-locked payment (DvP): the seller with the preimage, or the buyer back after a deadline', () => {
    const deadline = T + 86_400_000;
    const htlc = orLock(andLock(keyLock(B), hashLock(H)), andLock(keyLock(A), afterLock(deadline)));
    expect(evaluateLock(htlc, own, env({ signedKeys: [B], preimageHashes: [H] })).ok).toBe(true);
    expect(evaluateLock(htlc, own, env({ signedKeys: [B], preimageHashes: [sha256(Buffer.alloc(32))] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PREIMAGE' });
    expect(evaluateLock(htlc, own, env({ signedKeys: [A] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(evaluateLock(htlc, own, env({ signedKeys: [A], timeMs: deadline })).ok).toBe(true);
  });

  it('prepaid service: the school with the bank releases, the customer is refunded after the deadline', () => {
    const deadline = T + 90 * 86_400_000;
    const customer = A;
    const school = B;
    const prepaid = orLock(multiLock(2, [school, bank]), andLock(multiLock(2, [customer, bank]), afterLock(deadline)));
    expect(evaluateLock(prepaid, own, env({ signedKeys: [school, bank] })).ok).toBe(true);
    expect(evaluateLock(prepaid, own, env({ signedKeys: [customer, bank] }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(evaluateLock(prepaid, own, env({ signedKeys: [customer, bank], timeMs: deadline })).ok).toBe(true);
  });

  it('scheduled payment: payable to the payee from a date on', () => {
    const scheduled = orLock(andLock(multiLock(2, [B, bank]), afterLock(T)), multiLock(2, [A, bank]));
    expect(evaluateLock(scheduled, own, env({ signedKeys: [B, bank], timeMs: T - 1 }))).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
    expect(evaluateLock(scheduled, own, env({ signedKeys: [B, bank], timeMs: T })).ok).toBe(true);
    expect(evaluateLock(scheduled, own, env({ signedKeys: [A, bank], timeMs: T - 1 })).ok).toBe(true);
  });
});
