// The HTML report: one self-contained page (uPlot's script and styles inlined, the data
// embedded) with throughput over time, latency percentiles, accepted vs rejected, and each
// process's CPU and memory over the run. It opens from disk with no network.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { LoadReport } from './report_json.js';
import type { SecondFigures } from './runner.js';

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('uplot/package.json'));
  return {
    js: readFileSync(path.join(dir, 'dist', 'uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(path.join(dir, 'dist', 'uPlot.min.css'), 'utf8'),
  };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Series aligned on one x axis, as uPlot wants them: [xs, ys1, ys2, ...]. */
export function plotData(r: LoadReport): Record<string, unknown> {
  const tl = r.timeline;
  const xs = tl.map((s) => s.t);
  let accAcc = 0;
  let accRej = 0;
  const cumAcc: number[] = [];
  const cumRej: number[] = [];
  for (const s of tl) {
    accAcc += s.accepted;
    accRej += s.rejected;
    cumAcc.push(accAcc);
    cumRej.push(accRej);
  }
  const names = Object.keys(r.processes);
  const times = [...new Set(names.flatMap((n) => r.processes[n]!.map((p) => p.t)))].sort((a, b) => a - b);
  const at = (n: string, key: 'cpu' | 'rssMb'): (number | null)[] => {
    const m = new Map(r.processes[n]!.map((p) => [p.t, p[key]]));
    return times.map((t) => m.get(t) ?? null);
  };
  // Settled per second by kind, on one axis: the main timeline's kind, then each run beside it.
  const sideKinds = Object.entries(r.timeline_by_kind ?? {});
  const mainKind = r.results.target === 'e2e' ? 'key' : 'all';
  const kindSeconds = [...new Set([...xs, ...sideKinds.flatMap(([, t]) => t.map((s) => s.t))])].sort((a, b) => a - b);
  const settledAt = (t: SecondFigures[]): (number | null)[] => {
    const m = new Map(t.map((s) => [s.t, s.accepted]));
    return kindSeconds.map((x) => m.get(x) ?? 0);
  };
  return {
    throughput: [xs, tl.map((s) => s.accepted), tl.map((s) => s.rejected), tl.map((s) => s.errors)],
    byKind: [kindSeconds, settledAt(tl), ...sideKinds.map(([, t]) => settledAt(t))],
    kindNames: [mainKind, ...sideKinds.map(([k]) => k)],
    latency: [xs, tl.map((s) => s.p50_ms), tl.map((s) => s.p90_ms), tl.map((s) => s.p99_ms), tl.map((s) => s.p999_ms)],
    cumulative: [xs, cumAcc, cumRej],
    cpu: [times, ...names.map((n) => at(n, 'cpu')), othersAt(r, times)],
    rss: [times, ...names.map((n) => at(n, 'rssMb'))],
    processNames: names,
  };
}

/** Cores other processes on the machine used, on the same time axis (nearest sample). */
function othersAt(r: LoadReport, times: number[]): (number | null)[] {
  const m = new Map(r.other_processes.map((o) => [o.t, o.cores]));
  return times.map((t) => m.get(t) ?? null);
}

export function renderHtml(r: LoadReport): string {
  const { js, css } = uplotAssets();
  const x = r.results;
  const unit = x.unit;
  const rows = (pairs: [string, unknown][]): string => pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join('');
  const settings = Object.entries(r.settings).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : v] as [string, unknown]);
  const mix = Object.entries(r.results.by_kind).map(([kind, f]) => `<tr><td>${esc(kind)}</td><td>${f.sent}</td><td>${f.settled}</td><td>${f.refused}</td><td>${f.settled_per_s}</td><td>${f.seconds}</td></tr>` +
    // Contract payments per contract service, beneath their row.
    Object.entries(f.contract_kinds ?? {}).map(([ck, c]) => `<tr><td>&nbsp;&nbsp;${esc(kind)}/${esc(ck)}</td><td>${c.sent}</td><td>${c.settled}${c.released !== undefined ? ` (${c.released} released, ${c.refunded} refunded)` : ''}</td><td></td><td></td><td></td></tr>`).join('')).join('');
  const checks = r.conservation.checks.map((c) => `<tr class="${c.ok ? 'ok' : 'fail'}"><td>${c.ok ? 'ok' : 'FAILED'}</td><td>${esc(c.name)}</td><td>${esc(c.detail)}</td></tr>`).join('');
  const procs = Object.entries(r.process_summary).map(([n, s]) => `<tr><th>${esc(n)}</th><td>${s.cpu_cores_mean} cores</td><td>${s.rss_mb_max} MB</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Load test: ${esc(x.target)} ${esc(r.settings.verification)}, ${x.accepted_per_s} ${esc(unit)}/s</title>
<style>${css}</style>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
tr.fail td{color:#b00020;font-weight:bold}tr.ok td:first-child{color:#137333}
.verdict{font-size:18px;font-weight:bold}.pass{color:#137333}.failed{color:#b00020}
.plot{margin:12px 0 24px}
</style></head><body>
<h1>Load test: ${esc(x.target)} path, ${esc(r.settings.verification)} verification</h1>
<p>${esc(r.started_at)} · ${esc(r.command)}</p>
<p class="verdict ${r.conservation.ok ? 'pass' : 'failed'}">Conservation check ${r.conservation.ok ? 'passed' : 'FAILED'}</p>
<table>${rows([
    [`accepted ${unit}/s`, x.accepted_per_s], [`answered ${unit}/s`, x.answered_per_s], ['timed seconds', x.seconds],
    ['warm-up seconds before them (in the timeline and the totals, not in the rate or latency)', r.settings.warmupS],
    ['accepted', x.accepted], ['rejected', x.rejected], ['errors', x.errors], ['rejected by code', JSON.stringify(x.rejected_by_code)],
    ['latency p50 / p90 / p99 / p99.9 / max (ms)', `${x.latency.p50_ms} / ${x.latency.p90_ms} / ${x.latency.p99_ms} / ${x.latency.p999_ms} / ${x.latency.max_ms}`],
    ['HTTP requests sent / answered', `${x.autocannon.requests_sent} / ${x.autocannon.responses} (${x.autocannon.req_per_s_mean} req/s)`],
    ['workload ran out at', x.exhausted_at_s === null ? 'no' : `${x.exhausted_at_s.toFixed(1)} s`],
    ['machine', `${r.machine.cpus} × ${r.machine.cpu_model}, Node ${r.machine.node}; other processes ${r.machine.other_processes_cores_mean} cores on average`],
  ])}</table>
<h2>Throughput over time (${esc(unit)} per second)</h2><div class="plot" id="p-throughput"></div>
${r.timeline_by_kind === undefined ? '' : `<h2>Settled per second, by kind</h2><div class="plot" id="p-kinds"></div>`}
<h2>Latency percentiles per second (ms)</h2><div class="plot" id="p-latency"></div>
<h2>Accepted vs rejected (cumulative)</h2><div class="plot" id="p-cumulative"></div>
<h2>CPU of each process (cores)</h2><div class="plot" id="p-cpu"></div>
<h2>Memory of each process (RSS, MB)</h2><div class="plot" id="p-rss"></div>
<h2>Processes</h2><table><tr><th>process</th><th>mean CPU</th><th>max RSS</th></tr>${procs}</table>
<h2>The mix</h2><table><tr><th>kind</th><th>sent</th><th>settled</th><th>refused</th><th>settled per s</th><th>over s</th></tr>${mix}</table>
<h2>Conservation</h2><table>${checks}</table>
<h2>Settings</h2><table>${rows(settings)}</table>
<script>${js}</script>
<script id="plot-data" type="application/json">${scriptJson(plotData(r))}</script>
<script>
(function () {
  var d = JSON.parse(document.getElementById('plot-data').textContent);
  var colors = ['#1a73e8', '#d93025', '#f9ab00', '#188038', '#9334e6', '#e8710a', '#12b5cb', '#5f6368'];
  var width = Math.min(1150, window.innerWidth - 60);
  function plot(id, data, names, yLabel) {
    var series = [{ label: 's' }];
    for (var i = 0; i < names.length; i++) series.push({ label: names[i], stroke: colors[i % colors.length], width: 2, spanGaps: true });
    new uPlot({ width: width, height: 260, series: series, scales: { x: { time: false } },
      axes: [{ label: 'seconds' }, { label: yLabel }] }, data, document.getElementById(id));
  }
  plot('p-throughput', d.throughput, ['accepted', 'rejected', 'errors'], ${scriptJson(unit)} + '/s');
  if (document.getElementById('p-kinds')) plot('p-kinds', d.byKind, d.kindNames, 'settled/s');
  plot('p-latency', d.latency, ['p50', 'p90', 'p99', 'p99.9'], 'ms');
  plot('p-cumulative', d.cumulative, ['accepted', 'rejected'], ${scriptJson(unit)});
  plot('p-cpu', d.cpu, d.processNames.concat(['other processes']), 'cores');
  plot('p-rss', d.rss, d.processNames, 'MB');
})();
</script>
</body></html>
`;
}

export function writeHtmlReport(dir: string, base: string, r: LoadReport): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${base}.html`);
  writeFileSync(file, renderHtml(r));
  return file;
}
