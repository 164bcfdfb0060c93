// The local PostgreSQL set that `npm start -- --store postgres` and scripts/pg_set.ts run
// central's ledger on: made in `dir` on first start, reopened from it afterwards.
import pg from 'pg';
import { startPgCluster, type PgCluster } from '../platform/pg_cluster.js';

export interface LocalPgSet {
  readonly cluster: PgCluster;
  /** URL of the ledger database on the primary. */
  readonly url: string;
}

export async function startLocalPgSet(
  dir: string, standbys: 0 | 2, database: string, avoidPorts: readonly number[] = [],
): Promise<LocalPgSet> {
  const cluster = await startPgCluster({ dir, standbys, avoidPorts });
  const found = await cluster.query(cluster.primary, `SELECT 1 FROM pg_database WHERE datname = '${database.replace(/'/g, "''")}'`);
  const url = found.length > 0 ? cluster.urlFor(database) : await cluster.createDatabase(database);
  // Fail here, not in central, when the database does not answer.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.end();
  return { cluster, url };
}
