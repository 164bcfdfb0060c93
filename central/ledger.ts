// The ledger of record: validates transactions and applies them in group commits, one LMDB
// write transaction per batch, acknowledging each only once its batch is durable.
//
// Intake per submit call: txids, output ids and the spent outputs' values and locks, computed
// for large submissions on the verification pool's threads (intake.ts), in submission order.
// Pipeline per batch: batch time fixed -> prepare (txid known; inputs read; ids, balance,
// locks and witness shape checked at that batch time; signature checks packed) -> verify
// (worker pool; key signatures skipped for attested submissions) -> apply (spent set, issuance
// rules; atomic, stamped with the same batch time) -> durable -> acknowledge.
// Batch k+1 is prepared and verified while batch k commits and flushes.
//
// Locks (docs/LOCKS.md): plain key/multi locks take the fast path below; any other lock, or a
// witness with preimages or merchant certificates, goes through protocol/spend.ts checkSpend
// in both modes. Merchant certificate signatures are verified in both modes: an attestation
// vouches for the submitting bank's key signatures, not for another intermediary's statement.
import { EventEmitter } from 'node:events';
import { CbdcError, assert, isCbdcError } from '../protocol/errors.js';
import { BATCH_TX_MAX, LEDGER_QUEUE_TX_MAX } from '../protocol/limits.js';
import { LOCK_TAGS, decodeLockTrusted, isSimpleLock, lockNamesKey, lockSatisfiedByKeys, type Lock } from '../protocol/lock.js';
import { checkSpend } from '../protocol/spend.js';
import { type KeySignature, type Tx, batchAttestationMessage, operatorMessage, outputId, txId } from '../protocol/tx.js';
import { bytesEqual } from '../protocol/bytes.js';
import { type Admitted, packIntake, unpackIntake } from './intake.js';
import { nativeVerifier, type SignatureVerifier } from '../protocol/sig.js';
import type { AppliedBatch, LedgerStore, TxEffect } from './store.js';
import { TriplePacker } from './verify_pack.js';
import type { VerifyPool } from './verify_pool.js';

export type VerificationMode = 'full' | 'attested';

export type TxResult =
  | { ok: true; txid: string; batch: bigint; firstPos: bigint; outputIds: Buffer[]; durable: boolean }
  | { ok: false; txid: string | null; code: CbdcError['code']; message: string };

export interface LedgerOptions {
  network: string;
  /** The central-bank operator's public key: signs issuance and redemption. */
  operatorPublicKey: Buffer;
  pool: VerifyPool | null;
  /** Used inline when there is no pool, and for the rare operator checks. */
  verifier?: SignatureVerifier;
  batchTxMax?: number;
  queueTxMax?: number;
  /** Committed batches allowed to wait for their flush while the next one is prepared. */
  inflightBatchesMax?: number;
  /** The wall clock batch times follow (ms since the Unix epoch); tests set it. */
  clockMs?: () => number;
}

/** One submit call's results, resolved together once its last transaction is answered. */
interface Submission {
  readonly results: TxResult[];
  remaining: number;
  readonly resolve: (r: TxResult[]) => void;
  /** performance.now() when submitted, for the settlement latency ('decided' statistics). */
  readonly submittedAtMs: number;
}

interface Pending {
  tx: Tx;
  txid: Buffer;
  /** What the intake step computed off the event loop; null when this thread computes it. */
  admitted: Admitted | null;
  attested: boolean;
  submission: Submission;
  /** This transaction's index in its submission's results. */
  index: number;
}

/** One submit call between submit() and the ledger's queue (its intake may run on a worker). */
interface IntakeEntry {
  readonly txs: readonly Tx[];
  readonly attestation: { key: Buffer; sig: Buffer } | undefined;
  readonly submission: Submission;
  /** Set when the worker's results arrived (or failed: then this thread computes them). */
  done: boolean;
  /** Computed in submit() when the intake runs on this thread. */
  readonly txids: Buffer[] | null;
  admitted: Admitted[] | null;
}

/** Submissions at least this large take their intake step to the pool's threads. */
export const INTAKE_WORKER_TX_MIN = 32;
/** A submission's intake is split into parts of at least this many transactions, one per thread. */
const INTAKE_PART_TX_MIN = 256;

/** Whether two outpoints name the same position (at most TX_INPUTS_MAX: pairwise, no Set). */
function repeatsPosition(inputs: readonly { readonly pos: bigint }[]): boolean {
  for (let i = 1; i < inputs.length; i++) {
    const p = inputs[i]!.pos;
    for (let j = 0; j < i; j++) if (inputs[j]!.pos === p) return true;
  }
  return false;
}

/** lockSatisfiedByKeys over the witness's keys, without building the key list. */
function lockSatisfiedBySigs(lock: Lock, sigs: readonly KeySignature[]): boolean {
  if (lock.type === 'key') {
    for (const s of sigs) if (bytesEqual(lock.key, s.key)) return true;
    return false;
  }
  if (lock.type === 'multi') {
    let count = 0;
    for (const k of lock.keys) {
      for (const s of sigs) {
        if (bytesEqual(k, s.key)) {
          count++;
          break;
        }
      }
    }
    return count >= lock.k;
  }
  return lockSatisfiedByKeys(lock, sigs.map((s) => s.key));
}

/** Encoded key(pk) locks: the tag and a 33-byte compressed key (protocol/lock.ts, encodeNode). */
const KEY_LOCK_TAG = LOCK_TAGS.key;
const KEY_LOCK_BYTES = 1 + 33;

/** Whether `lockBytes` encodes key(pk) (the common lock: one signature, nothing to decode). */
function isKeyLockBytes(lockBytes: Uint8Array): boolean {
  return lockBytes.length === KEY_LOCK_BYTES && lockBytes[0] === KEY_LOCK_TAG;
}

/** Whether the encoded key(pk) lock `lockBytes` names `key`. */
function keyLockBytesName(lockBytes: Uint8Array, key: Uint8Array): boolean {
  if (key.length !== KEY_LOCK_BYTES - 1) return false;
  for (let i = 0; i < key.length; i++) if (lockBytes[i + 1] !== key[i]) return false;
  return true;
}

function someLockNamesKey(locks: readonly Lock[], key: Buffer): boolean {
  for (const l of locks) {
    if (l.type === 'key' ? bytesEqual(l.key, key) : lockNamesKey(l, key)) return true;
  }
  return false;
}

function answer(item: Pending, r: TxResult): void {
  const s = item.submission;
  s.results[item.index] = r;
  if (--s.remaining === 0) s.resolve(s.results);
}

/** One committed batch's settled transactions: txids (hex) and each one's first output position. */
interface RecentBatch {
  readonly seq: bigint;
  readonly txids: string[];
  readonly firstPos: bigint[];
}

interface Prepared {
  item: Pending;
  error: CbdcError | null;
  effect: TxEffect | null;
  /** Index range of this transaction's checks in the batch's packer: key signatures in [checkFrom, certFrom), certificates in [certFrom, checkTo). */
  checkFrom: number;
  certFrom: number;
  checkTo: number;
}

/**
 * Settled transactions remembered by txid, so that the API can answer a transaction sent again
 * (a bank retrying after a lost answer) with its settlement instead of the double-spend (or
 * issuance-serial) refusal the ledger gives it. Rebuilt from the newest batch records at start;
 * an older retry still gets the refusal, and the bank confirms it from the event stream.
 */
export const RECENT_TXIDS_MAX = 200_000;

/** A batch attestation: the submitting intermediary signs H_batch(network || txids) (protocol/tx.ts). */
export const batchMessage = batchAttestationMessage;

/**
 * What the ledger decided in one step, for metrics and the dashboard: one object per commit
 * (or per submission refused before it was batched), never one per transaction.
 */
export interface DecidedStats {
  /** Transactions in the committed batch; 0 when the submission was refused before batching. */
  batchTxCount: number;
  settledTransfer: number;
  settledIssue: number;
  settledRedeem: number;
  /** Refusals by code; null when there were none. */
  rejected: Map<CbdcError['code'], number> | null;
  /** Per settled transaction, milliseconds from submission to its batch being durable; null when none settled. */
  latencyMs: Float64Array | null;
}

export interface LedgerEvents {
  batch: [AppliedBatch];
  decided: [DecidedStats];
}

export class Ledger extends EventEmitter<LedgerEvents> {
  readonly network: string;
  readonly store: LedgerStore;
  private readonly operatorKey: Buffer;
  private readonly pool: VerifyPool | null;
  private readonly verifier: SignatureVerifier;
  private readonly batchTxMax: number;
  private readonly queueTxMax: number;
  private readonly inflightMax: number;
  private readonly clockMs: () => number;
  private queue: Pending[] = [];
  /** Submissions awaiting their intake, in submission order: they join the queue in this order. */
  private readonly intake: IntakeEntry[] = [];
  private intakeTxCount = 0;
  private pumping = false;
  private lastTimeMs = 0;
  private closed = false;
  /** Batches [0, durableBatchCount) are committed and on disk: what the event stream may show. */
  durableBatchCount: bigint;

  constructor(store: LedgerStore, opts: LedgerOptions) {
    super();
    this.store = store;
    this.network = opts.network;
    this.operatorKey = opts.operatorPublicKey;
    this.pool = opts.pool;
    this.verifier = opts.verifier ?? nativeVerifier;
    this.batchTxMax = Math.min(opts.batchTxMax ?? BATCH_TX_MAX, BATCH_TX_MAX);
    this.queueTxMax = opts.queueTxMax ?? LEDGER_QUEUE_TX_MAX;
    this.inflightMax = opts.inflightBatchesMax ?? 2;
    this.clockMs = opts.clockMs ?? Date.now;
    this.durableBatchCount = store.supply().batchCount;
    // Batch times stay monotonic across restarts too: time locks read them.
    if (this.durableBatchCount > 0n) this.lastTimeMs = store.readBatches(this.durableBatchCount - 1n, 1)[0]?.timeMs ?? 0;
    this.loadRecent();
  }

  /**
   * Settled transactions of the newest batches, oldest first, about RECENT_TXIDS_MAX in all
   * (whole batches). Kept per batch, so that committing costs nothing per transaction; indexed
   * by txid only when a refusal asks (settledBefore), each batch at most once.
   */
  private readonly recentBatches: RecentBatch[] = [];
  private recentTxCount = 0;
  /** recentBatches[0, recentIndexed) are in recentIndex. */
  private recentIndexed = 0;
  private readonly recentIndex = new Map<string, { batch: bigint; firstPos: bigint }>();

  private loadRecent(): void {
    const newestFirst: RecentBatch[] = [];
    let count = 0;
    let seq = this.durableBatchCount;
    while (seq > 0n && count < RECENT_TXIDS_MAX) {
      const from = seq > 64n ? seq - 64n : 0n;
      const batches = this.store.readBatches(from, Number(seq - from));
      for (let b = batches.length - 1; b >= 0 && count < RECENT_TXIDS_MAX; b--) {
        const rec = batches[b]!;
        newestFirst.push({ seq: rec.seq, txids: rec.txs.map((t) => t.txid.toString('hex')), firstPos: rec.txs.map((t) => t.firstPos) });
        count += rec.txs.length;
      }
      seq = from;
    }
    for (let i = newestFirst.length - 1; i >= 0; i--) this.rememberBatch(newestFirst[i]!);
  }

  private rememberBatch(b: RecentBatch): void {
    if (b.txids.length === 0) return;
    this.recentBatches.push(b);
    this.recentTxCount += b.txids.length;
    while (this.recentTxCount > RECENT_TXIDS_MAX && this.recentBatches.length > 1) {
      const old = this.recentBatches.shift()!;
      this.recentTxCount -= old.txids.length;
      if (this.recentIndexed > 0) {
        this.recentIndexed--;
        for (const t of old.txids) this.recentIndex.delete(t);
      }
    }
  }

  private recentSettlement(txid: string): { batch: bigint; firstPos: bigint } | undefined {
    for (; this.recentIndexed < this.recentBatches.length; this.recentIndexed++) {
      const b = this.recentBatches[this.recentIndexed]!;
      for (let i = 0; i < b.txids.length; i++) this.recentIndex.set(b.txids[i]!, { batch: b.seq, firstPos: b.firstPos[i]! });
    }
    return this.recentIndex.get(txid);
  }

  /**
   * For a transaction the ledger refused as a double spend or a used issuance serial: its own
   * earlier settlement, when it is that same transaction (by txid) settled before and remembered.
   */
  settledBefore(tx: Tx, r: TxResult): TxResult {
    if (r.ok || r.txid === null || (r.code !== 'CBDC_ERR_DOUBLE_SPEND' && r.code !== 'CBDC_ERR_ISSUE_SERIAL')) return r;
    const settled = this.recentSettlement(r.txid);
    if (settled === undefined) return r;
    const txid = Buffer.from(r.txid, 'hex');
    const outputIds = tx.outputs.map((o, index) => outputId(txid, index, o.value, o.lockBytes));
    return { ok: true, txid: r.txid, batch: settled.batch, firstPos: settled.firstPos, outputIds, durable: this.store.durability !== 'nosync' };
  }

  get queuedTxCount(): number {
    return this.queue.length + this.intakeTxCount;
  }

  /**
   * Submits parsed transactions. Resolves with each one's result once its batch is durable
   * (or with its rejection). With an attestation, the submitting intermediary vouches for
   * every witness: central checks that one signature instead of each transaction's.
   */
  submit(txs: readonly Tx[], attestation?: { key: Buffer; sig: Buffer }): Promise<TxResult[]> {
    return this.enqueue(txs, attestation, null);
  }

  /**
   * submit() for transactions whose intake step is done already (`admitted[i]` for txs[i], as
   * unpackIntake gives it): a batch parsed on a worker thread (batch_parse.ts).
   */
  submitAdmitted(txs: readonly Tx[], admitted: Admitted[], attestation?: { key: Buffer; sig: Buffer }): Promise<TxResult[]> {
    assert(admitted.length === txs.length, 'one intake result per transaction');
    return this.enqueue(txs, attestation, admitted);
  }

  /** The pool this ledger hands work to (null: none), for callers that prepare submissions off the event loop. */
  get workerPool(): VerifyPool | null {
    return this.pool;
  }

  private enqueue(txs: readonly Tx[], attestation: { key: Buffer; sig: Buffer } | undefined, given: Admitted[] | null): Promise<TxResult[]> {
    if (this.closed) return Promise.reject(new Error('ledger is closed'));
    if (this.queue.length + this.intakeTxCount + txs.length > this.queueTxMax) {
      const e = new CbdcError('CBDC_ERR_OVERLOADED');
      this.emitRefused(e.code, txs.length);
      return Promise.resolve(txs.map(() => ({ ok: false as const, txid: null, code: e.code, message: e.message })));
    }
    // Encoding happens here, before anything is queued, so a transaction that cannot be encoded
    // throws to the caller and leaves the ledger as it was.
    const per = given !== null ? 0 : this.intakePartTxs(txs.length);
    const jobs = per === 0 ? null : this.intakeJobs(txs, per);
    const txids = jobs === null && given === null ? txs.map(txId) : null;
    return new Promise<TxResult[]>((resolve) => {
      const submission: Submission = { results: new Array<TxResult>(txs.length), remaining: txs.length, resolve, submittedAtMs: performance.now() };
      const entry: IntakeEntry = { txs, attestation, submission, done: false, txids, admitted: given };
      this.intake.push(entry);
      this.intakeTxCount += txs.length;
      if (jobs === null) {
        entry.done = true;
        this.admitIntake();
        return;
      }
      Promise.all(jobs).then((results) => {
        const admitted = new Array<Admitted>(txs.length);
        for (let k = 0; k < results.length; k++) unpackIntake(txs, k * per, Math.min(txs.length, (k + 1) * per), results[k]!, admitted);
        entry.admitted = admitted;
      }).catch(() => {
        // A failed worker costs speed, not correctness: this thread computes what it would have.
        entry.admitted = null;
      }).finally(() => {
        entry.done = true;
        this.admitIntake();
      });
    });
  }

  /** Transactions per intake job on the pool's threads; 0: this submission's intake runs here. */
  private intakePartTxs(txCount: number): number {
    if (this.pool === null || this.pool.threads === 0 || txCount < INTAKE_WORKER_TX_MIN) return 0;
    const parts = Math.max(1, Math.min(this.pool.threads, Math.floor(txCount / INTAKE_PART_TX_MIN)));
    return Math.ceil(txCount / parts);
  }

  /** The intake jobs for this submission, `per` transactions each (encoded here, synchronously). */
  private intakeJobs(txs: readonly Tx[], per: number): Promise<Uint8Array>[] {
    const tasks = [];
    for (let from = 0; from < txs.length; from += per) tasks.push(packIntake(txs, from, Math.min(txs.length, from + per), this.store.path ?? null));
    return tasks.map((task) => this.pool!.intake(task));
  }

  /** Moves submissions whose intake is done, oldest first, into the queue (or refuses them). */
  private admitIntake(): void {
    while (this.intake.length > 0 && this.intake[0]!.done) {
      const e = this.intake.shift()!;
      this.intakeTxCount -= e.txs.length;
      const { txs, attestation, submission, admitted } = e;
      const txids = e.txids ?? (admitted === null ? txs.map(txId) : admitted.map((a) => a.txid));
      if (attestation !== undefined) {
        const ok = this.verifier.verify(attestation.sig, batchMessage(this.network, txids), attestation.key);
        if (!ok) {
          const err = new CbdcError('CBDC_ERR_BATCH_SIGNATURE');
          this.emitRefused(err.code, txs.length);
          submission.resolve(txids.map((t) => ({ ok: false as const, txid: t.toString('hex'), code: err.code, message: err.message })));
          continue;
        }
      }
      if (txs.length === 0) {
        submission.resolve([]);
        continue;
      }
      const attested = attestation !== undefined;
      for (let i = 0; i < txs.length; i++) {
        this.queue.push({ tx: txs[i]!, txid: txids[i]!, admitted: admitted === null ? null : admitted[i]!, attested, submission, index: i });
      }
    }
    void this.pump();
  }

  private emitRefused(code: CbdcError['code'], txCount: number): void {
    if (this.listenerCount('decided') === 0) return;
    this.emit('decided', { batchTxCount: 0, settledTransfer: 0, settledIssue: 0, settledRedeem: 0, rejected: new Map([[code, txCount]]), latencyMs: null });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const inflight: Promise<void>[] = [];
    try {
      while (this.queue.length > 0 || inflight.length > 0) {
        if (this.queue.length === 0 || inflight.length >= this.inflightMax) {
          await inflight.shift();
          continue;
        }
        const items = this.queue.splice(0, this.batchTxMax);
        // The batch time is fixed before any lock is evaluated and stamps the commit too; it
        // never goes backwards, whatever the wall clock does (batches commit in this order).
        const timeMs = (this.lastTimeMs = Math.max(this.lastTimeMs + 1, this.clockMs()));
        const packer = new TriplePacker(items.length * 2);
        const prepared = items.map((item) => this.prepare(item, packer, timeMs));
        const verdicts = packer.count === 0 ? new Uint8Array(0) : await this.verifyChecks(packer);
        for (const p of prepared) {
          if (p.error !== null) continue;
          for (let c = p.checkFrom; c < p.checkTo; c++) {
            if (verdicts[c] !== 1) {
              p.error = c < p.certFrom
                ? new CbdcError('CBDC_ERR_BAD_SIGNATURE')
                : new CbdcError('CBDC_ERR_LOCK_CERTIFICATE', 'a merchant certificate signature does not verify for its output lock and intermediary');
              break;
            }
          }
        }
        inflight.push(this.commit(prepared, timeMs));
      }
    } finally {
      this.pumping = false;
    }
  }

  private async verifyChecks(packer: TriplePacker): Promise<Uint8Array> {
    if (this.pool !== null) return this.pool.verify(packer);
    const out = new Uint8Array(packer.count);
    const b = packer.slice(0, packer.count);
    for (let i = 0; i < packer.count; i++) {
      const at = i * 129;
      out[i] = this.verifier.verify(b.subarray(at, at + 64), b.subarray(at + 64, at + 96), b.subarray(at + 96, at + 129)) ? 1 : 0;
    }
    return out;
  }

  /** Every check that needs no write lock. Pure with respect to the store's committed state. */
  private prepare(item: Pending, packer: TriplePacker, timeMs: number): Prepared {
    const p: Prepared = { item, error: null, effect: null, checkFrom: packer.count, certFrom: packer.count, checkTo: packer.count };
    try {
      const { tx, txid } = item;
      assert(tx.network === this.network, 'parseTx checked the network');
      let inputSumFen = 0n;
      const lockBytes: Buffer[] = [];
      // Every input locked to key(pk): checked on the encoded locks, none decoded.
      let allKeyLocks = true;
      let simple = (tx.preimages === undefined || tx.preimages.length === 0) && (tx.certs === undefined || tx.certs.length === 0);
      // parseTx refuses this too; the ledger must not rely on it (a repeated input would be counted twice).
      if (repeatsPosition(tx.inputs)) {
        throw new CbdcError('CBDC_ERR_DUPLICATE_INPUT', 'the transaction names the same input position twice');
      }
      const admitted = item.admitted;
      let at = admitted === null ? 0 : admitted.inputsAt;
      for (const input of tx.inputs) {
        // What the intake step read (final when found), else the store as it is now.
        let valueFen: bigint;
        let inputLock: Buffer;
        if (admitted !== null && admitted.inputs[at] === 1) {
          const b = admitted.inputs;
          const end = at + 11 + b.readUInt16BE(at + 9);
          valueFen = b.readBigUInt64BE(at + 1);
          inputLock = b.subarray(at + 11, end);
          at = end;
        } else {
          if (admitted !== null) at++;
          const out = this.store.inputOf(input.pos, input.id);
          if (out === undefined) {
            throw new CbdcError('CBDC_ERR_UNKNOWN_INPUT', `no output ${input.id.toString('hex').slice(0, 16)}… at position ${input.pos}`);
          }
          valueFen = out.value;
          inputLock = out.lockBytes;
        }
        // Early refusal so a doomed transaction costs no signature checks; apply re-checks.
        // Kept in attested mode too: it fixes which error a doubly-bad transaction gets.
        if (this.store.isSpent(input.pos)) throw new CbdcError('CBDC_ERR_DOUBLE_SPEND', `output at position ${input.pos} is already spent`);
        inputSumFen += valueFen;
        if (!isKeyLockBytes(inputLock)) allKeyLocks = false;
        lockBytes.push(inputLock);
      }
      let outputSumFen = 0n;
      for (const o of tx.outputs) outputSumFen += o.value;

      if (tx.kind === 'transfer' && inputSumFen !== outputSumFen) {
        throw new CbdcError('CBDC_ERR_UNBALANCED', `inputs sum to ${inputSumFen} fen, outputs to ${outputSumFen} fen`);
      }
      if (tx.kind === 'redeem' && inputSumFen <= outputSumFen) throw new CbdcError('CBDC_ERR_REDEMPTION_EMPTY');
      if (tx.kind !== 'transfer') {
        assert(tx.operatorSig !== null, 'parseTx requires the operator signature');
        if (!this.verifier.verify(tx.operatorSig, operatorMessage(txid), this.operatorKey)) throw new CbdcError('CBDC_ERR_OPERATOR_SIGNATURE');
      }

      // Locks against the keys that claim to have signed; signatures are checked after.
      let certChecks: ReturnType<typeof checkSpend> = [];
      // Stored locks were checked when their outputs were created: decoded without checks.
      const locks = simple && allKeyLocks ? null : lockBytes.map(decodeLockTrusted);
      if (locks !== null && simple && !locks.every(isSimpleLock)) simple = false;
      if (locks === null) {
        // Fastest path: key(pk) locks only and a witness of signatures (the verdicts of the path
        // below). `matched` marks the signatures an input's lock named, so the second check
        // scans only the others (none, when every key in the witness signs for an input; the mask
        // covers the first 31 signatures, the rest are always scanned).
        let matched = 0;
        for (let i = 0; i < lockBytes.length; i++) {
          let j = 0;
          while (j < tx.sigs.length && !keyLockBytesName(lockBytes[i]!, tx.sigs[j]!.key)) j++;
          if (j === tx.sigs.length) throw new CbdcError('CBDC_ERR_LOCK_UNSATISFIED', `input ${i}: the witness does not satisfy its lock`);
          if (j < 31) matched |= 1 << j;
        }
        for (let j = 0; j < tx.sigs.length; j++) {
          if (j < 31 && (matched & (1 << j)) !== 0) continue;
          let named = false;
          for (let i = 0; i < lockBytes.length && !named; i++) named = keyLockBytesName(lockBytes[i]!, tx.sigs[j]!.key);
          if (!named) throw new CbdcError('CBDC_ERR_WITNESS', 'a signature is from a key no input lock names');
        }
      } else if (simple) {
        // Fast path: plain key/multi locks and a witness of signatures only (checkSpend gives the same verdicts).
        for (let i = 0; i < locks.length; i++) {
          if (!lockSatisfiedBySigs(locks[i]!, tx.sigs)) throw new CbdcError('CBDC_ERR_LOCK_UNSATISFIED', `input ${i}: the witness does not satisfy its lock`);
        }
        for (const s of tx.sigs) {
          if (!someLockNamesKey(locks, s.key)) throw new CbdcError('CBDC_ERR_WITNESS', 'a signature is from a key no input lock names');
        }
      } else {
        certChecks = checkSpend(tx, locks.map((lock, i) => ({ lock, lockBytes: lockBytes[i]! })), timeMs, this.directory);
      }
      if (!item.attested) {
        // Each distinct key signs the txid once (parseTx refuses repeated keys).
        for (const s of tx.sigs) packer.add(s.sig, txid, s.key);
      }
      p.certFrom = packer.count;
      for (const c of certChecks) packer.add(c.sig, c.msg, c.key);
      p.checkTo = packer.count;
      p.effect = {
        txid,
        kind: tx.kind,
        inputs: tx.inputs.map((i) => i.pos),
        outputs: tx.outputs.map((o, index) => ({ id: admitted === null ? outputId(txid, index, o.value, o.lockBytes) : admitted.outputIds[index]!, value: o.value, lockBytes: o.lockBytes })),
        inputSumFen,
        outputSumFen,
        intermediary: tx.intermediary,
        serial: tx.serial,
      };
    } catch (e) {
      if (!isCbdcError(e)) throw e;
      p.error = e;
      p.certFrom = p.checkFrom;
      p.checkTo = p.checkFrom;
    }
    return p;
  }

  /** Central's directory of intermediaries' keys, for merchant certificates. */
  private readonly directory = (id: string): Buffer | undefined => {
    const rec = this.store.getIntermediary(id);
    return rec === undefined ? undefined : Buffer.from(rec.publicKey, 'hex');
  };

  private async commit(prepared: Prepared[], timeMs: number): Promise<void> {
    const live = prepared.filter((p) => p.error === null);
    let applied: AppliedBatch | null = null;
    if (live.length > 0) {
      try {
        applied = await this.store.apply(live.map((p) => p.effect!), timeMs);
      } catch (e) {
        const err = new CbdcError('CBDC_ERR_STORAGE', `the ledger store refused the batch: ${(e as Error).message}`);
        for (const p of live) p.error = err;
      }
    }
    let r = 0;
    // Statistics only when someone listens: counts, and one latency array per batch.
    const stats: DecidedStats | null = this.listenerCount('decided') === 0 ? null : {
      batchTxCount: prepared.length, settledTransfer: 0, settledIssue: 0, settledRedeem: 0, rejected: null,
      latencyMs: live.length === 0 ? null : new Float64Array(live.length),
    };
    const nowMs = performance.now();
    let settled = 0;
    const recent: RecentBatch | null = applied !== null && applied.seq >= 0n ? { seq: applied.seq, txids: [], firstPos: [] } : null;
    for (const p of prepared) {
      const txid = p.item.txid.toString('hex');
      let code: CbdcError['code'] | null = null;
      if (p.error !== null) {
        answer(p.item, { ok: false, txid, code: p.error.code, message: p.error.message });
        code = p.error.code;
      } else {
        assert(applied !== null, 'applied batch present');
        const res = applied.results[r++]!;
        if (res.ok) {
          if (recent !== null) {
            recent.txids.push(txid);
            recent.firstPos.push(res.firstPos);
          }
          const outputIds = p.item.admitted?.outputIds ?? p.effect!.outputs.map((o) => o.id);
          answer(p.item, { ok: true, txid, batch: applied.seq, firstPos: res.firstPos, outputIds, durable: applied.durable });
          if (stats !== null) {
            stats.latencyMs![settled++] = nowMs - p.item.submission.submittedAtMs;
            const kind = p.item.tx.kind;
            if (kind === 'transfer') stats.settledTransfer++;
            else if (kind === 'issue') stats.settledIssue++;
            else stats.settledRedeem++;
          }
        } else {
          answer(p.item, { ok: false, txid, code: res.error.code, message: res.error.message });
          code = res.error.code;
        }
      }
      if (code !== null && stats !== null) {
        stats.rejected ??= new Map();
        stats.rejected.set(code, (stats.rejected.get(code) ?? 0) + 1);
      }
    }
    if (stats !== null) {
      if (stats.latencyMs !== null && settled < stats.latencyMs.length) stats.latencyMs = settled === 0 ? null : stats.latencyMs.subarray(0, settled);
      this.emit('decided', stats);
    }
    if (recent !== null) this.rememberBatch(recent);
    if (applied !== null && applied.seq >= 0n) {
      // Flushes complete in commit order, so this batch being durable means all before it are.
      if (applied.seq + 1n > this.durableBatchCount) this.durableBatchCount = applied.seq + 1n;
      this.emit('batch', applied);
    }
  }

  /** Stops taking work and waits for everything queued to be acknowledged. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.pumping || this.queue.length > 0 || this.intake.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
