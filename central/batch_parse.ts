// A submitted batch (POST /v1/batches) read off the event loop: a worker thread parses the
// JSON, validates it against the route's schema and every transaction with parseTx (the same
// checks, codes and messages as on the event loop), and takes the intake step (intake.ts) for
// the whole batch. The event loop gets one buffer back and rebuilds each transaction from its
// canonical bytes, which the worker has checked, with no hex, decimal or schema work left.
//
// Result buffer, on a refusal:  0 | code str8 | message (UTF-8, to the end)
//                  on success:  1 | attestation str8 (hex as sent, '' when absent) | n u32 |
//   bodies u32 length + (TX_HASH_PREFIX || canonical body) per transaction | ends u32 x n |
//   witness per transaction: sigs u8 + (key 33 | sig 64) each; operator u8 (+ sig 64);
//     preimages u8 + 32 each; certificates u32 length + their JSON (length 0: none) |
//   intake result (runIntake) to the end.
// Certificates are rare and carry nested objects: they travel as JSON and are parsed again on
// the event loop with the parser that checked them here.
import { move } from 'piscina';
import { CbdcError, assert, isCbdcError } from '../protocol/errors.js';
import { ByteWriter } from '../protocol/bytes.js';
import { BatchSchema } from '../protocol/json_schemas.js';
import { TX_PREIMAGES_MAX, TX_SIGNATURES_MAX } from '../protocol/limits.js';
import { decodeLockTrusted } from '../protocol/lock.js';
import { parseWitnessCert, witnessCertToJson } from '../protocol/merchant_cert.js';
import { type KeySignature, type OutPoint, type Tx, type TxKind, type TxOutput, TX_HASH_PREFIX, parseTx } from '../protocol/tx.js';
import { compileBodyValidator, parseJsonBody } from '../platform/http_errors.js';
import { type Admitted, packIntake, runIntake, unpackIntake } from './intake.js';

export interface BatchParseTask {
  /** The request body as received (its own buffer, moved to the worker). */
  body: Uint8Array;
  network: string;
  /** The LMDB ledger the intake step reads spent outputs from; null: read none. */
  lmdbPath: string | null;
}

export interface ParsedBatch {
  txs: Tx[];
  /** The attestation's hex as sent (checked against the schema's pattern only). */
  attestationHex: string | undefined;
}

/** Compiled once, when the module loads (a node's start, a worker's start), as fastify compiles a route's schema before it listens. */
const validateBatch = compileBodyValidator(BatchSchema);

/**
 * The body of POST /v1/batches as the route reads it: JSON (secure-json-parse), the route's
 * schema, then parseTx on each transaction; the first failure throws its CbdcError.
 */
export function parseBatchJson(body: Buffer, network: string): ParsedBatch {
  const value = parseJsonBody(body);
  validateBatch(value);
  const b = value as { transactions: unknown[]; attestation?: string };
  const txs = b.transactions.map((t, i) => {
    try {
      return parseTx(t, network);
    } catch (e) {
      if (isCbdcError(e)) throw new CbdcError(e.code, `transaction ${i}: ${e.message}`);
      throw e;
    }
  });
  return { txs, attestationHex: b.attestation };
}

const KIND_OF_BYTE: readonly (TxKind | undefined)[] = [undefined, 'transfer', 'issue', 'redeem'];
const KEY_BYTES = 33;
const SIG_BYTES = 64;
const PREIMAGE_BYTES = 32;
// Signature and preimage counts travel as one byte each.
assert(TX_SIGNATURES_MAX <= 255 && TX_PREIMAGES_MAX <= 255, 'witness counts fit in a byte');

/** The worker's half: parse, check, intake; the result buffer described at the top. */
export function runBatchParse(task: BatchParseTask): Uint8Array {
  const body = Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength);
  const w = new ByteWriter(task.body.byteLength);
  let parsed: ParsedBatch;
  try {
    parsed = parseBatchJson(body, task.network);
  } catch (e) {
    if (!isCbdcError(e)) throw e;
    w.u8(0).str8(e.code);
    w.bytes(Buffer.from(e.message, 'utf8'));
    return own(w.finish());
  }
  const { txs } = parsed;
  const intake = packIntake(txs, 0, txs.length, task.lmdbPath);
  w.u8(1).str8(parsed.attestationHex ?? '').u32(txs.length);
  w.u32(intake.bodies.length).bytes(intake.bodies);
  for (const end of intake.ends) w.u32(end);
  for (const tx of txs) {
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
  w.bytes(runIntake(intake));
  return own(w.finish());
}

/** runBatchParse as a pool task: the result is moved to the caller, not copied. */
export function runBatchParseTask(task: BatchParseTask): Uint8Array {
  return move(runBatchParse(task)) as Uint8Array;
}

function own(b: Buffer): Uint8Array {
  const r = new Uint8Array(b.length);
  r.set(b);
  return r;
}

/**
 * The event loop's half: the transactions (rebuilt from the bytes the worker checked), their
 * intake, and the attestation; a refusal throws the worker's CbdcError.
 */
export function decodeParsedBatch(result: Uint8Array, network: string): ParsedBatch & { admitted: Admitted[] } {
  const b = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
  let at = 0;
  const str8 = (): string => {
    const n = b[at]!;
    const s = b.toString('latin1', at + 1, at + 1 + n);
    at += 1 + n;
    return s;
  };
  if (b[at++] === 0) {
    const code = str8();
    throw new CbdcError(code as CbdcError['code'], b.toString('utf8', at));
  }
  const attestationHex = str8();
  const n = b.readUInt32BE(at);
  const bodiesLength = b.readUInt32BE(at + 4);
  at += 8;
  const bodies = b.subarray(at, at + bodiesLength);
  at += bodiesLength;
  const txs = new Array<Tx>(n);
  let start = 0;
  const ends = at;
  at += 4 * n;
  for (let t = 0; t < n; t++) {
    const end = b.readUInt32BE(ends + 4 * t);
    const tx = decodeBody(bodies, start + TX_HASH_PREFIX.length, end, network);
    start = end;
    const sigs = new Array<KeySignature>(b[at++]!);
    for (let s = 0; s < sigs.length; s++, at += KEY_BYTES + SIG_BYTES) sigs[s] = { key: b.subarray(at, at + KEY_BYTES), sig: b.subarray(at + KEY_BYTES, at + KEY_BYTES + SIG_BYTES) };
    let operatorSig: Buffer | null = null;
    if (b[at++] === 1) {
      operatorSig = b.subarray(at, at + SIG_BYTES);
      at += SIG_BYTES;
    }
    const preimages = new Array<Buffer>(b[at++]!);
    for (let p = 0; p < preimages.length; p++, at += PREIMAGE_BYTES) preimages[p] = b.subarray(at, at + PREIMAGE_BYTES);
    const certsLength = b.readUInt32BE(at);
    at += 4;
    const certs = certsLength === 0 ? [] : (JSON.parse(b.toString('utf8', at, at + certsLength)) as unknown[]).map((c, i) => parseWitnessCert(c, i));
    at += certsLength;
    // The shape parseTx gives: preimages and certs only when present.
    tx.sigs = sigs;
    tx.operatorSig = operatorSig;
    if (preimages.length > 0) tx.preimages = preimages;
    if (certs.length > 0) tx.certs = certs;
    txs[t] = tx;
  }
  const admitted = new Array<Admitted>(n);
  unpackIntake(txs, 0, n, b.subarray(at), admitted);
  return { txs, attestationHex: attestationHex === '' ? undefined : attestationHex, admitted };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A canonical transaction body (protocol/tx.ts encodeTxBody) the worker encoded from a parsed transaction; its witness follows. */
function decodeBody(b: Buffer, from: number, end: number, network: string): Mutable<Tx> {
  let at = from + 1; // version
  at += 1 + b[at]!; // network: the one parseTx checked
  const kind = KIND_OF_BYTE[b[at++]!];
  if (kind === undefined) throw new Error('batch parse: unknown kind byte');
  let intermediary = '';
  let serial = 0n;
  if (kind !== 'transfer') {
    intermediary = b.toString('latin1', at + 1, at + 1 + b[at]!);
    at += 1 + b[at]!;
  }
  if (kind === 'issue') {
    serial = b.readBigUInt64BE(at);
    at += 8;
  }
  const inputs = new Array<OutPoint>(b.readUInt16BE(at));
  at += 2;
  for (let i = 0; i < inputs.length; i++, at += 40) inputs[i] = { pos: b.readBigUInt64BE(at), id: b.subarray(at + 8, at + 40) };
  const outputs = new Array<TxOutput>(b.readUInt16BE(at));
  at += 2;
  for (let o = 0; o < outputs.length; o++) {
    const value = b.readBigUInt64BE(at);
    const lockEnd = at + 10 + b.readUInt16BE(at + 8);
    const lockBytes = b.subarray(at + 10, lockEnd);
    outputs[o] = { value, lock: decodeLockTrusted(lockBytes), lockBytes };
    at = lockEnd;
  }
  if (at !== end) throw new Error('batch parse: a body does not decode to its recorded end');
  return { kind, network, intermediary, serial, inputs, outputs, sigs: [], operatorSig: null };
}
