#!/usr/bin/env node
// cbdc-central: run a central bank node, audit its ledger, and act as the operator.
import { Command, Option } from 'commander';
import path from 'node:path';
import { formatYuan, parseYuan, parseAmountFen } from '../protocol/amount.js';
import { keyLock, makeTx, operatorSignTx } from '../protocol/tx_builder.js';
import { parsePublicKey } from '../protocol/sig.js';
import { txToJson } from '../protocol/tx.js';
import { readKeyFile, readOrCreateKeyFile, writeKeyFile } from '../platform/key_file.js';
import { SignedClient } from '../platform/signed_client.js';
import { LmdbStore } from './store_lmdb.js';
import { SqlStore } from './store_sql.js';
import { DURABILITIES, type Durability } from './store.js';
import { startCentral } from './node.js';
import { CENTRAL_LIMITS, OPERATOR_SIGNER } from './api.js';
import { limitsFromCli, tlsFromCli, wholeNumberFromCli } from '../platform/server_limits.js';
import { registerCentralAnalyticsCommands } from '../platform/analytics_cli.js';

/** A --store value: only postgres:// (or postgresql://) URLs name a SQL store. */
function sqlUrl(v: string): string {
  if (!/^postgres(ql)?:\/\//.test(v)) throw Object.assign(new Error(`--store takes a postgres:// URL, not ${JSON.stringify(v)}`), { code: 'CBDC_ERR_STORAGE' });
  return v;
}

const program = new Command();
program.name('cbdc-central').description('Central bank node of the two-tier digital currency');

program.command('serve')
  .description('run the central bank node')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', '7100')
  .option('--data-dir <dir>', 'where the ledger lives (and the operator key, when --operator-key is not given)', 'data/central')
  .option('--store <url>', 'keep the ledger in this SQL database (postgres://user@host:port/db; PostgreSQL, CockroachDB, YugabyteDB) instead of LMDB under --data-dir')
  .option('--network <id>', 'network id', 'cbdc-local')
  .option('--operator-key <file>', 'operator key file (created if missing)', '')
  .option('--no-auto-issue', "do not authorize intermediaries' issuance and redemption requests with the operator key")
  .addOption(new Option('--durability <mode>', 'how commits reach disk').choices([...DURABILITIES]).default('overlapping'))
  .addOption(new Option('--verification <mode>', 'full: verify every witness; attested: trust batch attestations').choices(['full', 'attested']).default('full'))
  .addOption(new Option('--verifier <backend>', 'signature verification backend').choices(['native', 'noble']).default('native'))
  .option('--verify-threads <n>', 'verification worker threads (default: all cores)')
  .option('--batch <n>', 'transactions per LMDB write transaction at most')
  .option('--log-level <level>', 'fastify log level (off by default)')
  .option('--map-size-mb <n>', 'upper bound of the LMDB map in MiB (writes past it are refused with CBDC_ERR_STORAGE)')
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
  .option('--tls-key <file>', 'PEM private key of --tls-cert')
  .option('--rate-limit <n>', 'requests per client per window for clients that are not intermediaries (0: none)')
  .option('--rate-window-ms <ms>', 'rate-limit window')
  .option('--ws-max <n>', 'open event-stream connections at most')
  .option('--connections-max <n>', 'open TCP connections at most')
  .action(async (o) => {
    const operatorKeyFile = o.operatorKey || path.join(o.dataDir, 'operator.key');
    const op = readOrCreateKeyFile(operatorKeyFile);
    const node = await startCentral({
      host: o.host, port: Number(o.port), dataDir: o.dataDir, ...(o.store ? { store: sqlUrl(o.store) } : {}), network: o.network, operatorPublicKey: op.publicKey,
      ...(o.autoIssue ? { operatorSecretKey: op.secretKey } : {}),
      durability: o.durability as Durability, verification: o.verification, verifyBackend: o.verifier,
      ...(o.verifyThreads !== undefined ? { verifyThreads: Number(o.verifyThreads) } : {}),
      ...(o.batch !== undefined ? { batchTxMax: Number(o.batch) } : {}),
      ...(o.logLevel ? { logLevel: o.logLevel } : {}),
      ...(o.mapSizeMb !== undefined ? { mapSizeBytes: wholeNumberFromCli(o.mapSizeMb, '--map-size-mb') * 1024 * 1024 } : {}),
      limits: limitsFromCli(o, CENTRAL_LIMITS),
      ...(tlsFromCli(o) ? { tls: tlsFromCli(o)! } : {}),
    });
    // One line a supervisor (or a test) can wait for.
    process.stdout.write(JSON.stringify({ event: 'listening', role: 'central', url: node.url, network: o.network, store: o.store ? 'sql' : 'lmdb', durability: node.store.durability, verification: o.verification }) + '\n');
    const stop = () => { void node.close().then(() => process.exit(0)); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });

program.command('audit')
  .description('recompute sum(unspent) from the store and prove it equals issued - redeemed')
  .option('--data-dir <dir>', 'the ledger to audit', 'data/central')
  .option('--store <url>', 'audit the ledger in this SQL database instead (the database sums its own rows)')
  .option('--json', 'print JSON')
  .action(async (o) => {
    let a;
    if (o.store) {
      const store = await SqlStore.open({ url: sqlUrl(o.store) });
      try {
        a = await store.auditDatabase();
      } finally {
        await store.close();
      }
    } else {
      const store = new LmdbStore({ path: path.join(o.dataDir, 'ledger.mdb'), durability: 'sync' });
      a = store.audit();
      await store.close();
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({
        ok: a.ok, issued_fen: a.issuedFen.toString(), redeemed_fen: a.redeemedFen.toString(),
        unspent_recomputed_fen: a.unspentRecomputedFen.toString(), unspent_recorded_fen: a.unspentRecordedFen.toString(),
        unspent_count: a.unspentCount.toString(), output_count: a.outputCount.toString(), problems: a.problems,
      }) + '\n');
    } else {
      process.stdout.write([
        `outputs            ${a.outputCount} (${a.unspentCount} unspent)`,
        `issued             ${formatYuan(a.issuedFen)} yuan`,
        `redeemed           ${formatYuan(a.redeemedFen)} yuan`,
        `sum(unspent)       ${formatYuan(a.unspentRecomputedFen)} yuan (recomputed from every output)`,
        `issued - redeemed  ${formatYuan(a.issuedFen - a.redeemedFen)} yuan`,
        a.ok ? 'audit: OK, sum(unspent) == issued - redeemed' : `audit: FAILED\n  ${a.problems.join('\n  ')}`,
      ].join('\n') + '\n');
    }
    process.exitCode = a.ok ? 0 : 1;
  });

program.command('keygen')
  .description('write a new key pair to a file (mode 0600)')
  .requiredOption('--out <file>', 'key file to write')
  .action((o) => {
    const kp = writeKeyFile(o.out);
    process.stdout.write(JSON.stringify({ public_key: kp.publicKey.toString('hex') }) + '\n');
  });

function operatorClient(o: { url: string; network: string; operatorKey: string }): { client: SignedClient; sk: Buffer } {
  const kp = readKeyFile(o.operatorKey);
  return { client: new SignedClient(o.url, o.network, OPERATOR_SIGNER, kp.secretKey), sk: kp.secretKey };
}

async function show(res: Promise<{ status: number; body: unknown }>): Promise<void> {
  const r = await res;
  process.stdout.write(JSON.stringify(r.body) + '\n');
  if (r.status >= 300) process.exitCode = 2;
}

const withOperator = (c: Command) => c
  .option('--url <url>', 'central node URL', 'http://127.0.0.1:7100')
  .option('--network <id>', 'network id', 'cbdc-local')
  .option('--operator-key <file>', 'operator key file', 'data/central/operator.key');

withOperator(program.command('register'))
  .description('register an intermediary (operator)')
  .requiredOption('--id <id>', 'intermediary id')
  .requiredOption('--public-key <hex>', "the intermediary's public key")
  .option('--quota <yuan>', 'outstanding-issuance quota in yuan', '1000000000')
  .option('--reserve <yuan>', 'initial reserve account balance in yuan', '1000000000')
  .action(async (o) => {
    const { client } = operatorClient(o);
    await show(client.post('/v1/intermediaries', {
      id: o.id, public_key: parsePublicKey(o.publicKey).toString('hex'),
      quota_fen: parseYuan(o.quota).toString(), reserve_fen: parseYuan(o.reserve).toString(),
    }));
  });

withOperator(program.command('issue'))
  .description("issue currency to an intermediary against its reserve (operator)")
  .requiredOption('--to <id>', 'intermediary id')
  .requiredOption('--amount <yuan>', 'amount in yuan, e.g. 1000.00')
  .option('--lock-key <hex>', "public key to lock the new output to (default: the intermediary's key)")
  .action(async (o) => {
    const { client, sk } = operatorClient(o);
    const info = await client.get<{ public_key: string; next_serial: string }>(`/v1/intermediaries/${o.to}`);
    if (info.status !== 200) return show(Promise.resolve(info));
    const tx = operatorSignTx(makeTx({
      kind: 'issue', network: o.network, intermediary: o.to, serial: BigInt(info.body.next_serial), inputs: [],
      outputs: [{ value: parseAmountFen(parseYuan(o.amount).toString()), lock: keyLock(parsePublicKey(o.lockKey ?? info.body.public_key)) }],
    }), sk);
    await show(client.post('/v1/transactions', txToJson(tx)));
  });

withOperator(program.command('reserve'))
  .description("move an intermediary's reserve account or quota (operator)")
  .requiredOption('--id <id>', 'intermediary id')
  .option('--deposit <yuan>', 'credit the reserve')
  .option('--withdraw <yuan>', 'debit the reserve')
  .option('--quota <yuan>', 'set the quota')
  .action(async (o) => {
    const { client } = operatorClient(o);
    const body: Record<string, string> = {};
    if (o.deposit) body.deposit_fen = parseYuan(o.deposit).toString();
    if (o.withdraw) body.withdraw_fen = parseYuan(o.withdraw).toString();
    if (o.quota) body.quota_fen = parseYuan(o.quota).toString();
    await show(client.post(`/v1/intermediaries/${o.id}/reserve`, body));
  });

program.command('supply')
  .description('show the money supply')
  .option('--url <url>', 'central node URL', 'http://127.0.0.1:7100')
  .action(async (o) => {
    const r = await fetch(`${o.url}/v1/supply`);
    process.stdout.write(await r.text() + '\n');
  });

registerCentralAnalyticsCommands(program);

program.parseAsync().catch((e: Error & { code?: string }) => {
  process.stderr.write(`cbdc-central: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(2);
});
