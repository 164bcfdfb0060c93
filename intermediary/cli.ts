#!/usr/bin/env node
// cbdc-bank: run an intermediary bank node, and the bank's own checks.
import { Command } from 'commander';
import { formatYuan, parseYuan } from '../protocol/amount.js';
import { readKeyFile, readOrCreateKeyFile } from '../platform/key_file.js';
import { SignedClient } from '../platform/signed_client.js';
import { bankKeyFiles, startBank } from './node.js';
import { limitsFromCli, readCa, tlsFromCli } from '../platform/server_limits.js';
import { verifyReceipt } from '../protocol/receipt.js';
import { BATCH_INTERVAL_MS_DEFAULT, BATCH_INTERVAL_MS_MAX } from './central_link.js';
import { DEFAULT_FEE_BPS, type FxRate, parseFxRate } from './visitors/acquirer.js';
import { registerBankAnalyticsCommands } from '../platform/analytics_cli.js';

type FxTableEntries = [string, FxRate][];

const program = new Command();

function msOption(v: string, name: string): number {
  if (!/^[0-9]{1,12}$/.test(v)) throw new Error(`${name} wants a whole number of milliseconds`);
  return Number(v);
}
function batchIntervalOption(v: string): number {
  const ms = msOption(v, '--batch-interval-ms');
  if (ms > BATCH_INTERVAL_MS_MAX) throw new Error(`--batch-interval-ms at most ${BATCH_INTERVAL_MS_MAX}`);
  return ms;
}
program.name('cbdc-bank').description('Intermediary bank node of the two-tier digital currency');

const collectPeer = (v: string, acc: Map<string, string>) => {
  const [id, url] = v.split('=');
  if (!id || !url) throw new Error(`--peer wants id=url, got "${v}"`);
  acc.set(id, url);
  return acc;
};

program.command('init')
  .description("create the bank's key files (if missing) and print the bank's public key")
  .requiredOption('--data-dir <dir>', 'the bank node data directory')
  .action((o) => {
    const files = bankKeyFiles(o.dataDir);
    const kp = readOrCreateKeyFile(files.bank);
    for (const f of [files.staff, files.compliance, files.regulator, files.tax]) readOrCreateKeyFile(f);
    process.stdout.write(JSON.stringify({ public_key: kp.publicKey.toString('hex'), key_file: files.bank }) + '\n');
  });

program.command('serve')
  .description('run the bank node (it must be registered at central)')
  .requiredOption('--id <id>', 'bank id as registered at central, e.g. bank-a')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', '7101')
  .option('--data-dir <dir>', 'data directory')
  .option('--central <url>', 'central bank node URL', 'http://127.0.0.1:7100')
  .option('--network <id>', 'network id', 'cbdc-local')
  .option('--peer <id=url>', "another bank's node (repeatable)", collectPeer, new Map<string, string>())
  .option('--holdings-low <yuan>', 'request issuance below this', '1000000')
  .option('--holdings-target <yuan>', 'top up / redeem to this', '5000000')
  .option('--holdings-high <yuan>', 'redeem above this', '20000000')
  .option('--aml-threshold <yuan>', 'report payments at or above this', '50000')
  .option('--attest', "sign each batch sent to central: central in attested mode then trusts the bank's checks of the witnesses")
  .option('--batch-interval-ms <ms>', 'the least time between two batches sent to central: below capacity, fewer and larger batches (0: each as soon as the last was answered)', String(BATCH_INTERVAL_MS_DEFAULT))
  .option('--log-level <level>', 'fastify log level (off by default)')
  .option('--scheduler-tick-ms <ms>', "how often the scheduler looks for due slots", '1000')
  .option('--catch-up-window-ms <ms>', 'run a missed slot late if it is at most this overdue (else record it missed)', String(3 * 86_400_000))
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
  .option('--tls-key <file>', 'PEM private key of --tls-cert')
  .option('--tls-ca <file>', 'PEM CA certificates trusted for central and peer banks over HTTPS')
  .option('--rate-limit <n>', "requests per customer (or per address, unsigned) per window; staff and banks are exempt (0: none)")
  .option('--rate-window-ms <ms>', 'rate-limit window')
  .option('--ws-max <n>', 'open notification connections at most')
  .option('--connections-max <n>', 'open TCP connections at most')
  .option('--fx-rate <CUR=FEN/MINOR>', "visitor wallets' exchange table, one currency each (repeatable; replaces the default table), e.g. USD=710/100: 710 fen per 100 cents", (v: string, acc: FxTableEntries) => [...acc, parseFxRate(v)], [] as FxTableEntries)
  .option('--fx-fee-bps <n>', "the bank's fee on each visitor conversion, basis points", String(DEFAULT_FEE_BPS))
  .action(async (o) => {
    const node = await startBank({
      attest: o.attest === true,
      batchIntervalMs: batchIntervalOption(o.batchIntervalMs),
      id: o.id, host: o.host, port: Number(o.port), dataDir: o.dataDir ?? `data/${o.id}`, centralUrl: o.central, network: o.network,
      peers: o.peer, ...(o.logLevel ? { logLevel: o.logLevel } : {}),
      limits: limitsFromCli(o),
      ...(tlsFromCli(o) ? { tls: tlsFromCli(o)! } : {}),
      ...(o.tlsCa ? { tlsCa: readCa(o.tlsCa) } : {}),
      bank: {
        holdingsLowFen: parseYuan(o.holdingsLow), holdingsTargetFen: parseYuan(o.holdingsTarget), holdingsHighFen: parseYuan(o.holdingsHigh),
        amlThresholdFen: parseYuan(o.amlThreshold),
      },
      contracts: { scheduler: { tickMs: msOption(o.schedulerTickMs, '--scheduler-tick-ms'), catchUpWindowMs: msOption(o.catchUpWindowMs, '--catch-up-window-ms') } },
      visitors: {
        ...((o.fxRate as FxTableEntries).length > 0 ? { fxTable: Object.fromEntries(o.fxRate as FxTableEntries) } : {}),
        feeBps: /^[0-9]{1,5}$/.test(o.fxFeeBps) ? Number(o.fxFeeBps) : NaN,
      },
    });
    process.stdout.write(JSON.stringify({ event: 'listening', role: 'bank', id: o.id, url: node.url }) + '\n');
    const stop = () => { void node.close().then(() => process.exit(0)); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });

/** A staff check of the bank's books: GET `route` with the staff key, print its figures, exit 0 only when it holds. */
function staffCheck<T extends { ok: boolean; problems: string[] }>(name: string, description: string, route: string, lines: (b: T) => string[]): void {
  program.command(name)
    .description(description)
    .requiredOption('--url <url>', 'the bank node URL')
    .option('--data-dir <dir>', 'the bank node data directory (for the staff key)')
    .option('--network <id>', 'network id', 'cbdc-local')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const staff = readKeyFile(bankKeyFiles(o.dataDir).staff);
      const client = new SignedClient(o.url, o.network, 'staff', staff.secretKey);
      const r = await client.get<T>(route);
      if (o.json) process.stdout.write(JSON.stringify(r.body) + '\n');
      else process.stdout.write(lines(r.body).join('\n') + '\n');
      process.exitCode = r.status === 200 && r.body.ok ? 0 : 1;
    });
}

staffCheck<{ ok: boolean; customers_wallet_fen: string; holdings_fen: string; coins_checked: number; problems: string[] }>(
  'reconcile', "prove the bank's view of its customers' balances equals their unspent outputs at central", '/v1/bank/reconcile', (b) => [
    `coins checked at central   ${b.coins_checked}`,
    `customers' wallets         ${formatYuan(BigInt(b.customers_wallet_fen))} yuan`,
    `bank holdings              ${formatYuan(BigInt(b.holdings_fen))} yuan`,
    b.ok ? 'reconcile: OK, every balance equals its unspent outputs at central' : `reconcile: FAILED\n  ${b.problems.join('\n  ')}`,
  ]);

staffCheck<{ ok: boolean; reserve_fen: string; liabilities_fen: string; devices: number; revoked: number; loss_fen: string; loss_covered_fen: string; problems: string[] }>(
  'offline-check', "prove the offline reserve at central covers what every offline device holds, and each revoked device's loss is within its caps", '/v1/bank/offline/check', (b) => [
    `offline reserve at central   ${formatYuan(BigInt(b.reserve_fen))} yuan`,
    `held by ${b.devices} devices     ${formatYuan(BigInt(b.liabilities_fen))} yuan`,
    `revoked devices              ${b.revoked}, loss ${formatYuan(BigInt(b.loss_fen))} yuan (covered ${formatYuan(BigInt(b.loss_covered_fen))})`,
    b.ok ? 'offline check: OK, the reserve covers every device' : `offline check: FAILED\n  ${b.problems.join('\n  ')}`,
  ]);

for (const [name, route, filters] of [['schedules', '/v1/bank/schedules', ['status']], ['contracts', '/v1/bank/contracts', ['kind', 'status']]] as const) {
  const c = program.command(name)
    .description(`every ${name === 'schedules' ? 'scheduled and recurring payment' : 'prepaid, escrow, hash-locked and subsidy contract'} at the bank (staff key)`)
    .requiredOption('--url <url>', 'the bank node URL')
    .requiredOption('--data-dir <dir>', 'the bank node data directory (for the staff key)')
    .option('--network <id>', 'network id', 'cbdc-local')
    .option('--json', 'print JSON');
  for (const f of filters) c.option(`--${f} <${f}>`, `only those of this ${f}`);
  c.action(async (o: Record<string, string | boolean | undefined>) => {
    const staff = readKeyFile(bankKeyFiles(String(o.dataDir)).staff);
    const client = new SignedClient(String(o.url), String(o.network), 'staff', staff.secretKey);
    const q = new URLSearchParams(filters.flatMap((f): [string, string][] => (typeof o[f] === 'string' ? [[f, o[f] as string]] : [])));
    const r = await client.get<Record<string, Record<string, string | number>[]> & { code?: string; message?: string }>(`${route}${q.size ? `?${q}` : ''}`);
    if (o.json || r.status !== 200) process.stdout.write(JSON.stringify(r.body) + '\n');
    else {
      const rows = r.body[name] ?? [];
      process.stdout.write(rows.length === 0 ? `(no ${name})\n` : rows.map((x) => `${x.id}  ${x.kind ?? 'schedule'}  ${x.status}  ${formatYuan(BigInt(x.amount_fen!))}  ${x.account}`).join('\n') + '\n');
    }
    process.exitCode = r.status === 200 ? 0 : 1;
  });
}

const teller = program.command('teller').description("the teller's desk: customers' bank deposits (signed with the bank's staff key)");
teller.command('deposit')
  .description("credit a customer's bank deposit (cash in)")
  .argument('<account>', 'the account id, e.g. bank-a.0123456789ab')
  .argument('<amount>', 'in yuan, e.g. 1000.00')
  .requiredOption('--url <url>', 'the bank node URL')
  .requiredOption('--data-dir <dir>', 'the bank node data directory (for the staff key)')
  .option('--network <id>', 'network id', 'cbdc-local')
  .option('--json', 'print JSON')
  .action(async (account: string, amount: string, o) => {
    const staff = readKeyFile(bankKeyFiles(o.dataDir).staff);
    const client = new SignedClient(o.url, o.network, 'staff', staff.secretKey);
    const r = await client.post<{ code?: string; message?: string; deposit_fen?: string }>(`/v1/accounts/${encodeURIComponent(account)}/deposit`, { amount_fen: parseYuan(amount).toString() });
    if (o.json) process.stdout.write(JSON.stringify(r.body) + '\n');
    else if (r.status === 200) process.stdout.write(`deposited ${amount} into ${account}: its deposit is now ${formatYuan(BigInt(r.body.deposit_fen ?? '0'))} yuan\n`);
    else process.stderr.write(`cbdc-bank: deposit refused: ${r.body.message ?? r.status} (${r.body.code ?? `HTTP ${r.status}`})\n`);
    process.exitCode = r.status === 200 ? 0 : 1;
  });

teller.command('tax-id')
  .description("record a merchant account's tax id (18-character unified social credit code): merchants with one issue receipts")
  .argument('<account>', 'the merchant account id, e.g. bank-b.0123456789ab')
  .argument('<tax-id>', 'e.g. 91350100M000100Y43')
  .requiredOption('--url <url>', 'the bank node URL')
  .requiredOption('--data-dir <dir>', 'the bank node data directory (for the staff key)')
  .option('--network <id>', 'network id', 'cbdc-local')
  .action(async (account: string, taxId: string, o) => {
    const staff = readKeyFile(bankKeyFiles(o.dataDir).staff);
    const client = new SignedClient(o.url, o.network, 'staff', staff.secretKey);
    const r = await client.post<{ code?: string; message?: string }>(`/v1/accounts/${encodeURIComponent(account)}/tax-id`, { tax_id: taxId });
    if (r.status === 200) process.stdout.write(`recorded tax id ${taxId} for ${account}\n`);
    else process.stderr.write(`cbdc-bank: tax id refused: ${r.body.message ?? r.status} (${r.body.code ?? `HTTP ${r.status}`})\n`);
    process.exitCode = r.status === 200 ? 0 : 1;
  });

const tax = program.command('tax').description("the tax authority's read-only view (signed with the bank's tax.key)");
tax.command('receipts')
  .description("the receipts the bank issued for a merchant (account id or tax id), each checked against the bank's key")
  .requiredOption('--merchant <id>', 'a merchant account id (bank-a.0123456789ab) or an 18-character tax id')
  .option('--day <YYYY-MM-DD>', 'only receipts issued that day (bank time zone)')
  .requiredOption('--url <url>', 'the bank node URL')
  .requiredOption('--data-dir <dir>', 'the bank node data directory (for tax.key)')
  .option('--network <id>', 'network id', 'cbdc-local')
  .option('--json', 'print the receipts as one JSON document')
  .action(async (o: { merchant: string; day?: string; url: string; dataDir: string; network: string; json?: boolean }) => {
    const key = readKeyFile(bankKeyFiles(o.dataDir).tax);
    const client = new SignedClient(o.url, o.network, 'tax', key.secretKey);
    const bankKey = await client.get<{ public_key: string }>('/v1/bank/key');
    const entries: { receipt: Record<string, unknown> & { receipt_id: string; total_fen: string; tax_fen: string; merchant_account: string } }[] = [];
    let after: string | null = null;
    let merchants: string[] = [];
    // Pages until the end (at most 10,000 receipts in one listing).
    for (let page = 0; page < 50; page++) {
      const q: URLSearchParams = new URLSearchParams({ merchant: o.merchant, limit: '200', ...(o.day ? { day: o.day } : {}), ...(after ? { after } : {}) });
      const r: { status: number; body: { merchants: string[]; entries: typeof entries; next: string | null; code?: string; message?: string } } = await client.get<{ merchants: string[]; entries: typeof entries; next: string | null; code?: string; message?: string }>(`/v1/tax/receipts?${q}`);
      if (r.status !== 200) {
        process.stderr.write(`cbdc-bank: tax receipts refused: ${r.body.message ?? r.status} (${r.body.code ?? `HTTP ${r.status}`})\n`);
        process.exitCode = 1;
        return;
      }
      merchants = r.body.merchants;
      entries.push(...r.body.entries);
      after = r.body.next;
      if (after === null) break;
    }
    const pub = Buffer.from(bankKey.body.public_key, 'hex');
    const bad = entries.filter((e) => !verifyReceipt(e.receipt, pub)).length;
    if (o.json) {
      process.stdout.write(JSON.stringify({ merchant: o.merchant, merchants, day: o.day ?? null, bank_key: bankKey.body.public_key, receipts: entries.map((e) => e.receipt) }) + '\n');
    } else {
      let total = 0n;
      let taxFen = 0n;
      for (const e of entries) {
        total += BigInt(e.receipt.total_fen);
        taxFen += BigInt(e.receipt.tax_fen);
        process.stdout.write(`${e.receipt.receipt_id}  ${e.receipt.merchant_account}  ${formatYuan(BigInt(e.receipt.total_fen))}  tax ${formatYuan(BigInt(e.receipt.tax_fen))}  ${verifyReceipt(e.receipt, pub) ? 'ok' : 'BAD'}\n`);
      }
      process.stdout.write(`${entries.length} receipt(s), total ${formatYuan(total)} yuan, tax ${formatYuan(taxFen)} yuan${bad > 0 ? `, ${bad} BAD` : ', every signature ok'}\n`);
    }
    process.exitCode = bad > 0 ? 1 : 0;
  });

program.command('visitors')
  .description("the visitor wallets' FX ledger: every card top-up and conversion back at the bank (staff key)")
  .argument('<what>', 'fx-ledger')
  .requiredOption('--url <url>', 'the bank node URL')
  .requiredOption('--data-dir <dir>', 'the bank node data directory (for the staff key)')
  .option('--network <id>', 'network id', 'cbdc-local')
  .option('--json', 'print JSON')
  .action(async (what: string, o) => {
    if (what !== 'fx-ledger') throw new Error(`visitors: unknown "${what.slice(0, 20)}"; try: visitors fx-ledger`);
    const staff = readKeyFile(bankKeyFiles(o.dataDir).staff);
    const client = new SignedClient(o.url, o.network, 'staff', staff.secretKey);
    const r = await client.get<{ lines?: Record<string, string | number | null>[]; code?: string; message?: string }>('/v1/bank/visitors/fx-ledger?limit=500');
    if (o.json || r.status !== 200) process.stdout.write(JSON.stringify(r.body) + '\n');
    else {
      const lines = r.body.lines ?? [];
      process.stdout.write(lines.length === 0 ? '(no FX lines)\n' : lines.map((l) => `#${l.seq}  ${l.account}  ${l.direction}  ${l.kind}  ${l.amount_minor} ${l.currency} minor units = ${formatYuan(BigInt(l.amount_fen!))} yuan (fee ${formatYuan(BigInt(l.fee_fen!))})  card ${l.card_last4}  ${l.acquirer_ref}`).join('\n') + '\n');
    }
    process.exitCode = r.status === 200 ? 0 : 1;
  });

registerBankAnalyticsCommands(program);

program.parseAsync().catch((e: Error & { code?: string }) => {
  process.stderr.write(`cbdc-bank: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(2);
});
