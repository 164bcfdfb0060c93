// Losing the database's machine: central runs on a 3-node PostgreSQL set (primary + 2
// synchronous standbys, synchronous_standby_names = 'ANY 1 (s1, s2)': a commit returns only
// once it is on 2 of the 3 nodes). Under a load of issuance and transfers the primary is
// SIGKILLed with its backends (the machine is gone); the most advanced standby is promoted,
// the other standby follows it, and central is pointed at the new primary. Every transaction
// central acknowledged is on the new primary, each one that died in flight is all or nothing,
// the supply audit holds, and the set takes load again (committing to its remaining standby).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startPgCluster, type PgCluster } from '../../platform/pg_cluster.js';
import { CentralProcess, killAllCentralProcesses } from '../helpers/central_process.js';
import { LoadDriver, sleep } from '../helpers/load_driver.js';
import { prng } from '../helpers/fault_proxy.js';

const NETWORK = 'cbdc-failover';
const WORKERS = 6;
const SEED = Number(process.env.FAULTS_SEED ?? 7250001);

const dirs: string[] = [];
let cluster: PgCluster | null = null;
afterAll(async () => {
  await killAllCentralProcesses();
  await cluster?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function load(d: LoadDriver, ms: number, during?: () => void): Promise<void> {
  d.running = true;
  const workers = Array.from({ length: WORKERS }, () => d.worker());
  await sleep(ms);
  during?.();
  if (during) await sleep(300); // requests keep coming while the primary is gone
  d.running = false;
  await Promise.all(workers);
}

describe('PostgreSQL failover: the primary lost under load', () => {
  it('loses no acknowledged transaction when a synchronous standby takes over', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-failover-'));
    dirs.push(dir);
    cluster = await startPgCluster({ dir: path.join(dir, 'pg'), standbys: 2 });
    const proc = new CentralProcess({ dataDir: path.join(dir, 'central'), network: NETWORK, verifyThreads: 1, store: await cluster.createDatabase('ledger') });
    await proc.start();
    const d = new LoadDriver(prng(SEED), NETWORK, 'failover-bank');
    // With its database gone, central refuses batches with CBDC_ERR_STORAGE: their fate is
    // unknown to it (a COMMIT cut off may have reached a standby), so to the driver as well.
    d.uncertainCodes.add('CBDC_ERR_STORAGE');
    d.operator = proc.operatorKey();
    d.connect(proc.url);
    await d.register();

    await load(d, 1_500, () => cluster!.kill(0));
    const ackedBefore = d.ackedTxs;
    expect(ackedBefore).toBeGreaterThan(20);
    // The kill landed under load: requests were refused or cut while the primary was gone.
    expect(d.failedRequests).toBeGreaterThan(0);

    const next = await cluster.mostAdvancedStandby();
    await cluster.promote(next);
    expect(cluster.primary.name).toBe(cluster.nodes[next]!.name);
    // Central is pointed at the new primary (as a failover manager or DNS switch would).
    await proc.kill('SIGKILL');
    proc.sqlUrl = cluster.urlFor('ledger');
    await proc.start();
    d.connect(proc.url);

    await d.resolveUncertain();
    await d.verifyAcked();
    await d.verifySupply();
    expect(await proc.audit()).toMatchObject({ ok: true, problems: [] });

    // The promoted set takes load again: commits now wait for the remaining standby.
    await load(d, 800);
    expect(d.ackedTxs).toBeGreaterThan(ackedBefore);
    await d.verifyAcked();
    await d.verifySupply();
    const audit = await proc.audit();
    expect(audit).toMatchObject({ ok: true, problems: [] });
    expect(d.refusals.slice(0, 5), `seed ${SEED}`).toEqual([]);
    const sync = await cluster.query(cluster.primary, 'SELECT application_name, sync_state FROM pg_stat_replication');
    expect(sync).toHaveLength(1);
    expect(['quorum', 'sync']).toContain(sync[0]!.sync_state);
    console.log(`faults/pg_failover ${JSON.stringify({ seed: SEED, acknowledged: d.ackedTxs, acknowledged_before_loss: ackedBefore, outputs_checked: d.acked.size, refused_or_cut: d.failedRequests, promoted: cluster.primary.name })}`);
    await proc.kill('SIGTERM');
  }, 180_000);
});
