// The wallet's encrypted keystore: one secp256k1 secret key, sealed with a key derived from
// the owner's passphrase, plus what the wallet learned when it opened its account (bank URL,
// bank id, network, account id, the lock its money sits under).
//
//   derived = scrypt(NFKC(passphrase), salt, N, r, p, 64 bytes)        (@noble/hashes)
//   enc key = derived[0..32]     -> AES-256-GCM over the 32-byte secret key, 12-byte random nonce
//   check   = HMAC-SHA256(derived[32..64], "cbdc-wallet/keystore/check/v1")
//
// The KDF parameters, salt, nonce and tag are stored in the file. The GCM additional data is
// a canonical encoding of everything else in the file (version, public key, KDF parameters,
// check, and the account record), so changing any byte of the file is detected. The check
// value tells a wrong passphrase (CBDC_ERR_KEYSTORE_PASSPHRASE) from a file altered after it
// was sealed (CBDC_ERR_KEYSTORE_CORRUPT); it costs an attacker the same scrypt per guess as
// the ciphertext itself. The file is written atomically, mode 0600 (./atomic_file.ts).
import { readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { scrypt } from '@noble/hashes/scrypt.js';
import { CbdcError } from '../protocol/errors.js';
import { generateSecretKey, isValidSecretKey, publicKeyOf } from '../protocol/sig.js';
import { encodeLock, parseLock, type LockJson } from '../protocol/lock.js';
import { type AtomicFileOps, writeFileAtomic } from '../platform/atomic_file.js';

export const KEYSTORE_TYPE = 'cbdc-wallet-keystore';
export const KEYSTORE_VERSION = 1;
const CHECK_LABEL = 'cbdc-wallet/keystore/check/v1';

export interface KdfParams {
  /** scrypt cost N, a power of two. */
  n: number;
  r: number;
  p: number;
}

/** Default cost: N = 2^15, r = 8 (32 MiB, about half a second here). */
export const DEFAULT_KDF: KdfParams = { n: 2 ** 15, r: 8, p: 1 };
/** What a keystore may ask for when read (bounds keep a hostile file from exhausting memory). */
export const KDF_BOUNDS = { logNMin: 10, logNMax: 20, rMax: 32, pMax: 16, memoryBytesMax: 1024 * 1024 * 1024 };

/** What the wallet records once its account is open. */
export interface WalletAccount {
  bank_url: string;
  bank_id: string;
  network: string;
  account_id: string;
  /** The lock the account's money sits under: multi(2, [wallet key, bank key]). */
  lock: LockJson;
  opened_at: string;
}

export interface KeystoreFile {
  type: typeof KEYSTORE_TYPE;
  version: typeof KEYSTORE_VERSION;
  public_key: string;
  created_at: string;
  kdf: { name: 'scrypt'; n: number; r: number; p: number; salt: string; check: string };
  cipher: { name: 'aes-256-gcm'; nonce: string; ciphertext: string; tag: string };
  account: WalletAccount | null;
}

const keystoreError = (what: string) => new CbdcError('CBDC_ERR_KEYSTORE_FORMAT', what);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hexField(o: Record<string, unknown>, key: string, bytes: number, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-f]*$/.test(v)) throw keystoreError(`${where}.${key} must be ${bytes} bytes of lowercase hex`);
  return v;
}

function stringField(o: Record<string, unknown>, key: string, where: string, max = 512): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw keystoreError(`${where}.${key} must be a non-empty string`);
  return v;
}

export function checkKdfParams(k: KdfParams): void {
  const logN = Math.log2(k.n);
  const ok = Number.isInteger(k.n) && Number.isInteger(logN) && logN >= KDF_BOUNDS.logNMin && logN <= KDF_BOUNDS.logNMax &&
    Number.isInteger(k.r) && k.r >= 1 && k.r <= KDF_BOUNDS.rMax && Number.isInteger(k.p) && k.p >= 1 && k.p <= KDF_BOUNDS.pMax &&
    128 * k.r * k.n <= KDF_BOUNDS.memoryBytesMax;
  if (!ok) throw keystoreError(`scrypt parameters out of bounds (N a power of two from 2^${KDF_BOUNDS.logNMin} to 2^${KDF_BOUNDS.logNMax}, r 1-${KDF_BOUNDS.rMax}, p 1-${KDF_BOUNDS.pMax})`);
}

/** Validates the shape of a parsed keystore file (nothing is decrypted). */
export function parseKeystoreJson(value: unknown): KeystoreFile {
  if (!isPlainObject(value)) throw keystoreError('the keystore is not a JSON object');
  if (value.type !== KEYSTORE_TYPE) throw keystoreError(`not a ${KEYSTORE_TYPE} file`);
  if (value.version !== KEYSTORE_VERSION) throw keystoreError(`keystore version ${JSON.stringify(value.version)} is not supported (this wallet reads version ${KEYSTORE_VERSION})`);
  const publicKey = hexField(value, 'public_key', 33, 'keystore');
  const createdAt = stringField(value, 'created_at', 'keystore', 64);
  const kdf = value.kdf;
  if (!isPlainObject(kdf) || kdf.name !== 'scrypt') throw keystoreError('keystore.kdf must be {name: "scrypt", n, r, p, salt, check}');
  const params = { n: kdf.n as number, r: kdf.r as number, p: kdf.p as number };
  checkKdfParams(params);
  const salt = hexField(kdf, 'salt', 16, 'kdf');
  const check = hexField(kdf, 'check', 32, 'kdf');
  const c = value.cipher;
  if (!isPlainObject(c) || c.name !== 'aes-256-gcm') throw keystoreError('keystore.cipher must be {name: "aes-256-gcm", nonce, ciphertext, tag}');
  const cipher = { name: 'aes-256-gcm' as const, nonce: hexField(c, 'nonce', 12, 'cipher'), ciphertext: hexField(c, 'ciphertext', 32, 'cipher'), tag: hexField(c, 'tag', 16, 'cipher') };
  let account: WalletAccount | null = null;
  if (value.account !== null && value.account !== undefined) {
    const a = value.account;
    if (!isPlainObject(a)) throw keystoreError('keystore.account must be an object or null');
    account = {
      bank_url: stringField(a, 'bank_url', 'account'), bank_id: stringField(a, 'bank_id', 'account', 32),
      network: stringField(a, 'network', 'account', 32), account_id: stringField(a, 'account_id', 'account', 64),
      lock: a.lock as LockJson, opened_at: stringField(a, 'opened_at', 'account', 64),
    };
    try {
      parseLock(account.lock);
    } catch {
      throw keystoreError('account.lock is not a lock');
    }
  }
  return {
    type: KEYSTORE_TYPE, version: KEYSTORE_VERSION, public_key: publicKey, created_at: createdAt,
    kdf: { name: 'scrypt', ...params, salt, check }, cipher, account,
  };
}

/** Everything but the nonce, ciphertext and tag, in one canonical byte string (the GCM additional data). */
export function additionalData(k: Omit<KeystoreFile, 'cipher'> & { cipher: { name: string } }): Buffer {
  const a = k.account;
  return Buffer.from(JSON.stringify([
    k.type, k.version, k.public_key, k.created_at, k.kdf.name, k.kdf.n, k.kdf.r, k.kdf.p, k.kdf.salt, k.kdf.check, k.cipher.name,
    a === null ? null : [a.bank_url, a.bank_id, a.network, a.account_id, encodeLock(parseLock(a.lock)).toString('hex'), a.opened_at],
  ]), 'utf8');
}

/** The scrypt output for a passphrase: 32 bytes of encryption key, 32 of check key. */
export function deriveKey(passphrase: string, saltHex: string, k: KdfParams): Buffer {
  checkKdfParams(k);
  const dk = scrypt(Buffer.from(passphrase.normalize('NFKC'), 'utf8'), Buffer.from(saltHex, 'hex'), { N: k.n, r: k.r, p: k.p, dkLen: 64 });
  return Buffer.from(dk);
}

function checkValue(derived: Buffer): string {
  return createHmac('sha256', derived.subarray(32, 64)).update(CHECK_LABEL).digest('hex');
}

function seal(base: Omit<KeystoreFile, 'cipher'>, derived: Buffer, secretKey: Buffer): KeystoreFile {
  const nonce = randomBytes(12);
  const aad = additionalData({ ...base, cipher: { name: 'aes-256-gcm' } });
  const c = createCipheriv('aes-256-gcm', derived.subarray(0, 32), nonce, { authTagLength: 16 });
  c.setAAD(aad);
  const ciphertext = Buffer.concat([c.update(secretKey), c.final()]);
  return { ...base, cipher: { name: 'aes-256-gcm', nonce: nonce.toString('hex'), ciphertext: ciphertext.toString('hex'), tag: c.getAuthTag().toString('hex') } };
}

/** Opens a parsed keystore with the derived key; throws PASSPHRASE or CORRUPT. */
function open(k: KeystoreFile, derived: Buffer): Buffer {
  const expected = Buffer.from(k.kdf.check, 'hex');
  const actual = Buffer.from(checkValue(derived), 'hex');
  if (!timingSafeEqual(expected, actual)) throw new CbdcError('CBDC_ERR_KEYSTORE_PASSPHRASE', 'wrong passphrase: it does not unlock this wallet');
  let sk: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', derived.subarray(0, 32), Buffer.from(k.cipher.nonce, 'hex'), { authTagLength: 16 });
    d.setAAD(additionalData(k));
    d.setAuthTag(Buffer.from(k.cipher.tag, 'hex'));
    sk = Buffer.concat([d.update(Buffer.from(k.cipher.ciphertext, 'hex')), d.final()]);
  } catch {
    throw new CbdcError('CBDC_ERR_KEYSTORE_CORRUPT', 'the keystore was altered or damaged: its contents fail the integrity check');
  }
  if (!isValidSecretKey(sk) || publicKeyOf(sk).toString('hex') !== k.public_key) {
    throw new CbdcError('CBDC_ERR_KEYSTORE_CORRUPT', 'the keystore was altered or damaged: its key does not match its public key');
  }
  return sk;
}

function serialize(k: KeystoreFile): string {
  return JSON.stringify(k, null, 2) + '\n';
}

/** Reads and validates a keystore file (no decryption). */
export function readKeystoreFile(file: string): KeystoreFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CbdcError('CBDC_ERR_KEYSTORE_MISSING', `no wallet at ${file}; create one with: cbdc-wallet init`);
    throw keystoreError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw keystoreError(`${file} is not JSON`);
  }
  return parseKeystoreJson(json);
}

export interface CreateKeystoreOptions {
  kdf?: KdfParams;
  /** Import this key instead of generating one. */
  secretKey?: Buffer;
  ops?: AtomicFileOps;
  now?: () => Date;
}

/** A keystore unlocked in memory: the key, and what the wallet knows of its account. */
export class UnlockedKeystore {
  private constructor(
    readonly file: string,
    private sealed: KeystoreFile,
    private readonly derived: Buffer,
    readonly secretKey: Buffer,
    private readonly ops: AtomicFileOps | undefined,
  ) {}

  get publicKey(): Buffer {
    return Buffer.from(this.sealed.public_key, 'hex');
  }

  get publicKeyHex(): string {
    return this.sealed.public_key;
  }

  get account(): WalletAccount | null {
    return this.sealed.account;
  }

  get contents(): KeystoreFile {
    return this.sealed;
  }

  /** Records the account (re-sealed with a fresh nonce) and writes the file atomically. */
  setAccount(account: WalletAccount | null): void {
    const { cipher: _cipher, ...base } = this.sealed;
    const next = seal({ ...base, account }, this.derived, this.secretKey);
    writeFileAtomic(this.file, serialize(next), { mode: 0o600, ...(this.ops ? { ops: this.ops } : {}) });
    this.sealed = next;
  }

  /** Creates a new keystore file; never overwrites one (CBDC_ERR_KEYSTORE_EXISTS). */
  static create(file: string, passphrase: string, o: CreateKeystoreOptions = {}): UnlockedKeystore {
    if (passphrase.length === 0) throw new CbdcError('CBDC_ERR_KEYSTORE_PASSPHRASE', 'the passphrase is empty');
    const kdf = o.kdf ?? DEFAULT_KDF;
    checkKdfParams(kdf);
    const secretKey = o.secretKey ?? generateSecretKey();
    if (!isValidSecretKey(secretKey)) throw new RangeError('not a valid secp256k1 secret key');
    const salt = randomBytes(16).toString('hex');
    const derived = deriveKey(passphrase, salt, kdf);
    const base: Omit<KeystoreFile, 'cipher'> = {
      type: KEYSTORE_TYPE, version: KEYSTORE_VERSION, public_key: publicKeyOf(secretKey).toString('hex'),
      created_at: (o.now ?? (() => new Date()))().toISOString(),
      kdf: { name: 'scrypt', n: kdf.n, r: kdf.r, p: kdf.p, salt, check: checkValue(derived) }, account: null,
    };
    const sealed = seal(base, derived, secretKey);
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    try {
      writeFileAtomic(file, serialize(sealed), { mode: 0o600, exclusive: true, ...(o.ops ? { ops: o.ops } : {}) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CbdcError('CBDC_ERR_KEYSTORE_EXISTS', `a wallet already exists at ${file}; it is never overwritten`);
      throw e;
    }
    return new UnlockedKeystore(file, sealed, derived, secretKey, o.ops);
  }

  /** Reads the file and unlocks it with the passphrase. */
  static unlock(file: string, passphrase: string, o: { ops?: AtomicFileOps } = {}): UnlockedKeystore {
    const k = readKeystoreFile(file);
    const derived = deriveKey(passphrase, k.kdf.salt, k.kdf);
    const sk = open(k, derived);
    return new UnlockedKeystore(file, k, derived, sk, o.ops);
  }
}

export const createKeystore = UnlockedKeystore.create;
export const unlockKeystore = UnlockedKeystore.unlock;
