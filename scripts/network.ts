// npm start: brings up the local two-tier network on this machine and keeps it running
// until Ctrl-C. Each node is its own process with its own LMDB data directory under data/.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataRoot = process.env.CBDC_DATA_DIR ?? path.join(root, 'data');
const children: ChildProcess[] = [];

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
  setTimeout(() => process.exit(code), 2_000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(() => process.exit(code));
}
process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));

const centralPort = process.env.CBDC_CENTRAL_PORT ?? '7100';
const centralDir = path.join(dataRoot, 'central');
const central = await startNode('central', [
  path.join(root, 'dist', 'central', 'cli.js'), 'serve', '--port', centralPort, '--data-dir', centralDir,
]);
process.stdout.write([
  '',
  'Local CBDC network is up:',
  `  central bank   ${central.url}   (ledger: ${centralDir}/ledger.mdb)`,
  `  operator key   ${centralDir}/operator.key`,
  '',
  'Try:',
  `  curl ${central.url}/v1/supply`,
  `  node dist/central/cli.js audit --data-dir ${path.relative(process.cwd(), centralDir) || centralDir}`,
  '',
  'Ctrl-C stops every node.',
  '',
].join('\n'));
