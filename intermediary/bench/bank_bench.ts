// CPU per payment of one bank alone: the Bank with its LMDB store on disk, payments between
// its own customers by alias, `--concurrency` at a time. `--flow pay` (the default, what the
// wallet and the load test use): the wallet builds and signs the transaction from its own
// coin view and the payee's receive terms (asked once per payee, as a wallet keeps them), and
// the bank checks, co-signs and settles it in one call. `--flow two-step`: prepare (the bank
// builds it with a fresh lock), the wallet's signature over the txid, sign, settle.
// Central is answered in this process the moment a transaction is submitted (settled, with
// new output positions; no ledger, no HTTP, no event stream), so the figure is the bank's own
// work per payment plus the wallet's, without the batching and machine noise of the
// end-to-end load test; the wallet's building and signing is also reported apart. Beside it,
// the floor's CPU for the same share of a payment, measured in the same run: the signatures
// this part of a full-mode payment must make and check at the least (the wallet signs, the
// bank checks that and co-signs: 2 made, 1 checked; central's checks and the HTTP request are
// not in this benchmark, so not in this floor either; loadtest/floor.ts has the whole).
// Usage: npm run bench:bank [-- --payments N --rounds N --concurrency N --flow pay|two-step --json]
import { mkdtempSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, Option } from 'commander';
import { type Lock, decodeLock } from '../../protocol/lock.js';
import { publicKeyOfNative, signHashNative } from '../../protocol/sig.js';
import { type Tx, txId } from '../../protocol/tx.js';
import { type WalletCoin, buildPayment, payeeOutputsOf, selectWalletCoins } from '../../wallet/payment_build.js';
import type { ReceiveTerms } from '../payee_terms.js';
import { Bank } from '../bank.js';
import type { CentralLink, CentralResult } from '../central_link.js';
import { BankStore } from '../store.js';
import { unreservedCoins } from '../coins.js';
import { measureSignatures } from '../../platform/signature_costs.js';

/** The floor's operations for what this benchmark covers (see the head of this file). */
const BANK_SHARE_FLOOR_OPS = { sign: 2, verify: 1 } as const;

const WALLETS = 100;
const WARMUP_PAYMENTS = 500;

const program = new Command()
  .option('--payments <n>', 'payments per timed round', '3000')
  .option('--rounds <n>', 'timed rounds', '3')
  .option('--concurrency <n>', 'payments in flight', '16')
  .addOption(new Option('--flow <flow>', 'one request per payment, or prepare then sign').choices(['pay', 'two-step']).default('pay'))
  .option('--json', 'print one JSON object');
program.parse();
const o = program.opts<{ payments: string; rounds: string; concurrency: string; flow: 'pay' | 'two-step'; json?: boolean }>();
const payments = Number(o.payments);
const rounds = Number(o.rounds);
const concurrency = Number(o.concurrency);
if (![payments, rounds, concurrency].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('--payments, --rounds and --concurrency take positive integers\n');
  process.exit(2);
}

const key = (label: string): { sk: Buffer; pk: Buffer } => {
  const sk = createHash('sha256').update(`cbdc-bank-bench/${label}`).digest();
  return { sk, pk: publicKeyOfNative(sk) };
};

/** Central as the bank sees it through its link, answering at once: every transaction settles. */
function centralAnsweringAtOnce(): CentralLink {
  let nextPos = 1n;
  const outputs = (n: number) => Array.from({ length: n }, () => ({ pos: String(nextPos++), id: randomBytes(32).toString('hex') }));
  const link = {
    ca: undefined,
    // Answered on a later turn of the event loop, as a batch answer would be.
    submit: (tx: Tx): Promise<CentralResult> => new Promise((resolve) => setImmediate(() => resolve(
      { status: 'settled', txid: txId(tx).toString('hex'), outputs: outputs(tx.outputs.length) } as CentralResult))),
    follow: () => undefined,
    stop: () => undefined,
    call: async (_method: string, route: string) => {
      if (route === '/v1/issuance') return { txid: randomBytes(32).toString('hex'), outputs: outputs(1) };
      throw new Error(`the bench's central does not answer ${route}`);
    },
  };
  return link as unknown as CentralLink;
}

const dir = mkdtempSync(path.join(tmpdir(), 'cbdc-bank-bench-'));
const store = new BankStore(path.join(dir, 'bank.mdb'));
const bankKey = key('bank');
const bank = new Bank(store, centralAnsweringAtOnce(), {
  id: 'bank-a', network: 'cbdc-bench', secretKey: bankKey.sk, publicKey: bankKey.pk,
  holdingsLowFen: 1n, holdingsTargetFen: 10n ** 12n, holdingsHighFen: 10n ** 15n,
});
await bank.start();
await bank.requestIssuance(10n ** 12n);

interface BenchWallet {
  id: string;
  sk: Buffer;
  phone: string;
  ownLock: Lock;
  /** The wallet's own view of its coins, as it would keep it from its answers and events. */
  coins: WalletCoin[];
}
const wallets: BenchWallet[] = [];
for (let i = 0; i < WALLETS; i++) {
  const k = key(`wallet-${i}`);
  const phone = `+8613${String(i + 1).padStart(9, '0')}`;
  const a = await bank.openAccount({ walletKey: k.pk, kind: 'personal', tier: 3, evidence: { phone, name: `Customer ${i}`, id_number: `ID${phone.slice(1)}` }, staff: null });
  await bank.creditDeposit(a.id, 1_000_000n);
  // Four coins each, so payments in flight from one wallet find unreserved ones.
  for (let c = 0; c < 4; c++) await bank.exchangeToWallet(a.id, 100_000n, `fund-${c}`);
  wallets.push({ id: a.id, sk: k.sk, phone, ownLock: decodeLock(Buffer.from(bank.account(a.id).lockHex, 'hex')), coins: coinsAtBank(a.id) });
}

/** The wallet's coins as its bank lists them (none is reserved before the first payment). */
function coinsAtBank(accountId: string): WalletCoin[] {
  return unreservedCoins(store, accountId, Number.MAX_SAFE_INTEGER).map((c) => ({ pos: c.pos, id: c.id, value: c.value, reserved: false }));
}

/** Receive terms by payee alias, asked once (a wallet keeps the payee's keys). */
const termsByAlias = new Map<string, ReceiveTerms>();

async function payOneRequest(i: number, from: BenchWallet, to: BenchWallet, amountFen: bigint): Promise<string> {
  let terms = termsByAlias.get(to.phone);
  if (terms === undefined) termsByAlias.set(to.phone, (terms = await bank.payeeTerms({ alias: to.phone }, amountFen)));
  const coins = selectWalletCoins(from.coins, amountFen);
  if (coins === null) throw new Error(`wallet ${from.id} has no coins for ${amountFen} fen`);
  for (const c of coins) c.reserved = true;
  const payee = { wallet_key: terms.walletKey.toString('hex'), receive_key: terms.receiveKey.toString('hex'), bank_key: terms.bankKey.toString('hex') };
  // The wallet's own work (derive the payee's lock, build, sign): synchronous, so its wall time
  // is its CPU time, reported apart from the bank's.
  const w0 = performance.now();
  const tx = buildPayment({
    network: 'cbdc-bench', coins, ownLock: from.ownLock, amountFen, secretKey: from.sk,
    payeeOutputs: payeeOutputsOf(payee, amountFen, BigInt(coins[0]!.pos)),
  });
  walletMs += performance.now() - w0;
  const done = await bank.pay(from.id, { idempotencyKey: `bench-${i}`, payee: { alias: to.phone }, amountFen, tx });
  const spent = new Set(coins.map((c) => c.pos));
  from.coins = from.coins.filter((c) => !spent.has(c.pos));
  if (done.status === 'settled') {
    // The answer's outputs, in the transaction's order: the payee's, then the change.
    const outs = (done.result as { outputs: { pos: string; id: string }[] }).outputs;
    to.coins.push({ ...outs[0]!, value: tx.outputs[0]!.value.toString(), reserved: false });
    if (outs[1] !== undefined) from.coins.push({ ...outs[1], value: tx.outputs[1]!.value.toString(), reserved: false });
  }
  return done.status;
}

async function payTwoStep(i: number, from: BenchWallet, to: BenchWallet, amountFen: bigint): Promise<string> {
  const p = await bank.preparePayment(from.id, { idempotencyKey: `bench-${i}`, payee: { alias: to.phone }, amountFen });
  const sig = signHashNative(from.sk, Buffer.from(p.txid, 'hex')).toString('hex');
  return (await bank.signPayment(from.id, p.id, sig)).status;
}

let seq = 0;
let notSettled = 0;
/** Time spent building and signing in the bench's wallets (flow pay), ms. */
let walletMs = 0;
async function pay(i: number): Promise<void> {
  const from = wallets[i % WALLETS]!;
  const to = wallets[(i * 7 + 1) % WALLETS]!;
  if (to === from) return;
  const amountFen = BigInt(100 + (i % 50));
  const status = o.flow === 'pay' ? await payOneRequest(i, from, to, amountFen) : await payTwoStep(i, from, to, amountFen);
  if (status !== 'settled') notSettled++;
}
async function run(count: number): Promise<void> {
  let next = seq;
  const end = seq + count;
  seq = end;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < end) await pay(next++);
  }));
}

await run(WARMUP_PAYMENTS);
const results: { cpu_ms_per_payment: number; user_ms: number; system_ms: number; wallet_ms: number; bank_cpu_ms_per_payment: number; payments_per_s: number }[] = [];
for (let r = 0; r < rounds; r++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const wallet0 = walletMs;
  await run(payments);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const per = (us: number) => Math.round(us / payments) / 1000;
  const walletUs = (walletMs - wallet0) * 1000;
  results.push({
    cpu_ms_per_payment: per(cpu.user + cpu.system), user_ms: per(cpu.user), system_ms: per(cpu.system),
    wallet_ms: per(walletUs), bank_cpu_ms_per_payment: per(cpu.user + cpu.system - walletUs), payments_per_s: Math.round(payments / seconds),
  });
}
await bank.stop();
await store.close();
rmSync(dir, { recursive: true, force: true });

const sorted = results.map((r) => r.cpu_ms_per_payment).sort((a, b) => a - b);
const costs = measureSignatures(20_000);
const floorMs = Math.round(BANK_SHARE_FLOOR_OPS.sign * costs.sign_us + BANK_SHARE_FLOOR_OPS.verify * costs.verify_us) / 1000;
const median = sorted[Math.floor(sorted.length / 2)]!;
const bankSorted = results.map((r) => r.bank_cpu_ms_per_payment).sort((a, b) => a - b);
const bankMedian = bankSorted[Math.floor(bankSorted.length / 2)]!;
const summary = {
  flow: o.flow, payments_per_round: payments, rounds: results, median_cpu_ms_per_payment: median, median_bank_cpu_ms_per_payment: bankMedian,
  floor_cpu_ms_per_payment: floorMs, floor_ops: BANK_SHARE_FLOOR_OPS, signature_costs_us: costs,
  median_to_floor: Math.round((median / floorMs) * 100) / 100,
  not_settled: notSettled, load_avg_1m: loadavg()[0] ?? 0,
};
if (o.json) {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  for (const [i, r] of results.entries()) {
    process.stdout.write(`round ${i + 1}: ${r.cpu_ms_per_payment.toFixed(3)} ms CPU per payment (user ${r.user_ms.toFixed(3)}, system ${r.system_ms.toFixed(3)}; the wallet's building and signing ${r.wallet_ms.toFixed(3)}, the rest ${r.bank_cpu_ms_per_payment.toFixed(3)}), ${r.payments_per_s} payments/s\n`);
  }
  process.stdout.write(`median ${summary.median_cpu_ms_per_payment.toFixed(3)} ms CPU per payment over ${rounds} rounds of ${payments} (flow ${o.flow}); ${notSettled} not settled; load average ${summary.load_avg_1m.toFixed(2)}\n`);
  process.stdout.write(`floor for the same share of a payment (${BANK_SHARE_FLOOR_OPS.sign} signatures made at ${costs.sign_us} us, ${BANK_SHARE_FLOOR_OPS.verify} checked at ${costs.verify_us} us): ${floorMs.toFixed(3)} ms CPU; the bank spends ${summary.median_to_floor} x that\n`);
}
if (notSettled > 0) process.exit(1);
