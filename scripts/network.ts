// npm start: brings up the local two-tier network on this machine and keeps it running
// until Ctrl-C. Each node is its own process with its own LMDB data directory under data/.
// `npm start -- --store postgres` keeps central's ledger on a local PostgreSQL set instead
// (primary + 2 synchronous standbys under data/pg, scripts/pg_local.ts).
import { Command, Option } from 'commander';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { readKeyFile, readOrCreateKeyFile } from '../platform/key_file.js';
import { SignedClient } from '../platform/signed_client.js';
import { bankKeyFiles } from '../intermediary/node.js';
import { CENTRAL_NODE_FLAGS } from '../central/node.js';
import { startLocalPgSet, type LocalPgSet } from './pg_local.js';

const NETWORK = 'cbdc-local';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataRoot = process.env.CBDC_DATA_DIR ?? path.join(root, 'data');
const children: ChildProcess[] = [];
const cli = new Command()
  .name('network')
  .addOption(new Option('--store <engine>', "central's ledger store").choices(['lmdb', 'postgres']).default('lmdb'))
  .parse();
const store = cli.opts<{ store: 'lmdb' | 'postgres' }>().store;
let pgSet: LocalPgSet | null = null;

function startNode(name: string, args: string[]): Promise<{ url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    child.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`network: ${name} exited (${signal ?? code}); stopping\n`);
        stop(1);
      }
      reject(new Error(`${name} exited before it was ready`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event === 'listening' && msg.url) resolve({ url: msg.url });
      } catch {
        process.stdout.write(`[${name}] ${line}\n`);
      }
    });
  });
}

let stopping = false;
function stop(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 5_000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))))
    .then(() => pgSet?.cluster.stop('fast'))
    .then(() => process.exit(code));
}
process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));

const centralPort = Number(process.env.CBDC_CENTRAL_PORT ?? '7100');
const centralDir = path.join(dataRoot, 'central');
// Central and the two banks listen on centralPort..centralPort+2: the PostgreSQL nodes keep off them.
const ownPorts = [centralPort, centralPort + 1, centralPort + 2];
if (store === 'postgres') pgSet = await startLocalPgSet(path.join(dataRoot, 'pg'), 2, 'cbdc', ownPorts);
const central = await startNode('central', [
  ...CENTRAL_NODE_FLAGS, path.join(root, 'dist', 'central', 'cli.js'), 'serve', '--port', String(centralPort), '--data-dir', centralDir,
  ...(pgSet !== null ? ['--store', pgSet.url] : []),
]);
const ledgerWhere = pgSet !== null
  ? `ledger: ${pgSet.url} on ${pgSet.cluster.nodes.length} PostgreSQL nodes under ${path.relative(process.cwd(), path.join(dataRoot, 'pg'))}`
  : `ledger: ${path.relative(process.cwd(), centralDir)}/ledger.mdb`;

// The two local banks: keys on first start, registration at central by the operator.
const operator = readKeyFile(path.join(centralDir, 'operator.key'));
const operatorClient = new SignedClient(central.url, NETWORK, 'operator', operator.secretKey);
const banks = [
  { id: 'bank-a', port: ownPorts[1]! },
  { id: 'bank-b', port: ownPorts[2]! },
];
for (const b of banks) {
  const dir = path.join(dataRoot, b.id);
  const kp = readOrCreateKeyFile(bankKeyFiles(dir).bank);
  const r = await operatorClient.post<{ code?: string }>('/v1/intermediaries', {
    id: b.id, public_key: kp.publicKey.toString('hex'), quota_fen: '10000000000000', reserve_fen: '10000000000000',
  });
  if (r.status !== 201 && r.body.code !== 'CBDC_ERR_INTERMEDIARY_EXISTS') throw new Error(`registering ${b.id}: ${JSON.stringify(r.body)}`);
}
const urls = new Map<string, string>();
for (const b of banks) {
  const peers = banks.filter((p) => p.id !== b.id).flatMap((p) => ['--peer', `${p.id}=http://127.0.0.1:${p.port}`]);
  const node = await startNode(b.id, [
    path.join(root, 'dist', 'intermediary', 'cli.js'), 'serve', '--id', b.id, '--port', String(b.port),
    '--data-dir', path.join(dataRoot, b.id), '--central', central.url, ...peers,
  ]);
  urls.set(b.id, node.url);
}
const rel = (p: string) => path.relative(process.cwd(), p) || p;
process.stdout.write([
  '',
  'Local CBDC network is up:',
  `  central bank   ${central.url}   (${ledgerWhere}, operator key: ${rel(centralDir)}/operator.key)`,
  ...banks.map((b) => `  ${b.id.padEnd(14)} ${urls.get(b.id)}   (data: ${rel(path.join(dataRoot, b.id))}, API docs: ${urls.get(b.id)}/docs/json)`),
  '',
  'Try:',
  `  curl ${central.url}/v1/supply`,
  `  open ${central.url}/dashboard in a browser (live figures); curl ${central.url}/metrics`,
  pgSet !== null ? `  node dist/central/cli.js audit --store ${pgSet.url}` : `  node dist/central/cli.js audit --data-dir ${rel(centralDir)}`,
  `  node dist/intermediary/cli.js reconcile --url ${urls.get('bank-a')} --data-dir ${rel(path.join(dataRoot, 'bank-a'))}`,
  '',
  'Ctrl-C stops every node.',
  '',
].join('\n'));
