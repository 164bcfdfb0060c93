// The throw-away PostgreSQL set the SQL store's tests and benchmarks run on: a single node
// takes SQL, and the 3-node set keeps every acknowledged commit through the loss of its primary.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { pgBinDir, startPgCluster, type PgCluster } from './pg_cluster.js';

const dirs: string[] = [];
const clusters: PgCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(standbys: 0 | 2): Promise<PgCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cbdc-pg-'));
  dirs.push(dir);
  const c = await startPgCluster({ dir, standbys });
  clusters.push(c);
  return c;
}

async function sql(url: string, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

describe('pg_cluster', () => {
  it('finds PostgreSQL (scripts/setup.sh installs it)', () => {
    expect(pgBinDir()).not.toBeNull();
  });

  it('a single node serves a fresh database on its own port', async () => {
    const c = await start(0);
    expect(c.nodes).toHaveLength(1);
    const url = await c.createDatabase('ledger_a');
    await sql(url, 'CREATE TABLE t (k bigint PRIMARY KEY)');
    await sql(url, 'INSERT INTO t SELECT * FROM unnest($1::bigint[])', [[1, 2, 3]]);
    expect(await sql(url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 3 }]);
    expect(await sql(url, 'SHOW synchronous_commit')).toEqual([{ synchronous_commit: 'on' }]);
    await expect(c.createDatabase('bad-name;')).rejects.toThrow(/plain identifier/);
  });

  it('the same folder reopens with its data on its own port', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cbdc-pg-'));
    dirs.push(dir);
    const first = await startPgCluster({ dir });
    const url = await first.createDatabase('kept');
    await sql(url, 'CREATE TABLE t AS SELECT 7 AS k');
    await first.stop('fast');
    const again = await startPgCluster({ dir });
    clusters.push(again);
    expect(again.urlFor('kept')).toBe(url);
    expect(await sql(url, 'SELECT k FROM t')).toEqual([{ k: 7 }]);
  });

  it('a 3-node set waits for a standby, and a promoted standby has every acknowledged commit', async () => {
    const c = await start(2);
    const rep = await c.query(c.primary, 'SELECT application_name, sync_state FROM pg_stat_replication ORDER BY application_name');
    expect(rep).toEqual([
      { application_name: 's1', sync_state: 'quorum' },
      { application_name: 's2', sync_state: 'quorum' },
    ]);
    const url = await c.createDatabase('ledger_b');
    await sql(url, 'CREATE TABLE t (k bigint PRIMARY KEY)');
    for (let k = 0; k < 50; k++) await sql(url, 'INSERT INTO t VALUES ($1)', [k]);
    c.kill(0);
    const next = await c.mostAdvancedStandby();
    await c.promote(next);
    expect(c.primary.name).toBe(c.nodes[next]!.name);
    const after = c.urlFor('ledger_b');
    expect(await sql(after, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 50 }]);
    // The new primary still waits for the remaining standby, which now follows it.
    await sql(after, 'INSERT INTO t VALUES (50)');
    const other = c.nodes.find((n) => n.role === 'standby' && n.alive)!;
    // Acknowledged means flushed on the standby; it becomes visible there once replayed.
    let seen = 0;
    for (let i = 0; i < 100 && seen < 51; i++) {
      seen = Number((await sql(c.urlFor('ledger_b', other), 'SELECT count(*)::int AS n FROM t'))[0]!.n);
      if (seen < 51) await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).toBe(51);
  });
});
