// The settled-output event stream over ws. A subscriber names the batch sequence to start
// from (?from=N) and receives every committed, durable batch from there in order, then live
// ones as they settle: after a disconnect it resumes from the last sequence it saw, and
// nothing is missed. The store is the source of truth; the ledger's 'batch' event only wakes
// subscribers, so a slow subscriber falls behind and catches up rather than dropping events.
import type { FastifyInstance, preValidationAsyncHookHandler } from 'fastify';
import type { WebSocket } from 'ws';
import { Type } from '@fastify/type-provider-typebox';
import { CbdcError } from '../protocol/errors.js';
import { formatAmountFen } from '../protocol/amount.js';
import { decodeLockTrusted, lockToJson } from '../protocol/lock.js';
import { U64 } from '../protocol/json_schemas.js';
import type { Ledger } from './ledger.js';
import type { BatchRecord, LedgerStore } from './store.js';

/** Subscribers at once. */
export const EVENT_SUBSCRIBERS_MAX = 10_000;
/** Bytes queued to one subscriber before the stream waits for it to drain. */
export const EVENT_BUFFER_BYTES_MAX = 4 * 1024 * 1024;
/** Batches read from the store per step. */
const READ_BATCHES_MAX = 64;
/** Serialized events of the newest batches kept for every subscriber to send: at most this many... */
export const EVENT_CACHE_BATCHES_MAX = 256;
/** ...and at most this many characters of JSON text (ASCII: a byte each; a large batch's event is megabytes). */
export const EVENT_CACHE_BYTES_MAX = 32 * 1024 * 1024;

/**
 * The JSON text of recent batch events by sequence, oldest out first: subscribers at the live
 * head (every bank, the dashboard) send the same text, read and serialized once, not once each.
 * A batch's event never changes once durable, so a cached text is final.
 */
export class EventTextCache {
  private readonly texts = new Map<bigint, string>();
  private bytes = 0;
  constructor(readonly batchesMax = EVENT_CACHE_BATCHES_MAX, readonly bytesMax = EVENT_CACHE_BYTES_MAX) {}

  get(seq: bigint): string | undefined {
    return this.texts.get(seq);
  }

  /** Keeps `text` for `seq` (unless it alone is over the size bound) and returns it. */
  put(seq: bigint, text: string): string {
    if (text.length > this.bytesMax || this.texts.has(seq)) return text;
    this.texts.set(seq, text);
    this.bytes += text.length;
    // A Map iterates in insertion order: the first is the oldest.
    while (this.texts.size > this.batchesMax || this.bytes > this.bytesMax) {
      const [oldSeq, oldText] = this.texts.entries().next().value as [bigint, string];
      this.texts.delete(oldSeq);
      this.bytes -= oldText.length;
    }
    return text;
  }

  get size(): number {
    return this.texts.size;
  }
}

export function batchEventJson(store: LedgerStore, b: BatchRecord): Record<string, unknown> {
  const outputs = store.readOutputs(b.firstPos, b.outputCount);
  let at = 0;
  return {
    type: 'batch',
    seq: b.seq.toString(),
    time_ms: b.timeMs,
    txs: b.txs.map((t) => {
      const outs = outputs.slice(at, at + t.outputCount);
      at += t.outputCount;
      return {
        txid: t.txid.toString('hex'),
        kind: t.kind,
        ...(t.intermediary ? { intermediary: t.intermediary } : {}),
        spent: t.inputs.map((p) => p.toString()),
        // lock_hex: the lock's canonical bytes, which a bank looks up as they are (no parse).
        outputs: outs.map((o) => ({
          pos: o.pos.toString(), id: o.id.toString('hex'), value: formatAmountFen(o.value),
          lock: lockToJson(decodeLockTrusted(o.lockBytes)), lock_hex: o.lockBytes.toString('hex'),
        })),
      };
    }),
  };
}

export function registerEventStream(
  app: FastifyInstance,
  o: { ledger: Ledger; store: LedgerStore; preValidation: preValidationAsyncHookHandler },
): void {
  let subscribers = 0;
  const cache = new EventTextCache();
  // One 'batch' listener per subscriber, bounded by EVENT_SUBSCRIBERS_MAX: not a leak.
  o.ledger.setMaxListeners(o.ledger.getMaxListeners() + EVENT_SUBSCRIBERS_MAX);
  app.route({
    method: 'GET',
    url: '/v1/events',
    preValidation: o.preValidation,
    schema: { querystring: Type.Object({ from: Type.Optional(U64) }, { additionalProperties: false }) },
    wsHandler: (socket: WebSocket, req) => {
      if (subscribers >= EVENT_SUBSCRIBERS_MAX) {
        socket.close(1013, 'too many subscribers');
        return;
      }
      subscribers++;
      let next = BigInt((req.query as { from?: string }).from ?? '0');
      let busy = false;
      let again = false;
      let timer: NodeJS.Timeout | null = null;

      const pump = (): void => {
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        try {
          do {
            again = false;
            while (socket.readyState === socket.OPEN && next < o.ledger.durableBatchCount) {
              if (socket.bufferedAmount > EVENT_BUFFER_BYTES_MAX) {
                timer ??= setTimeout(() => { timer = null; pump(); }, 25);
                return;
              }
              const cached = cache.get(next);
              if (cached !== undefined) {
                socket.send(cached);
                next += 1n;
                continue;
              }
              const batches = o.store.readBatches(next, READ_BATCHES_MAX).filter((b) => b.seq < o.ledger.durableBatchCount);
              if (batches.length === 0) break;
              for (const b of batches) {
                socket.send(cache.get(b.seq) ?? cache.put(b.seq, JSON.stringify(batchEventJson(o.store, b))));
                next = b.seq + 1n;
              }
            }
          } while (again);
        } finally {
          busy = false;
        }
      };
      o.ledger.on('batch', pump);
      socket.on('close', () => {
        subscribers--;
        o.ledger.off('batch', pump);
        if (timer) clearTimeout(timer);
      });
      socket.on('message', () => { /* the stream is one-way; client messages are ignored */ });
      socket.send(JSON.stringify({ type: 'hello', from: next.toString(), head: o.ledger.durableBatchCount.toString() }));
      pump();
    },
    // A plain GET (no upgrade) gets a coded refusal; `websocket: true` would answer an empty 404.
    handler: async () => {
      throw new CbdcError('CBDC_ERR_NOT_FOUND', 'the event stream is served over websocket only: send an upgrade request');
    },
  });
}
