// The narrow interface between the ledger and its storage engine: apply a batch atomically
// (inputs unspent -> spent, outputs created, issuance/redemption effects), read an output,
// and read the ordered stream of committed batches. LMDB is the embedded default
// (store_lmdb.ts); a distributed engine with serializable transactions can take its place.
import type { CbdcError } from '../protocol/errors.js';
import type { TxKind } from '../protocol/tx.js';

export interface StoredOutput {
  readonly pos: bigint;
  readonly value: bigint;
  readonly id: Buffer;
  readonly txid: Buffer;
  readonly index: number;
  readonly batch: bigint;
  readonly lockBytes: Buffer;
}

/** What applying one validated transaction does to the ledger. */
export interface TxEffect {
  readonly txid: Buffer;
  readonly kind: TxKind;
  readonly inputs: readonly bigint[];
  readonly outputs: readonly { readonly id: Buffer; readonly value: bigint; readonly lockBytes: Buffer }[];
  readonly inputSumFen: bigint;
  readonly outputSumFen: bigint;
  /** issue/redeem: the intermediary whose reserve and quota move. */
  readonly intermediary: string;
  /** issue: the serial the intermediary's next issuance must carry. */
  readonly serial: bigint;
}

export type EffectResult = { ok: true; firstPos: bigint } | { ok: false; error: CbdcError };

export interface AppliedBatch {
  readonly seq: bigint;
  readonly timeMs: number;
  readonly results: readonly EffectResult[];
  /** True when the store flushed the batch to disk before resolving. */
  readonly durable: boolean;
}

export interface BatchRecordTx {
  readonly txid: Buffer;
  readonly kind: TxKind;
  readonly inputs: readonly bigint[];
  readonly firstPos: bigint;
  readonly outputCount: number;
  readonly intermediary: string;
}

export interface BatchRecord {
  readonly seq: bigint;
  readonly timeMs: number;
  readonly firstPos: bigint;
  readonly outputCount: number;
  readonly txs: readonly BatchRecordTx[];
}

export interface Intermediary {
  readonly id: string;
  readonly publicKey: string;
  readonly quotaFen: bigint;
  readonly reserveFen: bigint;
  readonly issuedFen: bigint;
  readonly redeemedFen: bigint;
  readonly nextSerial: bigint;
  readonly registeredAtMs: number;
}

export interface Supply {
  readonly issuedFen: bigint;
  readonly redeemedFen: bigint;
  /** Running total of unspent output values, kept by every batch. */
  readonly unspentFen: bigint;
  readonly outputCount: bigint;
  readonly spentCount: bigint;
  readonly batchCount: bigint;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly issuedFen: bigint;
  readonly redeemedFen: bigint;
  /** sum(unspent) recomputed from every stored output and the spent set. */
  readonly unspentRecomputedFen: bigint;
  readonly unspentRecordedFen: bigint;
  readonly unspentCount: bigint;
  readonly outputCount: bigint;
  readonly intermediariesOutstandingFen: bigint;
  readonly problems: readonly string[];
}

export interface LedgerStore {
  readonly durability: Durability;
  /**
   * An LMDB directory that other threads of this process may open to read committed outputs
   * (store_lmdb.ts LmdbInputReader); absent when they cannot.
   */
  readonly path?: string;
  apply(effects: readonly TxEffect[], timeMs: number): Promise<AppliedBatch>;
  getOutput(pos: bigint): StoredOutput | undefined;
  /** The value and lock of the output at `pos` if its id is `id` (what spending it needs). */
  inputOf(pos: bigint, id: Uint8Array): { value: bigint; lockBytes: Buffer } | undefined;
  isSpent(pos: bigint): boolean;
  readBatches(fromSeq: bigint, limit: number): BatchRecord[];
  /** Outputs in ledger order from a position (the event stream, the dashboard). */
  readOutputs(fromPos: bigint, count: number): StoredOutput[];
  supply(): Supply;
  getIntermediary(id: string): Intermediary | undefined;
  listIntermediaries(): Intermediary[];
  registerIntermediary(rec: Intermediary): Promise<void>;
  adjustIntermediary(id: string, change: { reserveDeltaFen?: bigint; quotaFen?: bigint }): Promise<Intermediary>;
  audit(): AuditReport;
  digest(): string;
  close(): Promise<void>;
}

/**
 * How the store makes a commit durable before the ledger acknowledges it:
 * - sync: each commit fsyncs data and meta pages before it returns (lmdb-js overlappingSync off).
 * - overlapping: commits return at once and the flush overlaps the next batch; acknowledgements
 *   wait for lmdb-js's `flushed` promise (overlappingSync on, the lmdb-js default on Linux).
 * - nosync: no fsync at all. NOT durable across an OS crash; for throughput research only, and
 *   every result it returns says durable: false.
 */
export const DURABILITIES = ['sync', 'overlapping', 'nosync'] as const;
export type Durability = (typeof DURABILITIES)[number];
