// The binary form of a batch (POST /v1/batches with content type BATCH_WIRE_MEDIA_TYPE), and
// the compact answer central gives to it. A batch in this form carries each transaction as its
// canonical bytes (the bytes its txid hashes, encodeTxBody) followed by its witness, so no
// hex, decimal or JSON is parsed on the way in, and the answer leaves out what the sender can
// compute itself (txids, output ids).
//
//   batch   = version u8 (1) | flags u8 (bit 0: attested) | [attestation sig 64] | n u32 |
//             n x ( body length u32 | canonical body | witness )
//   witness = sigs u8 | sigs x (key 33 | sig 64) | operator u8 (0 | 1) | [operator sig 64] |
//             preimages u8 | preimages x 32 | certificates length u32 | certificates JSON
//             (length 0: none)
//
// Integers are big-endian. Decoding applies every rule parseTx applies to the JSON form, with
// the same codes: the two forms of one batch are the same transactions or the same refusal.
// Certificates are rare and carry nested objects: they travel as the JSON parseTx reads.
import { CbdcError } from './errors.js';
import { AMOUNT_FEN_MAX, addAmountsFen } from './amount.js';
import { ByteWriter } from './bytes.js';
import { BATCH_TX_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_PREIMAGES_MAX, TX_SIGNATURES_MAX } from './limits.js';
import { PREIMAGE_BYTES, decodeLock, decodeLockTrusted } from './lock.js';
import { type WitnessCertificate, parseWitnessCert, witnessCertToJson } from './merchant_cert.js';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, checkPublicKey, checkSignature } from './sig.js';
import { type KeySignature, type OutPoint, type Tx, type TxKind, type TxOutput, TX_VERSION, encodeTxBody, lockWitnessOf, outputId, parseIntermediaryId, txId } from './tx.js';

/** The content type of a batch in this form. */
export const BATCH_WIRE_MEDIA_TYPE = 'application/vnd.cbdc.batch';
export const BATCH_WIRE_VERSION = 1;
const FLAG_ATTESTED = 1;

const KIND_OF_BYTE: readonly (TxKind | undefined)[] = [undefined, 'transfer', 'issue', 'redeem'];
// Signature and preimage counts travel as one byte each.
if (TX_SIGNATURES_MAX > 255 || TX_PREIMAGES_MAX > 255) throw new Error('witness counts must fit in a byte');

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const schemaError = (m: string): CbdcError => new CbdcError('CBDC_ERR_SCHEMA', m);

/** A batch in the binary form. `attestation`: the submitting bank's signature over batchAttestationMessage. */
export function encodeBatchWire(txs: readonly Tx[], attestation?: Uint8Array): Buffer {
  const w = new ByteWriter(64 + txs.length * 512);
  w.u8(BATCH_WIRE_VERSION).u8(attestation === undefined ? 0 : FLAG_ATTESTED);
  if (attestation !== undefined) {
    if (attestation.length !== SIGNATURE_BYTES) throw new RangeError('an attestation is a 64-byte signature');
    w.bytes(attestation);
  }
  w.u32(txs.length);
  for (const tx of txs) {
    const at = w.size;
    w.u32(0);
    encodeTxBody(tx, w);
    w.finish().writeUInt32BE(w.size - at - 4, at);
    writeWitness(w, tx);
  }
  return w.finish();
}

/** Appends a transaction's witness in the layout at the top of this file. */
export function writeWitness(w: ByteWriter, tx: Tx): void {
  w.u8(tx.sigs.length);
  for (const s of tx.sigs) w.bytes(s.key).bytes(s.sig);
  if (tx.operatorSig === null) w.u8(0);
  else w.u8(1).bytes(tx.operatorSig);
  const preimages = tx.preimages ?? [];
  w.u8(preimages.length);
  for (const p of preimages) w.bytes(p);
  const certs = tx.certs === undefined || tx.certs.length === 0 ? null : Buffer.from(JSON.stringify(tx.certs.map(witnessCertToJson)), 'utf8');
  w.u32(certs === null ? 0 : certs.length);
  if (certs !== null) w.bytes(certs);
}

/** A cursor over bytes; reading past the end is a CBDC_ERR_SCHEMA refusal. */
export class WireReader {
  at: number;
  constructor(readonly b: Buffer, from = 0, private readonly end = b.length) {
    this.at = from;
  }
  need(n: number, what: string): void {
    if (this.at + n > this.end) throw schemaError(`${what} is cut short`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.at++]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  get left(): number {
    return this.end - this.at;
  }
}

/**
 * Decodes a batch in the binary form and checks it as parseBatchJson checks the JSON form: the
 * first failure throws its CbdcError, a transaction's prefixed with its index. The
 * transactions' bytes are views into `body`: leave it unchanged while they are in use.
 */
export function decodeBatchWire(body: Buffer, network: string): { txs: Tx[]; attestation: Buffer | undefined } {
  const r = new WireReader(body);
  const version = r.u8('batch');
  if (version !== BATCH_WIRE_VERSION) throw schemaError(`batch format version ${version}; this node reads ${BATCH_WIRE_VERSION}`);
  const flags = r.u8('batch');
  if ((flags & ~FLAG_ATTESTED) !== 0) throw schemaError('batch flags has unknown bits');
  const attestation = (flags & FLAG_ATTESTED) !== 0 ? checkSignature(r.bytes(SIGNATURE_BYTES, 'attestation'), 'attestation') : undefined;
  const n = r.u32('batch');
  if (n < 1 || n > BATCH_TX_MAX) throw new CbdcError('CBDC_ERR_BATCH_TOO_LARGE', `a batch holds 1 to ${BATCH_TX_MAX} transactions, this one ${n}`);
  // Each transaction takes at least 4 bytes: a count beyond what the body can hold is refused before any array is sized by it.
  if (n > r.left / 4) throw schemaError('batch is cut short');
  const txs = new Array<Tx>(n);
  for (let t = 0; t < n; t++) {
    try {
      const length = r.u32('transaction');
      r.need(length, 'transaction');
      const tx = decodeTxBody(body, r.at, r.at + length, network, true);
      r.at += length;
      txs[t] = readWitness(r, tx, true);
    } catch (e) {
      if (e instanceof CbdcError) throw new CbdcError(e.code, `transaction ${t}: ${e.message}`);
      throw e;
    }
  }
  if (r.left !== 0) throw schemaError('batch has trailing bytes');
  return { txs, attestation };
}

/**
 * A transaction from its canonical body (encodeTxBody) at body[from, end), witness empty.
 * `checked`: untrusted bytes, checked by every rule parseTx applies (keys on the curve,
 * canonical locks, amounts, counts, duplicate inputs); unchecked: bytes this node checked
 * before (a worker thread's result), decoded with no checks.
 */
export function decodeTxBody(b: Buffer, from: number, end: number, network: string, checked: boolean): Mutable<Tx> {
  const r = new WireReader(b, from, end);
  const version = r.u8('transaction');
  if (checked && version !== TX_VERSION) throw schemaError(`transaction version ${version}; this node reads ${TX_VERSION}`);
  const netLength = r.u8('transaction');
  const net = r.bytes(netLength, 'network');
  const kind = KIND_OF_BYTE[r.u8('transaction')];
  // The kind before the network, as parseTx checks them.
  if (kind === undefined) throw new CbdcError('CBDC_ERR_TX_KIND');
  if (checked && (net.length !== network.length || net.toString('latin1') !== network)) {
    throw new CbdcError('CBDC_ERR_NETWORK_ID', `transaction is for network ${JSON.stringify(net.toString('latin1').slice(0, 40))}, this is ${network}`);
  }
  let intermediary = '';
  let serial = 0n;
  if (kind !== 'transfer') {
    const idLength = r.u8('intermediary');
    intermediary = r.bytes(idLength, 'intermediary').toString('latin1');
    if (checked) parseIntermediaryId(intermediary);
  }
  if (kind === 'issue') serial = r.bytes(8, 'serial').readBigUInt64BE(0);

  const nIn = u16(r, 'inputs');
  if (checked) {
    const inputsMin = kind === 'issue' ? 0 : 1;
    const inputsMax = kind === 'issue' ? 0 : TX_INPUTS_MAX;
    if (nIn < inputsMin || nIn > inputsMax) throw new CbdcError('CBDC_ERR_TOO_MANY_INPUTS', `${kind} takes ${inputsMin} to ${inputsMax} inputs, got ${nIn}`);
  }
  r.need(nIn * 40, 'inputs');
  const inputs = new Array<OutPoint>(nIn);
  for (let i = 0; i < nIn; i++, r.at += 40) {
    const pos = b.readBigUInt64BE(r.at);
    if (checked) {
      for (let j = 0; j < i; j++) if (inputs[j]!.pos === pos) throw new CbdcError('CBDC_ERR_DUPLICATE_INPUT', `input ${i} repeats position ${pos}`);
    }
    inputs[i] = { pos, id: b.subarray(r.at + 8, r.at + 40) };
  }

  const nOut = u16(r, 'outputs');
  if (checked) {
    const outputsMin = kind === 'redeem' ? 0 : 1;
    if (nOut < outputsMin || nOut > TX_OUTPUTS_MAX) throw new CbdcError('CBDC_ERR_TOO_MANY_OUTPUTS', `${kind} takes ${outputsMin} to ${TX_OUTPUTS_MAX} outputs, got ${nOut}`);
  }
  const outputs = new Array<TxOutput>(nOut);
  let sum = 0n;
  for (let o = 0; o < nOut; o++) {
    const value = r.bytes(8, `output ${o}`).readBigUInt64BE(0);
    const lockLength = u16(r, `output ${o} lock`);
    const lockBytes = r.bytes(lockLength, `output ${o} lock`);
    if (checked) {
      if (value === 0n) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE', `output ${o} value must be positive`);
      if (value > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE', `output ${o} value is above AMOUNT_FEN_MAX`);
      sum = addAmountsFen(sum, value);
      // decodeLock takes canonical bytes only (any that decode re-encode to themselves:
      // protocol/lock.property.test.ts): a lock has one encoding here, as from JSON.
      outputs[o] = { value, lock: decodeLock(lockBytes), lockBytes };
    } else {
      outputs[o] = { value, lock: decodeLockTrusted(lockBytes), lockBytes };
    }
  }
  if (r.left !== 0) {
    if (checked) throw schemaError('transaction body has trailing bytes');
    throw new Error('a checked transaction body does not end where it was recorded to');
  }
  return { kind, network, intermediary, serial, inputs, outputs, sigs: [], operatorSig: null };
}

function u16(r: WireReader, what: string): number {
  r.need(2, what);
  const v = r.b.readUInt16BE(r.at);
  r.at += 2;
  return v;
}

/**
 * Reads the witness that follows a body into `tx`. `checked`: with parseTx's rules (signature
 * counts by kind, keys on the curve, low S, no repeated key, the operator signature where the
 * kind needs it, preimages and certificates in order).
 */
export function readWitness(r: WireReader, tx: Mutable<Tx>, checked: boolean): Tx {
  const nSigs = r.u8('witness');
  if (checked) {
    if (tx.kind === 'issue') {
      if (nSigs > 0) throw new CbdcError('CBDC_ERR_WITNESS', 'issuance carries no key signatures');
    } else if (nSigs < 1) {
      throw new CbdcError('CBDC_ERR_WITNESS', `witness needs 1 to ${TX_SIGNATURES_MAX} signatures`);
    }
    if (nSigs > TX_SIGNATURES_MAX) throw new CbdcError('CBDC_ERR_WITNESS', `witness needs 1 to ${TX_SIGNATURES_MAX} signatures`);
  }
  r.need(nSigs * (PUBLIC_KEY_BYTES + SIGNATURE_BYTES), 'witness signatures');
  const sigs = new Array<KeySignature>(nSigs);
  for (let s = 0; s < nSigs; s++) {
    const key = r.bytes(PUBLIC_KEY_BYTES, 'witness');
    const sig = r.bytes(SIGNATURE_BYTES, 'witness');
    if (checked) {
      checkPublicKey(key, `signature ${s} key`);
      checkSignature(sig, `signature ${s}`);
      for (let j = 0; j < s; j++) if (sigs[j]!.key.equals(key)) throw new CbdcError('CBDC_ERR_WITNESS', `signature ${s} repeats a key`);
    }
    sigs[s] = { key, sig };
  }
  const hasOperator = r.u8('witness');
  let operatorSig: Buffer | null = null;
  if (hasOperator > 1) throw schemaError('witness operator flag is neither 0 nor 1');
  if (hasOperator === 1) operatorSig = r.bytes(SIGNATURE_BYTES, 'operator signature');
  if (checked) {
    if (tx.kind === 'transfer') {
      if (operatorSig !== null) throw new CbdcError('CBDC_ERR_WITNESS', 'a transfer carries no operator signature');
    } else {
      if (operatorSig === null) throw new CbdcError('CBDC_ERR_OPERATOR_SIGNATURE', `${tx.kind} needs the operator signature`);
      checkSignature(operatorSig, 'operator signature');
    }
  }
  const nPreimages = r.u8('witness');
  const preimages = new Array<Buffer>(nPreimages);
  for (let p = 0; p < nPreimages; p++) preimages[p] = r.bytes(PREIMAGE_BYTES, 'preimage');
  const certsLength = r.u32('witness');
  let certs: WitnessCertificate[] = [];
  if (certsLength > 0) {
    const text = r.bytes(certsLength, 'certificates').toString('utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new CbdcError('CBDC_ERR_WITNESS', 'witness certificates are not JSON');
    }
    if (!Array.isArray(raw)) throw new CbdcError('CBDC_ERR_WITNESS', 'witness certificates are not a list');
    certs = raw.map(parseWitnessCert);
  }
  tx.sigs = sigs;
  tx.operatorSig = operatorSig;
  const p = nPreimages > 0 ? preimages : undefined;
  const c = certs.length > 0 ? certs : undefined;
  if (checked) return lockWitnessOf(tx, p, c);
  // The shape parseTx gives: preimages and certs only when present.
  if (p !== undefined) tx.preimages = p;
  if (c !== undefined) tx.certs = c;
  return tx;
}

// -------------------------------------------------------------------------------------------
// The compact answer

/**
 * Central's answer to a batch in the binary form (JSON): one entry per transaction in the
 * batch's order, `[batch, first_pos]` (decimal strings) when it settled (its outputs are at
 * first_pos, first_pos + 1, ... and their ids follow from the transaction), or
 * `{ txid, code, message }` when it was refused.
 */
export interface CompactBatchAnswer {
  accepted: number;
  rejected: number;
  durable: boolean;
  results: ([string, string] | { txid: string | null; code: string; message: string })[];
}

/** A transaction's result as the JSON answer gives it, rebuilt from a compact answer's entry. */
export type ExpandedResult =
  | { status: 'settled'; txid: string; batch: string; outputs: { pos: string; id: string }[] }
  | { status: 'rejected'; txid: string | null; code: string; message: string };

/**
 * The results of a compact answer with their txids and output ids computed from the
 * transactions sent (`txids`: their ids, when the caller has them). A malformed answer throws.
 */
export function expandCompactAnswer(txs: readonly Tx[], answer: CompactBatchAnswer, txids?: readonly Uint8Array[]): ExpandedResult[] {
  if (!Array.isArray(answer.results) || answer.results.length !== txs.length) throw new Error('central answered a batch with a different number of results');
  return answer.results.map((e, i): ExpandedResult => {
    if (!Array.isArray(e)) return { status: 'rejected', txid: e.txid, code: e.code, message: e.message };
    const tx = txs[i]!;
    const txid = txids?.[i] ?? txId(tx);
    const first = BigInt(e[1]);
    return {
      status: 'settled',
      txid: Buffer.from(txid).toString('hex'),
      batch: e[0],
      outputs: tx.outputs.map((o, k) => ({ pos: (first + BigInt(k)).toString(), id: outputId(txid, k, o.value, o.lockBytes).toString('hex') })),
    };
  });
}
