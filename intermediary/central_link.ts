// The bank's link to central: transactions go out in batches (one signed POST /v1/batches
// per group, in the binary form, amortising the round trip), and settled batches come back
// over central's event stream, resumed from the bank's persisted cursor after any disconnect
// or restart.
import WebSocket from 'ws';
import { CbdcError, type ErrorCode, assert } from '../protocol/errors.js';
import { type Tx, batchAttestationMessage, txId } from '../protocol/tx.js';
import { BATCH_WIRE_MEDIA_TYPE, type CompactBatchAnswer, encodeBatchWire, expandCompactAnswer } from '../protocol/batch_wire.js';
import { signHashNative } from '../protocol/sig.js';
import { SignedClient } from '../platform/signed_client.js';

export interface SettledJson {
  status: 'settled';
  txid: string;
  batch: string;
  outputs: { pos: string; id: string }[];
}
export interface RejectedJson {
  status: 'rejected';
  txid: string | null;
  code: ErrorCode;
  message: string;
}
export type CentralResult = SettledJson | RejectedJson;

export interface CentralEventTx {
  txid: string;
  kind: string;
  intermediary?: string;
  spent: string[];
  /** lock: the lock as JSON; lock_hex: its canonical bytes. */
  outputs: { pos: string; id: string; value: string; lock: unknown; lock_hex?: string }[];
}
export interface CentralBatchEvent {
  type: 'batch';
  seq: string;
  time_ms: number;
  txs: CentralEventTx[];
}

/** Transactions per POST /v1/batches at most. */
const BATCH_TX_MAX = 1_000;
/** Queued transactions at most; past this, submissions are refused at once. */
const QUEUE_TX_MAX = 50_000;
/**
 * The least time between the starts of two batches, by default. Each batch costs a signed
 * request, a commit and flush at central, and an event and a write transaction at every bank,
 * whatever it holds. Sent as soon as the last one was answered, batches below capacity shrink to
 * one or two transactions and those costs take the CPU a higher rate needs. A transaction
 * queued after a quiet spell goes at once; under load it waits at most this long.
 */
export const BATCH_INTERVAL_MS_DEFAULT = 20;
/** The spacing a bank may be given at most (it is added to a payment's latency). */
export const BATCH_INTERVAL_MS_MAX = 1_000;

interface Queued {
  tx: Tx;
  resolve: (r: CentralResult) => void;
}

/** One POST /v1/batches as it ended: how many transactions, how long (with retries), and whether central answered. */
export interface BatchSent {
  txCount: number;
  seconds: number;
  answered: boolean;
}

export class CentralLink {
  readonly client: SignedClient;
  private queue: Queued[] = [];
  private flushing = false;
  /** When the last batch was started (performance.now()), for the spacing. */
  private lastBatchAtMs = -Infinity;
  private ws: WebSocket | null = null;
  private stopped = false;
  /** Central's batch head as last seen (hello message or settled batches). */
  headSeen = 0n;
  /** Told of every batch sent (for metrics); called once per batch, never per transaction. */
  onBatchSent: ((b: BatchSent) => void) | null = null;

  constructor(
    readonly url: string,
    readonly network: string,
    readonly bankId: string,
    private readonly secretKey: Uint8Array,
    /**
     * Sign each batch's attestation: the bank vouches that it checked every witness (the
     * wallet's signature in signPayment; its own it made), so central in `attested` mode
     * checks one signature per batch instead of each transaction's again.
     */
    readonly attest = false,
    /** PEM certificates trusted for an https central (TLS between the tiers). */
    readonly ca?: Buffer,
    /** The least time between the starts of two batches (BATCH_INTERVAL_MS_DEFAULT); 0 sends each as soon as the last was answered. */
    readonly batchIntervalMs = BATCH_INTERVAL_MS_DEFAULT,
  ) {
    assert(Number.isInteger(batchIntervalMs) && batchIntervalMs >= 0 && batchIntervalMs <= BATCH_INTERVAL_MS_MAX, 'the batch interval is a whole number of ms within its bound');
    this.client = new SignedClient(url, network, bankId, secretKey, 30_000, ca);
  }

  get queuedTxCount(): number {
    return this.queue.length;
  }

  /** Submits one transaction; it travels to central in a batch with others. */
  submit(tx: Tx): Promise<CentralResult> {
    if (this.queue.length >= QUEUE_TX_MAX) {
      return Promise.resolve({ status: 'rejected', txid: null, code: 'CBDC_ERR_OVERLOADED', message: 'the bank is sending too much to central' });
    }
    const p = new Promise<CentralResult>((resolve) => this.queue.push({ tx, resolve }));
    if (!this.flushing) setImmediate(() => void this.flush());
    return p;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        // A full batch goes at once; a short one waits out the spacing for company.
        const waitMs = this.lastBatchAtMs + this.batchIntervalMs - performance.now();
        if (waitMs > 0 && this.queue.length < BATCH_TX_MAX) await new Promise((r) => setTimeout(r, waitMs));
        const group = this.queue.splice(0, BATCH_TX_MAX);
        const startedMs = performance.now();
        this.lastBatchAtMs = startedMs;
        const results = await this.sendBatch(group.map((q) => q.tx));
        this.onBatchSent?.({
          txCount: group.length, seconds: (performance.now() - startedMs) / 1000,
          answered: !results.some((r) => r.status === 'rejected' && r.code === 'CBDC_ERR_CENTRAL_UNAVAILABLE'),
        });
        group.forEach((q, i) => q.resolve(results[i]!));
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Sends one batch in the binary form (protocol/batch_wire.ts), retrying transport failures a
   * few times (a retry re-signs). Central's compact answer is expanded here: txids and output
   * ids follow from the transactions sent.
   */
  private async sendBatch(txs: Tx[]): Promise<CentralResult[]> {
    const txids = txs.map(txId);
    const attestation = this.attest ? signHashNative(this.secretKey, batchAttestationMessage(this.network, txids)) : undefined;
    const body = encodeBatchWire(txs, attestation);
    let lastError = '';
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const r = await this.client.postBytes<CompactBatchAnswer & { code?: ErrorCode; message?: string }>('/v1/batches', body, BATCH_WIRE_MEDIA_TYPE);
        if (r.status === 200 && r.body.results) return expandCompactAnswer(txs, r.body, txids) as CentralResult[];
        // 503 (overloaded, shutting down) and 429 (rate limited) refuse before anything is applied: retry.
        if (r.body.code && r.status !== 503 && r.status !== 429) {
          return txs.map(() => ({ status: 'rejected' as const, txid: null, code: r.body.code!, message: r.body.message ?? '' }));
        }
        lastError = `${r.status} ${r.body.code ?? ''}`;
      } catch (e) {
        lastError = (e as Error).message;
      }
      await new Promise((res) => setTimeout(res, 100 * 2 ** attempt));
    }
    return txs.map(() => ({ status: 'rejected' as const, txid: null, code: 'CBDC_ERR_CENTRAL_UNAVAILABLE' as const, message: `central did not answer: ${lastError}` }));
  }

  /** Signed GET/POST helpers that turn central's refusals into coded errors. */
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let r;
    try {
      r = await this.client.request<T & { code?: ErrorCode; message?: string }>(method, path, body);
    } catch (e) {
      throw new CbdcError('CBDC_ERR_CENTRAL_UNAVAILABLE', `central did not answer: ${(e as Error).message}`);
    }
    if (r.status >= 400) throw new CbdcError(r.body.code ?? 'CBDC_ERR_CENTRAL_UNAVAILABLE', r.body.message ?? `central answered ${r.status}`);
    return r.body;
  }

  /**
   * Follows central's event stream from `fromSeq`, handing each batch to `onBatch` one at a
   * time (the next waits for the previous). Reconnects after any failure from the cursor
   * `cursor()` reports, so a batch is neither skipped nor handed over twice.
   */
  follow(cursor: () => bigint, onBatch: (b: CentralBatchEvent) => Promise<void>, onError: (e: Error) => void): void {
    let chain = Promise.resolve();
    let expect = cursor();
    const connect = (): void => {
      if (this.stopped) return;
      expect = cursor();
      const path = `/v1/events?from=${expect}`;
      const ws = new WebSocket(this.url.replace(/^http/, 'ws') + path, { headers: this.client.headersFor('GET', path), ...(this.ca ? { ca: this.ca } : {}) });
      this.ws = ws;
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as CentralBatchEvent | { type: 'hello'; head: string };
        if (msg.type === 'hello') {
          if (BigInt(msg.head) > this.headSeen) this.headSeen = BigInt(msg.head);
          return;
        }
        const seq = BigInt(msg.seq);
        if (seq !== expect) return; // already handled (a reconnect raced a late message)
        expect = seq + 1n;
        if (expect > this.headSeen) this.headSeen = expect;
        chain = chain.then(() => onBatch(msg)).catch((e: Error) => {
          onError(e);
          ws.terminate();
        });
      });
      ws.on('error', () => { /* the close handler reconnects */ });
      ws.on('close', () => {
        if (this.ws === ws) this.ws = null;
        // Let queued handlers finish, then resume from the persisted cursor.
        void chain.then(() => setTimeout(connect, this.stopped ? 0 : 250));
      });
    };
    connect();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}


