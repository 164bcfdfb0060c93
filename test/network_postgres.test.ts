// `npm start -- --store postgres`: the local network with central's ledger on a local
// PostgreSQL set (primary + 2 synchronous standbys under the data folder), started for real,
// stopped with Ctrl-C (SIGINT), and started again on the same folder with its ledger kept.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, track } from './helpers/central_process.js';
import { freePortRun } from '../platform/free_port.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Starts dist/scripts/network.js; resolves with its output once it says it is up, and a stop(). */
function startNetwork(dataDir: string, port: number): Promise<{ out: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'scripts', 'network.js'), '--store', 'postgres'], {
    cwd: REPO_ROOT, env: { ...process.env, CBDC_DATA_DIR: dataDir, CBDC_CENTRAL_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      out += line + '\n';
      if (line.startsWith('Ctrl-C')) {
        resolve({ out, stop: () => new Promise((r) => { child.once('exit', (code) => r(code)); child.kill('SIGINT'); }) });
      }
    });
    child.once('exit', (code) => reject(new Error(`network exited (${code}) before it was up: ${out}`)));
  });
}

describe('npm start -- --store postgres', () => {
  it('runs central on a 3-node PostgreSQL set, and keeps the ledger across a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-net-pg-'));
    dirs.push(dir);
    // Central's port and the two banks' ports above it must be free (the PostgreSQL nodes keep off them).
    const port = await freePortRun(3);
    const first = await startNetwork(dir, port);
    expect(first.out).toMatch(/ledger: postgres:\/\/cbdc@127\.0\.0\.1:\d+\/cbdc on 3 PostgreSQL nodes/);
    const url = /postgres:\/\/\S+\/cbdc/.exec(first.out)![0];
    const supply1 = await (await fetch(`http://127.0.0.1:${port}/v1/supply`)).json() as { batches: string };
    // Both banks registered at central (on the SQL ledger) and serve.
    for (const p of [port + 1, port + 2]) expect((await fetch(`http://127.0.0.1:${p}/v1/health`)).status).toBe(200);
    expect(await first.stop()).toBe(0);

    const again = await startNetwork(dir, port);
    expect(again.out).toContain(url);
    const supply2 = await (await fetch(`http://127.0.0.1:${port}/v1/supply`)).json() as { batches: string };
    // The registrations (and anything settled) are still there: bank-a registered once.
    expect(BigInt(supply2.batches)).toBeGreaterThanOrEqual(BigInt(supply1.batches));
    expect(again.out).not.toMatch(/registering bank-a/);
    expect(await again.stop()).toBe(0);
  }, 120_000);
});
