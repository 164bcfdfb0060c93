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
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import type {
  AppliedBatch, AuditReport, BatchRecord, Durability, EffectResult, Intermediary,
  LedgerStore, StoredOutput, Supply, TxEffect,
} from './store.js';
import {
  type IntermediaryRow, type State, OUT_FIXED_BYTES, POS_SAFE_MAX, decodeBatch, decodeOutput, decodeState, encodeBatch,
  encodeOutput, encodeState, intermediaryToRow, key64, planBatch, rowToIntermediary,
} from './store_records.js';

export const SPENT_CHUNK_POSITIONS = 8192;
const SPENT_CHUNK_BYTES = SPENT_CHUNK_POSITIONS / 8;

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

const TWO_POW_32 = 4294967296;

/** Writes the u64 big-endian key of v (an integer below 2^53) into b; lmdb-js copies keys, so b can be reused. */
function writeKey64(b: Buffer, v: number): Buffer {
  b.writeUInt32BE(Math.floor(v / TWO_POW_32), 0);
  b.writeUInt32BE(v >>> 0, 4);
  return b;
}

const APPEND = { append: true } as const;

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

  /** Runs inside the write transaction: plan the batch (store_records.ts planBatch), then write. */
  private applyInTxn(effects: readonly TxEffect[], timeMs: number): { seq: bigint; results: EffectResult[]; spentChunks: [number, Buffer][] } {
    const chunks = new Map<number, Buffer>();
    const dirtyChunks = new Set<number>();
    const keyScratch = Buffer.allocUnsafe(8);
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
    const plan = planBatch(effects, this.readState(), {
      isSpent: (p) => {
        const off = p % SPENT_CHUNK_POSITIONS;
        return (chunkOf(p)[off >> 3]! & (1 << (off & 7))) !== 0;
      },
      markSpent: (p) => {
        const off = p % SPENT_CHUNK_POSITIONS;
        const buf = chunkOf(p);
        buf[off >> 3] = buf[off >> 3]! | (1 << (off & 7));
        dirtyChunks.add(Math.floor(p / SPENT_CHUNK_POSITIONS));
      },
      intermediary: (id) => this.getIntermediary(id),
    });
    if (plan.txs.length === 0) return { seq: -1n, results: plan.results, spentChunks: [] };
    const spentChunks: [number, Buffer][] = [];
    for (const c of dirtyChunks) {
      const bits = chunks.get(c)!;
      this.spent.putSync(writeKey64(keyScratch, c), bits);
      spentChunks.push([c, bits]);
    }
    // Outputs take consecutive positions from the batch's first: appended at the B-tree's right edge.
    const seq8 = key64(plan.seq);
    let p = Number(plan.firstPos);
    for (const o of plan.outputs) this.outputs.putSync(writeKey64(keyScratch, p++), encodeOutput(o.value, o.id, o.txid, o.index, seq8, o.lockBytes), APPEND);
    for (const i of plan.intermediaries) this.intermediaries.putSync(i.id, intermediaryToRow(i));
    this.batches.putSync(key64(plan.seq), encodeBatch(timeMs, plan.firstPos, Number(plan.state.nextPos - plan.firstPos), plan.txs), APPEND);
    this.meta.putSync('state', encodeState(plan.state));
    return { seq: plan.seq, results: plan.results, spentChunks };
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
