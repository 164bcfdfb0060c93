// The transaction format (UTXO), its strict JSON form, its canonical bytes and its ids.
//
//   txid      = H_"CBDC/tx"(canonical bytes)              — what input owners sign
//   output id = H_"CBDC/output"(txid || index || value || lock) — what an output is bound to
//   operator  = signs H_"CBDC/operator"(txid)             — issuance and redemption only
//
// Outputs are referenced by their ledger position (assigned at commit, in ledger order)
// together with their id, so the signature commits to the content of every spent output
// while the store files outputs under keys that touch few pages.
import { CbdcError } from './errors.js';
import { AMOUNT_FEN_MAX, addAmountsFen, formatAmountFen, parsePositiveAmountFen } from './amount.js';
import { ByteWriter, hexToBytes } from './bytes.js';
import { TAGS, sha256Once, taggedHash, taggedHashPrefix } from './hash.js';
import {
  INTERMEDIARY_ID_BYTES_MAX, NETWORK_ID_BYTES_MAX, TX_CERTS_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_PREIMAGES_MAX, TX_SIGNATURES_MAX,
} from './limits.js';
import { Lock, LockJson, PREIMAGE_BYTES, encodeLock, lockToJson, parseLock } from './lock.js';
import { type WitnessCertificate, type WitnessCertificateJson, parseWitnessCert, witnessCertToJson } from './merchant_cert.js';
import { parsePublicKey, parseSignature } from './sig.js';

export const TX_VERSION = 1;
export const TX_KINDS = ['transfer', 'issue', 'redeem'] as const;
export type TxKind = (typeof TX_KINDS)[number];
const KIND_BYTE: Record<TxKind, number> = { transfer: 1, issue: 2, redeem: 3 };

/** A reference to an output: its ledger position and its id. */
export interface OutPoint {
  readonly pos: bigint;
  readonly id: Buffer;
}

export interface TxOutput {
  readonly value: bigint;
  readonly lock: Lock;
  readonly lockBytes: Buffer;
}

export interface KeySignature {
  readonly key: Buffer;
  readonly sig: Buffer;
}

export interface Tx {
  readonly kind: TxKind;
  readonly network: string;
  /** The intermediary an issuance pays or a redemption credits; '' for transfers. */
  readonly intermediary: string;
  /** The issuance serial of that intermediary (issue only; 0 otherwise). */
  readonly serial: bigint;
  readonly inputs: readonly OutPoint[];
  readonly outputs: readonly TxOutput[];
  readonly sigs: readonly KeySignature[];
  readonly operatorSig: Buffer | null;
  /**
   * Hash-lock preimages (PREIMAGE_BYTES each), in ascending byte order; absent or empty when
   * none. Witness data: not part of the txid.
   */
  readonly preimages?: readonly Buffer[];
  /** Merchant certificates for outputs, in ascending output order; absent or empty when none. */
  readonly certs?: readonly WitnessCertificate[];
}

export interface TxJson {
  kind: TxKind;
  network: string;
  intermediary?: string;
  serial?: string;
  inputs: { pos: string; id: string }[];
  outputs: { value: string; lock: LockJson }[];
  witness: { sigs?: { key: string; sig: string }[]; operator?: string; preimages?: string[]; certs?: WitnessCertificateJson[] };
}

export const NETWORK_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const INTERMEDIARY_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const POS_PATTERN = /^(0|[1-9][0-9]{0,19})$/;
const U64_MAX = (1n << 64n) - 1n;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function schemaError(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_SCHEMA', message);
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw schemaError(`${what} has an unknown field "${k.slice(0, 32)}"`);
}

export function parseU64(value: unknown, what: string): bigint {
  if (typeof value !== 'string' || !POS_PATTERN.test(value)) throw schemaError(`${what} must be a decimal string`);
  const v = BigInt(value);
  if (v > U64_MAX) throw schemaError(`${what} is above 2^64-1`);
  return v;
}

export function parseIntermediaryId(value: unknown): string {
  if (typeof value !== 'string' || !INTERMEDIARY_ID_PATTERN.test(value) || value.length > INTERMEDIARY_ID_BYTES_MAX) {
    throw new CbdcError('CBDC_ERR_INTERMEDIARY_ID');
  }
  return value;
}

/**
 * Parses and structurally validates a transaction's JSON form. Everything that can be
 * checked without the ledger is checked here; each failure has its own code.
 */
/**
 * Options: `operatorSignsLater` — an issuance or redemption the operator is asked to sign;
 * `witnessLater` — a transaction built for signing, whose key signatures are still to come.
 */
export function parseTx(value: unknown, network: string, opts: { operatorSignsLater?: boolean; witnessLater?: boolean } = {}): Tx {
  if (!isPlainObject(value)) throw schemaError('transaction must be an object');
  onlyKeys(value, ['kind', 'network', 'intermediary', 'serial', 'inputs', 'outputs', 'witness'], 'transaction');
  const kind = value.kind;
  if (typeof kind !== 'string' || !(TX_KINDS as readonly string[]).includes(kind)) throw new CbdcError('CBDC_ERR_TX_KIND');
  const k = kind as TxKind;
  if (value.network !== network) {
    throw new CbdcError('CBDC_ERR_NETWORK_ID', `transaction is for network ${JSON.stringify(String(value.network).slice(0, 40))}, this is ${network}`);
  }

  let intermediary = '';
  let serial = 0n;
  if (k === 'transfer') {
    if (value.intermediary !== undefined || value.serial !== undefined) throw schemaError('a transfer names no intermediary or serial');
  } else {
    intermediary = parseIntermediaryId(value.intermediary);
    if (k === 'issue') serial = parseU64(value.serial, 'serial');
    else if (value.serial !== undefined) throw schemaError('only issuance carries a serial');
  }

  // Inputs
  if (!Array.isArray(value.inputs)) throw schemaError('inputs must be an array');
  const inputsMin = k === 'issue' ? 0 : 1;
  const inputsMax = k === 'issue' ? 0 : TX_INPUTS_MAX;
  if (value.inputs.length < inputsMin || value.inputs.length > inputsMax) {
    throw new CbdcError('CBDC_ERR_TOO_MANY_INPUTS', `${k} takes ${inputsMin} to ${inputsMax} inputs, got ${value.inputs.length}`);
  }
  const seen = new Set<bigint>();
  const inputs: OutPoint[] = value.inputs.map((inp, i) => {
    if (!isPlainObject(inp)) throw schemaError(`input ${i} must be an object`);
    onlyKeys(inp, ['pos', 'id'], `input ${i}`);
    const pos = parseU64(inp.pos, `input ${i} pos`);
    const id = hexToBytes(inp.id, 32, `input ${i} id`);
    if (seen.has(pos)) throw new CbdcError('CBDC_ERR_DUPLICATE_INPUT', `input ${i} repeats position ${pos}`);
    seen.add(pos);
    return { pos, id };
  });

  // Outputs
  if (!Array.isArray(value.outputs)) throw schemaError('outputs must be an array');
  const outputsMin = k === 'redeem' ? 0 : 1;
  if (value.outputs.length < outputsMin || value.outputs.length > TX_OUTPUTS_MAX) {
    throw new CbdcError('CBDC_ERR_TOO_MANY_OUTPUTS', `${k} takes ${outputsMin} to ${TX_OUTPUTS_MAX} outputs, got ${value.outputs.length}`);
  }
  let sum = 0n;
  const outputs: TxOutput[] = value.outputs.map((out, i) => {
    if (!isPlainObject(out)) throw schemaError(`output ${i} must be an object`);
    onlyKeys(out, ['value', 'lock'], `output ${i}`);
    const v = parsePositiveAmountFen(out.value, `output ${i} value`);
    sum = addAmountsFen(sum, v);
    const lock = parseLock(out.lock);
    return { value: v, lock, lockBytes: encodeLock(lock) };
  });

  // Witness
  const w = value.witness;
  if (!isPlainObject(w)) throw schemaError('witness must be an object');
  onlyKeys(w, ['sigs', 'operator', 'preimages', 'certs'], 'witness');
  const sigs: KeySignature[] = [];
  if (k === 'issue') {
    if (w.sigs !== undefined && (!Array.isArray(w.sigs) || w.sigs.length > 0)) throw new CbdcError('CBDC_ERR_WITNESS', 'issuance carries no key signatures');
  } else {
    const sigsMin = opts.witnessLater ? 0 : 1;
    const rawSigs = w.sigs === undefined && opts.witnessLater ? [] : w.sigs;
    if (!Array.isArray(rawSigs) || rawSigs.length < sigsMin || rawSigs.length > TX_SIGNATURES_MAX) {
      throw new CbdcError('CBDC_ERR_WITNESS', `witness needs ${sigsMin} to ${TX_SIGNATURES_MAX} signatures`);
    }
    const keys = new Set<string>();
    for (const [i, s] of rawSigs.entries()) {
      if (!isPlainObject(s)) throw schemaError(`signature ${i} must be an object`);
      onlyKeys(s, ['key', 'sig'], `signature ${i}`);
      const key = parsePublicKey(s.key, `signature ${i} key`);
      const sig = parseSignature(s.sig, `signature ${i}`);
      const ks = key.toString('latin1');
      if (keys.has(ks)) throw new CbdcError('CBDC_ERR_WITNESS', `signature ${i} repeats a key`);
      keys.add(ks);
      sigs.push({ key, sig });
    }
  }
  let operatorSig: Buffer | null = null;
  if (k === 'transfer') {
    if (w.operator !== undefined) throw new CbdcError('CBDC_ERR_WITNESS', 'a transfer carries no operator signature');
  } else if (opts.operatorSignsLater) {
    // A request for the operator to authorize: it must not carry a signature of its own.
    if (w.operator !== undefined) throw new CbdcError('CBDC_ERR_WITNESS', 'the operator signs this transaction; leave witness.operator out');
  } else {
    if (w.operator === undefined) throw new CbdcError('CBDC_ERR_OPERATOR_SIGNATURE', `${k} needs the operator signature`);
    operatorSig = parseSignature(w.operator, 'operator signature');
  }
  const tx: Tx = { kind: k, network, intermediary, serial, inputs, outputs, sigs, operatorSig };
  return parseLockWitness(tx, w.preimages, w.certs);
}

/**
 * The witness parts hash and purpose locks use, from their JSON: preimages (hex) and merchant
 * certificates. The counts are checked before anything is decoded; lockWitnessOf checks the rest.
 */
function parseLockWitness(tx: Tx, rawPreimages: unknown, rawCerts: unknown): Tx {
  if (rawPreimages === undefined && rawCerts === undefined) return tx;
  if (tx.kind === 'issue') throw issuanceWitnessError();
  let preimages: Buffer[] | undefined;
  if (rawPreimages !== undefined) {
    if (!Array.isArray(rawPreimages) || rawPreimages.length < 1 || rawPreimages.length > TX_PREIMAGES_MAX) throw preimageCountError();
    preimages = rawPreimages.map((p, i) => hexToBytes(p, PREIMAGE_BYTES, `preimage ${i}`));
  }
  let certs: WitnessCertificate[] | undefined;
  if (rawCerts !== undefined) {
    if (!Array.isArray(rawCerts) || rawCerts.length < 1 || rawCerts.length > TX_CERTS_MAX) throw certCountError();
    certs = rawCerts.map(parseWitnessCert);
  }
  return lockWitnessOf(tx, preimages, certs);
}

const issuanceWitnessError = (): CbdcError => new CbdcError('CBDC_ERR_WITNESS', 'issuance spends nothing: it carries no preimages or certificates');
const preimageCountError = (): CbdcError => new CbdcError('CBDC_ERR_WITNESS', `witness preimages, when present, are 1 to ${TX_PREIMAGES_MAX}`);
const certCountError = (): CbdcError => new CbdcError('CBDC_ERR_WITNESS', `witness certificates, when present, are 1 to ${TX_CERTS_MAX}`);

/**
 * `tx` with its preimages and merchant certificates, checked: present means non-empty; each
 * list is in strictly ascending order (preimages by bytes, certificates by output), so one
 * witness has one form. Whether each one is needed is checked against the input locks when
 * the transaction is spent (protocol/spend.ts).
 */
export function lockWitnessOf(tx: Tx, preimages: Buffer[] | undefined, certs: WitnessCertificate[] | undefined): Tx {
  if (preimages === undefined && certs === undefined) return tx;
  if (tx.kind === 'issue') throw issuanceWitnessError();
  if (preimages !== undefined) {
    if (preimages.length < 1 || preimages.length > TX_PREIMAGES_MAX) throw preimageCountError();
    for (let i = 1; i < preimages.length; i++) {
      if (Buffer.compare(preimages[i - 1]!, preimages[i]!) >= 0) throw new CbdcError('CBDC_ERR_WITNESS', 'preimages must be distinct, in ascending byte order');
    }
  }
  if (certs !== undefined) {
    if (certs.length < 1 || certs.length > TX_CERTS_MAX) throw certCountError();
    for (const [i, c] of certs.entries()) {
      if (c.output >= tx.outputs.length) throw new CbdcError('CBDC_ERR_WITNESS', `certificate ${i} names output ${c.output}, the transaction has ${tx.outputs.length}`);
      if (i > 0 && c.output <= certs[i - 1]!.output) throw new CbdcError('CBDC_ERR_WITNESS', 'certificates must name distinct outputs, in ascending order');
    }
  }
  return { ...tx, ...(preimages ? { preimages } : {}), ...(certs ? { certs } : {}) };
}

/** The canonical bytes of a transaction without its witness: what its id is the hash of. */
export function encodeTxBody(tx: Tx, w = new ByteWriter(128 + tx.inputs.length * 40 + tx.outputs.length * 48)): Buffer {
  w.u8(TX_VERSION).str8(tx.network).u8(KIND_BYTE[tx.kind]);
  if (tx.kind !== 'transfer') w.str8(tx.intermediary);
  if (tx.kind === 'issue') w.u64(tx.serial);
  w.u16(tx.inputs.length);
  for (const i of tx.inputs) w.u64(i.pos).bytes(i.id);
  w.u16(tx.outputs.length);
  for (const o of tx.outputs) w.u64(o.value).var16(o.lockBytes);
  return w.finish();
}

const TX_PREFIX = taggedHashPrefix(TAGS.tx);

/** H_"CBDC/tx"(canonical bytes), encoded straight after the tag prefix and hashed in one call. */
export function txId(tx: Tx): Buffer {
  const w = new ByteWriter(192 + tx.inputs.length * 40 + tx.outputs.length * 48).bytes(TX_PREFIX);
  return sha256Once(encodeTxBody(tx, w));
}

const OUTPUT_PREFIX = taggedHashPrefix(TAGS.output);

/**
 * The id an output is bound to, whatever key the store files it under:
 * H_"CBDC/output"(txid || u16 index || u64 value || u16 len || lock). Built in one buffer
 * and hashed in one call: it runs for every output the ledger creates.
 */
export function outputId(txid: Uint8Array, index: number, value: bigint, lockBytes: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(64 + 32 + 2 + 8 + 2 + lockBytes.length);
  OUTPUT_PREFIX.copy(b, 0);
  b.set(txid, 64);
  b.writeUInt16BE(index, 96);
  b.writeBigUInt64BE(value, 98);
  b.writeUInt16BE(lockBytes.length, 106);
  b.set(lockBytes, 108);
  return sha256Once(b);
}

/**
 * outputId from the output's bytes as the transaction body encodes them (u64 value || u16 len
 * || lock, which is exactly the tail of the output id's message), so a thread holding only the
 * canonical body can compute it. `scratch` (reused across calls) must hold 108 + lock bytes.
 */
export function outputIdOfEncoded(txid: Uint8Array, index: number, encodedOutput: Uint8Array, scratch: Buffer): Buffer {
  const n = 98 + encodedOutput.length;
  OUTPUT_PREFIX.copy(scratch, 0);
  scratch.set(txid, 64);
  scratch.writeUInt16BE(index, 96);
  scratch.set(encodedOutput, 98);
  return sha256Once(scratch.subarray(0, n));
}

/** The tag prefix of txids: a txid is sha256Once(TX_HASH_PREFIX || encodeTxBody(tx)). */
export const TX_HASH_PREFIX: Buffer = TX_PREFIX;

const BATCH_PREFIX = taggedHashPrefix(TAGS.batch);

/**
 * What a bank signs to attest a batch (central's `attested` mode): H_"CBDC/batch"(network ||
 * txid...), the network's latin1 bytes then each 32-byte txid, hashed as one buffer.
 */
export function batchAttestationMessage(network: string, txids: readonly Uint8Array[]): Buffer {
  const b = Buffer.allocUnsafe(BATCH_PREFIX.length + network.length + 32 * txids.length);
  BATCH_PREFIX.copy(b, 0);
  let at = BATCH_PREFIX.length + b.write(network, BATCH_PREFIX.length, 'latin1');
  for (const t of txids) {
    if (t.length !== 32) throw new RangeError('a txid is 32 bytes');
    b.set(t, at);
    at += 32;
  }
  return sha256Once(b.subarray(0, at));
}

/** What the central-bank operator signs to authorize an issuance or redemption. */
export function operatorMessage(txid: Uint8Array): Buffer {
  return taggedHash(TAGS.operator, txid);
}

export function sumOutputs(tx: Tx): bigint {
  let s = 0n;
  for (const o of tx.outputs) s += o.value;
  if (s > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW');
  return s;
}

export function txToJson(tx: Tx): TxJson {
  const j: TxJson = {
    kind: tx.kind,
    network: tx.network,
    inputs: tx.inputs.map((i) => ({ pos: i.pos.toString(), id: i.id.toString('hex') })),
    outputs: tx.outputs.map((o) => ({ value: formatAmountFen(o.value), lock: lockToJson(o.lock) })),
    witness: {},
  };
  if (tx.kind !== 'transfer') j.intermediary = tx.intermediary;
  if (tx.kind === 'issue') j.serial = tx.serial.toString();
  if (tx.kind !== 'issue') j.witness.sigs = tx.sigs.map((s) => ({ key: s.key.toString('hex'), sig: s.sig.toString('hex') }));
  if (tx.operatorSig) j.witness.operator = tx.operatorSig.toString('hex');
  if (tx.preimages !== undefined && tx.preimages.length > 0) j.witness.preimages = tx.preimages.map((p) => p.toString('hex'));
  if (tx.certs !== undefined && tx.certs.length > 0) j.witness.certs = tx.certs.map(witnessCertToJson);
  return j;
}
