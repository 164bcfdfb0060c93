// The ledger's records as the stores keep them, and the one place a batch of effects is
// checked and planned against the committed state: both stores (store_lmdb.ts, store_sql.ts)
// write what planBatch decides, so they accept, refuse and number exactly the same things.
// Record layouts (big-endian, as in LMDB's keys and values; the SQL store keeps the same
// bytes, so equal ledgers give equal digests whichever store holds them):
// - state:   next position, next batch, issued, redeemed, unspent, spent count (u64 each)
// - output:  value u64 | id 32 | txid 32 | index u16 | batch u64 | lock bytes
// - batch:   time u64 | first position u64 | output count u32 | tx count u32 | per tx:
//            txid 32 | kind u8 | intermediary str8 | first position u64 | outputs u16 | inputs u16 | inputs u64...
import { CbdcError, assert } from '../protocol/errors.js';
import { ByteWriter, writeU64 } from '../protocol/bytes.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import type { TxKind } from '../protocol/tx.js';
import type { BatchRecord, BatchRecordTx, EffectResult, Intermediary, StoredOutput, TxEffect } from './store.js';

export const KIND_CODE: Record<TxKind, number> = { transfer: 1, issue: 2, redeem: 3 };
export const CODE_KIND: Record<number, TxKind> = { 1: 'transfer', 2: 'issue', 3: 'redeem' };

export interface State {
  nextPos: bigint;
  nextBatch: bigint;
  issuedFen: bigint;
  redeemedFen: bigint;
  unspentFen: bigint;
  spentCount: bigint;
}

export interface IntermediaryRow {
  id: string;
  publicKey: string;
  quotaFen: string;
  reserveFen: string;
  issuedFen: string;
  redeemedFen: string;
  nextSerial: string;
  registeredAtMs: number;
}

export function key64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return b;
}

/** Positions, chunk and batch numbers on the hot path are numbers: the ledger never nears 2^53. */
export const POS_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);



export function encodeState(s: State): Buffer {
  return new ByteWriter(48).u64(s.nextPos).u64(s.nextBatch).u64(s.issuedFen).u64(s.redeemedFen).u64(s.unspentFen).u64(s.spentCount).finish();
}

export function decodeState(b: Buffer | undefined): State {
  if (b === undefined) return { nextPos: 0n, nextBatch: 0n, issuedFen: 0n, redeemedFen: 0n, unspentFen: 0n, spentCount: 0n };
  assert(b.length === 48, 'state record is 48 bytes');
  return {
    nextPos: b.readBigUInt64BE(0), nextBatch: b.readBigUInt64BE(8), issuedFen: b.readBigUInt64BE(16),
    redeemedFen: b.readBigUInt64BE(24), unspentFen: b.readBigUInt64BE(32), spentCount: b.readBigUInt64BE(40),
  };
}

// Output record: value u64 | id 32 | txid 32 | index u16 | batch u64 | lock bytes
export const OUT_FIXED_BYTES = 8 + 32 + 32 + 2 + 8;

/** An output record; `batch8` is the batch number's u64 big-endian bytes (the same for a whole batch). */
export function encodeOutput(value: bigint, id: Buffer, txid: Buffer, index: number, batch8: Buffer, lockBytes: Buffer): Buffer {
  const b = Buffer.allocUnsafe(OUT_FIXED_BYTES + lockBytes.length);
  writeU64(b, value, 0);
  b.set(id, 8);
  b.set(txid, 40);
  b[72] = index >>> 8;
  b[73] = index & 0xff;
  b.set(batch8, 74);
  b.set(lockBytes, OUT_FIXED_BYTES);
  return b;
}

/** Whether a position appears twice (an effect's inputs: at most TX_INPUTS_MAX, pairwise). */
export function repeats(positions: readonly bigint[]): boolean {
  for (let i = 1; i < positions.length; i++) {
    const p = positions[i]!;
    for (let j = 0; j < i; j++) if (positions[j] === p) return true;
  }
  return false;
}

export function decodeOutput(pos: bigint, b: Buffer): StoredOutput {
  return {
    pos,
    value: b.readBigUInt64BE(0),
    id: Buffer.from(b.subarray(8, 40)),
    txid: Buffer.from(b.subarray(40, 72)),
    index: b.readUInt16BE(72),
    batch: b.readBigUInt64BE(74),
    lockBytes: Buffer.from(b.subarray(OUT_FIXED_BYTES)),
  };
}

export function encodeBatch(timeMs: number, firstPos: bigint, outputCount: number, txs: BatchRecordTx[]): Buffer {
  let size = 24;
  for (const t of txs) size += 32 + 1 + 1 + t.intermediary.length + 8 + 2 + 2 + 8 * t.inputs.length;
  const w = new ByteWriter(size);
  w.u64(BigInt(timeMs)).u64(firstPos).u32(outputCount).u32(txs.length);
  for (const t of txs) {
    w.bytes(t.txid).u8(KIND_CODE[t.kind]).str8(t.intermediary).u64(t.firstPos).u16(t.outputCount).u16(t.inputs.length);
    for (const p of t.inputs) w.u64(p);
  }
  return w.finish();
}

export function decodeBatch(seq: bigint, b: Buffer): BatchRecord {
  let at = 0;
  const u64 = () => { const v = b.readBigUInt64BE(at); at += 8; return v; };
  const timeMs = Number(u64());
  const firstPos = u64();
  const outputCount = b.readUInt32BE(at);
  const n = b.readUInt32BE(at + 4);
  at += 8;
  const txs: BatchRecordTx[] = [];
  for (let i = 0; i < n; i++) {
    const txid = Buffer.from(b.subarray(at, at + 32));
    at += 32;
    const kind = CODE_KIND[b[at++]!];
    assert(kind !== undefined, 'batch record kind');
    const len = b[at++]!;
    const intermediary = b.toString('latin1', at, at + len);
    at += len;
    const txFirst = u64();
    const outCount = b.readUInt16BE(at);
    const inCount = b.readUInt16BE(at + 2);
    at += 4;
    const inputs: bigint[] = [];
    for (let j = 0; j < inCount; j++) inputs.push(u64());
    txs.push({ txid, kind, intermediary, firstPos: txFirst, outputCount: outCount, inputs });
  }
  return { seq, timeMs, firstPos, outputCount, txs };
}

export function rowToIntermediary(r: IntermediaryRow): Intermediary {
  return {
    id: r.id, publicKey: r.publicKey, quotaFen: BigInt(r.quotaFen), reserveFen: BigInt(r.reserveFen),
    issuedFen: BigInt(r.issuedFen), redeemedFen: BigInt(r.redeemedFen), nextSerial: BigInt(r.nextSerial),
    registeredAtMs: r.registeredAtMs,
  };
}

export function intermediaryToRow(i: Intermediary): IntermediaryRow {
  return {
    id: i.id, publicKey: i.publicKey, quotaFen: i.quotaFen.toString(), reserveFen: i.reserveFen.toString(),
    issuedFen: i.issuedFen.toString(), redeemedFen: i.redeemedFen.toString(), nextSerial: i.nextSerial.toString(),
    registeredAtMs: i.registeredAtMs,
  };
}

/** What a store lets planBatch see of its committed state. */
export interface PlanView {
  /** Whether position p is spent: committed, or by an earlier effect of this batch (markSpent). */
  isSpent(p: number): boolean;
  markSpent(p: number): void;
  /** The committed registration of an intermediary. */
  intermediary(id: string): Intermediary | undefined;
}

export interface PlannedOutput {
  readonly value: bigint;
  readonly id: Buffer;
  readonly txid: Buffer;
  readonly index: number;
  readonly lockBytes: Buffer;
}

/** What a batch does, decided before anything is written. Nothing to write when txs is empty. */
export interface BatchPlan {
  readonly seq: bigint;
  readonly firstPos: bigint;
  readonly results: EffectResult[];
  /** The state after the batch (equal to the state before when nothing was accepted). */
  readonly state: State;
  /** Intermediaries whose reserve, issuance, redemption or serial the batch moved. */
  readonly intermediaries: Intermediary[];
  readonly txs: BatchRecordTx[];
  /** The accepted effects' outputs, at positions firstPos, firstPos + 1, ... in this order. */
  readonly outputs: PlannedOutput[];
  /** Positions the batch spends (each once). */
  readonly spent: number[];
}

/**
 * Checks every effect against the committed state and the effects before it in the batch,
 * and plans what the accepted ones write. A refused effect changes nothing; the supply
 * invariant is asserted on the state the batch would commit.
 */
export function planBatch(effects: readonly TxEffect[], s: State, view: PlanView): BatchPlan {
  const seq = s.nextBatch;
  const firstPosOfBatch = s.nextPos;
  const inters = new Map<string, Intermediary>();
  const outputs: PlannedOutput[] = [];
  const txs: BatchRecordTx[] = [];
  const results: EffectResult[] = [];
  const spent: number[] = [];
  let { nextPos, issuedFen, redeemedFen, unspentFen, spentCount } = s;
  assert(nextPos <= POS_SAFE_MAX, 'positions stay below 2^53');
  const inter = (id: string): Intermediary | undefined => {
    let i = inters.get(id);
    if (i === undefined) {
      i = view.intermediary(id);
      if (i !== undefined) inters.set(id, i);
    }
    return i;
  };
  const moved = new Set<string>();

  for (const e of effects) {
    let error: CbdcError | null = null;
    // A position repeated within one effect would pass the spent check twice and be counted twice.
    if (repeats(e.inputs)) {
      error = new CbdcError('CBDC_ERR_DUPLICATE_INPUT', 'the effect spends the same position twice');
    }
    for (const pos of error === null ? e.inputs : []) {
      assert(pos < nextPos, 'inputs were checked to exist before apply');
      if (view.isSpent(Number(pos))) {
        error = new CbdcError('CBDC_ERR_DOUBLE_SPEND', `output at position ${pos} is already spent`);
        break;
      }
    }
    let i: Intermediary | undefined;
    if (error === null && e.kind !== 'transfer') {
      i = inter(e.intermediary);
      if (i === undefined) error = new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN', `no intermediary "${e.intermediary}"`);
      else if (e.kind === 'issue') {
        const amount = e.outputSumFen;
        if (e.serial !== i.nextSerial) error = new CbdcError('CBDC_ERR_ISSUE_SERIAL', `issuance serial ${e.serial}, expected ${i.nextSerial}`);
        else if (i.issuedFen - i.redeemedFen + amount > i.quotaFen) error = new CbdcError('CBDC_ERR_QUOTA_EXCEEDED');
        else if (i.reserveFen < amount) error = new CbdcError('CBDC_ERR_RESERVE_INSUFFICIENT');
        else if (issuedFen + amount > AMOUNT_FEN_MAX) error = new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW', 'issuance would take total issuance above AMOUNT_FEN_MAX');
      } else if (i.reserveFen + (e.inputSumFen - e.outputSumFen) > AMOUNT_FEN_MAX) {
        error = new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW', 'redemption would take the reserve above AMOUNT_FEN_MAX');
      }
    }
    if (error !== null) {
      results.push({ ok: false, error });
      continue;
    }

    // Every check passed: apply this effect to the batch's working state.
    if (e.kind === 'transfer') assert(e.inputSumFen === e.outputSumFen, 'transfer conserves value');
    if (e.kind === 'issue') {
      assert(e.inputs.length === 0 && i !== undefined, 'issuance spends nothing');
      issuedFen += e.outputSumFen;
      inters.set(i.id, { ...i, issuedFen: i.issuedFen + e.outputSumFen, reserveFen: i.reserveFen - e.outputSumFen, nextSerial: i.nextSerial + 1n });
      moved.add(i.id);
    }
    if (e.kind === 'redeem') {
      assert(i !== undefined && e.inputSumFen > e.outputSumFen, 'redemption destroys value');
      const destroyed = e.inputSumFen - e.outputSumFen;
      redeemedFen += destroyed;
      inters.set(i.id, { ...i, redeemedFen: i.redeemedFen + destroyed, reserveFen: i.reserveFen + destroyed });
      moved.add(i.id);
    }
    for (const pos of e.inputs) {
      view.markSpent(Number(pos));
      spent.push(Number(pos));
    }
    spentCount += BigInt(e.inputs.length);
    unspentFen = unspentFen - e.inputSumFen + e.outputSumFen;
    const firstPos = nextPos;
    for (let index = 0; index < e.outputs.length; index++) {
      const o = e.outputs[index]!;
      outputs.push({ value: o.value, id: o.id, txid: e.txid, index, lockBytes: o.lockBytes });
    }
    nextPos += BigInt(e.outputs.length);
    txs.push({ txid: e.txid, kind: e.kind, inputs: e.inputs, firstPos, outputCount: e.outputs.length, intermediary: e.intermediary });
    results.push({ ok: true, firstPos });
  }

  // The supply invariant holds at every committed state (kept on: it is cheap).
  assert(unspentFen === issuedFen - redeemedFen, 'sum(unspent) == issued - redeemed');
  assert(unspentFen >= 0n && issuedFen <= AMOUNT_FEN_MAX, 'supply within bounds');
  const state = txs.length === 0 ? s : { nextPos, nextBatch: seq + 1n, issuedFen, redeemedFen, unspentFen, spentCount };
  return {
    seq, firstPos: firstPosOfBatch, results, state, txs, outputs, spent,
    intermediaries: [...moved].map((id) => inters.get(id)!),
  };
}
