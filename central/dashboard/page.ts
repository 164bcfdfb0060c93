// The dashboard page: HTML, stylesheet and script, served from this node only (no external
// host, no inline script or style, so a strict Content-Security-Policy holds). The script
// follows /dashboard/feed and draws the rate and latency charts with uPlot. Amounts arrive
// as decimal fen strings and are formatted as yuan with string operations, never floats.

export const DASHBOARD_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CBDC central bank: live</title>
<link rel="icon" href="/dashboard/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/uplot.css">
<link rel="stylesheet" href="/dashboard/style.css">
</head>
<body>
<header>
  <h1>Central bank ledger <span id="network"></span></h1>
  <span id="status" class="status down">connecting</span>
</header>
<section class="figures">
  <div class="figure"><h2>In circulation</h2><p><span id="supply-unspent">-</span> <small>yuan</small></p>
    <p class="sub">issued <span id="supply-issued">-</span> · redeemed <span id="supply-redeemed">-</span></p></div>
  <div class="figure"><h2>Settled / s</h2><p id="tps">-</p><p class="sub">total <span id="settled-total">0</span> · refused <span id="rejected-total">0</span></p></div>
  <div class="figure"><h2>Latency p50</h2><p><span id="p50">-</span> <small>ms</small></p><p class="sub">p99 <span id="p99">-</span> ms · max <span id="latency-max">-</span> ms</p></div>
  <div class="figure"><h2>Queue</h2><p id="queue">-</p><p class="sub">batches <span id="batches">-</span> · outputs <span id="outputs">-</span></p></div>
</section>
<section class="charts">
  <div><h2>Settled transactions per second</h2><div id="chart-tps"></div></div>
  <div><h2>Settlement latency (ms)</h2><div id="chart-latency"></div></div>
</section>
<section class="tables">
  <div><h2>Issuance per bank</h2>
    <table id="banks"><thead><tr><th>bank</th><th class="num">issued</th><th class="num">redeemed</th><th class="num">outstanding</th></tr></thead><tbody></tbody></table></div>
  <div><h2>Recent settlements</h2>
    <table id="recent"><thead><tr><th class="num">batch</th><th>time</th><th>kind</th><th>bank</th><th>txid</th><th class="num">value</th></tr></thead><tbody></tbody></table></div>
</section>
<script src="/dashboard/uplot.js"></script>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;

export const DASHBOARD_ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1f6feb"/></svg>
`;

export const DASHBOARD_CSS = `
body { font-family: system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1b1f24; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.3rem; }
h2 { font-size: 0.85rem; font-weight: 600; color: #555; margin: 0 0 0.4rem; text-transform: uppercase; letter-spacing: 0.03em; }
.status { font-size: 0.8rem; padding: 0.1rem 0.5rem; border-radius: 0.6rem; }
.status.up { background: #d5f5dd; color: #125a25; }
.status.down { background: #fbe0e0; color: #7a1616; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: 1rem; }
.figure, .charts > div, .tables > div { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 0.8rem 1rem; }
.figure p { margin: 0; font-size: 1.7rem; font-variant-numeric: tabular-nums; }
.figure p.sub { font-size: 0.8rem; color: #666; margin-top: 0.3rem; }
.charts, .tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: 1rem; margin-top: 1rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #eceef1; }
td.num, th.num { text-align: right; }
td.mono { font-family: ui-monospace, monospace; }
`;

// Browser code (ES2020, no modules): kept small and dependency-free besides uPlot.
export const DASHBOARD_JS = `'use strict';
(function () {
  var HISTORY_POINTS_MAX = 300;
  var $ = function (id) { return document.getElementById(id); };
  var set = function (id, text) { var e = $(id); if (e.textContent !== text) e.textContent = text; };

  // "123456" fen -> "1,234.56" (string arithmetic only).
  function yuan(fen) {
    var neg = fen.charAt(0) === '-';
    var s = neg ? fen.slice(1) : fen;
    while (s.length < 3) s = '0' + s;
    var whole = s.slice(0, -2).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ',');
    return (neg ? '-' : '') + whole + '.' + s.slice(-2);
  }
  function grouped(n) { return String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ','); }
  function ms(v) { return v === null || v === undefined ? '-' : (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)); }
  function clock(t) { var d = new Date(t); return d.toLocaleTimeString([], { hour12: false }); }

  var times = [], tps = [], p50 = [], p99 = [];
  function chart(el, series) {
    if (typeof uPlot !== 'function') return null;
    var width = Math.max(el.clientWidth || 400, 300);
    return new uPlot({ width: width, height: 200, series: series, axes: [{}, {}], scales: { x: { time: true } } }, [[], [], []].slice(0, series.length), el);
  }
  var tpsChart = chart($('chart-tps'), [{}, { label: 'settled/s', stroke: '#1f6feb', width: 2 }]);
  var latChart = chart($('chart-latency'), [{}, { label: 'p50', stroke: '#2da44e', width: 2 }, { label: 'p99', stroke: '#cf222e', width: 2 }]);
  function push(t, rate, l) {
    times.push(t / 1000); tps.push(rate); p50.push(l ? l.p50 : null); p99.push(l ? l.p99 : null);
    if (times.length > HISTORY_POINTS_MAX) { times.shift(); tps.shift(); p50.shift(); p99.shift(); }
  }
  function redraw() {
    if (tpsChart) tpsChart.setData([times, tps]);
    if (latChart) latChart.setData([times, p50, p99]);
  }

  function cell(tr, text, cls) { var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }
  function fill(tbodySelector, rows, render) {
    var tbody = document.querySelector(tbodySelector);
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { var tr = document.createElement('tr'); render(tr, r); frag.appendChild(tr); });
    tbody.replaceChildren(frag);
  }

  function onTick(m) {
    document.body.dataset.tick = String(m.seq);
    set('tps', m.settled_per_s.toFixed(1));
    set('settled-total', grouped(m.settled_total));
    set('rejected-total', grouped(m.rejected_total));
    set('p50', ms(m.latency_ms && m.latency_ms.p50));
    set('p99', ms(m.latency_ms && m.latency_ms.p99));
    set('latency-max', ms(m.latency_ms && m.latency_ms.max));
    set('queue', grouped(m.queue_tx));
    if (m.supply) {
      set('supply-unspent', yuan(m.supply.unspent_fen));
      set('supply-issued', yuan(m.supply.issued_fen));
      set('supply-redeemed', yuan(m.supply.redeemed_fen));
      set('batches', grouped(m.supply.batches));
      set('outputs', grouped(m.supply.outputs));
    }
    if (m.banks) fill('#banks tbody', m.banks, function (tr, b) {
      cell(tr, b.id); cell(tr, yuan(b.issued_fen), 'num'); cell(tr, yuan(b.redeemed_fen), 'num'); cell(tr, yuan(b.outstanding_fen), 'num');
    });
    if (m.recent) fill('#recent tbody', m.recent, function (tr, r) {
      cell(tr, r.batch, 'num'); cell(tr, clock(r.time_ms)); cell(tr, r.kind); cell(tr, r.intermediary || ''); cell(tr, r.txid.slice(0, 16) + '…', 'mono'); cell(tr, yuan(r.value_fen), 'num');
    });
    push(m.time_ms, m.settled_per_s, m.latency_ms);
    redraw();
  }

  var retryMs = 500;
  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/dashboard/feed');
    ws.onopen = function () { retryMs = 500; var s = $('status'); s.textContent = 'live'; s.className = 'status up'; };
    ws.onmessage = function (ev) {
      var m = JSON.parse(ev.data);
      if (m.type === 'hello') {
        set('network', m.network);
        times = []; tps = []; p50 = []; p99 = [];
        m.history.forEach(function (h) { push(h.time_ms, h.settled_per_s, h.latency_ms); });
        redraw();
      } else if (m.type === 'tick') onTick(m);
    };
    ws.onclose = function () {
      var s = $('status'); s.textContent = 'reconnecting'; s.className = 'status down';
      setTimeout(connect, retryMs); retryMs = Math.min(retryMs * 2, 10000);
    };
  }
  connect();
})();
`;
