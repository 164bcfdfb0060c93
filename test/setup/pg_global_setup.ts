// Global setup of the `sql` test project: one throw-away PostgreSQL cluster for the whole run
// (platform/pg_cluster.ts), whose URL each test file gets with inject('pgAdminUrl') and in
// which each ledger under test gets a database of its own (test/helpers/store_under_test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPgCluster } from '../../platform/pg_cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cbdc-test-pg-'));
  const cluster = await startPgCluster({ dir });
  project.provide('pgAdminUrl', cluster.url);
  return async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
