// A local PostgreSQL set for central's SQL store: a primary and, by default, two synchronous
// standbys (a commit returns once it is on 2 of the 3 nodes), kept in --dir and reopened from
// it on the next start. Runs until Ctrl-C; prints the URL to give `cbdc-central serve --store`.
//   node dist/scripts/pg_set.js [--dir data/pg] [--standbys 0|2] [--database cbdc]
import { Command, Option } from 'commander';
import path from 'node:path';
import { startLocalPgSet } from './pg_local.js';

const program = new Command()
  .name('pg_set')
  .description('bring up a local PostgreSQL set for the central ledger and keep it running')
  .option('--dir <dir>', 'where the nodes keep their data (reopened when it exists)', 'data/pg')
  .addOption(new Option('--standbys <n>', 'synchronous standbys beside the primary').choices(['0', '2']).default('2'))
  .option('--database <name>', 'the ledger database', 'cbdc')
  .parse();
const o = program.opts<{ dir: string; standbys: '0' | '2'; database: string }>();

const set = await startLocalPgSet(path.resolve(o.dir), o.standbys === '2' ? 2 : 0, o.database);
process.stdout.write(JSON.stringify({ event: 'listening', role: 'postgres', url: set.url }) + '\n');
for (const n of set.cluster.nodes) process.stderr.write(`  ${n.name.padEnd(3)} ${n.role.padEnd(8)} 127.0.0.1:${n.port}  ${n.dataDir}\n`);
process.stderr.write(`central: node dist/central/cli.js serve --store ${set.url}\nCtrl-C stops the set (its data stays in ${o.dir}).\n`);
const stop = () => { void set.cluster.stop('fast').then(() => process.exit(0)); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
