// What observability costs on central's hot paths, measured in one run:
//   listeners  CPU per settled transaction of the ledger's 'decided' listeners (Prometheus
//              counters and latency histogram; the dashboard's interval collector), fed
//              batches of --batch transactions with real latency arrays;
//   http       GET /v1/health requests per second from autocannon (a child process) against
//              the central API built with and without the metrics plugin, alternated
//              --rounds times so drift on the shared machine hits both alike;
//   scrape     the time and size of one GET /metrics answer.
// Usage: npm run bench:metrics [-- --json] [-- --seconds N --rounds N --batch N]
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { Registry } from 'prom-client';
import { publicKeyOfNative } from '../../protocol/sig.js';
import { sha256 } from '../../protocol/hash.js';
import { nativeVerifier } from '../../protocol/sig.js';
import { Ledger, type DecidedStats } from '../ledger.js';
import { LmdbStore } from '../store_lmdb.js';
import { buildCentralApi } from '../api.js';
import { registerCentralMetrics } from '../metrics.js';
import { IntervalCollector } from '../dashboard/collector.js';
import { createMetricsRegistry } from '../../platform/metrics.js';

const program = new Command()
  .option('--seconds <n>', 'seconds per autocannon run', '5')
  .option('--rounds <n>', 'autocannon runs per variant (alternated)', '2')
  .option('--connections <n>', 'autocannon connections', '10')
  .option('--batch <n>', 'transactions per synthetic commit for the listener figures', '2000')
  .option('--json', 'print one JSON object');
program.parse();
const o = program.opts<{ seconds: string; rounds: string; connections: string; batch: string; json?: boolean }>();

function listenerNsPerTx(attach: (ledger: Ledger) => void, ledger: Ledger, batchTx: number): number {
  attach(ledger);
  const latencies = Float64Array.from({ length: batchTx }, (_, i) => 0.5 + (i % 97) * 0.7);
  const stats = (): DecidedStats => ({
    batchTxCount: batchTx, settledTransfer: batchTx - 2, settledIssue: 0, settledRedeem: 0,
    rejected: new Map([['CBDC_ERR_DOUBLE_SPEND', 2]]), latencyMs: latencies.subarray(0, batchTx - 2),
  });
  // Warm up, then time enough batches for a stable figure.
  for (let i = 0; i < 200; i++) ledger.emit('decided', stats());
  const batches = Math.max(200, Math.ceil(4_000_000 / batchTx));
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) ledger.emit('decided', stats());
  const ms = performance.now() - t0;
  ledger.removeAllListeners('decided');
  return (ms * 1e6) / (batches * batchTx);
}

function autocannon(url: string, seconds: number, connections: number): Promise<number> {
  const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, '-j', '-c', String(connections), '-d', String(seconds), url], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      resolve((JSON.parse(stdout) as { requests: { average: number } }).requests.average);
    });
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'cbdc-metrics-bench-'));
try {
  const store = new LmdbStore({ path: path.join(dir, 'ledger.mdb'), durability: 'nosync' });
  const operatorPublicKey = publicKeyOfNative(sha256(Buffer.from('metrics-bench-operator')));
  const ledger = new Ledger(store, { network: 'bench', operatorPublicKey, pool: null });
  const batchTx = Number(o.batch);

  const promNs = listenerNsPerTx((l) => registerCentralMetrics(new Registry(), { ledger: l, store }), ledger, batchTx);
  const collectorNs = listenerNsPerTx((l) => { const c = new IntervalCollector(); l.on('decided', c.onDecided); }, ledger, batchTx);

  const common = { ledger, store, network: 'bench', operatorPublicKey, verifier: nativeVerifier, verification: 'full' as const };
  const metrics = createMetricsRegistry();
  registerCentralMetrics(metrics, { ledger, store });
  const plain = await buildCentralApi(common);
  const instrumented = await buildCentralApi({ ...common, metrics });
  const plainUrl = await plain.listen({ host: '127.0.0.1', port: 0 });
  const instrumentedUrl = await instrumented.listen({ host: '127.0.0.1', port: 0 });
  const runs: { plain: number[]; metrics: number[] } = { plain: [], metrics: [] };
  for (let r = 0; r < Number(o.rounds); r++) {
    runs.plain.push(await autocannon(`${plainUrl}/v1/health`, Number(o.seconds), Number(o.connections)));
    runs.metrics.push(await autocannon(`${instrumentedUrl}/v1/health`, Number(o.seconds), Number(o.connections)));
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

  const scrapeMs: number[] = [];
  let scrapeBytes = 0;
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const res = await fetch(`${instrumentedUrl}/metrics`);
    scrapeBytes = (await res.text()).length;
    scrapeMs.push(performance.now() - t0);
  }
  scrapeMs.sort((a, b) => a - b);
  await plain.close();
  await instrumented.close();
  await ledger.drain();
  await store.close();

  const result = {
    listener_prometheus_ns_per_tx: Math.round(promNs * 10) / 10,
    listener_dashboard_ns_per_tx: Math.round(collectorNs * 10) / 10,
    health_req_per_s_plain: Math.round(mean(runs.plain)),
    health_req_per_s_metrics: Math.round(mean(runs.metrics)),
    health_ratio_metrics_to_plain: Math.round((mean(runs.metrics) / mean(runs.plain)) * 1000) / 1000,
    runs,
    scrape_ms_median: Math.round(scrapeMs[scrapeMs.length >> 1]! * 100) / 100,
    scrape_bytes: scrapeBytes,
    /** The 1-minute load average at the end: above the core count, other work shared the machine and the HTTP figures are noise. */
    load_average_1m: Math.round(loadavg()[0]! * 100) / 100,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    process.stdout.write([
      `'decided' listeners, per settled transaction (batches of ${batchTx}):`,
      `  Prometheus counters + latency histogram   ${result.listener_prometheus_ns_per_tx} ns`,
      `  dashboard interval collector              ${result.listener_dashboard_ns_per_tx} ns`,
      `GET /v1/health, autocannon -c ${o.connections} -d ${o.seconds}, ${o.rounds} rounds alternated:`,
      `  without metrics plugin   ${result.health_req_per_s_plain} req/s   (${runs.plain.map(Math.round).join(', ')})`,
      `  with metrics plugin      ${result.health_req_per_s_metrics} req/s   (${runs.metrics.map(Math.round).join(', ')})`,
      `  ratio                    ${result.health_ratio_metrics_to_plain}`,
      `GET /metrics: median ${result.scrape_ms_median} ms, ${result.scrape_bytes} bytes`,
      `load average (1 min) at the end: ${result.load_average_1m}`,
    ].join('\n') + '\n');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
