// Admission work that depends on nothing but a transaction's bytes and on outputs already
// committed, done for a chunk of submitted transactions at once, in a worker thread: the txid
// and every output id (tagged SHA-256 of the canonical body, protocol/tx.ts), and the value
// and lock of every output the chunk spends. The event loop is left with the checks that need
// the ledger's current state (spent bits, issuance rules) and the write.
//
// The main thread encodes each body once, after the txid's tag prefix, into one buffer:
//   task:   (TX_HASH_PREFIX || canonical body) per transaction; ends[t] = end of transaction t
//   result: per transaction: txid 32 | output id 32 x outputs |
//           per input: found u8 | value u64 | lock length u16 | lock (value and lock only when found)
// A found input is final: a stored output is never changed or deleted (spending sets a bit in
// another table), so what the worker's snapshot shows stays true. A miss may be an output
// committed after that snapshot: the ledger looks it up again when it prepares the
// transaction, against the state of that moment, as it does without a worker.
import { move } from 'piscina';
import { ByteWriter } from '../protocol/bytes.js';
import { LOCK_BYTES_MAX } from '../protocol/limits.js';
import { type Tx, TX_HASH_PREFIX, encodeTxBody, outputIdOfEncoded } from '../protocol/tx.js';
import { sha256Once } from '../protocol/hash.js';
import { LmdbInputReader } from './store_lmdb.js';

export interface IntakeTask {
  /** (TX_HASH_PREFIX || canonical body) of each transaction, back to back. */
  bodies: Uint8Array;
  /** ends[t]: the end of transaction t in `bodies`. */
  ends: Uint32Array;
  /** The LMDB ledger to read spent outputs from; null: read none (every input a miss). */
  lmdbPath: string | null;
}

/** Packs transactions [from, to) for runIntake. */
export function packIntake(txs: readonly Tx[], from: number, to: number, lmdbPath: string | null): IntakeTask {
  const w = new ByteWriter((to - from) * 256);
  const ends = new Uint32Array(to - from);
  for (let t = from; t < to; t++) {
    w.bytes(TX_HASH_PREFIX);
    encodeTxBody(txs[t]!, w);
    ends[t - from] = w.size;
  }
  // Its own ArrayBuffer: it is moved to the worker, and a writer's buffer may be a slice of
  // Node's shared allocation pool.
  const bodies = new Uint8Array(w.size);
  bodies.set(w.finish());
  return { bodies, ends, lmdbPath };
}

const PREFIX_BYTES = TX_HASH_PREFIX.length;
const KIND_TRANSFER = 1;
const KIND_ISSUE = 2;

/** The worker's half: hashes and reads; returns the result buffer described at the top. */
export function runIntake(task: IntakeTask): Uint8Array {
  const body = Buffer.from(task.bodies.buffer, task.bodies.byteOffset, task.bodies.byteLength);
  const reader = task.lmdbPath === null ? null : LmdbInputReader.forPath(task.lmdbPath);
  const out = new ByteWriter(task.ends.length * 200);
  const scratch = Buffer.allocUnsafe(128 + LOCK_BYTES_MAX);
  reader?.begin();
  try {
    let start = 0;
    for (let t = 0; t < task.ends.length; t++) {
      const end = task.ends[t]!;
      const txid = sha256Once(body.subarray(start, end));
      out.bytes(txid);
      // Walk the canonical body (encodeTxBody): version, network, kind, [intermediary], [serial].
      let at = start + PREFIX_BYTES + 1;
      at += 1 + body[at]!;
      const kind = body[at++]!;
      if (kind !== KIND_TRANSFER) at += 1 + body[at]!;
      if (kind === KIND_ISSUE) at += 8;
      const inputs = body.readUInt16BE(at);
      const inputsAt = at + 2;
      at = inputsAt + inputs * 40;
      const outputs = body.readUInt16BE(at);
      at += 2;
      for (let o = 0; o < outputs; o++) {
        const len = 8 + 2 + body.readUInt16BE(at + 8);
        out.bytes(outputIdOfEncoded(txid, o, body.subarray(at, at + len), scratch));
        at += len;
      }
      if (at !== end) throw new Error('intake: a body does not parse to its recorded end');
      for (let i = 0; i < inputs; i++) {
        const p = inputsAt + i * 40;
        const pos = body.readUInt32BE(p) * 4294967296 + body.readUInt32BE(p + 4);
        const rec = reader === null ? undefined : reader.read(pos, body.subarray(p + 8, p + 40));
        if (rec === undefined) out.u8(0);
        else out.u8(1).bytes(rec.value8).var16(rec.lockBytes);
      }
      start = end;
    }
  } finally {
    reader?.end();
  }
  // Its own buffer, so that it can be moved to the calling thread.
  const r = new Uint8Array(out.size);
  r.set(out.finish());
  return r;
}

/** runIntake as a pool task (VerifyPool.intake): the result is moved to the caller, not copied. */
export function runIntakeTask(task: IntakeTask): Uint8Array {
  return move(runIntake(task)) as Uint8Array;
}

/** One transaction's part of an intake result. */
export interface Admitted {
  readonly txid: Buffer;
  readonly outputIds: Buffer[];
  /**
   * The result buffer and where this transaction's input records start in it: per input,
   * found u8 (1: value u64 | lock length u16 | lock follow; 0: nothing follows).
   */
  readonly inputs: Buffer;
  readonly inputsAt: number;
}

/** Splits a result for transactions [from, to) into each one's part (views, no copies). */
export function unpackIntake(txs: readonly Tx[], from: number, to: number, result: Uint8Array, into: Admitted[]): void {
  const b = Buffer.from(result.buffer, result.byteOffset, result.byteLength);
  let at = 0;
  for (let t = from; t < to; t++) {
    const tx = txs[t]!;
    const txid = b.subarray(at, at + 32);
    at += 32;
    const outputIds: Buffer[] = new Array<Buffer>(tx.outputs.length);
    for (let o = 0; o < outputIds.length; o++, at += 32) outputIds[o] = b.subarray(at, at + 32);
    const inputsAt = at;
    for (let i = 0; i < tx.inputs.length; i++) at = b[at] === 1 ? at + 1 + 8 + 2 + b.readUInt16BE(at + 9) : at + 1;
    into[t] = { txid, outputIds, inputs: b, inputsAt };
  }
  if (at !== b.length) throw new Error('intake: the result does not match its transactions');
}
