// Kill anything at any time: central and two banks run as real processes under a steady
// payment load from wallets at both banks (test/helpers/payment_load.ts), and a seeded schedule
// SIGKILLs a random node at random instants, restarting it on the same data and port. At the end
// the load's checks run: every payment acknowledged to a wallet settled exactly once, nothing
// settled that no wallet signed, supply invariant at central, both banks reconcile, no
// notification lost or repeated from the wallet's side.
//
// FAULTS_SEED names the schedule; FAULTS_KILLS sets the number of kills (default 30; a longer
// soak: FAULTS_KILLS=300).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess } from '../helpers/network_process.js';
import { PaymentLoad } from '../helpers/payment_load.js';
import { prng } from '../helpers/fault_proxy.js';

const SEED = Number(process.env.FAULTS_SEED ?? 7_250_001);
const KILLS = Number(process.env.FAULTS_KILLS ?? 30);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
let net: NetworkProcess | null = null;
afterAll(async () => {
  await net?.killAll();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('kill anything at any time', () => {
  it(`SIGKILLs central and banks ${KILLS} times under payment load and loses nothing (seed ${SEED})`, async () => {
    const t0 = Date.now();
    const phases: Record<string, number> = {};
    const phase = (name: string) => { phases[name] = Date.now() - t0; };
    const root = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-kill-'));
    dirs.push(root);
    net = new NetworkProcess({ root, network: 'cbdc-faults', startTimeoutMs: 90_000, bankArgs: ['--holdings-low', '20000', '--holdings-target', '50000', '--holdings-high', '200000'] });
    await net.start();
    const load = new PaymentLoad(net, { seed: SEED, walletsPerBank: 3, fundFen: 500_000n, amountFenMax: 300, pauseMs: 10 });
    await load.setup();
    phase('setup_ms');
    load.start();

    const rand = prng(SEED ^ 0x5eed);
    const nodes = [
      { name: 'central', kill: () => net!.central.kill('SIGKILL'), start: () => net!.central.start() },
      ...[...net.banks.values()].map((b) => ({ name: b.id, kill: () => b.kill('SIGKILL').then(() => undefined), start: () => b.start() })),
    ];
    const killsBy: Record<string, number> = {};
    let restartMsMax = 0;
    for (let k = 0; k < KILLS; k++) {
      await sleep(200 + Math.floor(rand() * 1_000));
      const n = nodes[Math.floor(rand() * nodes.length)]!;
      await n.kill();
      killsBy[n.name] = (killsBy[n.name] ?? 0) + 1;
      // Sometimes down for a while, sometimes straight back.
      await sleep(Math.floor(rand() * 400));
      const started = Date.now();
      await n.start();
      restartMsMax = Math.max(restartMsMax, Date.now() - started);
    }
    phase('kills_ms');
    await load.stop();
    await load.settle();
    phase('settle_ms');
    const report = await load.check();
    phase('check_ms');
    load.close();

    expect(Object.values(killsBy).reduce((a, b) => a + b, 0)).toBe(KILLS);
    // The load really ran through the kills: payments were acknowledged.
    expect(report.acknowledged).toBeGreaterThan(0);
    process.stdout.write(`faults/kill ${JSON.stringify({ seed: SEED, kills: KILLS, killsBy, ...report, phases, restartMsMax })}\n`);
  }, 600_000);
});
