// The live dashboard: GET /dashboard (a page that needs nothing from outside this node) and
// GET /dashboard/feed (ws), which pushes once per interval what the page shows: supply,
// issuance per bank, settled transactions per second, latency p50/p99 over the interval,
// and the most recent settlements. One snapshot per interval is built and sent to every
// viewer; the store is read only while someone watches. Read-only and unauthenticated, like
// GET /v1/supply: serve central's port to the operator's network only (see README).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { Type } from '@fastify/type-provider-typebox';
import { CbdcError } from '../../protocol/errors.js';
import { formatAmountFen } from '../../protocol/amount.js';
import type { Ledger } from '../ledger.js';
import type { BatchRecordTx, LedgerStore } from '../store.js';
import { IntervalCollector, type IntervalFigures } from './collector.js';
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_ICON_SVG, DASHBOARD_JS } from './page.js';

/** Viewers at once. */
export const DASHBOARD_VIEWERS_MAX = 64;
/** Intervals kept for the charts of a viewer who connects (five minutes at one a second). */
export const DASHBOARD_HISTORY_MAX = 300;
/** Settlements listed, and batches read back (newest first) to find them. */
export const DASHBOARD_RECENT_TXS_MAX = 20;
const RECENT_BATCHES_READ_MAX = 8;
/** Banks listed (largest outstanding first). */
export const DASHBOARD_BANKS_MAX = 100;
/** Bytes queued to one viewer before it misses ticks (a slow viewer is skipped, not buffered). */
const VIEWER_BUFFER_BYTES_MAX = 1024 * 1024;

export interface DashboardOptions {
  ledger: Ledger;
  store: LedgerStore;
  network: string;
  /** How often figures are pushed (default one second). */
  intervalMs?: number;
}

interface HistoryPoint {
  time_ms: number;
  settled_per_s: number;
  latency_ms: IntervalFigures['latencyMs'];
}

const requireFromHere = createRequire(import.meta.url);
function uplotAsset(file: string): string {
  return readFileSync(requireFromHere.resolve(`uplot/dist/${file}`), 'utf8');
}

export async function dashboardPlugin(app: FastifyInstance, o: DashboardOptions): Promise<void> {
  const uplotJs = uplotAsset('uPlot.iife.min.js');
  const uplotCss = uplotAsset('uPlot.min.css');
  const collector = new IntervalCollector();
  o.ledger.on('decided', collector.onDecided);
  const history: HistoryPoint[] = [];
  const viewers = new Set<WebSocket>();
  let seq = 0;

  const asset = (url: string, type: string, body: string): void => {
    app.get(url, { schema: { querystring: Type.Object({}, { additionalProperties: false }) } }, async (_req, reply) => reply
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .type(type)
      .send(body));
  };
  asset('/dashboard', 'text/html; charset=utf-8', DASHBOARD_HTML);
  asset('/dashboard/app.js', 'application/javascript; charset=utf-8', DASHBOARD_JS);
  asset('/dashboard/style.css', 'text/css; charset=utf-8', DASHBOARD_CSS);
  asset('/dashboard/icon.svg', 'image/svg+xml', DASHBOARD_ICON_SVG);
  asset('/dashboard/uplot.js', 'application/javascript; charset=utf-8', uplotJs);
  asset('/dashboard/uplot.css', 'text/css; charset=utf-8', uplotCss);

  const recentSettlements = (): Record<string, unknown>[] => {
    const out: Record<string, unknown>[] = [];
    let seqNext = o.ledger.durableBatchCount;
    for (let read = 0; read < RECENT_BATCHES_READ_MAX && seqNext > 0n && out.length < DASHBOARD_RECENT_TXS_MAX; read++) {
      seqNext--;
      const [b] = o.store.readBatches(seqNext, 1);
      if (b === undefined) break;
      for (let i = b.txs.length - 1; i >= 0 && out.length < DASHBOARD_RECENT_TXS_MAX; i--) {
        const t = b.txs[i]!;
        out.push({
          batch: b.seq.toString(), time_ms: b.timeMs, txid: t.txid.toString('hex'), kind: t.kind,
          ...(t.intermediary ? { intermediary: t.intermediary } : {}),
          outputs: t.outputCount, value_fen: formatAmountFen(valueMovedFen(t)),
        });
      }
    }
    return out;
  };

  /** What a settlement moved: its outputs, or for a redemption what it destroyed. */
  const valueMovedFen = (t: BatchRecordTx): bigint => {
    let outFen = 0n;
    for (const out of o.store.readOutputs(t.firstPos, t.outputCount)) outFen += out.value;
    if (t.kind !== 'redeem') return outFen;
    let inFen = 0n;
    for (const pos of t.inputs) inFen += o.store.getOutput(pos)?.value ?? 0n;
    return inFen - outFen;
  };

  const tick = (): void => {
    const f = collector.tick();
    seq++;
    history.push({ time_ms: f.timeMs, settled_per_s: f.settledPerS, latency_ms: f.latencyMs });
    if (history.length > DASHBOARD_HISTORY_MAX) history.shift();
    if (viewers.size === 0) return;
    const s = o.store.supply();
    const banks = o.store.listIntermediaries()
      .sort((a, b) => { const d = (b.issuedFen - b.redeemedFen) - (a.issuedFen - a.redeemedFen); return d > 0n ? 1 : d < 0n ? -1 : a.id < b.id ? -1 : 1; })
      .slice(0, DASHBOARD_BANKS_MAX)
      .map((i) => ({
        id: i.id, issued_fen: formatAmountFen(i.issuedFen), redeemed_fen: formatAmountFen(i.redeemedFen),
        outstanding_fen: formatAmountFen(i.issuedFen - i.redeemedFen),
      }));
    const msg = JSON.stringify({
      type: 'tick', seq, time_ms: f.timeMs, interval_ms: f.intervalMs,
      settled_per_s: f.settledPerS, settled_interval: f.settled, rejected_interval: f.rejected,
      settled_total: collector.settledTotal, rejected_total: collector.rejectedTotal,
      latency_ms: f.latencyMs, queue_tx: o.ledger.queuedTxCount,
      supply: {
        issued_fen: formatAmountFen(s.issuedFen), redeemed_fen: formatAmountFen(s.redeemedFen), unspent_fen: formatAmountFen(s.unspentFen),
        outputs: s.outputCount.toString(), batches: s.batchCount.toString(),
      },
      banks, recent: recentSettlements(),
    });
    for (const v of viewers) if (v.readyState === v.OPEN && v.bufferedAmount < VIEWER_BUFFER_BYTES_MAX) v.send(msg);
  };
  const timer = setInterval(tick, o.intervalMs ?? 1_000);
  timer.unref();

  app.addHook('onClose', async () => {
    clearInterval(timer);
    o.ledger.off('decided', collector.onDecided);
    for (const v of viewers) v.close(1001, 'the node is stopping');
  });

  app.route({
    method: 'GET',
    url: '/dashboard/feed',
    schema: { querystring: Type.Object({}, { additionalProperties: false }) },
    wsHandler: (socket: WebSocket) => {
      if (viewers.size >= DASHBOARD_VIEWERS_MAX) {
        socket.close(1013, 'too many viewers');
        return;
      }
      viewers.add(socket);
      socket.on('close', () => viewers.delete(socket));
      socket.on('message', () => { /* one-way feed */ });
      socket.send(JSON.stringify({ type: 'hello', network: o.network, interval_ms: o.intervalMs ?? 1_000, history }));
    },
    handler: async () => {
      throw new CbdcError('CBDC_ERR_NOT_FOUND', 'the dashboard feed is served over websocket only: send an upgrade request');
    },
  });
}
