// A short real load test of each path (central processes on free ports, autocannon, the
// conservation check): the command exits 0, the JSON report carries every figure and the
// settings, its conservation check passed with every invalid transaction refused, every kind
// of the mix (central: key, multi and policy locks; e2e: payments, contract payments of both
// kinds (hash locks and escrows) and offline vouchers, the uploads paced by --rate) settled and
// checked on its own, a warm-up kept out of the window, and the HTML page holds uPlot and the
// plots' data. No throughput is asserted.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'loadtest', 'cli.js');
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cbdc-loadtest-report-'));
  dirs.push(dir);
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--report-dir', dir, '--no-progress', '--quiet'], { cwd: ROOT, timeout: 280_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      resolve({ code, stdout, stderr, dir });
    });
  });
}

interface Report {
  settings: Record<string, unknown>;
  results: Record<string, unknown> & {
    latency: Record<string, unknown>; accepted: number; rejected: number; rejected_by_code: Record<string, number>;
    by_kind: Record<string, {
      sent: number; settled: number; refused: number; settled_per_s: number; seconds: number; duplicates?: number; uploads?: number; vouchers?: number;
      contract_kinds?: Record<string, { sent: number; settled: number; released?: number; refunded?: number }>;
    }>;
  };
  timeline: unknown[];
  timeline_by_kind?: Record<string, { t: number; accepted: number }[]>;
  processes: Record<string, unknown[]>;
  process_summary: Record<string, unknown>;
  conservation: { ok: boolean; checks: { name: string; ok: boolean }[]; counts: Record<string, number> };
  machine: Record<string, unknown>;
}

function reportOf(dir: string): { json: Report; html: string } {
  const files = readdirSync(dir);
  const j = files.find((f) => f.endsWith('.json'))!;
  const h = files.find((f) => f.endsWith('.html'))!;
  expect(j).toBeTruthy();
  expect(h).toBeTruthy();
  return { json: JSON.parse(readFileSync(path.join(dir, j), 'utf8')) as Report, html: readFileSync(path.join(dir, h), 'utf8') };
}

function commonChecks(r: Report, html: string, target: string): void {
  for (const key of ['target', 'unit', 'seconds', 'accepted_per_s', 'answered_per_s', 'sent', 'accepted', 'rejected', 'errors', 'rejected_by_code', 'latency', 'autocannon']) {
    expect(r.results).toHaveProperty(key);
  }
  for (const key of ['p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'max_ms']) expect(typeof r.results.latency[key]).toBe('number');
  for (const key of ['target', 'wallets', 'banks', 'inputs', 'outputs', 'invalid', 'durationS', 'connections', 'batch', 'verification', 'seed']) {
    expect(r.settings).toHaveProperty(key);
  }
  expect(r.results.target).toBe(target);
  expect(r.results.accepted).toBeGreaterThan(0);
  expect(r.timeline.length).toBeGreaterThan(0);
  expect(Object.keys(r.processes)).toEqual(expect.arrayContaining(['loadgen', 'central']));
  expect(r.conservation.ok).toBe(true);
  expect(r.conservation.checks.length).toBeGreaterThan(5);
  for (const c of r.conservation.checks) expect(c.ok).toBe(true);
  // The page: uPlot inlined, every plot's container, the data it draws.
  expect(html).toContain('uPlot');
  for (const id of ['p-throughput', 'p-latency', 'p-cumulative', 'p-cpu', 'p-rss']) expect(html).toContain(`id="${id}"`);
  const data = /<script id="plot-data" type="application\/json">(.*?)<\/script>/s.exec(html);
  expect(data).not.toBeNull();
  const d = JSON.parse(data![1]!) as { throughput: number[][]; latency: unknown[][]; cpu: unknown[][]; rss: unknown[][] };
  expect(d.throughput[0]!.length).toBe(r.timeline.length);
  expect(d.throughput[1]!.reduce((s, x) => s + x, 0)).toBe(r.results.accepted);
  expect(d.cpu.length).toBeGreaterThan(2);
  expect(html).not.toMatch(/<script[^>]+src=/);
}

describe('npm run loadtest, a few seconds of each path', () => {
  it('e2e payments, contract payments (hash locks, escrows, prepaid funds) and paced offline vouchers, central batches of key, multi and policy locks: reports written, conservation passed, every invalid refused', async () => {
    const [e2e, central, unpaced] = await Promise.all([
      runCli(['--target', 'e2e', '--duration', '3', '--wallets', '12', '--banks', '2', '--transactions', '400', '--connections', '4', '--invalid', '0.05', '--rate', '60', '--mix', 'key=0.7,contract=0.1,offline=0.2']),
      runCli(['--target', 'central', '--duration', '3', '--wallets', '20', '--transactions', '3000', '--batch', '50', '--connections', '2', '--invalid', '0.04', '--mix', 'key=0.4,multi=0.3,policy=0.3', '--rate', '600', '--warmup', '1']),
      // No --rate, one bank, escrows and prepaid funds: every kind as fast as it is answered, every offline pair uploaded.
      runCli(['--target', 'e2e', '--duration', '2', '--wallets', '9', '--banks', '1', '--cross-bank', '0', '--transactions', '150', '--connections', '2', '--invalid', '0',
        '--mix', 'key=0.4,contract=0.4,offline=0.2', '--contract-kinds', 'escrow=1,prepaid=1', '--seed', 'escrows-unpaced']),
    ]);
    expect(e2e.code, e2e.stderr).toBe(0);
    expect(central.code, central.stderr).toBe(0);
    expect(e2e.stdout).toContain('conservation: PASSED');

    const a = reportOf(e2e.dir);
    commonChecks(a.json, a.html, 'e2e');
    expect(a.json.results.unit).toBe('payments');
    expect(Object.keys(a.json.processes)).toEqual(expect.arrayContaining(['bank-a', 'bank-b']));
    // Every bad-signature payment sent was refused by its bank with the signature code.
    const c = a.json.conservation.counts;
    expect(c.bad_signature_settled).toBe(0);
    expect(c.bad_signature_refused).toBe(c.bad_signature_sent);
    if (c.bad_signature_sent! > 0) expect(a.json.results.rejected_by_code.CBDC_ERR_BAD_SIGNATURE).toBe(c.bad_signature_sent);
    expect(c.replays_answered_same).toBe(c.replays);
    // Offline: 80 vouchers made card to card in setup, in a pair of 50 and a pair of 30. Paced
    // at the offline share of --rate (12 vouchers/s), the first pair's slot starts at 0 s and the
    // second's at 4.17 s, after the 3 s window: only the first pair is uploaded, by payer and
    // payee, each of its vouchers settled once; the second pair's stay on the cards.
    const off = a.json.results.by_kind.offline!;
    expect(off).toMatchObject({ sent: 50, settled: 50, refused: 0, duplicates: 50, uploads: 2, vouchers: 80 });
    expect(c.offline_settled_once).toBe(50);
    expect(c.offline_settled_more).toBe(0);
    expect(c.offline_pairs_not_uploaded).toBe(1);
    expect(a.json.results.by_kind.key!.settled).toBeGreaterThan(0);
    // Contract payments, hash locks and escrows: created, funded, and claimed with the preimage
    // or resolved by two of buyer, seller and arbiter, each one.
    const con = a.json.results.by_kind.contract!;
    expect(con.settled).toBeGreaterThan(0);
    expect(con.refused).toBe(0);
    expect(c.contracts_ended).toBe(con.settled);
    expect(c.contracts_checked_ok).toBe(c.contracts_checked);
    const ck = con.contract_kinds!;
    expect(ck.hashlock!.settled).toBeGreaterThan(0);
    expect(ck.escrow!.settled).toBeGreaterThan(0);
    expect(ck.hashlock!.settled + ck.escrow!.settled).toBe(con.settled);
    expect(ck.escrow!.released! + ck.escrow!.refunded!).toBe(ck.escrow!.settled);
    const names = a.json.conservation.checks.map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining([
      'offline vouchers: every voucher settled exactly once (uploaded by payer and payee)',
      'contract payments: every one funded once and ended once (hash locks claimed, escrows released or refunded as planned, prepaid funds released unit by unit)',
      'contract payments: the bank shows every sampled ended contract in its planned end, emptied by exactly one settled spend (one per unit for prepaid)',
      'offline devices at the bank: paid, received and held match the payments',
      'offline reserve covers every device (bank-a: GET /v1/bank/offline/check)',
      'offline reserve covers every device (bank-b: GET /v1/bank/offline/check)',
    ]));
    expect(e2e.stdout).toMatch(/offline\s+50 settled/);
    expect(e2e.stdout).toMatch(/contract .*\(hashlock \d+ of \d+; escrow \d+ of \d+: \d+ released, \d+ refunded; prepaid 0 of 0\)/);
    expect(a.html).toContain('<h2>The mix</h2>');
    expect(a.html).toContain('contract/escrow');
    // Contract payments and offline vouchers have their own timelines, on the payments' clock,
    // and their own lines in the plot of settled items per second by kind.
    const conTimeline = a.json.timeline_by_kind?.contract ?? [];
    expect(conTimeline.reduce((s, x) => s + x.accepted, 0)).toBe(con.settled);
    const offTimeline = a.json.timeline_by_kind?.offline ?? [];
    expect(offTimeline.reduce((s, x) => s + x.accepted, 0)).toBe(off.settled);
    expect(a.html).toContain('id="p-kinds"');
    const plotted = JSON.parse(/<script id="plot-data" type="application\/json">(.*?)<\/script>/s.exec(a.html)![1]!) as { byKind: number[][]; kindNames: string[] };
    expect(plotted.kindNames).toEqual(['key', 'contract', 'offline']);
    expect(plotted.byKind[2]!.reduce((s, x) => s + x, 0)).toBe(con.settled);
    expect(plotted.byKind[3]!.reduce((s, x) => s + x, 0)).toBe(off.settled);
    expect(plotted.byKind[1]!.reduce((s, x) => s + x, 0)).toBe(a.json.results.accepted);

    expect(unpaced.code, unpaced.stderr).toBe(0);
    const u = reportOf(unpaced.dir);
    commonChecks(u.json, u.html, 'e2e');
    const uk = u.json.results.by_kind;
    // 30 escrows and 30 prepaid planned: every one started ended as planned (escrows released or
    // refunded, prepaid funds released in two units), no hash lock.
    expect(uk.contract!.contract_kinds!.hashlock).toEqual({ sent: 0, settled: 0 });
    expect(uk.contract!.contract_kinds!.escrow!.settled).toBeGreaterThan(0);
    expect(uk.contract!.contract_kinds!.prepaid!.settled).toBeGreaterThan(0);
    expect(uk.contract!.refused).toBe(0);
    const uc = u.json.conservation.counts;
    // Two units per completed contract, and at most one more for each stopped between its releases.
    expect(uc.prepaid_units_released).toBeGreaterThanOrEqual(2 * uc.prepaid_completed!);
    expect(uc.prepaid_units_released).toBeLessThanOrEqual(2 * uc.prepaid_completed! + uc.contracts_stopped_funded!);
    expect(unpaced.stdout).toContain('conservation: PASSED');
    expect(u.json.conservation.counts.contracts_checked_ok).toBe(u.json.conservation.counts.contracts_checked);
    // 30 vouchers in one pair, uploaded at once without a rate.
    expect(uk.offline).toMatchObject({ sent: 30, settled: 30, duplicates: 30, uploads: 2, vouchers: 30 });
    expect(u.json.conservation.counts.offline_pairs_not_uploaded).toBe(0);

    const b = reportOf(central.dir);
    commonChecks(b.json, b.html, 'central');
    // A 1 s warm-up before the 3 s window: in the timeline, the totals and the conservation
    // check, not in the window's rate.
    expect(b.json.settings.warmupS).toBe(1);
    expect(central.stdout).toContain('after a 1 s warm-up');
    expect(b.json.results.seconds).toBeGreaterThanOrEqual(2.9);
    expect(b.json.results.seconds).toBeLessThan(3.5);
    expect(b.json.timeline.length).toBeGreaterThanOrEqual(4);
    expect((b.json.results.accepted_per_s as number) * (b.json.results.seconds as number)).toBeLessThan(b.json.results.accepted * 0.9);
    expect(b.json.timeline_by_kind).toBeUndefined();
    expect(b.html).not.toContain('id="p-kinds"');
    const cc = b.json.conservation.counts;
    expect(cc.invalid_settled).toBe(0);
    expect(cc.valid_refused).toBe(0);
    // The refusals carry the codes of what was wrong, and nothing else was refused: with policy
    // in the mix, the invalid kinds include a spend before its time lock and a wrong preimage.
    expect(Object.keys(b.json.results.rejected_by_code).sort()).toEqual(['CBDC_ERR_BAD_SIGNATURE', 'CBDC_ERR_DOUBLE_SPEND', 'CBDC_ERR_LOCK_TIMELOCK', 'CBDC_ERR_WITNESS']);
    expect(b.json.results.rejected).toBe(cc.invalid_refused);
    for (const kind of ['key', 'multi', 'policy']) {
      const f = b.json.results.by_kind[kind]!;
      expect(f.settled, kind).toBeGreaterThan(0);
      expect(b.json.conservation.checks.find((x) => x.name === `${kind} transfers: every valid one settled, every invalid one refused`)?.ok, kind).toBe(true);
    }
    expect(b.json.conservation.checks.find((x) => x.name === 'every invalid kind refused with its code')?.ok).toBe(true);
  }, 300_000);

  it('a bad knob exits 2 with a message that names it', async () => {
    const r = await runCli(['--target', 'e2e', '--pipelining', '4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--pipelining must be 1 for --target e2e/);
    const m = await runCli(['--target', 'central', '--mix', 'key=0.5,contract=0.5']);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/--mix contract applies to --target e2e/);
    const o = await runCli(['--target', 'central', '--mix', 'key=0.5,offline=0.5']);
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/--mix offline applies to --target e2e/);
  }, 60_000);
});
