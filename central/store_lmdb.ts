// The LMDB ledger store. Key design decides LMDB's cost (pages copied per write transaction):
// - outputs:        u64 BE ledger position -> record. Positions are assigned at commit in
//                   ledger order, so new outputs append at the right edge of the B-tree.
// - spent:          u64 BE chunk number -> 1,024-byte bitmap of 8,192 positions. Spending an
//                   output sets one bit instead of deleting a random key, so a batch touches
//                   at most one page per 8,192 positions it spends from.
// - batches:        u64 BE batch sequence -> what the batch did (the ordered stream).
// - meta:           'state' -> next position, next batch, issued, redeemed, unspent, spent count.
// - intermediaries: id -> registration, quota, reserve, issued, redeemed, next serial.
import { open, type Database, type RootDatabase } from 'lmdb';
import { createHash } from 'node:crypto';
import { CbdcError, assert } from '../protocol/errors.js';
import { ByteWriter, writeU64 } from '../protocol/bytes.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import type { TxKind } from '../protocol/tx.js';
import type {
  AppliedBatch, AuditReport, BatchRecord, BatchRecordTx, Durability, EffectResult, Intermediary,
  LedgerStore, StoredOutput, Supply, TxEffect,
} from './store.js';

export const SPENT_CHUNK_POSITIONS = 8192;
const SPENT_CHUNK_BYTES = SPENT_CHUNK_POSITIONS / 8;
const KIND_CODE: Record<TxKind, number> = { transfer: 1, issue: 2, redeem: 3 };
const CODE_KIND: Record<number, TxKind> = { 1: 'transfer', 2: 'issue', 3: 'redeem' };

export interface LmdbStoreOptions {
  path: string;
  durability: Durability;
  /**
   * Upper bound of the ledger file (bytes). lmdb-js grows its map on demand instead of failing
   * with MDB_MAP_FULL, so the store enforces the bound itself: a batch that would start past it
   * is refused whole (CBDC_ERR_STORAGE) and nothing of it is committed.
   */
  mapSizeBytes?: number;
}

interface State {
  nextPos: bigint;
  nextBatch: bigint;
  issuedFen: bigint;
  redeemedFen: bigint;
  unspentFen: bigint;
  spentCount: bigint;
}

interface IntermediaryRow {
  id: string;
  publicKey: string;
  quotaFen: string;
  reserveFen: string;
  issuedFen: string;
  redeemedFen: string;
  nextSerial: string;
  registeredAtMs: number;
}

function key64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return b;
}

const TWO_POW_32 = 4294967296;
/** Positions, chunk and batch numbers on the hot path are numbers: the ledger never nears 2^53. */
const POS_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Writes the u64 big-endian key of v (an integer below 2^53) into b; lmdb-js copies keys, so b can be reused. */
function writeKey64(b: Buffer, v: number): Buffer {
  b.writeUInt32BE(Math.floor(v / TWO_POW_32), 0);
  b.writeUInt32BE(v >>> 0, 4);
  return b;
}

const APPEND = { append: true } as const;

function encodeState(s: State): Buffer {
  return new ByteWriter(48).u64(s.nextPos).u64(s.nextBatch).u64(s.issuedFen).u64(s.redeemedFen).u64(s.unspentFen).u64(s.spentCount).finish();
}

function decodeState(b: Buffer | undefined): State {
  if (b === undefined) return { nextPos: 0n, nextBatch: 0n, issuedFen: 0n, redeemedFen: 0n, unspentFen: 0n, spentCount: 0n };
  assert(b.length === 48, 'state record is 48 bytes');
  return {
    nextPos: b.readBigUInt64BE(0), nextBatch: b.readBigUInt64BE(8), issuedFen: b.readBigUInt64BE(16),
    redeemedFen: b.readBigUInt64BE(24), unspentFen: b.readBigUInt64BE(32), spentCount: b.readBigUInt64BE(40),
  };
}

// Output record: value u64 | id 32 | txid 32 | index u16 | batch u64 | lock bytes
const OUT_FIXED_BYTES = 8 + 32 + 32 + 2 + 8;

/** An output record; `batch8` is the batch number's u64 big-endian bytes (the same for a whole batch). */
function encodeOutput(value: bigint, id: Buffer, txid: Buffer, index: number, batch8: Buffer, lockBytes: Buffer): Buffer {
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
function repeats(positions: readonly bigint[]): boolean {
  for (let i = 1; i < positions.length; i++) {
    const p = positions[i]!;
    for (let j = 0; j < i; j++) if (positions[j] === p) return true;
  }
  return false;
}

function decodeOutput(pos: bigint, b: Buffer): StoredOutput {
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

function encodeBatch(timeMs: number, firstPos: bigint, outputCount: number, txs: BatchRecordTx[]): Buffer {
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

function decodeBatch(seq: bigint, b: Buffer): BatchRecord {
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

function rowToIntermediary(r: IntermediaryRow): Intermediary {
  return {
    id: r.id, publicKey: r.publicKey, quotaFen: BigInt(r.quotaFen), reserveFen: BigInt(r.reserveFen),
    issuedFen: BigInt(r.issuedFen), redeemedFen: BigInt(r.redeemedFen), nextSerial: BigInt(r.nextSerial),
    registeredAtMs: r.registeredAtMs,
  };
}

function intermediaryToRow(i: Intermediary): IntermediaryRow {
  return {
    id: i.id, publicKey: i.publicKey, quotaFen: i.quotaFen.toString(), reserveFen: i.reserveFen.toString(),
    issuedFen: i.issuedFen.toString(), redeemedFen: i.redeemedFen.toString(), nextSerial: i.nextSerial.toString(),
    registeredAtMs: i.registeredAtMs,
  };
}

/**
 * Spent outputs read by a thread other than the store's own (the verify workers, for the
 * ledger's intake step): the same LMDB file opened again in that thread, which lmdb-js shares
 * with the store's environment. Only the outputs table is read, and a record found there is
 * final: outputs are never changed or deleted once committed. A miss may be an output
 * committed after the snapshot; callers look those up again in the store.
 */
export class LmdbInputReader {
  private static readonly byPath = new Map<string, LmdbInputReader>();
  private readonly root: RootDatabase;
  private readonly outputs: Database<Buffer, Buffer>;
  private readonly key = Buffer.allocUnsafe(8);

  private constructor(path: string) {
    this.root = open({ path, maxDbs: 8, cache: false });
    this.outputs = this.root.openDB<Buffer, Buffer>({ name: 'outputs', keyEncoding: 'binary', encoding: 'binary' });
  }

  /** One reader per ledger path and thread, kept for the thread's life. */
  static forPath(path: string): LmdbInputReader {
    let r = LmdbInputReader.byPath.get(path);
    if (r === undefined) LmdbInputReader.byPath.set(path, (r = new LmdbInputReader(path)));
    return r;
  }

  /** Reads see the newest commit from here on. */
  begin(): void {
    this.root.resetReadTxn();
  }

  /** Releases the snapshot, so that an idle reader does not keep old pages from reuse. */
  end(): void {
    this.root.resetReadTxn();
  }

  /**
   * The stored output at `pos` if its id is `id`: its value (u64 big-endian) and lock bytes, as
   * views valid until the next read; undefined when there is none (yet) or the id differs.
   */
  read(pos: number, id: Uint8Array): { value8: Buffer; lockBytes: Buffer } | undefined {
    if (!(pos >= 0 && pos <= Number.MAX_SAFE_INTEGER)) return undefined;
    const b = this.outputs.getBinaryFast(writeKey64(this.key, pos));
    if (b === undefined || id.length !== 32 || b.compare(id, 0, 32, 8, 40) !== 0) return undefined;
    return { value8: b.subarray(0, 8), lockBytes: b.subarray(OUT_FIXED_BYTES) };
  }
}

export class LmdbStore implements LedgerStore {
  readonly durability: Durability;
  /** The ledger's directory: other threads open it again to read committed outputs (LmdbInputReader). */
  readonly path: string;
  private readonly bytesMax: number | undefined;
  private readonly root: RootDatabase;
  private readonly outputs: Database<Buffer, Buffer>;
  private readonly spent: Database<Buffer, Buffer>;
  private readonly batches: Database<Buffer, Buffer>;
  private readonly meta: Database<Buffer, string>;
  private readonly intermediaries: Database<IntermediaryRow, string>;
  /** Key buffer for point reads; lmdb-js copies the key before reading, so one serves every read. */
  private readonly readKey = Buffer.allocUnsafe(8);

  constructor(opts: LmdbStoreOptions) {
    this.durability = opts.durability;
    this.path = opts.path;
    this.bytesMax = opts.mapSizeBytes;
    this.root = open({
      path: opts.path,
      maxDbs: 8,
      // Durability (see Durability in store.ts): with overlappingSync off, mdb_txn_commit
      // fsyncs before the commit promise resolves; with it on we await `flushed` before
      // acknowledging; noSync never fsyncs and is reported as not durable.
      overlappingSync: opts.durability === 'overlapping',
      noSync: opts.durability === 'nosync',
      // Never cache values in JS: the ledger lives in LMDB, not in the JS heap.
      cache: false,
      ...(opts.mapSizeBytes !== undefined ? { mapSize: opts.mapSizeBytes } : {}),
    });
    this.outputs = this.root.openDB<Buffer, Buffer>({ name: 'outputs', keyEncoding: 'binary', encoding: 'binary' });
    this.spent = this.root.openDB<Buffer, Buffer>({ name: 'spent', keyEncoding: 'binary', encoding: 'binary' });
    this.batches = this.root.openDB<Buffer, Buffer>({ name: 'batches', keyEncoding: 'binary', encoding: 'binary' });
    this.meta = this.root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' });
    this.intermediaries = this.root.openDB<IntermediaryRow, string>({ name: 'intermediaries', encoding: 'msgpack' });
    this.loadSpentMirror();
  }

  private readState(): State {
    return decodeState(this.meta.get('state'));
  }

  /** Waits until everything committed so far is on disk (when the durability mode flushes). */
  private async durable(): Promise<boolean> {
    if (this.durability === 'overlapping') await this.root.flushed;
    return this.durability !== 'nosync';
  }

  async apply(effects: readonly TxEffect[], timeMs: number): Promise<AppliedBatch> {
    this.checkSpace();
    const { seq, results, spentChunks } = await this.root.transaction(() => this.applyInTxn(effects, timeMs));
    // Committed: isSpent answers from the mirror what a read of the spent table now would.
    for (const [c, bits] of spentChunks) this.mirrorChunk(c, bits);
    const durable = await this.durable();
    return { seq, timeMs, results, durable };
  }

  /**
   * The committed spent bitmap, mirrored in memory so that isSpent (the ledger's early
   * double-spend check, twice per transfer) costs no LMDB read: 1 bit per output, 128 KiB per
   * million, off the JS heap. Written only after a commit succeeds, from the chunks that
   * commit wrote; never consulted by apply, which reads the spent table in its write
   * transaction. Loaded from the spent table when the store opens.
   */
  private spentMirror = new Uint8Array(SPENT_CHUNK_BYTES);

  private mirrorChunk(c: number, bits: Uint8Array): void {
    const end = (c + 1) * SPENT_CHUNK_BYTES;
    if (end > this.spentMirror.length) {
      const grown = new Uint8Array(Math.max(end, this.spentMirror.length * 2));
      grown.set(this.spentMirror);
      this.spentMirror = grown;
    }
    this.spentMirror.set(bits, c * SPENT_CHUNK_BYTES);
  }

  private loadSpentMirror(): void {
    for (const { key, value } of this.spent.getRange({})) {
      assert(value.length === SPENT_CHUNK_BYTES, 'spent chunks are SPENT_CHUNK_BYTES long');
      this.mirrorChunk(Number(key.readBigUInt64BE(0)), value);
    }
  }

  /** Refuses a write once the file's high-water mark has reached the configured bound. */
  private checkSpace(): void {
    if (this.bytesMax === undefined) return;
    const st = this.root.getStats() as { lastPageNumber: number; pageSize: number };
    const usedBytes = (st.lastPageNumber + 1) * st.pageSize;
    if (usedBytes >= this.bytesMax) throw new CbdcError('CBDC_ERR_STORAGE', `the ledger store is full: ${usedBytes} of ${this.bytesMax} bytes`);
  }

  /** Runs inside the write transaction: validate every effect first, then write. */
  private applyInTxn(effects: readonly TxEffect[], timeMs: number): { seq: bigint; results: EffectResult[]; spentChunks: [number, Buffer][] } {
    const s = this.readState();
    const seq = s.nextBatch;
    const firstPosOfBatch = s.nextPos;
    const chunks = new Map<number, Buffer>();
    const dirtyChunks = new Set<number>();
    const inters = new Map<string, Intermediary>();
    const outputWrites: Buffer[] = [];
    const recordTxs: BatchRecordTx[] = [];
    const results: EffectResult[] = [];
    let { nextPos, issuedFen, redeemedFen, unspentFen, spentCount } = s;

    assert(nextPos <= POS_SAFE_MAX, 'positions stay below 2^53');
    const keyScratch = Buffer.allocUnsafe(8);
    const seq8 = key64(seq);
    /** The batch's working copy of the spent bitmap chunk holding position p. */
    const chunkOf = (p: number): Buffer => {
      const c = Math.floor(p / SPENT_CHUNK_POSITIONS);
      let buf = chunks.get(c);
      if (buf === undefined) {
        const stored = this.spent.get(writeKey64(keyScratch, c));
        buf = stored === undefined ? Buffer.alloc(SPENT_CHUNK_BYTES) : Buffer.from(stored);
        chunks.set(c, buf);
      }
      return buf;
    };
    const inter = (id: string): Intermediary | undefined => {
      let i = inters.get(id);
      if (i === undefined) {
        i = this.getIntermediary(id);
        if (i !== undefined) inters.set(id, i);
      }
      return i;
    };

    for (const e of effects) {
      let error: CbdcError | null = null;
      // A position repeated within one effect would pass the bitmap check twice and be counted twice.
      if (repeats(e.inputs)) {
        error = new CbdcError('CBDC_ERR_DUPLICATE_INPUT', 'the effect spends the same position twice');
      }
      for (const pos of error === null ? e.inputs : []) {
        assert(pos < nextPos, 'inputs were checked to exist before apply');
        const p = Number(pos);
        const off = p % SPENT_CHUNK_POSITIONS;
        if ((chunkOf(p)[off >> 3]! & (1 << (off & 7))) !== 0) {
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
      }
      if (e.kind === 'redeem') {
        assert(i !== undefined && e.inputSumFen > e.outputSumFen, 'redemption destroys value');
        const destroyed = e.inputSumFen - e.outputSumFen;
        redeemedFen += destroyed;
        inters.set(i.id, { ...i, redeemedFen: i.redeemedFen + destroyed, reserveFen: i.reserveFen + destroyed });
      }
      for (const pos of e.inputs) {
        const p = Number(pos);
        const off = p % SPENT_CHUNK_POSITIONS;
        const buf = chunkOf(p);
        buf[off >> 3] = buf[off >> 3]! | (1 << (off & 7));
        dirtyChunks.add(Math.floor(p / SPENT_CHUNK_POSITIONS));
      }
      spentCount += BigInt(e.inputs.length);
      unspentFen = unspentFen - e.inputSumFen + e.outputSumFen;
      const firstPos = nextPos;
      for (let index = 0; index < e.outputs.length; index++) {
        const o = e.outputs[index]!;
        outputWrites.push(encodeOutput(o.value, o.id, e.txid, index, seq8, o.lockBytes));
      }
      nextPos += BigInt(e.outputs.length);
      recordTxs.push({ txid: e.txid, kind: e.kind, inputs: e.inputs, firstPos, outputCount: e.outputs.length, intermediary: e.intermediary });
      results.push({ ok: true, firstPos });
    }

    // The supply invariant holds at every committed state (kept on: it is cheap).
    assert(unspentFen === issuedFen - redeemedFen, 'sum(unspent) == issued - redeemed');
    assert(unspentFen >= 0n && issuedFen <= AMOUNT_FEN_MAX, 'supply within bounds');

    if (recordTxs.length === 0) return { seq: -1n, results, spentChunks: [] };
    const spentChunks: [number, Buffer][] = [];
    for (const c of dirtyChunks) {
      const bits = chunks.get(c)!;
      this.spent.putSync(writeKey64(keyScratch, c), bits);
      spentChunks.push([c, bits]);
    }
    // Outputs take consecutive positions from the batch's first: appended at the B-tree's right edge.
    let p = Number(firstPosOfBatch);
    for (const rec of outputWrites) this.outputs.putSync(writeKey64(keyScratch, p++), rec, APPEND);
    for (const i of inters.values()) this.intermediaries.putSync(i.id, intermediaryToRow(i));
    this.batches.putSync(key64(seq), encodeBatch(timeMs, firstPosOfBatch, Number(nextPos - firstPosOfBatch), recordTxs), APPEND);
    this.meta.putSync('state', encodeState({ nextPos, nextBatch: seq + 1n, issuedFen, redeemedFen, unspentFen, spentCount }));
    return { seq, results, spentChunks };
  }

  getOutput(pos: bigint): StoredOutput | undefined {
    if (pos < 0n || pos >= 1n << 64n) return undefined;
    const b = this.outputs.get(key64(pos));
    return b === undefined ? undefined : decodeOutput(pos, b);
  }

  /**
   * What spending the output at `pos` needs, if an output with that id is there: its value and
   * lock bytes. Reads in place (no decoded record), for the ledger's prepare step.
   */
  inputOf(pos: bigint, id: Uint8Array): { value: bigint; lockBytes: Buffer } | undefined {
    if (pos < 0n || pos > POS_SAFE_MAX) return undefined;
    const b = this.outputs.getBinaryFast(writeKey64(this.readKey, Number(pos)));
    if (b === undefined || id.length !== 32 || b.compare(id, 0, 32, 8, 40) !== 0) return undefined;
    return { value: b.readBigUInt64BE(0), lockBytes: Buffer.from(b.subarray(OUT_FIXED_BYTES)) };
  }

  isSpent(pos: bigint): boolean {
    // The committed bitmap's mirror (spentMirror): no chunk there, no chunk in the table.
    if (pos < 0n || pos > POS_SAFE_MAX) return false;
    const p = Number(pos);
    // Chunk c, bit off is mirror bit 8192 c + off: byte floor(p / 8), bit p mod 8.
    const byte = this.spentMirror[Math.floor(p / 8)];
    return byte !== undefined && (byte & (1 << (p % 8))) !== 0;
  }

  readBatches(fromSeq: bigint, limit: number): BatchRecord[] {
    const out: BatchRecord[] = [];
    for (const { key, value } of this.batches.getRange({ start: key64(fromSeq), limit })) {
      out.push(decodeBatch(key.readBigUInt64BE(0), value));
    }
    return out;
  }

  /** Outputs in ledger order from a position (for the event stream). */
  readOutputs(fromPos: bigint, count: number): StoredOutput[] {
    const out: StoredOutput[] = [];
    for (const { key, value } of this.outputs.getRange({ start: key64(fromPos), limit: count })) {
      out.push(decodeOutput(key.readBigUInt64BE(0), value));
    }
    return out;
  }

  supply(): Supply {
    const s = this.readState();
    return {
      issuedFen: s.issuedFen, redeemedFen: s.redeemedFen, unspentFen: s.unspentFen,
      outputCount: s.nextPos, spentCount: s.spentCount, batchCount: s.nextBatch,
    };
  }

  /** The environment's map size, page size and last page written (lmdb-js getStats). */
  envStats(): { mapSize: number; pageSize: number; lastPageNumber: number } {
    const s = this.root.getStats() as { mapSize: number; pageSize: number; lastPageNumber: number };
    return { mapSize: s.mapSize, pageSize: s.pageSize, lastPageNumber: s.lastPageNumber };
  }

  getIntermediary(id: string): Intermediary | undefined {
    const r = this.intermediaries.get(id);
    return r === undefined ? undefined : rowToIntermediary(r);
  }

  listIntermediaries(): Intermediary[] {
    return [...this.intermediaries.getRange({})].map(({ value }) => rowToIntermediary(value));
  }

  async registerIntermediary(rec: Intermediary): Promise<void> {
    // The callback never throws: lmdb-js may share this write transaction with other work.
    const clash = await this.root.transaction(() => {
      if (this.intermediaries.get(rec.id) !== undefined) return `intermediary "${rec.id}" is already registered`;
      for (const { value } of this.intermediaries.getRange({})) {
        if (value.publicKey === rec.publicKey) return `that key is already registered to "${value.id}"`;
      }
      this.intermediaries.putSync(rec.id, intermediaryToRow(rec));
      return null;
    });
    if (clash !== null) throw new CbdcError('CBDC_ERR_INTERMEDIARY_EXISTS', clash);
    await this.durable();
  }

  async adjustIntermediary(id: string, change: { reserveDeltaFen?: bigint; quotaFen?: bigint }): Promise<Intermediary> {
    const result = await this.root.transaction((): Intermediary | CbdcError => {
      const i = this.getIntermediary(id);
      if (i === undefined) return new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN', `no intermediary "${id}"`);
      const reserveFen = i.reserveFen + (change.reserveDeltaFen ?? 0n);
      if (reserveFen < 0n) return new CbdcError('CBDC_ERR_RESERVE_INSUFFICIENT', 'the reserve cannot go below zero');
      if (reserveFen > AMOUNT_FEN_MAX) return new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW');
      const next = { ...i, reserveFen, quotaFen: change.quotaFen ?? i.quotaFen };
      this.intermediaries.putSync(id, intermediaryToRow(next));
      return next;
    });
    if (result instanceof CbdcError) throw result;
    await this.durable();
    return result;
  }

  audit(): AuditReport {
    const s = this.readState();
    const problems: string[] = [];
    let unspent = 0n;
    let unspentCount = 0n;
    let outputCount = 0n;
    let expectPos = 0n;
    let chunkNo = -1n;
    let chunk: Buffer | undefined;
    for (const { key, value } of this.outputs.getRange({})) {
      const pos = key.readBigUInt64BE(0);
      if (pos !== expectPos) problems.push(`output positions jump from ${expectPos} to ${pos}`);
      expectPos = pos + 1n;
      outputCount++;
      const c = pos / BigInt(SPENT_CHUNK_POSITIONS);
      if (c !== chunkNo) {
        chunkNo = c;
        chunk = this.spent.get(key64(c));
      }
      const off = Number(pos % BigInt(SPENT_CHUNK_POSITIONS));
      const spent = chunk !== undefined && (chunk[off >> 3]! & (1 << (off & 7))) !== 0;
      if (!spent) {
        unspent += value.readBigUInt64BE(0);
        unspentCount++;
      }
    }
    if (outputCount !== s.nextPos) problems.push(`state says ${s.nextPos} outputs, store holds ${outputCount}`);
    if (outputCount - unspentCount !== s.spentCount) problems.push(`state says ${s.spentCount} spent, bitmap says ${outputCount - unspentCount}`);
    if (unspent !== s.issuedFen - s.redeemedFen) problems.push(`sum(unspent) ${unspent} != issued ${s.issuedFen} - redeemed ${s.redeemedFen}`);
    if (unspent !== s.unspentFen) problems.push(`sum(unspent) ${unspent} != recorded ${s.unspentFen}`);
    let outstanding = 0n;
    let issued = 0n;
    let redeemed = 0n;
    for (const i of this.listIntermediaries()) {
      outstanding += i.issuedFen - i.redeemedFen;
      issued += i.issuedFen;
      redeemed += i.redeemedFen;
    }
    if (issued !== s.issuedFen || redeemed !== s.redeemedFen) problems.push('per-intermediary issuance and redemption do not add up to the totals');
    return {
      ok: problems.length === 0, issuedFen: s.issuedFen, redeemedFen: s.redeemedFen, unspentRecomputedFen: unspent,
      unspentRecordedFen: s.unspentFen, unspentCount, outputCount, intermediariesOutstandingFen: outstanding, problems,
    };
  }

  /** A digest of every key and value in every table: equal digests, byte-for-byte equal ledgers. */
  digest(): string {
    const h = createHash('sha256');
    const feed = (name: string, rows: Iterable<{ key: unknown; value: unknown }>): void => {
      h.update(`\n#${name}\n`);
      for (const { key, value } of rows) h.update(JSON.stringify([key, value]) + '\n');
    };
    feed('batches', this.batches.getRange({}));
    feed('intermediaries', this.intermediaries.getRange({}));
    feed('meta', this.meta.getRange({}));
    feed('outputs', this.outputs.getRange({}));
    feed('spent', this.spent.getRange({}));
    return h.digest('hex');
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
