import { describe, expect, it } from 'vitest';
import { isCbdcError } from './errors.js';
import { LOCK_BYTES_MAX, LOCK_DEPTH_MAX, LOCK_KEYS_MAX } from './limits.js';
import { Lock, decodeLock, encodeLock, lockKeys, lockSatisfied, lockToJson, parseLock } from './lock.js';
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

const keyN = (i: number): Buffer => publicKeyOf(Buffer.from((BigInt(i) + 1000n).toString(16).padStart(64, '0'), 'hex'));
const KEYS = Array.from({ length: LOCK_KEYS_MAX + 1 }, (_, i) => keyN(i));
const [a, b, c, d] = KEYS as [Buffer, Buffer, Buffer, Buffer];
const hex = (k: Buffer): string => k.toString('hex');
const NOT_ON_CURVE = '02' + '00'.repeat(32); // x = 0 is not on secp256k1

describe('parseLock / lockToJson / encodeLock / decodeLock round trips', () => {
  it('key(pk)', () => {
    const json = { key: hex(a) };
    const lock = parseLock(json);
    expect(lock).toEqual({ type: 'key', key: a });
    expect(lockToJson(lock)).toEqual(json);
    const bytes = encodeLock(lock);
    expect(bytes).toEqual(Buffer.concat([Buffer.of(0x01), a]));
    expect(decodeLock(bytes)).toEqual(lock);
    expect(lockKeys(lock)).toEqual([a]);
  });

  it('multi(2, [a, b, c])', () => {
    const json = { multi: { k: 2, keys: [hex(a), hex(b), hex(c)] } };
    const lock = parseLock(json);
    expect(lock).toEqual({ type: 'multi', k: 2, keys: [a, b, c] });
    expect(lockToJson(lock)).toEqual(json);
    const bytes = encodeLock(lock);
    expect(bytes).toEqual(Buffer.concat([Buffer.of(0x02, 2, 3), a, b, c]));
    expect(decodeLock(bytes)).toEqual(lock);
    expect(lockKeys(lock)).toEqual([a, b, c]);
  });

  it('multi at the limits: 1-of-1 and k = n = LOCK_KEYS_MAX', () => {
    for (const json of [
      { multi: { k: 1, keys: [hex(a)] } },
      { multi: { k: LOCK_KEYS_MAX, keys: KEYS.slice(0, LOCK_KEYS_MAX).map(hex) } },
    ]) {
      const lock = parseLock(json);
      expect(lockToJson(lock)).toEqual(json);
      const bytes = encodeLock(lock);
      expect(bytes.length).toBeLessThanOrEqual(LOCK_BYTES_MAX);
      expect(decodeLock(bytes)).toEqual(lock);
    }
  });

  it('key order is kept (it is part of the encoding)', () => {
    const ab = parseLock({ multi: { k: 1, keys: [hex(a), hex(b)] } });
    const ba = parseLock({ multi: { k: 1, keys: [hex(b), hex(a)] } });
    expect(encodeLock(ab).equals(encodeLock(ba))).toBe(false);
  });

  it('decodeLock accepts a view into a larger buffer', () => {
    const bytes = encodeLock(parseLock({ key: hex(b) }));
    const big = Buffer.concat([Buffer.alloc(7), bytes, Buffer.alloc(5)]);
    expect(decodeLock(big.subarray(7, 7 + bytes.length))).toEqual({ type: 'key', key: b });
  });
});

describe('parseLock refusals (CBDC_ERR_LOCK_FORMAT)', () => {
  const three = [hex(a), hex(b), hex(c)];
  it.each<[string, unknown]>([
    ['two operators in one object', { key: hex(a), multi: { k: 1, keys: [hex(b)] } }],
    ['no operator', {}],
    ['null', null],
    ['an array', [{ key: hex(a) }]],
    ['a string', hex(a)],
    ['k = 0', { multi: { k: 0, keys: three } }],
    ['k > n', { multi: { k: 4, keys: three } }],
    ['negative k', { multi: { k: -1, keys: three } }],
    ['fractional k', { multi: { k: 1.5, keys: three } }],
    ['k as a string', { multi: { k: '2', keys: three } }],
    ['k missing', { multi: { keys: three } }],
    ['no keys', { multi: { k: 1, keys: [] } }],
    ['keys not an array', { multi: { k: 1, keys: hex(a) } }],
    ['multi not an object', { multi: [2, three] }],
    ['extra field in multi', { multi: { k: 1, keys: three, note: 'x' } }],
    ['duplicate keys', { multi: { k: 2, keys: [hex(a), hex(b), hex(a)] } }],
    ['bad key: not on the curve', { key: NOT_ON_CURVE }],
    ['bad key: uppercase hex', { key: hex(a).toUpperCase() }],
    ['bad key: 32 bytes', { key: hex(a).slice(2) }],
    ['bad key: a number', { key: 42 }],
    ['bad key inside multi', { multi: { k: 1, keys: [hex(a), NOT_ON_CURVE] } }],
    ['bad key inside multi: uncompressed prefix', { multi: { k: 1, keys: ['04' + hex(a).slice(2)] } }],
  ])('%s', (_name, json) => {
    expect(codeOf(() => parseLock(json))).toBe('CBDC_ERR_LOCK_FORMAT');
  });

  it('refuses an unknown operator (CBDC_ERR_LOCK_UNKNOWN_OPERATOR)', () => {
    for (const json of [{ anyone: 5 }, { __proto__x: 1 }, { Key: hex(a) }, { sha256: '00'.repeat(32) }]) {
      expect(codeOf(() => parseLock(json))).toBe('CBDC_ERR_LOCK_UNKNOWN_OPERATOR');
    }
  });

  it(`refuses more than LOCK_KEYS_MAX keys (CBDC_ERR_LOCK_TOO_LARGE)`, () => {
    expect(codeOf(() => parseLock({ multi: { k: 1, keys: KEYS.map(hex) } }))).toBe('CBDC_ERR_LOCK_TOO_LARGE');
  });

  it('refuses at the depth limit (CBDC_ERR_LOCK_TOO_DEEP)', () => {
    expect(codeOf(() => parseLock({ key: hex(a) }, LOCK_DEPTH_MAX))).toBe('CBDC_ERR_LOCK_TOO_DEEP');
    expect(parseLock({ key: hex(a) }, LOCK_DEPTH_MAX - 1)).toEqual({ type: 'key', key: a });
  });
});

describe('decodeLock refusals (CBDC_ERR_LOCK_FORMAT)', () => {
  const keyBytes = encodeLock({ type: 'key', key: a });
  const multiBytes = encodeLock({ type: 'multi', k: 2, keys: [a, b, c] });
  const multiRaw = (k: number, n: number, keys: Buffer[]): Buffer => Buffer.concat([Buffer.of(0x02, k, n), ...keys]);
  it.each<[string, Buffer]>([
    ['empty', Buffer.alloc(0)],
    ['after with trailing bytes', Buffer.concat([Buffer.of(0x03), keyBytes.subarray(1)])],
    ['key lock truncated', keyBytes.subarray(0, 33)],
    ['key lock with a trailing byte', Buffer.concat([keyBytes, Buffer.of(0)])],
    ['key lock with a key not on the curve', Buffer.concat([Buffer.of(0x01), Buffer.from(NOT_ON_CURVE, 'hex')])],
    ['multi truncated', multiBytes.subarray(0, multiBytes.length - 1)],
    ['multi with a trailing byte', Buffer.concat([multiBytes, Buffer.of(0)])],
    ['multi k = 0', multiRaw(0, 3, [a, b, c])],
    ['multi k > n', multiRaw(4, 3, [a, b, c])],
    ['multi n = 0', multiRaw(0, 0, [])],
    ['multi duplicate keys', multiRaw(2, 3, [a, b, a])],
    ['multi with a bad key', multiRaw(1, 2, [a, Buffer.from(NOT_ON_CURVE, 'hex')])],
  ])('%s', (_name, bytes) => {
    expect(codeOf(() => decodeLock(bytes))).toBe('CBDC_ERR_LOCK_FORMAT');
  });

  it.each<[string, Buffer, string]>([
    ['tag 0', Buffer.concat([Buffer.of(0x00), keyBytes.subarray(1)]), 'CBDC_ERR_LOCK_UNKNOWN_OPERATOR'],
    ['tag 0x0a', Buffer.concat([Buffer.of(0x0a), keyBytes.subarray(1)]), 'CBDC_ERR_LOCK_UNKNOWN_OPERATOR'],
    ['multi n above LOCK_KEYS_MAX', multiRaw(1, LOCK_KEYS_MAX + 1, KEYS), 'CBDC_ERR_LOCK_TOO_LARGE'],
    ['longer than LOCK_BYTES_MAX', Buffer.concat([Buffer.of(0x01), Buffer.alloc(LOCK_BYTES_MAX)]), 'CBDC_ERR_LOCK_TOO_LARGE'],
  ])('%s', (_name, bytes, code) => {
    expect(codeOf(() => decodeLock(bytes))).toBe(code);
  });
});

describe('lockSatisfied', () => {
  const signedBy = (...keys: Buffer[]): Set<string> => new Set(keys.map((k) => k.toString('latin1')));

  it('key(pk): satisfied exactly when pk signed', () => {
    const lock: Lock = { type: 'key', key: a };
    expect(lockSatisfied(lock, signedBy(a))).toBe(true);
    expect(lockSatisfied(lock, signedBy(a, b))).toBe(true);
    expect(lockSatisfied(lock, signedBy(b))).toBe(false);
    expect(lockSatisfied(lock, signedBy())).toBe(false);
  });

  it('multi(2, [a, b, c]): the full truth table', () => {
    const lock = parseLock({ multi: { k: 2, keys: [hex(a), hex(b), hex(c)] } });
    const table: [Buffer[], boolean][] = [
      [[], false],
      [[a], false],
      [[b], false],
      [[c], false],
      [[a, b], true],
      [[a, c], true],
      [[b, c], true],
      [[a, b, c], true],
    ];
    for (const [keys, want] of table) {
      expect(lockSatisfied(lock, signedBy(...keys)), keys.map((k) => KEYS.indexOf(k)).join(',')).toBe(want);
      // A signature by a key the lock does not name never counts.
      expect(lockSatisfied(lock, signedBy(...keys, d))).toBe(want);
    }
  });

  it('compares key bytes, not object identity (decoded locks work the same)', () => {
    const lock = decodeLock(encodeLock({ type: 'multi', k: 2, keys: [a, b, c] }));
    expect(lockSatisfied(lock, signedBy(Buffer.from(a), Buffer.from(c)))).toBe(true);
  });
});
