// The crash test: central runs as a child process (durability 'sync', then 'overlapping');
// the test drives a steady load of issuance and 2-in/2-out transfers over HTTP with several
// requests in flight, recording every acknowledged transaction, and SIGKILLs the child at
// random moments (seeded PRNG). After every kill the ledger is audited from disk by the CLI;
// after every restart each acknowledged output must be there (same id and value), each
// output the driver spent must be spent, and sum(unspent) == issued - redeemed.
// Requests in flight when the process died may fail; those are simply not acknowledged,
// but a transaction is atomic: its inputs are either all spent or all unspent.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CentralProcess, killAllCentralProcesses } from './helpers/central_process.js';
import { storeUnderTest } from './helpers/store_under_test.js';
import { LoadDriver, sleep } from './helpers/load_driver.js';
// A seeded PRNG, so a failing schedule can be named by its seed.
import { prng } from './helpers/fault_proxy.js';

const NETWORK = 'cbdc-crash';
const KILLS = 10;
const WORKERS = 6;
const SEED = Number(process.env.CBDC_CRASH_SEED ?? 20240611);

const dirs: string[] = [];
afterAll(async () => {
  await killAllCentralProcesses();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function crashRun(durability: 'sync' | 'overlapping', seed: number): Promise<{ acked: number; failed: number; outputs: number; phaseMs: Record<string, number> }> {
  const rand = prng(seed);
  const dir = await mkdtemp(path.join(tmpdir(), `cbdc-crash-${durability}-`));
  dirs.push(dir);
  const proc = new CentralProcess({ dataDir: dir, network: NETWORK, durability, verifyThreads: 1 });
  const d = new LoadDriver(rand, NETWORK, 'crash-bank');
  await proc.start();
  d.operator = proc.operatorKey();
  d.connect(proc.url);
  await d.register();

  const phaseMs = { load: 0, restart: 0, verify: 0 };
  let mark = Date.now();
  const lap = (phase: keyof typeof phaseMs): void => {
    const now = Date.now();
    phaseMs[phase] += now - mark;
    mark = now;
  };
  for (let k = 0; k < KILLS; k++) {
    d.running = true;
    const workers = Array.from({ length: WORKERS }, () => d.worker());
    await sleep(50 + Math.floor(rand() * 350));
    // Kill with requests in flight: no new ones start, those on the wire die with the process.
    d.running = false;
    await proc.kill('SIGKILL');
    await Promise.all(workers);
    lap('load');

    // The state the crash left on disk proves its own supply invariant. The audit reads it
    // while the node starts again on the same data dir (it writes nothing until asked to).
    const [audit] = await Promise.all([proc.audit(), proc.start()]);
    expect(audit, `audit after kill ${k + 1} (seed ${seed})`).toMatchObject({ ok: true, problems: [] });
    expect(BigInt(audit.output_count)).toBeGreaterThanOrEqual(BigInt(d.acked.size));
    lap('restart');

    d.connect(proc.url);
    await d.resolveUncertain();
    await d.verifyAcked();
    await d.verifySupply();
    lap('verify');
  }
  expect(d.refusals.slice(0, 5), `seed ${seed}`).toEqual([]);
  expect(d.ackedTxs).toBeGreaterThan(KILLS * 5);
  // The kills landed under load: requests were on the wire when the process died.
  expect(d.failedRequests).toBeGreaterThan(0);
  // The ledger's own audit over HTTP agrees.
  const a = await d.op.get('/v1/audit');
  expect(a.body).toMatchObject({ ok: true, problems: [] });
  await proc.kill('SIGTERM');
  const last = await proc.audit();
  expect(last).toMatchObject({ ok: true, problems: [], issued_fen: a.body.issued_fen, output_count: a.body.output_count });
  return { acked: d.ackedTxs, failed: d.failedRequests, outputs: d.acked.size, phaseMs };
}

describe(`crash test (${storeUnderTest()}): SIGKILL under load loses nothing acknowledged`, () => {
  // The SQL store has one durability (COMMIT returned): one run of the schedule there.
  const runs: ['sync' | 'overlapping', number][] = [['sync', SEED], ['overlapping', SEED + 1]];
  it.each(runs.filter(([d]) => storeUnderTest() === 'lmdb' || d === 'sync'))('durability %s (seed %i), %#', async (durability, seed) => {
    const t0 = Date.now();
    const r = await crashRun(durability, seed);
    // One line for the record: how much load each run saw.
    console.log(`crash ${durability}: ${KILLS} kills, ${r.acked} txs acknowledged, ${r.outputs} outputs checked, ${r.failed} requests died in flight, ${Date.now() - t0} ms (${JSON.stringify(r.phaseMs)})`);
  }, 180_000);
});
