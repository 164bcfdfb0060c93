// Canonical binary encoding helpers for the offline formats: a strict reader (every field
// length checked, no trailing bytes), the shared field encodings, the signature backend.
//
// Every offline message is `version u8 || kind u8 || network str8 || ...` hashed under its own
// BIP340 tag (see OFFLINE_TAGS), so a signature made for one network or one kind of message
// can never be read as another.
import { CbdcError } from '../protocol/errors.js';
import { ByteWriter } from '../protocol/bytes.js';
import { INTERMEDIARY_ID_BYTES_MAX, NETWORK_ID_BYTES_MAX } from '../protocol/limits.js';
import { INTERMEDIARY_ID_PATTERN, NETWORK_ID_PATTERN } from '../protocol/tx.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import {
  HASH_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  SignatureVerifier,
  isHighS,
  isValidPublicKey,
  loadNative,
  nativeVerifier,
  nobleVerifier,
} from '../protocol/sig.js';

/** Format version of every offline message in this file set. */
export const OFFLINE_FORMAT_VERSION = 1;

/** The domain tags of the offline messages; each names one kind of signed message. */
export const OFFLINE_TAGS = {
  certificate: 'CBDC/offline/certificate',
  voucher: 'CBDC/offline/voucher',
  authorisation: 'CBDC/offline/authorisation',
  revocation: 'CBDC/offline/revocation',
  challenge: 'CBDC/offline/challenge',
} as const;

/** Bytes of a payment challenge nonce. */
export const NONCE_BYTES = 16;

/** A device, named by the bank that certified it and the certificate serial that bank gave it. */
export interface DeviceRef {
  readonly bank: string;
  readonly serial: bigint;
}

export function sameDevice(a: DeviceRef, b: DeviceRef): boolean {
  return a.bank === b.bank && a.serial === b.serial;
}

export function deviceRefToString(d: DeviceRef): string {
  return `${d.bank}/${d.serial}`;
}

export function formatError(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_OFFLINE_FORMAT', message);
}

/** Reads a canonical encoding; any short read, bad field or trailing byte is a format error. */
export class ByteReader {
  private at = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}
  private take(n: number, field: string): Buffer {
    if (this.at + n > this.buf.length) throw formatError(`${this.what}: truncated at ${field}`);
    const out = Buffer.from(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return out;
  }
  get offset(): number {
    return this.at;
  }
  u8(field: string): number {
    return this.take(1, field)[0]!;
  }
  u16(field: string): number {
    return this.take(2, field).readUInt16BE(0);
  }
  u32(field: string): number {
    return this.take(4, field).readUInt32BE(0);
  }
  u64(field: string): bigint {
    return this.take(8, field).readBigUInt64BE(0);
  }
  bytes(n: number, field: string): Buffer {
    return this.take(n, field);
  }
  str8(field: string): string {
    const n = this.u8(field);
    return this.take(n, field).toString('latin1');
  }
  /** Fails unless every byte was read (a canonical encoding has exactly one length). */
  end(): void {
    if (this.at !== this.buf.length) throw formatError(`${this.what}: ${this.buf.length - this.at} trailing bytes`);
  }
}

/** The keys a device or reader trusts: each bank's offline signing key, for one network. */
export interface BankKeys {
  readonly network: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/**
 * Opens a message's canonical bytes: checks the version and that its kind byte is `kind`,
 * and reads the network every offline message starts with. The caller reads the rest.
 */
export function openMessage(bytes: Uint8Array, what: string, kind: number): { r: ByteReader; network: string } {
  const r = new ByteReader(bytes, what);
  readVersion(r, what);
  if (r.u8('kind') !== kind) throw formatError(`not a ${what}`);
  return { r, network: readNetwork(r) };
}

/**
 * Checks a bank-signed message: it is for the trusted network, its bank is trusted, and the
 * bank's signature over `hash` verifies. Throws CBDC_ERR_NETWORK_ID, CBDC_ERR_OFFLINE_UNTRUSTED
 * or CBDC_ERR_OFFLINE_SIGNATURE, naming `what`.
 */
export function verifyBankSigned(what: string, m: { network: string; bank: string; bankSig: Buffer }, hash: () => Buffer, trust: BankKeys, verifier: SignatureVerifier): void {
  if (m.network !== trust.network) throw new CbdcError('CBDC_ERR_NETWORK_ID', `${what} is for network ${m.network}`);
  const bankPub = trust.keys.get(m.bank);
  if (bankPub === undefined) throw new CbdcError('CBDC_ERR_OFFLINE_UNTRUSTED', `${what} is from bank ${m.bank}, which is not trusted here`);
  if (!verifier.verify(m.bankSig, hash(), bankPub)) throw new CbdcError('CBDC_ERR_OFFLINE_SIGNATURE', `${what} signature does not verify`);
}

// Field readers with their domain checks, shared by every format.

export function readVersion(r: ByteReader, what: string): void {
  const v = r.u8('version');
  if (v !== OFFLINE_FORMAT_VERSION) throw formatError(`${what}: unknown version ${v}`);
}

export function readNetwork(r: ByteReader): string {
  const n = r.str8('network');
  if (n.length > NETWORK_ID_BYTES_MAX || !NETWORK_ID_PATTERN.test(n)) throw formatError('network id is malformed');
  return n;
}

export function readBankId(r: ByteReader, field: string): string {
  const b = r.str8(field);
  if (b.length > INTERMEDIARY_ID_BYTES_MAX || !INTERMEDIARY_ID_PATTERN.test(b)) throw formatError(`${field} is malformed`);
  return b;
}

export function readDevice(r: ByteReader, field: string): DeviceRef {
  const bank = readBankId(r, `${field} bank`);
  const serial = r.u64(`${field} serial`);
  return { bank, serial };
}

export function writeDevice(w: ByteWriter, d: DeviceRef): void {
  w.str8(d.bank).u64(d.serial);
}

export function readAmount(r: ByteReader, field: string, positive: boolean): bigint {
  const v = r.u64(field);
  if (v > AMOUNT_FEN_MAX) throw formatError(`${field} is above AMOUNT_FEN_MAX`);
  if (positive && v === 0n) throw formatError(`${field} must be positive`);
  return v;
}

export function readPublicKey(r: ByteReader, field: string): Buffer {
  const pub = r.bytes(PUBLIC_KEY_BYTES, field);
  if (!isValidPublicKey(pub)) throw formatError(`${field} is not a valid compressed secp256k1 point`);
  return pub;
}

export function readSignature(r: ByteReader, field: string): Buffer {
  const sig = r.bytes(SIGNATURE_BYTES, field);
  // Low-S only (BIP62): the high-S twin of a valid signature is a second encoding of it.
  if (isHighS(sig)) throw formatError(`${field} has a high S value`);
  return sig;
}

export function readHash(r: ByteReader, field: string): Buffer {
  return r.bytes(HASH_BYTES, field);
}

/** Checks the fields a writer is about to encode; a bad value here is a programmer error. */
export function checkNetwork(network: string): void {
  if (!NETWORK_ID_PATTERN.test(network) || network.length > NETWORK_ID_BYTES_MAX) throw new RangeError(`bad network id ${network}`);
}
export function checkBankId(bank: string): void {
  if (!INTERMEDIARY_ID_PATTERN.test(bank) || bank.length > INTERMEDIARY_ID_BYTES_MAX) throw new RangeError(`bad bank id ${bank}`);
}
export function checkAmount(v: bigint, positive: boolean): void {
  if (v < 0n || v > AMOUNT_FEN_MAX || (positive && v === 0n)) throw new RangeError(`amount out of range: ${v}`);
}
export function checkU64(v: bigint): void {
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`u64 out of range: ${v}`);
}

let defaultBackend: SignatureVerifier | undefined;

/** libsecp256k1 when its native binding loads, else the reference backend (they agree). */
export function defaultVerifier(): SignatureVerifier {
  if (defaultBackend === undefined) {
    try {
      loadNative();
      defaultBackend = nativeVerifier;
    } catch {
      defaultBackend = nobleVerifier;
    }
  }
  return defaultBackend;
}
