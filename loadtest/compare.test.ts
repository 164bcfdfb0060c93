// bench:compare for real (built JavaScript, real processes on free ports), kept short: central
// over HTTP in attested mode, the paced e2e run and fastify's empty route, the ledger core and
// the other two runs skipped. --json prints one object with the figures, ratios and targets the
// issue names, and the same object is written to the report directory.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMPARE = path.join(ROOT, 'dist', 'loadtest', 'compare.js');
const dir = mkdtempSync(path.join(tmpdir(), 'cbdc-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench:compare', () => {
  it('--json prints one object: the figures of the runs it made, null for those skipped, ratios, targets, conservation', async () => {
    const args = [
      COMPARE, '--json', '--duration', '2', '--skip', 'ledger,central_full,e2e,e2e_attested', '--central-transactions', '4000', '--connections', '2',
      '--e2e-connections', '4', '--wallets', '12', '--e2e-rate', '20', '--e2e-warmup', '1', '--floor-signatures', '500', '--report-dir', dir,
    ];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, args, { cwd: ROOT, timeout: 280_000 }, (err, out, errText) => {
        resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null, stdout: out, stderr: errText });
      });
    });
    expect(code, stderr.slice(-2000)).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!) as Record<string, unknown> & { ratios: Record<string, number | null>; targets: Record<string, unknown>; settings: Record<string, unknown> };
    expect(out.central_http_attested_tx_per_s).toBeGreaterThan(0);
    expect(out.fastify_empty_req_per_s).toBeGreaterThan(0);
    // The floor of a payment, from the same empty-route run and the signature costs measured here.
    const floor = (out.runs as { floor: { min_payments_per_s: number; min_cpu_us: number; cores: number; protocol_payments_per_s: number; empty_route: { req_per_s: number }; variants: Record<string, { payments_per_s: number }> } }).floor;
    expect(out.e2e_floor_payments_per_s).toBe(floor.min_payments_per_s);
    expect(floor.min_payments_per_s).toBe(Math.floor((floor.cores * 1e6) / floor.min_cpu_us));
    expect(out.e2e_protocol_floor_payments_per_s).toBe(floor.protocol_payments_per_s);
    expect(floor.protocol_payments_per_s).toBeLessThan(floor.min_payments_per_s);
    // Each relaxation allows more; both together the most.
    expect(floor.variants.presigned!.payments_per_s).toBeGreaterThan(floor.min_payments_per_s);
    expect(floor.variants.both!.payments_per_s).toBeGreaterThan(floor.variants.bank_trusts_connection!.payments_per_s);
    expect(floor.empty_route.req_per_s).toBe(out.fastify_empty_req_per_s);
    // The attested floor: 2 signatures made, 1 checked, 1 request: cheaper than full mode's.
    const attestedFloor = (out.runs as { floor: { attested_payments_per_s: number; attested_cpu_us: number; attested_ops: unknown } }).floor;
    expect(attestedFloor.attested_ops).toEqual({ sign: 2, verify: 1, requests: 1 });
    expect(out.e2e_attested_floor_payments_per_s).toBe(attestedFloor.attested_payments_per_s);
    expect(attestedFloor.attested_payments_per_s).toBeGreaterThan(floor.min_payments_per_s);
    expect(out.ratios.e2e_to_floor).toBeNull();
    expect(out.ratios.e2e_attested_to_floor).toBeNull();
    // Paced at the rate given (without --e2e-rate: 0.8 of what the full-mode e2e run reached).
    expect(out.e2e_paced_rate).toBe(20);
    expect(out.e2e_paced_rate_from).toBe('--e2e-rate');
    expect(typeof out.targets.e2e_paced_p99_met).toBe('boolean');
    expect(out.e2e_paced_payments_per_s).toBeGreaterThan(0);
    expect(out.e2e_paced_p99_ms).toBeGreaterThan(0);
    for (const skipped of ['e2e_payments_per_s', 'e2e_p99_ms', 'e2e_attested_payments_per_s', 'e2e_attested_p99_ms', 'central_http_full_tx_per_s', 'ledger_full_tx_per_s', 'ledger_attested_tx_per_s']) expect(out[skipped], skipped).toBeNull();
    expect(Object.keys(out.ratios)).toEqual(expect.arrayContaining(['central_http_attested_to_ledger_attested', 'e2e_to_central_http_full', 'e2e_requests_to_fastify_empty', 'e2e_to_floor', 'e2e_attested_to_floor', 'e2e_to_opencbdc_best', 'e2e_attested_to_opencbdc_best', 'e2e_to_protocol_floor', 'central_http_attested_to_opencbdc_best']));
    expect(out.targets).toMatchObject({ e2e_to_floor_min: 0.5, e2e_attested_to_floor_min: 0.5, e2e_paced_share: 0.8, e2e_paced_p99_ms_max: 100, e2e_to_opencbdc_best_min: 1 });
    expect(out.opencbdc).toMatchObject({ two_phase_best_tx_per_s: 2250 });
    expect(out.ratios.central_http_attested_to_opencbdc_best).toBeGreaterThan(0);
    expect(out.ratios.e2e_to_central_http_full).toBeNull();
    expect(typeof out.targets.central_http_attested_met).toBe('boolean');
    expect(out.targets.e2e_met).toBeNull();
    expect(out.targets.e2e_attested_met).toBeNull();
    expect(out.conservation_ok).toBe(true);
    expect(out.settings).toMatchObject({ e2e_rate: 20, e2e_warmup_s: 1, central_batch_encoding: 'wire', duration_s: 2, floor_signatures: 500, e2e_connections: 4, floor_connections: 64 });
    // The same object is in the report directory, beside each run's own JSON and HTML reports.
    const files = readdirSync(dir);
    const summary = files.find((f) => f.startsWith('compare-') && f.endsWith('.json'))!;
    expect(JSON.parse(readFileSync(path.join(dir, summary), 'utf8'))).toEqual(out);
    expect(files.filter((f) => f.startsWith('loadtest-') && f.endsWith('.html'))).toHaveLength(2);
  }, 300_000);
});
