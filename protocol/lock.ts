// Lock policies: who may spend an output, and on what conditions. A lock is a small declarative
// tree that central evaluates when the output is spent; no one's code runs on the ledger.
// docs/LOCKS.md is the specification (grammar, encoding, semantics, limits, errors, examples).
//
//   key(pk)              the holder of pk signs
//   multi(k, [pk...])    k distinct listed keys sign (customer funds use multi(2, [customer, bank]))
//   after(t)             the ledger's batch time is at or after t (ms since the Unix epoch)
//   before(t)            the ledger's batch time is before t
//   hash(h)              the witness carries a 32-byte preimage p with sha256(p) = h
//   and(l...)            every sub-lock holds
//   or(l...)             at least one sub-lock holds
//   thresh(k, [l...])    at least k sub-locks hold
//   purpose([mcc...])    every output of the spending transaction pays either this same lock
//                        (change) or a lock an intermediary certified for one of these merchant
//                        category codes
//
// This module holds the tree, its JSON form, its canonical binary form (one tag byte per node)
// and their limits. Evaluation is in lock_eval.ts; whole-spend checks in spend.ts.
import { CbdcError, isCbdcError, type ErrorCode } from './errors.js';
import { ByteWriter } from './bytes.js';
import {
  LOCK_BYTES_MAX, LOCK_CHILDREN_MAX, LOCK_DEPTH_MAX, LOCK_KEYS_MAX, LOCK_MCCS_MAX, LOCK_NODES_MAX,
} from './limits.js';
import { PUBLIC_KEY_BYTES, isValidPublicKey, parsePublicKey } from './sig.js';

/** Bytes of a hash lock's digest (sha256) and of the preimage that opens it. */
export const LOCK_HASH_BYTES = 32;
export const PREIMAGE_BYTES = 32;
/** Latest time a time lock may name: the largest integer a JSON number carries exactly. */
export const LOCK_TIME_MS_MAX = Number.MAX_SAFE_INTEGER;
/** Merchant category codes (ISO 18245) are four decimal digits. */
export const MCC_MAX = 9999;

export type Lock =
  | { readonly type: 'key'; readonly key: Buffer }
  | { readonly type: 'multi'; readonly k: number; readonly keys: readonly Buffer[] }
  | { readonly type: 'after'; readonly timeMs: number }
  | { readonly type: 'before'; readonly timeMs: number }
  | { readonly type: 'hash'; readonly hash: Buffer }
  | { readonly type: 'and'; readonly locks: readonly Lock[] }
  | { readonly type: 'or'; readonly locks: readonly Lock[] }
  | { readonly type: 'thresh'; readonly k: number; readonly locks: readonly Lock[] }
  | { readonly type: 'purpose'; readonly mccs: readonly number[] };

export type LockType = Lock['type'];

/** Binary tags, one per operator. Part of the canonical encoding: never renumber. */
export const LOCK_TAGS: Readonly<Record<LockType, number>> = {
  key: 0x01,
  multi: 0x02,
  after: 0x03,
  before: 0x04,
  hash: 0x05,
  and: 0x06,
  or: 0x07,
  thresh: 0x08,
  purpose: 0x09,
};

export type LockJson =
  | { key: string }
  | { multi: { k: number; keys: string[] } }
  | { after: number }
  | { before: number }
  | { hash: string }
  | { and: LockJson[] }
  | { or: LockJson[] }
  | { thresh: { k: number; locks: LockJson[] } }
  | { purpose: { mccs: string[] } };

// ---------------------------------------------------------------------------------------------
// Constructors (what builders use; parseLock/decodeLock check the same rules)

export const keyLock = (key: Buffer): Lock => ({ type: 'key', key });
export const multiLock = (k: number, keys: Buffer[]): Lock => ({ type: 'multi', k, keys });
export const afterLock = (timeMs: number): Lock => ({ type: 'after', timeMs });
export const beforeLock = (timeMs: number): Lock => ({ type: 'before', timeMs });
export const hashLock = (hash: Buffer): Lock => ({ type: 'hash', hash });
export const andLock = (...locks: Lock[]): Lock => ({ type: 'and', locks });
export const orLock = (...locks: Lock[]): Lock => ({ type: 'or', locks });
export const threshLock = (k: number, locks: Lock[]): Lock => ({ type: 'thresh', k, locks });
/** A purpose rule over merchant category codes (sorted here; the encoding requires ascending). */
export const purposeLock = (mccs: number[]): Lock => ({ type: 'purpose', mccs: [...mccs].sort((x, y) => x - y) });

// ---------------------------------------------------------------------------------------------
// Errors

function lockError(code: ErrorCode, message: string): CbdcError {
  return new CbdcError(code, message);
}
const malformed = (m: string): CbdcError => lockError('CBDC_ERR_LOCK_FORMAT', m);
const tooLarge = (m: string): CbdcError => lockError('CBDC_ERR_LOCK_TOO_LARGE', m);
const tooDeep = (): CbdcError => lockError('CBDC_ERR_LOCK_TOO_DEEP', `lock nests deeper than ${LOCK_DEPTH_MAX} levels`);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Counts nodes and keys while a tree is parsed or decoded, refusing past the limits at once. */
class Budget {
  nodes = 0;
  keys = 0;
  node(): void {
    if (++this.nodes > LOCK_NODES_MAX) throw tooLarge(`lock has more than ${LOCK_NODES_MAX} nodes`);
  }
  addKeys(n: number): void {
    this.keys += n;
    if (this.keys > LOCK_KEYS_MAX) throw tooLarge(`lock names more than ${LOCK_KEYS_MAX} keys`);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON form

/**
 * Parses the JSON form of a lock, enforcing every rule and limit. `depth` is the level the
 * value sits at (0 for a whole lock). Errors: CBDC_ERR_LOCK_FORMAT (malformed),
 * CBDC_ERR_LOCK_UNKNOWN_OPERATOR, CBDC_ERR_LOCK_TOO_DEEP, CBDC_ERR_LOCK_TOO_LARGE.
 */
export function parseLock(value: unknown, depth = 0): Lock {
  const lock = parseNode(value, depth, new Budget());
  const len = encodeLock(lock).length;
  if (len > LOCK_BYTES_MAX) throw tooLarge(`lock encodes to ${len} bytes, more than ${LOCK_BYTES_MAX}`);
  return lock;
}

function parseNode(value: unknown, depth: number, budget: Budget): Lock {
  if (depth >= LOCK_DEPTH_MAX) throw tooDeep();
  if (!isPlainObject(value)) throw malformed('lock must be an object');
  const ops = Object.keys(value);
  if (ops.length !== 1) throw malformed('lock must have exactly one operator');
  const op = ops[0]!;
  const arg = value[op];
  budget.node();
  switch (op) {
    case 'key':
      budget.addKeys(1);
      return { type: 'key', key: parseLockKey(arg) };
    case 'multi': {
      if (!isPlainObject(arg) || Object.keys(arg).some((k) => k !== 'k' && k !== 'keys')) throw malformed('multi takes {k, keys}');
      const { k, keys } = arg;
      if (!Array.isArray(keys) || keys.length < 1) throw malformed('multi needs at least one key');
      if (keys.length > LOCK_KEYS_MAX) throw tooLarge(`multi names more than ${LOCK_KEYS_MAX} keys`);
      if (!isSmallInt(k) || k < 1 || k > keys.length) throw malformed('multi k must be an integer from 1 to the number of keys');
      budget.addKeys(keys.length);
      const parsed = keys.map(parseLockKey);
      assertDistinctKeys(parsed);
      return { type: 'multi', k, keys: parsed };
    }
    case 'after':
    case 'before':
      if (typeof arg !== 'number' || !Number.isSafeInteger(arg) || arg < 0) {
        throw malformed(`${op} takes a time in milliseconds since the Unix epoch, an integer from 0 to ${LOCK_TIME_MS_MAX}`);
      }
      return { type: op, timeMs: arg };
    case 'hash':
      if (typeof arg !== 'string' || !/^[0-9a-f]{64}$/.test(arg)) throw malformed('hash takes a sha256 digest: 32 bytes of lowercase hex');
      return { type: 'hash', hash: Buffer.from(arg, 'hex') };
    case 'and':
    case 'or': {
      const subs = childList(arg, op);
      return { type: op, locks: subs.map((s) => parseNode(s, depth + 1, budget)) };
    }
    case 'thresh': {
      if (!isPlainObject(arg) || Object.keys(arg).some((k) => k !== 'k' && k !== 'locks')) throw malformed('thresh takes {k, locks}');
      const subs = childList(arg.locks, 'thresh');
      const k = arg.k;
      if (!isSmallInt(k) || k < 1 || k > subs.length) throw malformed('thresh k must be an integer from 1 to the number of locks');
      return { type: 'thresh', k, locks: subs.map((s) => parseNode(s, depth + 1, budget)) };
    }
    case 'purpose': {
      if (!isPlainObject(arg) || Object.keys(arg).some((k) => k !== 'mccs')) throw malformed('purpose takes {mccs}');
      const list = arg.mccs;
      if (!Array.isArray(list) || list.length < 1) throw malformed('purpose needs at least one merchant category code');
      if (list.length > LOCK_MCCS_MAX) throw tooLarge(`purpose lists more than ${LOCK_MCCS_MAX} merchant category codes`);
      const mccs = list.map((m) => {
        if (typeof m !== 'string' || !/^[0-9]{4}$/.test(m)) throw malformed('a merchant category code is four decimal digits, as a string');
        return Number(m);
      });
      assertAscending(mccs);
      return { type: 'purpose', mccs };
    }
    default:
      throw lockError('CBDC_ERR_LOCK_UNKNOWN_OPERATOR', `unknown lock operator "${op.slice(0, 32)}"`);
  }
}

function isSmallInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255;
}

function childList(arg: unknown, op: string): unknown[] {
  if (!Array.isArray(arg) || arg.length < 2) throw malformed(`${op} takes a list of at least two locks`);
  if (arg.length > LOCK_CHILDREN_MAX) throw tooLarge(`${op} takes at most ${LOCK_CHILDREN_MAX} locks`);
  return arg;
}

/** A key inside a lock: a bad one makes the lock malformed (the same code decodeLock gives). */
function parseLockKey(value: unknown): Buffer {
  try {
    return parsePublicKey(value, 'lock key');
  } catch (e) {
    if (isCbdcError(e)) throw malformed(e.message);
    throw e;
  }
}

function assertDistinctKeys(keys: readonly Buffer[]): void {
  for (let i = 1; i < keys.length; i++) {
    for (let j = 0; j < i; j++) if (keys[i]!.equals(keys[j]!)) throw malformed('a multi names the same key twice');
  }
}

/** Merchant category codes: strictly ascending, so one set has one encoding. */
function assertAscending(mccs: readonly number[]): void {
  for (let i = 0; i < mccs.length; i++) {
    const m = mccs[i]!;
    if (!Number.isInteger(m) || m < 0 || m > MCC_MAX) throw malformed('a merchant category code is from 0000 to 9999');
    if (i > 0 && m <= mccs[i - 1]!) throw malformed('merchant category codes must be listed once each, in ascending order');
  }
}

export function formatMcc(mcc: number): string {
  return mcc.toString().padStart(4, '0');
}

export function lockToJson(lock: Lock): LockJson {
  switch (lock.type) {
    case 'key':
      return { key: lock.key.toString('hex') };
    case 'multi':
      return { multi: { k: lock.k, keys: lock.keys.map((k) => k.toString('hex')) } };
    case 'after':
      return { after: lock.timeMs };
    case 'before':
      return { before: lock.timeMs };
    case 'hash':
      return { hash: lock.hash.toString('hex') };
    case 'and':
      return { and: lock.locks.map(lockToJson) };
    case 'or':
      return { or: lock.locks.map(lockToJson) };
    case 'thresh':
      return { thresh: { k: lock.k, locks: lock.locks.map(lockToJson) } };
    case 'purpose':
      return { purpose: { mccs: lock.mccs.map(formatMcc) } };
  }
}

// ---------------------------------------------------------------------------------------------
// Binary form

/**
 * Canonical bytes of a lock: a tag byte per node, then its fields, children in order
 * (docs/LOCKS.md, "Binary encoding"). Programmer errors (a tree no parser would return)
 * throw RangeError; build locks with the constructors and check them with checkLock.
 */
export function encodeLock(lock: Lock, w = new ByteWriter(64)): Buffer {
  encodeNode(lock, w);
  return w.finish();
}

function encodeNode(lock: Lock, w: ByteWriter): void {
  w.u8(LOCK_TAGS[lock.type]);
  switch (lock.type) {
    case 'key':
      w.bytes(lock.key);
      break;
    case 'multi':
      w.u8(lock.k).u8(lock.keys.length);
      for (const k of lock.keys) w.bytes(k);
      break;
    case 'after':
    case 'before':
      if (!Number.isSafeInteger(lock.timeMs) || lock.timeMs < 0) throw new RangeError('lock time out of range');
      w.u64(BigInt(lock.timeMs));
      break;
    case 'hash':
      w.bytes(lock.hash);
      break;
    case 'and':
    case 'or':
      w.u8(lock.locks.length);
      for (const s of lock.locks) encodeNode(s, w);
      break;
    case 'thresh':
      w.u8(lock.k).u8(lock.locks.length);
      for (const s of lock.locks) encodeNode(s, w);
      break;
    case 'purpose':
      w.u8(lock.mccs.length);
      for (const m of lock.mccs) w.u16(m);
      break;
  }
}

/**
 * Checks a lock built in code against every rule parseLock applies (for builders: a lock that
 * passes encodes canonically and decodes to itself). Throws the same coded errors.
 */
export function checkLock(lock: Lock): void {
  const bytes = encodeLock(lock);
  if (bytes.length > LOCK_BYTES_MAX) throw tooLarge(`lock encodes to ${bytes.length} bytes, more than ${LOCK_BYTES_MAX}`);
  decodeLock(bytes);
}

/** Decodes canonical lock bytes, checking every key is on the curve. Throws on anything malformed. */
export function decodeLock(bytes: Uint8Array): Lock {
  return decodeLockWith(bytes, true);
}

/**
 * Decodes lock bytes the ledger stored itself: they were fully validated when their output
 * was created, so the (costly) on-curve check of each key is skipped, and keys and digests are
 * views into `bytes` (pass bytes no one will change, as the store's copies are).
 */
export function decodeLockTrusted(bytes: Uint8Array): Lock {
  return decodeLockWith(bytes, false);
}

function decodeLockWith(bytes: Uint8Array, checkPoints: boolean): Lock {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length > LOCK_BYTES_MAX) throw tooLarge(`lock is longer than ${LOCK_BYTES_MAX} bytes`);
  // Fast paths for the two shapes nearly every output has.
  if (b[0] === LOCK_TAGS.key && b.length === 1 + PUBLIC_KEY_BYTES) {
    return { type: 'key', key: readKey(b, 1, checkPoints) };
  }
  if (b[0] === LOCK_TAGS.multi && b.length >= 3) {
    const k = b[1]!;
    const n = b[2]!;
    if (n >= 1 && n <= LOCK_KEYS_MAX && k >= 1 && k <= n && b.length === 3 + n * PUBLIC_KEY_BYTES) {
      const keys: Buffer[] = [];
      for (let i = 0; i < n; i++) keys.push(readKey(b, 3 + i * PUBLIC_KEY_BYTES, checkPoints));
      assertDistinctKeys(keys);
      return { type: 'multi', k, keys };
    }
  }
  const r = new Reader(b, checkPoints);
  const lock = r.node(0);
  if (r.at !== b.length) throw malformed('lock has trailing bytes');
  return lock;
}

/**
 * A key of a lock being decoded. Checked locks (untrusted bytes) get copies; trusted ones (the
 * ledger's own stored bytes, already copied out of the store) share the caller's buffer.
 */
function readKey(b: Buffer, at: number, checkPoints: boolean): Buffer {
  const k = b.subarray(at, at + PUBLIC_KEY_BYTES);
  if (k.length !== PUBLIC_KEY_BYTES || (checkPoints && !isValidPublicKey(k))) throw malformed('bad key in lock');
  return checkPoints ? Buffer.from(k) : k;
}

class Reader {
  at = 0;
  private readonly budget = new Budget();
  constructor(private readonly b: Buffer, private readonly checkPoints: boolean) {}

  private need(n: number): void {
    if (this.at + n > this.b.length) throw malformed('lock is truncated');
  }
  private u8(): number {
    this.need(1);
    return this.b[this.at++]!;
  }

  node(depth: number): Lock {
    if (depth >= LOCK_DEPTH_MAX) throw tooDeep();
    const tag = this.u8();
    this.budget.node();
    switch (tag) {
      case LOCK_TAGS.key: {
        this.budget.addKeys(1);
        this.need(PUBLIC_KEY_BYTES);
        const key = readKey(this.b, this.at, this.checkPoints);
        this.at += PUBLIC_KEY_BYTES;
        return { type: 'key', key };
      }
      case LOCK_TAGS.multi: {
        const k = this.u8();
        const n = this.u8();
        if (n < 1) throw malformed('multi needs at least one key');
        if (n > LOCK_KEYS_MAX) throw tooLarge(`multi names more than ${LOCK_KEYS_MAX} keys`);
        if (k < 1 || k > n) throw malformed('multi k out of range');
        this.budget.addKeys(n);
        this.need(n * PUBLIC_KEY_BYTES);
        const keys: Buffer[] = [];
        for (let i = 0; i < n; i++) keys.push(readKey(this.b, this.at + i * PUBLIC_KEY_BYTES, this.checkPoints));
        this.at += n * PUBLIC_KEY_BYTES;
        assertDistinctKeys(keys);
        return { type: 'multi', k, keys };
      }
      case LOCK_TAGS.after:
      case LOCK_TAGS.before: {
        this.need(8);
        // u64 without a BigInt: the high word of a time up to 2^53 - 1 is below 2^21.
        const hi = this.b.readUInt32BE(this.at);
        const lo = this.b.readUInt32BE(this.at + 4);
        this.at += 8;
        if (hi > 0x1fffff) throw malformed('lock time above the largest allowed');
        return { type: tag === LOCK_TAGS.after ? 'after' : 'before', timeMs: hi * 0x1_0000_0000 + lo };
      }
      case LOCK_TAGS.hash: {
        this.need(LOCK_HASH_BYTES);
        const view = this.b.subarray(this.at, this.at + LOCK_HASH_BYTES);
        const hash = this.checkPoints ? Buffer.from(view) : view;
        this.at += LOCK_HASH_BYTES;
        return { type: 'hash', hash };
      }
      case LOCK_TAGS.and:
      case LOCK_TAGS.or: {
        const n = this.childCount();
        const locks: Lock[] = [];
        for (let i = 0; i < n; i++) locks.push(this.node(depth + 1));
        return { type: tag === LOCK_TAGS.and ? 'and' : 'or', locks };
      }
      case LOCK_TAGS.thresh: {
        const k = this.u8();
        const n = this.childCount();
        if (k < 1 || k > n) throw malformed('thresh k out of range');
        const locks: Lock[] = [];
        for (let i = 0; i < n; i++) locks.push(this.node(depth + 1));
        return { type: 'thresh', k, locks };
      }
      case LOCK_TAGS.purpose: {
        const n = this.u8();
        if (n < 1) throw malformed('purpose needs at least one merchant category code');
        if (n > LOCK_MCCS_MAX) throw tooLarge(`purpose lists more than ${LOCK_MCCS_MAX} merchant category codes`);
        this.need(2 * n);
        const mccs: number[] = [];
        for (let i = 0; i < n; i++) mccs.push(this.b.readUInt16BE(this.at + 2 * i));
        this.at += 2 * n;
        assertAscending(mccs);
        return { type: 'purpose', mccs };
      }
      default:
        throw lockError('CBDC_ERR_LOCK_UNKNOWN_OPERATOR', `unknown lock tag 0x${tag.toString(16).padStart(2, '0')}`);
    }
  }

  private childCount(): number {
    const n = this.u8();
    if (n < 2) throw malformed('and, or and thresh take at least two locks');
    if (n > LOCK_CHILDREN_MAX) throw tooLarge(`and, or and thresh take at most ${LOCK_CHILDREN_MAX} locks`);
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Shape queries

/** Whether a lock is a plain key or multi (the ledger's fast path). */
export function isSimpleLock(lock: Lock): boolean {
  return lock.type === 'key' || lock.type === 'multi';
}

/** lockSatisfied for a plain key or multi lock and a handful of signing keys (the ledger's hot path). */
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
    default:
      throw new Error('lockSatisfiedByKeys takes key and multi locks only; evaluate other locks with evaluateLock');
  }
}

/** Whether a lock names a key anywhere in its tree. */
export function lockNamesKey(lock: Lock, key: Uint8Array): boolean {
  switch (lock.type) {
    case 'key':
      return lock.key.equals(key);
    case 'multi':
      for (const k of lock.keys) if (k.equals(key)) return true;
      return false;
    case 'and':
    case 'or':
    case 'thresh':
      for (const s of lock.locks) if (lockNamesKey(s, key)) return true;
      return false;
    default:
      return false;
  }
}

/** Every key a lock names, in tree order (a key named twice appears twice). */
export function lockKeys(lock: Lock): readonly Buffer[] {
  const out: Buffer[] = [];
  visitLock(lock, (n) => {
    if (n.type === 'key') out.push(n.key);
    else if (n.type === 'multi') out.push(...n.keys);
  });
  return out;
}

/** Every hash-lock digest in a lock, in tree order. */
export function lockHashes(lock: Lock): readonly Buffer[] {
  const out: Buffer[] = [];
  visitLock(lock, (n) => {
    if (n.type === 'hash') out.push(n.hash);
  });
  return out;
}

/** Whether a lock holds a purpose rule anywhere in its tree. */
export function lockHasPurpose(lock: Lock): boolean {
  let found = false;
  visitLock(lock, (n) => {
    if (n.type === 'purpose') found = true;
  });
  return found;
}

/** Calls fn on every node, parent before children. */
export function visitLock(lock: Lock, fn: (node: Lock) => void): void {
  fn(lock);
  if (lock.type === 'and' || lock.type === 'or' || lock.type === 'thresh') for (const s of lock.locks) visitLock(s, fn);
}

/**
 * Whether a plain key or multi lock is satisfied by the set of keys whose signatures over the
 * transaction verified (keys as latin1 strings of their 33 bytes). Pure and deterministic.
 */
export function lockSatisfied(lock: Lock, signed: ReadonlySet<string>): boolean {
  return lockSatisfiedByKeys(lock, [...signed].map((s) => Buffer.from(s, 'latin1')));
}
