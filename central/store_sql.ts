// The ledger store on a SQL database that speaks PostgreSQL's wire protocol with serializable
// transactions: PostgreSQL (tested here), CockroachDB, YugabyteDB (docs/SQL_STORE.md lists the
// subset of SQL this file keeps to, and docs/SCALE.md how to run it on a cluster).
//
// The database is the ledger of record; this process keeps a mirror of it in memory (outputs
// as their record bytes in one arena, the spent set as a bitmap, batches, intermediaries,
// state), loaded at open, because the store interface's reads are synchronous and sit on the
// ledger's hot path. Every write is one SERIALIZABLE transaction that:
//   1. moves the state row from the version the mirror was planned against (optimistic: a
//      write by any other process since then changes the version, so 0 rows -> replan);
//   2. spends with UPDATE ... FROM unnest(positions) WHERE spent_by IS NULL, the row count
//      checked (a spend another writer got first -> replan, and planBatch refuses it);
//   3. inserts the outputs with INSERT ... SELECT FROM unnest(...), one statement a batch;
//   4. inserts the batch row at seq = the state's next batch: the sequence has no gaps, so
//      the event stream resumes from any seq exactly as on LMDB.
// The mirror changes only after COMMIT returns. A refused serialization (40001) or deadlock
// (40P01) is retried, at most SQL_RETRY_MAX times; any other error drops the connection,
// marks the mirror stale (the outcome of an interrupted COMMIT is unknown until re-read) and
// refuses the batch with CBDC_ERR_STORAGE; the next write reconnects and re-reads first.
import pg from 'pg';
import { createHash } from 'node:crypto';
import { CbdcError, assert } from '../protocol/errors.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import type {
  AppliedBatch, AuditReport, BatchRecord, Durability, Intermediary, LedgerStore, StoredOutput, Supply, TxEffect,
} from './store.js';
import {
  type BatchPlan, type State, OUT_FIXED_BYTES, POS_SAFE_MAX, decodeBatch, decodeOutput, encodeBatch, encodeOutput,
  encodeState, intermediaryToRow, key64, planBatch,
} from './store_records.js';

/** Serialization failures (and deadlocks) retried per write before the batch is refused. */
export const SQL_RETRY_MAX = 32;
/** Rows read per query while loading the mirror. */
const LOAD_PAGE_ROWS = 20_000;
const SPENT_CHUNK_BYTES = 1024;
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/** The schema: plain types every target engine has; see docs/SQL_STORE.md. */
export const SQL_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS cbdc_state (
     id INT PRIMARY KEY, version BIGINT NOT NULL, next_pos BIGINT NOT NULL, next_batch BIGINT NOT NULL,
     issued_fen BIGINT NOT NULL, redeemed_fen BIGINT NOT NULL, unspent_fen BIGINT NOT NULL, spent_count BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS cbdc_outputs (
     pos BIGINT PRIMARY KEY, value_fen BIGINT NOT NULL, id BYTEA NOT NULL, txid BYTEA NOT NULL, idx INT NOT NULL,
     batch BIGINT NOT NULL, lock BYTEA NOT NULL, spent_by BIGINT)`,
  `CREATE TABLE IF NOT EXISTS cbdc_batches (
     seq BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, first_pos BIGINT NOT NULL, output_count INT NOT NULL, record BYTEA NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS cbdc_intermediaries (
     id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, quota_fen BIGINT NOT NULL, reserve_fen BIGINT NOT NULL,
     issued_fen BIGINT NOT NULL, redeemed_fen BIGINT NOT NULL, next_serial BIGINT NOT NULL, registered_at_ms BIGINT NOT NULL)`,
  `INSERT INTO cbdc_state (id, version, next_pos, next_batch, issued_fen, redeemed_fen, unspent_fen, spent_count)
     VALUES (1, 0, 0, 0, 0, 0, 0, 0) ON CONFLICT (id) DO NOTHING`,
];

const SQL = {
  begin: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
  moveState: `UPDATE cbdc_state SET version = version + 1, next_pos = $2, next_batch = $3, issued_fen = $4, redeemed_fen = $5,
                unspent_fen = $6, spent_count = $7 WHERE id = 1 AND version = $1`,
  bumpVersion: 'UPDATE cbdc_state SET version = version + 1 WHERE id = 1 AND version = $1',
  spend: `UPDATE cbdc_outputs SET spent_by = $1 FROM unnest($2::BIGINT[]) AS s(pos)
            WHERE cbdc_outputs.pos = s.pos AND cbdc_outputs.spent_by IS NULL`,
  insertOutputs: `INSERT INTO cbdc_outputs (pos, value_fen, id, txid, idx, batch, lock)
                    SELECT u.pos, u.value_fen, u.id, u.txid, u.idx, $6::BIGINT, u.lock
                    FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BYTEA[], $4::BYTEA[], $5::INT[], $7::BYTEA[])
                      AS u(pos, value_fen, id, txid, idx, lock)`,
  insertBatch: 'INSERT INTO cbdc_batches (seq, time_ms, first_pos, output_count, record) VALUES ($1, $2, $3, $4, $5)',
  upsertIntermediary: `INSERT INTO cbdc_intermediaries (id, public_key, quota_fen, reserve_fen, issued_fen, redeemed_fen, next_serial, registered_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (id) DO UPDATE SET quota_fen = excluded.quota_fen, reserve_fen = excluded.reserve_fen,
                           issued_fen = excluded.issued_fen, redeemed_fen = excluded.redeemed_fen, next_serial = excluded.next_serial`,
  clash: 'SELECT id, public_key FROM cbdc_intermediaries WHERE id = $1 OR public_key = $2',
  readState: 'SELECT version, next_pos, next_batch, issued_fen, redeemed_fen, unspent_fen, spent_count FROM cbdc_state WHERE id = 1',
  readIntermediaries: 'SELECT * FROM cbdc_intermediaries',
  readBatches: 'SELECT seq, record FROM cbdc_batches WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3',
  readOutputs: 'SELECT pos, value_fen, id, txid, idx, batch, lock FROM cbdc_outputs WHERE pos >= $1 AND pos < $2 ORDER BY pos LIMIT $3',
  auditSums: `SELECT count(*) AS outputs, count(spent_by) AS spent,
                COALESCE(sum(CASE WHEN spent_by IS NULL THEN value_fen ELSE 0 END), 0) AS unspent_fen FROM cbdc_outputs`,
} as const;

export interface SqlStoreOptions {
  /** postgres://user@host:port/database */
  readonly url: string;
  /** Give up connecting after this long (default 10 s). */
  readonly connectTimeoutMs?: number;
}

interface SqlError {
  code?: string;
  message: string;
}

/** The intermediary as the database row holds it. */
function rowToIntermediarySql(r: Record<string, string>): Intermediary {
  return {
    id: r.id!, publicKey: r.public_key!, quotaFen: BigInt(r.quota_fen!), reserveFen: BigInt(r.reserve_fen!),
    issuedFen: BigInt(r.issued_fen!), redeemedFen: BigInt(r.redeemed_fen!), nextSerial: BigInt(r.next_serial!),
    registeredAtMs: Number(r.registered_at_ms),
  };
}

function intermediaryParams(i: Intermediary): unknown[] {
  return [i.id, i.publicKey, i.quotaFen.toString(), i.reserveFen.toString(), i.issuedFen.toString(), i.redeemedFen.toString(), i.nextSerial.toString(), i.registeredAtMs];
}

export class SqlStore implements LedgerStore {
  /** A write is acknowledged only once COMMIT returned (synchronous_commit on: on disk, and on a synchronous standby where one is set). */
  readonly durability: Durability = 'sync';
  readonly url: string;
  private readonly connectTimeoutMs: number;
  private client: pg.Client | null = null;
  /** Writes run one at a time: every batch moves the state row, so they serialize anyway. */
  private queue: Promise<unknown> = Promise.resolve();
  private stale = false;
  private closed = false;

  // The mirror of committed state.
  private version = 0n;
  private state: State = { nextPos: 0n, nextBatch: 0n, issuedFen: 0n, redeemedFen: 0n, unspentFen: 0n, spentCount: 0n };
  private arena = Buffer.alloc(1 << 20);
  private arenaUsed = 0;
  /** offsets[p] .. offsets[p + 1]: output p's record in the arena. */
  private offsets = new Float64Array(1 << 14);
  private outputsMirrored = 0;
  private spentBits = new Uint8Array(SPENT_CHUNK_BYTES);
  private batchRecords: Buffer[] = [];
  private readonly intermediaries = new Map<string, Intermediary>();

  private constructor(opts: SqlStoreOptions) {
    this.url = opts.url;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  }

  /** Connects, creates the schema where missing, and loads the mirror. */
  static async open(opts: SqlStoreOptions): Promise<SqlStore> {
    const store = new SqlStore(opts);
    try {
      const c = await store.connection();
      for (const ddl of SQL_SCHEMA) await c.query(ddl);
      await store.load();
    } catch (e) {
      await store.close();
      if (e instanceof CbdcError) throw e;
      throw new CbdcError('CBDC_ERR_STORAGE', `cannot open the SQL ledger store at ${redact(opts.url)}: ${(e as Error).message}`);
    }
    return store;
  }

  // ------------------------------------------------------------------------------------------
  // Writes

  apply(effects: readonly TxEffect[], timeMs: number): Promise<AppliedBatch> {
    return this.serially(() => this.applyNow(effects, timeMs));
  }

  private async applyNow(effects: readonly TxEffect[], timeMs: number): Promise<AppliedBatch> {
    for (let attempt = 0; ; attempt++) {
      if (this.stale) await this.load();
      const inBatch = new Set<number>();
      const plan = planBatch(effects, this.state, {
        isSpent: (p) => this.spentBit(p) || inBatch.has(p),
        markSpent: (p) => inBatch.add(p),
        intermediary: (id) => this.intermediaries.get(id),
      });
      if (plan.txs.length === 0) return { seq: -1n, timeMs, results: plan.results, durable: true };
      const written = await this.write((c) => this.writePlan(c, plan, timeMs));
      if (written) {
        this.mirrorPlan(plan, timeMs);
        return { seq: plan.seq, timeMs, results: plan.results, durable: true };
      }
      // Another writer moved the ledger since the mirror was read: read it again, plan again.
      this.stale = true;
      if (attempt >= SQL_RETRY_MAX) throw new CbdcError('CBDC_ERR_STORAGE', `the batch conflicted with other writers ${attempt + 1} times`);
      await backoff(attempt);
    }
  }

  /** The plan's statements in the open transaction; false when the state or a spend moved under it. */
  private async writePlan(c: pg.Client, plan: BatchPlan, timeMs: number): Promise<boolean> {
    const s = plan.state;
    const moved = await c.query({
      name: 'cbdc_move_state', text: SQL.moveState,
      values: [this.version.toString(), s.nextPos.toString(), s.nextBatch.toString(), s.issuedFen.toString(), s.redeemedFen.toString(), s.unspentFen.toString(), s.spentCount.toString()],
    });
    if (moved.rowCount !== 1) return false;
    if (plan.spent.length > 0) {
      const spent = await c.query({ name: 'cbdc_spend', text: SQL.spend, values: [plan.seq.toString(), plan.spent] });
      if (spent.rowCount !== plan.spent.length) return false;
    }
    if (plan.outputs.length > 0) {
      const first = Number(plan.firstPos);
      const n = plan.outputs.length;
      const pos = new Array<number>(n);
      const value = new Array<string>(n);
      const id = new Array<Buffer>(n);
      const txid = new Array<Buffer>(n);
      const idx = new Array<number>(n);
      const lock = new Array<Buffer>(n);
      for (let k = 0; k < n; k++) {
        const o = plan.outputs[k]!;
        pos[k] = first + k;
        value[k] = o.value.toString();
        id[k] = o.id;
        txid[k] = o.txid;
        idx[k] = o.index;
        lock[k] = o.lockBytes;
      }
      const ins = await c.query({ name: 'cbdc_insert_outputs', text: SQL.insertOutputs, values: [pos, value, id, txid, idx, plan.seq.toString(), lock] });
      assert(ins.rowCount === n, 'every planned output is inserted');
    }
    const record = encodeBatch(timeMs, plan.firstPos, Number(s.nextPos - plan.firstPos), plan.txs);
    await c.query({ name: 'cbdc_insert_batch', text: SQL.insertBatch, values: [plan.seq.toString(), timeMs, plan.firstPos.toString(), Number(s.nextPos - plan.firstPos), record] });
    for (const i of plan.intermediaries) await c.query({ name: 'cbdc_upsert_intermediary', text: SQL.upsertIntermediary, values: intermediaryParams(i) });
    return true;
  }

  registerIntermediary(rec: Intermediary): Promise<void> {
    return this.serially(async () => {
      for (let attempt = 0; ; attempt++) {
        if (this.stale) await this.load();
        const clash = await this.write(async (c) => {
          const rows = (await c.query(SQL.clash, [rec.id, rec.publicKey])).rows as { id: string; public_key: string }[];
          const same = rows.find((r) => r.id === rec.id);
          if (same !== undefined) return `intermediary "${rec.id}" is already registered`;
          if (rows.length > 0) return `that key is already registered to "${rows[0]!.id}"`;
          if ((await c.query(SQL.bumpVersion, [this.version.toString()])).rowCount !== 1) return false;
          await c.query(SQL.upsertIntermediary, intermediaryParams(rec));
          return null;
        });
        if (typeof clash === 'string') throw new CbdcError('CBDC_ERR_INTERMEDIARY_EXISTS', clash);
        if (clash === null) {
          this.intermediaries.set(rec.id, rec);
          this.version++;
          return;
        }
        this.stale = true;
        if (attempt >= SQL_RETRY_MAX) throw new CbdcError('CBDC_ERR_STORAGE', 'the registration conflicted with other writers too often');
        await backoff(attempt);
      }
    });
  }

  adjustIntermediary(id: string, change: { reserveDeltaFen?: bigint; quotaFen?: bigint }): Promise<Intermediary> {
    return this.serially(async () => {
      for (let attempt = 0; ; attempt++) {
        if (this.stale) await this.load();
        const i = this.intermediaries.get(id);
        if (i === undefined) throw new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN', `no intermediary "${id}"`);
        const reserveFen = i.reserveFen + (change.reserveDeltaFen ?? 0n);
        if (reserveFen < 0n) throw new CbdcError('CBDC_ERR_RESERVE_INSUFFICIENT', 'the reserve cannot go below zero');
        if (reserveFen > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW');
        const next = { ...i, reserveFen, quotaFen: change.quotaFen ?? i.quotaFen };
        const ok = await this.write(async (c) => {
          if ((await c.query(SQL.bumpVersion, [this.version.toString()])).rowCount !== 1) return false;
          await c.query(SQL.upsertIntermediary, intermediaryParams(next));
          return true;
        });
        if (ok) {
          this.intermediaries.set(id, next);
          this.version++;
          return next;
        }
        this.stale = true;
        if (attempt >= SQL_RETRY_MAX) throw new CbdcError('CBDC_ERR_STORAGE', 'the adjustment conflicted with other writers too often');
        await backoff(attempt);
      }
    });
  }

  /**
   * Runs `body` in one SERIALIZABLE transaction and commits it, retrying a refused
   * serialization; a body that returns false (or a string) is rolled back and its value
   * returned. Any other error: the connection goes, the mirror is stale, CBDC_ERR_STORAGE.
   */
  private async write<T>(body: (c: pg.Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let c: pg.Client | null = null;
      try {
        c = await this.connection();
        await c.query(SQL.begin);
        const result = await body(c);
        await c.query(result === false || typeof result === 'string' ? 'ROLLBACK' : 'COMMIT');
        return result;
      } catch (e) {
        const err = e as SqlError;
        if (c !== null && RETRYABLE_SQLSTATES.has(err.code ?? '') && attempt < SQL_RETRY_MAX) {
          await c.query('ROLLBACK').catch(() => undefined);
          this.stale = true;
          await backoff(attempt);
          continue;
        }
        // The outcome of a COMMIT cut off mid-flight is unknown: re-read before the next write.
        this.stale = true;
        this.dropConnection();
        if (e instanceof CbdcError) throw e;
        throw new CbdcError('CBDC_ERR_STORAGE', `the SQL ledger store failed: ${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}`);
      }
    }
  }

  private serially<T>(f: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new CbdcError('CBDC_ERR_STORAGE', 'the SQL ledger store is closed'));
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async connection(): Promise<pg.Client> {
    if (this.client !== null) return this.client;
    const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: this.connectTimeoutMs });
    // A server that goes away emits 'error' on an idle client; the next query sees it.
    c.on('error', () => {
      if (this.client === c) this.dropConnection();
    });
    await c.connect();
    this.client = c;
    return c;
  }

  private dropConnection(): void {
    const c = this.client;
    this.client = null;
    c?.end().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------
  // The mirror

  /** Reads what the mirror lacks (everything at open) in one consistent snapshot. */
  private async load(): Promise<void> {
    const c = await this.connection();
    try {
      await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY');
      const st = (await c.query(SQL.readState)).rows[0] as Record<string, string> | undefined;
      if (st === undefined) throw new CbdcError('CBDC_ERR_STORAGE', 'the SQL ledger has no state row');
      const state: State = {
        nextPos: BigInt(st.next_pos!), nextBatch: BigInt(st.next_batch!), issuedFen: BigInt(st.issued_fen!),
        redeemedFen: BigInt(st.redeemed_fen!), unspentFen: BigInt(st.unspent_fen!), spentCount: BigInt(st.spent_count!),
      };
      const inters = (await c.query(SQL.readIntermediaries)).rows.map((r) => rowToIntermediarySql(r as Record<string, string>));
      for (let from = this.state.nextPos; from < state.nextPos;) {
        const rows = (await c.query(SQL.readOutputs, [from.toString(), state.nextPos.toString(), LOAD_PAGE_ROWS])).rows as Record<string, unknown>[];
        if (rows.length === 0) throw new CbdcError('CBDC_ERR_STORAGE', `the SQL ledger lacks outputs from position ${from}`);
        for (const r of rows) {
          const pos = BigInt(r.pos as string);
          if (pos !== from) throw new CbdcError('CBDC_ERR_STORAGE', `the SQL ledger's output positions jump from ${from} to ${pos}`);
          this.appendOutput(encodeOutput(BigInt(r.value_fen as string), r.id as Buffer, r.txid as Buffer, r.idx as number, key64(BigInt(r.batch as string)), r.lock as Buffer));
          from++;
        }
      }
      for (let from = this.state.nextBatch; from < state.nextBatch;) {
        const rows = (await c.query(SQL.readBatches, [from.toString(), state.nextBatch.toString(), LOAD_PAGE_ROWS])).rows as { seq: string; record: Buffer }[];
        if (rows.length === 0) throw new CbdcError('CBDC_ERR_STORAGE', `the SQL ledger lacks batches from ${from}`);
        for (const r of rows) {
          if (BigInt(r.seq) !== from) throw new CbdcError('CBDC_ERR_STORAGE', `the SQL ledger's batch sequence jumps from ${from} to ${r.seq}`);
          this.batchRecords.push(r.record);
          for (const t of decodeBatch(from, r.record).txs) for (const p of t.inputs) this.setSpent(Number(p));
          from++;
        }
      }
      await c.query('COMMIT');
      this.state = state;
      this.version = BigInt(st.version!);
      this.intermediaries.clear();
      for (const i of inters) this.intermediaries.set(i.id, i);
      this.stale = false;
    } catch (e) {
      this.dropConnection();
      throw e instanceof CbdcError ? e : new CbdcError('CBDC_ERR_STORAGE', `reading the SQL ledger failed: ${(e as Error).message}`);
    }
  }

  private mirrorPlan(plan: BatchPlan, timeMs: number): void {
    const seq8 = key64(plan.seq);
    for (const o of plan.outputs) this.appendOutput(encodeOutput(o.value, o.id, o.txid, o.index, seq8, o.lockBytes));
    for (const p of plan.spent) this.setSpent(p);
    this.batchRecords.push(encodeBatch(timeMs, plan.firstPos, Number(plan.state.nextPos - plan.firstPos), plan.txs));
    for (const i of plan.intermediaries) this.intermediaries.set(i.id, i);
    this.state = plan.state;
    this.version++;
    assert(BigInt(this.batchRecords.length) === this.state.nextBatch, 'one batch record per batch');
  }

  private appendOutput(rec: Buffer): void {
    const p = this.outputsMirrored;
    if (this.arenaUsed + rec.length > this.arena.length) {
      const grown = Buffer.alloc(Math.max(this.arena.length * 2, this.arenaUsed + rec.length));
      this.arena.copy(grown, 0, 0, this.arenaUsed);
      this.arena = grown;
    }
    if (p + 2 > this.offsets.length) {
      const grown = new Float64Array(this.offsets.length * 2);
      grown.set(this.offsets);
      this.offsets = grown;
    }
    rec.copy(this.arena, this.arenaUsed);
    this.arenaUsed += rec.length;
    this.offsets[p + 1] = this.arenaUsed;
    this.outputsMirrored = p + 1;
  }

  private record(p: number): Buffer | undefined {
    if (!(p >= 0 && p < this.outputsMirrored)) return undefined;
    return this.arena.subarray(this.offsets[p]!, this.offsets[p + 1]!);
  }

  private setSpent(p: number): void {
    const byte = Math.floor(p / 8);
    if (byte >= this.spentBits.length) {
      const grown = new Uint8Array(Math.max(this.spentBits.length * 2, (Math.floor(byte / SPENT_CHUNK_BYTES) + 1) * SPENT_CHUNK_BYTES));
      grown.set(this.spentBits);
      this.spentBits = grown;
    }
    this.spentBits[byte] = this.spentBits[byte]! | (1 << (p % 8));
  }

  private spentBit(p: number): boolean {
    const b = this.spentBits[Math.floor(p / 8)];
    return b !== undefined && (b & (1 << (p % 8))) !== 0;
  }

  // ------------------------------------------------------------------------------------------
  // Reads (from the mirror: what the database committed, as of the last write or load)

  getOutput(pos: bigint): StoredOutput | undefined {
    if (pos < 0n || pos > POS_SAFE_MAX) return undefined;
    const b = this.record(Number(pos));
    return b === undefined ? undefined : decodeOutput(pos, b);
  }

  inputOf(pos: bigint, id: Uint8Array): { value: bigint; lockBytes: Buffer } | undefined {
    if (pos < 0n || pos > POS_SAFE_MAX) return undefined;
    const b = this.record(Number(pos));
    if (b === undefined || id.length !== 32 || b.compare(id, 0, 32, 8, 40) !== 0) return undefined;
    return { value: b.readBigUInt64BE(0), lockBytes: Buffer.from(b.subarray(OUT_FIXED_BYTES)) };
  }

  isSpent(pos: bigint): boolean {
    return pos >= 0n && pos <= POS_SAFE_MAX && this.spentBit(Number(pos));
  }

  readBatches(fromSeq: bigint, limit: number): BatchRecord[] {
    const out: BatchRecord[] = [];
    if (fromSeq < 0n) fromSeq = 0n;
    for (let s = Number(fromSeq); s < this.batchRecords.length && out.length < limit; s++) out.push(decodeBatch(BigInt(s), this.batchRecords[s]!));
    return out;
  }

  readOutputs(fromPos: bigint, count: number): StoredOutput[] {
    const out: StoredOutput[] = [];
    for (let p = Number(fromPos); p < this.outputsMirrored && out.length < count; p++) out.push(decodeOutput(BigInt(p), this.record(p)!));
    return out;
  }

  supply(): Supply {
    const s = this.state;
    return { issuedFen: s.issuedFen, redeemedFen: s.redeemedFen, unspentFen: s.unspentFen, outputCount: s.nextPos, spentCount: s.spentCount, batchCount: s.nextBatch };
  }

  getIntermediary(id: string): Intermediary | undefined {
    return this.intermediaries.get(id);
  }

  listIntermediaries(): Intermediary[] {
    return [...this.intermediaries.values()].sort((a, b) => Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)));
  }

  /** The supply audit over the mirror (loaded from the database): as LmdbStore.audit. */
  audit(): AuditReport {
    const s = this.state;
    const problems: string[] = [];
    let unspent = 0n;
    let unspentCount = 0n;
    for (let p = 0; p < this.outputsMirrored; p++) {
      if (!this.spentBit(p)) {
        unspent += this.record(p)!.readBigUInt64BE(0);
        unspentCount++;
      }
    }
    const outputCount = BigInt(this.outputsMirrored);
    return this.report(s, outputCount, outputCount - unspentCount, unspent, unspentCount, problems);
  }

  /** The supply audit recomputed by the database itself from its own rows. */
  async auditDatabase(): Promise<AuditReport> {
    return this.serially(async () => {
      await this.load();
      const c = await this.connection();
      const r = (await c.query(SQL.auditSums)).rows[0] as { outputs: string; spent: string; unspent_fen: string };
      const outputs = BigInt(r.outputs);
      const spent = BigInt(r.spent);
      return this.report(this.state, outputs, spent, BigInt(r.unspent_fen), outputs - spent, []);
    });
  }

  private report(s: State, outputCount: bigint, spentCount: bigint, unspent: bigint, unspentCount: bigint, problems: string[]): AuditReport {
    if (outputCount !== s.nextPos) problems.push(`state says ${s.nextPos} outputs, store holds ${outputCount}`);
    if (spentCount !== s.spentCount) problems.push(`state says ${s.spentCount} spent, store says ${spentCount}`);
    if (unspent !== s.issuedFen - s.redeemedFen) problems.push(`sum(unspent) ${unspent} != issued ${s.issuedFen} - redeemed ${s.redeemedFen}`);
    if (unspent !== s.unspentFen) problems.push(`sum(unspent) ${unspent} != recorded ${s.unspentFen}`);
    let outstanding = 0n;
    let issued = 0n;
    let redeemed = 0n;
    for (const i of this.intermediaries.values()) {
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

  /**
   * The same digest LmdbStore.digest gives for the same ledger: every table's keys and values
   * in LMDB's layout and order (store_records.ts), so a ledger can be compared across stores.
   */
  digest(): string {
    const h = createHash('sha256');
    const feed = (name: string, rows: Iterable<{ key: unknown; value: unknown }>): void => {
      h.update(`\n#${name}\n`);
      for (const { key, value } of rows) h.update(JSON.stringify([key, value]) + '\n');
    };
    feed('batches', this.batchRecords.map((value, seq) => ({ key: key64(BigInt(seq)), value })));
    feed('intermediaries', this.listIntermediaries().map((i) => ({ key: i.id, value: intermediaryToRow(i) })));
    feed('meta', this.state.nextBatch === 0n ? [] : [{ key: 'state', value: encodeState(this.state) }]);
    feed('outputs', (function* (self: SqlStore) {
      for (let p = 0; p < self.outputsMirrored; p++) yield { key: key64(BigInt(p)), value: self.record(p)! };
    })(this));
    const chunks: { key: Buffer; value: Buffer }[] = [];
    for (let c = 0; c * SPENT_CHUNK_BYTES < this.spentBits.length; c++) {
      const bits = this.spentBits.subarray(c * SPENT_CHUNK_BYTES, (c + 1) * SPENT_CHUNK_BYTES);
      if (bits.some((b) => b !== 0)) chunks.push({ key: key64(BigInt(c)), value: Buffer.from(bits) });
    }
    feed('spent', chunks);
    return h.digest('hex');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}

function backoff(attempt: number): Promise<void> {
  // Jittered, growing to ~50 ms: conflicting writers fall out of step.
  const ms = Math.min(50, 1 + attempt * 3) * (0.5 + Math.random() / 2);
  return new Promise((r) => setTimeout(r, ms));
}

/** A database URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
