// A submitted batch (POST /v1/batches) read off the event loop: a worker thread parses the
// JSON, validates it against the route's schema and every transaction with parseTx (the same
// checks, codes and messages as on the event loop), or decodes and checks the binary form
// (protocol/batch_wire.ts), and takes the intake step (intake.ts) for the whole batch. The
// event loop gets one buffer back and rebuilds each transaction from its canonical bytes,
// which the worker has checked, with no hex, decimal or schema work left.
//
// Result buffer, on a refusal:  0 | code str8 | message (UTF-8, to the end)
//                  on success:  1 | attestation str8 (hex as sent, '' when absent) | n u32 |
//   bodies u32 length + (TX_HASH_PREFIX || canonical body) per transaction | ends u32 x n |
//   witness per transaction (protocol/batch_wire.ts writeWitness) | intake result (runIntake) to the end.
import { move } from 'piscina';
import { CbdcError, isCbdcError } from '../protocol/errors.js';
import { ByteWriter } from '../protocol/bytes.js';
import { BatchSchema } from '../protocol/json_schemas.js';
import { WireReader, decodeBatchWire, decodeTxBody, readWitness, writeWitness } from '../protocol/batch_wire.js';
import { type Tx, TX_HASH_PREFIX, parseTx } from '../protocol/tx.js';
import { compileBodyValidator, parseJsonBody } from '../platform/http_errors.js';
import { type Admitted, packIntake, runIntake, unpackIntake } from './intake.js';

export interface BatchParseTask {
  /** The request body as received (its own buffer, moved to the worker). */
  body: Uint8Array;
  /** JSON, or the binary form (protocol/batch_wire.ts). */
  format: BatchFormat;
  network: string;
  /** The LMDB ledger the intake step reads spent outputs from; null: read none. */
  lmdbPath: string | null;
}

export type BatchFormat = 'json' | 'wire';

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

/** A batch body in either form, parsed and checked; the first failure throws its CbdcError. */
export function parseBatchBody(body: Buffer, format: BatchFormat, network: string): ParsedBatch {
  if (format === 'json') return parseBatchJson(body, network);
  const { txs, attestation } = decodeBatchWire(body, network);
  return { txs, attestationHex: attestation?.toString('hex') };
}

/** The worker's half: parse, check, intake; the result buffer described at the top. */
export function runBatchParse(task: BatchParseTask): Uint8Array {
  const body = Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength);
  const w = new ByteWriter(task.body.byteLength);
  let parsed: ParsedBatch;
  try {
    parsed = parseBatchBody(body, task.format, task.network);
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
  for (const tx of txs) writeWitness(w, tx);
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
  const witness = new WireReader(b, at + 4 * n);
  for (let t = 0; t < n; t++) {
    const end = b.readUInt32BE(ends + 4 * t);
    txs[t] = readWitness(witness, decodeTxBody(bodies, start + TX_HASH_PREFIX.length, end, network, false), false);
    start = end;
  }
  at = witness.at;
  const admitted = new Array<Admitted>(n);
  unpackIntake(txs, 0, n, b.subarray(at), admitted);
  return { txs, attestationHex: attestationHex === '' ? undefined : attestationHex, admitted };
}
