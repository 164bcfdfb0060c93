// Lock policies: who may spend an output. A lock is a small declarative tree that central
// evaluates when the output is spent; no one's code runs on the ledger.
//   key(pk)            the holder of pk signs
//   multi(k, [pk...])  k distinct listed keys sign (customer funds use multi(2, [customer, bank]))
// The tree form, its binary encoding (one tag byte per node) and the limits leave room for the
// further operators of the lock-policy language.
import { CbdcError, isCbdcError } from './errors.js';
import { ByteWriter } from './bytes.js';
import { LOCK_BYTES_MAX, LOCK_DEPTH_MAX, LOCK_KEYS_MAX } from './limits.js';
import { PUBLIC_KEY_BYTES, isValidPublicKey, parsePublicKey } from './sig.js';

export type Lock =
  | { readonly type: 'key'; readonly key: Buffer }
  | { readonly type: 'multi'; readonly k: number; readonly keys: readonly Buffer[] };

const TAG_KEY = 0x01;
const TAG_MULTI = 0x02;

export type LockJson = { key: string } | { multi: { k: number; keys: string[] } };

function lockError(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_LOCK_FORMAT', message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the JSON form of a lock, enforcing every limit. */
export function parseLock(value: unknown, depth = 0): Lock {
  if (depth >= LOCK_DEPTH_MAX) throw lockError(`lock deeper than ${LOCK_DEPTH_MAX}`);
  if (!isPlainObject(value)) throw lockError('lock must be an object');
  const ops = Object.keys(value);
  if (ops.length !== 1) throw lockError('lock must have exactly one operator');
  const op = ops[0]!;
  const arg = value[op];
  let lock: Lock;
  switch (op) {
    case 'key':
      lock = { type: 'key', key: parseLockKey(arg) };
      break;
    case 'multi': {
      if (!isPlainObject(arg) || Object.keys(arg).some((k) => k !== 'k' && k !== 'keys')) throw lockError('multi takes {k, keys}');
      const { k, keys } = arg;
      if (!Array.isArray(keys) || keys.length < 1 || keys.length > LOCK_KEYS_MAX) throw lockError(`multi needs 1 to ${LOCK_KEYS_MAX} keys`);
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > keys.length) throw lockError('multi k must be an integer from 1 to the number of keys');
      const parsed = keys.map(parseLockKey);
      assertDistinctKeys(parsed);
      lock = { type: 'multi', k, keys: parsed };
      break;
    }
    default:
      throw lockError(`unknown lock operator "${op.slice(0, 32)}"`);
  }
  checkLimits(lock);
  return lock;
}

/** A key inside a lock: a bad one makes the lock malformed (the same code decodeLock gives). */
function parseLockKey(value: unknown): Buffer {
  try {
    return parsePublicKey(value, 'lock key');
  } catch (e) {
    if (isCbdcError(e)) throw lockError(e.message);
    throw e;
  }
}

function assertDistinctKeys(keys: readonly Buffer[]): void {
  const seen = new Set<string>();
  for (const k of keys) {
    const s = k.toString('latin1');
    if (seen.has(s)) throw lockError('a lock names the same key twice');
    seen.add(s);
  }
}

function checkLimits(lock: Lock): void {
  if (lockKeys(lock).length > LOCK_KEYS_MAX) throw lockError(`lock names more than ${LOCK_KEYS_MAX} keys`);
  if (encodeLock(lock).length > LOCK_BYTES_MAX) throw lockError(`lock encodes to more than ${LOCK_BYTES_MAX} bytes`);
}

export function lockToJson(lock: Lock): LockJson {
  switch (lock.type) {
    case 'key':
      return { key: lock.key.toString('hex') };
    case 'multi':
      return { multi: { k: lock.k, keys: lock.keys.map((k) => k.toString('hex')) } };
  }
}

/** Canonical bytes of a lock: a tag byte per node, then its fields. */
export function encodeLock(lock: Lock, w = new ByteWriter(64)): Buffer {
  switch (lock.type) {
    case 'key':
      w.u8(TAG_KEY).bytes(lock.key);
      break;
    case 'multi':
      w.u8(TAG_MULTI).u8(lock.k).u8(lock.keys.length);
      for (const k of lock.keys) w.bytes(k);
      break;
  }
  return w.finish();
}

/** Decodes canonical lock bytes, checking every key is on the curve. Throws on anything malformed. */
export function decodeLock(bytes: Uint8Array): Lock {
  return decodeLockWith(bytes, true);
}

/**
 * Decodes lock bytes the ledger stored itself: they were fully validated when their output
 * was created, so the (costly) on-curve check of each key is skipped.
 */
export function decodeLockTrusted(bytes: Uint8Array): Lock {
  return decodeLockWith(bytes, false);
}

function decodeLockWith(bytes: Uint8Array, checkPoints: boolean): Lock {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length > LOCK_BYTES_MAX) throw lockError('lock too long');
  const key = (at: number): Buffer => {
    const k = b.subarray(at, at + PUBLIC_KEY_BYTES);
    if (k.length !== PUBLIC_KEY_BYTES || (checkPoints && !isValidPublicKey(k))) throw lockError('bad key in lock');
    return Buffer.from(k);
  };
  switch (b[0]) {
    case TAG_KEY:
      if (b.length !== 1 + PUBLIC_KEY_BYTES) throw lockError('bad key lock length');
      return { type: 'key', key: key(1) };
    case TAG_MULTI: {
      const k = b[1] ?? 0;
      const n = b[2] ?? 0;
      if (n < 1 || n > LOCK_KEYS_MAX || k < 1 || k > n || b.length !== 3 + n * PUBLIC_KEY_BYTES) throw lockError('bad multi lock');
      const keys: Buffer[] = [];
      for (let i = 0; i < n; i++) keys.push(key(3 + i * PUBLIC_KEY_BYTES));
      assertDistinctKeys(keys);
      return { type: 'multi', k, keys };
    }
    default:
      throw lockError('unknown lock tag');
  }
}

/** lockSatisfied for a handful of signing keys, comparing bytes (the ledger's hot path). */
export function lockSatisfiedByKeys(lock: Lock, signed: readonly Uint8Array[]): boolean {
  const has = (k: Buffer): boolean => {
    for (const s of signed) if (k.equals(s)) return true;
    return false;
  };
  switch (lock.type) {
    case 'key':
      return has(lock.key);
    case 'multi': {
      let count = 0;
      for (const k of lock.keys) if (has(k)) count++;
      return count >= lock.k;
    }
  }
}

/** Whether a lock names a key. */
export function lockNamesKey(lock: Lock, key: Uint8Array): boolean {
  for (const k of lockKeys(lock)) if (k.equals(key)) return true;
  return false;
}

/** Every key a lock names, in order. */
export function lockKeys(lock: Lock): readonly Buffer[] {
  return lock.type === 'key' ? [lock.key] : lock.keys;
}

/**
 * Whether a lock is satisfied by the set of keys whose signatures over the transaction
 * verified (keys as latin1 strings of their 33 bytes). Pure and deterministic.
 */
export function lockSatisfied(lock: Lock, signed: ReadonlySet<string>): boolean {
  switch (lock.type) {
    case 'key':
      return signed.has(lock.key.toString('latin1'));
    case 'multi': {
      let count = 0;
      for (const k of lock.keys) if (signed.has(k.toString('latin1'))) count++;
      return count >= lock.k;
    }
  }
}
