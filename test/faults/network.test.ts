// Network faults between the tiers: every bank reaches central through a fault-injecting TCP
// proxy on loopback (test/helpers/fault_proxy.ts) that drops answers, delays, cuts connections
// mid-response and mid-stream, and delivers stale copies of requests after their retries.
// Under a payment load the banks must retry safely (submission to central is idempotent by
// txid) and follow central's event stream without gaps; the load's end checks then hold (every
// acknowledged payment settled once, nothing unsigned settled, audit, reconciliation,
// notifications).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess } from '../helpers/network_process.js';
import { PaymentLoad, readCentralBatches } from '../helpers/payment_load.js';
import { FaultProxy } from '../helpers/fault_proxy.js';
import { CentralLink, type CentralBatchEvent } from '../../intermediary/central_link.js';
import { newKeyPair, readKeyFile } from '../../platform/key_file.js';
import { bankKeyFiles } from '../../intermediary/node.js';
import { keyLock, makeTx, signTx } from '../../protocol/tx_builder.js';
import { txToJson } from '../../protocol/tx.js';

const SEED = Number(process.env.FAULTS_SEED ?? 7_250_001);
const FAULT_MS = Number(process.env.FAULTS_NET_MS ?? 20_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
let net: NetworkProcess | null = null;
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  await net?.killAll();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('network faults between banks and central', () => {
  it(`payments settle exactly once through drops, delays, cuts and reordered retries (seed ${SEED})`, async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-net-'));
    dirs.push(root);
    let proxy: FaultProxy | null = null;
    net = new NetworkProcess({
      root, network: 'cbdc-faults-net', startTimeoutMs: 90_000, bankArgs: ['--holdings-low', '20000', '--holdings-target', '50000', '--holdings-high', '200000'],
      bankCentralUrl: async (url) => {
        const u = new URL(url);
        proxy = new FaultProxy({ targetHost: u.hostname, targetPort: Number(u.port), seed: SEED, weights: { pass: 1 }, delayMs: 150, reorderHoldMs: 400, cutBytesMax: 600 });
        proxies.push(proxy);
        return proxy.listen();
      },
    });
    await net.start();
    const load = new PaymentLoad(net, { seed: SEED + 1, walletsPerBank: 2, fundFen: 500_000n, amountFenMax: 300, pauseMs: 20 });
    await load.setup();
    const p = proxy!;
    load.start();
    p.weights = { pass: 3, delay: 2, drop: 1, cut: 1, reorder: 1 };
    // Clients keep connections alive; brief partitions make them reconnect, each time through a new fault.
    for (const end = Date.now() + FAULT_MS; Date.now() < end;) {
      await sleep(500 + Math.floor(Math.random() * 500));
      p.cutAll();
    }
    // The network heals: every connection is cut once more, then traffic flows untouched.
    p.weights = { pass: 1 };
    p.cutAll();
    await load.stop();
    await load.settle();
    const report = await load.check();
    load.close();
    const faults = { ...p.counts, partitions: p.partitions };
    expect(faults.drop + faults.cut + faults.reorder).toBeGreaterThan(0);
    expect(report.acknowledged).toBeGreaterThan(0);
    process.stdout.write(`faults/network ${JSON.stringify({ seed: SEED, fault_ms: FAULT_MS, connections: faults, ...report })}\n`);
  }, 600_000);

  it('central answers a transaction sent again with its first settlement, never a second one', async () => {
    const n = net!;
    const bankA = n.bank('bank-a');
    const key = readKeyFile(bankKeyFiles(bankA.o.dataDir).bank);
    const link = new CentralLink(n.central.url, n.network, 'bank-a', key.secretKey);
    // Issue to bank-a through central's operator-held key, then move it with one transfer sent three times.
    // Locked to a key of this test's own, so no bank counts the coin as its.
    const owner = newKeyPair();
    const iss = await link.call<{ outputs: { pos: string; id: string }[] }>('POST', '/v1/issuance', { amount_fen: '777', lock: { key: owner.publicKey.toString('hex') } });
    const tx = signTx(makeTx({
      kind: 'transfer', network: n.network, inputs: [{ pos: BigInt(iss.outputs[0]!.pos), id: Buffer.from(iss.outputs[0]!.id, 'hex') }],
      outputs: [{ value: 777n, lock: keyLock(owner.publicKey) }],
    }), [owner.secretKey]);
    const before = (await n.operator().get<{ batches: string }>('/v1/supply')).body;
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await link.client.post<{ status: string; batch: string; outputs: unknown }>('/v1/transactions', txToJson(tx)));
    for (const a of answers) expect(a.status).toBe(200);
    expect(answers.map((a) => a.body.status)).toEqual(['settled', 'settled', 'settled']);
    expect(answers[1]!.body).toEqual(answers[0]!.body);
    expect(answers[2]!.body).toEqual(answers[0]!.body);
    // The same in one batch: one settles, the copies get its settlement.
    const batch = await link.client.post<{ results: { status: string; batch: string }[] }>('/v1/batches', { transactions: [txToJson(tx), txToJson(tx)] });
    expect(batch.body.results.map((r) => r.batch)).toEqual([answers[0]!.body.batch, answers[0]!.body.batch]);
    const after = (await n.operator().get<{ batches: string }>('/v1/supply')).body;
    // One batch for the issuance, one for the transfer: the copies added nothing.
    expect(BigInt(after.batches) - BigInt(before.batches)).toBe(1n);
  }, 120_000);

  it("a bank's follower of central's event stream resumes after every cut with no gap and no repeat", async () => {
    const n = net!;
    const u = new URL(n.central.url);
    const proxy = new FaultProxy({
      targetHost: u.hostname, targetPort: Number(u.port), seed: SEED + 2, weights: { cut: 3, delay: 1, pass: 1 }, delayMs: 50, cutBytesMax: 20_000,
      schedule: ['cut', 'cut', 'delay', 'cut', 'cut', 'cut', 'delay', 'cut'],
    });
    proxies.push(proxy);
    await proxy.listen();
    const key = readKeyFile(bankKeyFiles(n.bank('bank-b').o.dataDir).bank);
    const link = new CentralLink(proxy.url, n.network, 'bank-b', key.secretKey);
    const head = (await readCentralBatches(n)).length;
    const seen: bigint[] = [];
    let cursor = 0n;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`follower stopped at ${cursor} of ${head}`)), 120_000);
      link.follow(() => cursor, async (b: CentralBatchEvent) => {
        seen.push(BigInt(b.seq));
        cursor = BigInt(b.seq) + 1n;
        if (cursor >= BigInt(head)) {
          clearTimeout(timer);
          resolve();
        }
      }, reject);
    });
    link.stop();
    expect(seen).toEqual(Array.from({ length: head }, (_, i) => BigInt(i)));
    expect(proxy.counts.cut).toBeGreaterThan(0);
    process.stdout.write(`faults/stream ${JSON.stringify({ batches: head, connections: proxy.counts })}\n`);
  }, 180_000);
});
