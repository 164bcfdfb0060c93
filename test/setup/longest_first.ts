// Runs the longest test files first. With two workers, a long file that starts last makes the
// whole run wait for it alone; vitest orders by the durations it cached on a machine's earlier
// runs, but a clean clone (CI) has none, so the files measured to take 20 s or more in a full
// run (longest first, from `npm test` on the 2-core machine) lead, then the rest in vitest's order.
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LONGEST_FIRST = [
  'test/central_crash.test.ts',
  'test/faults/kill.test.ts',
  'test/faults/resources.test.ts',
  'test/faults/network.test.ts',
  'test/faults/fuzz.test.ts',
  'test/contracts_e2e.test.ts',
  'loadtest/loadtest_run.test.ts',
  'test/wallet_cli.test.ts',
  'test/faults/contracts_kill.test.ts',
  'test/network_postgres.test.ts',
  'loadtest/compare.test.ts',
  'test/faults/pg_failover.test.ts',
  'test/receipts_cli.test.ts',
  'test/analytics_cli.test.ts',
];

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const rank = (s: TestSpecification): number => {
      const i = LONGEST_FIRST.indexOf(path.relative(s.project.config.root, s.moduleId).split(path.sep).join('/'));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return base.map((s, i) => ({ s, i })).sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i).map((x) => x.s);
  }
}
