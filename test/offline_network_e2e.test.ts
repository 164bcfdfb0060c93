// Offline payments end to end: central and bank-a as real processes, three people with
// `cbdc-wallet` (child processes), each with an offline device (the emulated applet, its
// state next to the keystore). Alice loads her device from her wallet; she pays Bob with no
// network over the whole PC/SC stack (Bob's `offline receive` runs the nfc-pcsc terminal,
// Alice's `offline pay` presents her card through vpcd to pcscd); both sync, twice, and the
// payment settles once; Bob unloads and his online balance rises exactly once. Then Alice's
// device is cloned (its state file copied): the original pays Bob, the clone pays Carol at
// the same counter; the bank catches it at the second sync, keeps the evidence, revokes
// the device and covers the loss (within the caps); Bob's device gets the revocation list
// at its next sync and then refuses the clone. The reserve-coverage check holds throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, BANK_CLI, freePort, killAllNetworkProcesses } from './helpers/network_process.js';
import { WalletUser, eventually, runNode, tellerDeposit, waitForHoldings } from './helpers/wallet_fixture.js';
import { type PcscStack, acquirePcscStack } from '../offline/pcsc_stack.js';
import { collectPayment } from '../offline/terminal.js';
import { CardRefusal, SW } from '../offline/apdu.js';
import { decodeVoucher, voucherHash } from '../offline/voucher.js';
import { type LocalDevice, deviceDirOf, localDevice } from '../wallet/offline_device.js';

const NETWORK = 'cbdc-offline-e2e';

let root: string;
let net: NetworkProcess;
let stack: PcscStack | null = null;
let alice: WalletUser;
let bob: WalletUser;
let carol: WalletUser;
let aliceSerial = '';

type CheckJson = { ok: boolean; reserve_fen: string; liabilities_fen: string; loss_fen: string; max_device_loss_fen: string; problems: string[] };

/** The reserve-coverage check: `cbdc-bank offline-check --json` (the command line), or its route. */
async function offlineCheck(how: 'cli' | 'api' = 'api'): Promise<CheckJson> {
  const b = net.bank('bank-a');
  if (how === 'api') {
    const r = await b.client('staff').get<CheckJson>('/v1/bank/offline/check');
    expect(r.status).toBe(200);
    return r.body;
  }
  const r = await runNode(BANK_CLI, ['offline-check', '--url', b.url, '--data-dir', b.o.dataDir, '--network', NETWORK, '--json'], { home: root });
  expect(r.json.length, r.stderr).toBe(1);
  const j = r.json[0] as CheckJson;
  expect(r.code, JSON.stringify(j)).toBe(j.ok ? 0 : 1);
  return j;
}

const accountIds = new Map<WalletUser, string>();

/** The online wallet balance, as bank staff read it. */
async function walletFen(u: WalletUser): Promise<bigint> {
  const r = await net.bank('bank-a').client('staff').get<{ balance_fen: string }>(`/v1/accounts/${accountIds.get(u)!}`);
  expect(r.status).toBe(200);
  return BigInt(r.body.balance_fen);
}

async function device(serial: string): Promise<Record<string, string>> {
  const r = await net.bank('bank-a').client('staff').get<Record<string, string>>(`/v1/bank/offline/devices/${serial}`);
  expect(r.status).toBe(200);
  return r.body;
}

/** One in-process tap (real applets on their state files, no reader): the payer card pays the payee device. */
async function tapInProcess(payer: LocalDevice, payee: LocalDevice, amountFen: bigint): Promise<void> {
  await payee.client.select();
  const challenge = await payee.client.challenge(amountFen, BigInt(Date.now()));
  await collectPayment(payer.client, payee.client, challenge);
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-offline-e2e-'));
  net = new NetworkProcess({ root, network: NETWORK, banks: ['bank-a'] });
  await net.start();
  alice = new WalletUser('alice', root, 'alice: offline and on', 'file');
  bob = new WalletUser('bob', root, 'bob: offline and on', 'file');
  carol = new WalletUser('carol', root, 'carol: offline and on', 'file');
  const phones = ['+8613800000101', '+8613800000102', '+8613800000103'];
  await Promise.all([alice, bob, carol].map(async (u, i) => {
    await u.ok(['init', '--scrypt-cost', '10']);
    const [a] = await u.ok(['open-account', '--bank', net.bank('bank-a').url, '--tier', '4', '--phone', phones[i]!]);
    accountIds.set(u, a!.account.id as string);
  }));
  await waitForHoldings(net.bank('bank-a'), 100_000n);
  const t = await tellerDeposit(net.bank('bank-a'), accountIds.get(alice)!, '1000.00', root);
  expect(t.code, t.stderr).toBe(0);
  await alice.ok(['exchange', 'to-wallet', '1000']);
  stack = await acquirePcscStack();
}, 180_000);

afterAll(async () => {
  await stack?.release();
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe('offline wallet-to-wallet payments, settled at the bank', () => {
  it('provisions three devices and loads Alice’s from her wallet through the offline reserve', async () => {
    const [p] = await alice.ok(['offline', 'provision', '--balance-cap', '500', '--payment-cap', '300']);
    aliceSerial = p!.device.serial;
    expect(p!.device).toMatchObject({ status: 'active', balance_cap_fen: '50000', payment_cap_fen: '30000' });
    await bob.ok(['offline', 'provision']);
    await carol.ok(['offline', 'provision']);
    const before = await walletFen(alice);
    const [l] = await alice.ok(['offline', 'load', '400']);
    expect(l!.balance_fen).toBe('40000');
    expect(await walletFen(alice)).toBe(before - 40_000n);
    expect(await offlineCheck('cli')).toMatchObject({ ok: true, reserve_fen: '40000', liabilities_fen: '40000' });
    // No PC/SC stack where the card is to be presented: a clear message and exit 4, nothing paid.
    const nowhere = await alice.run(['offline', 'pay', '--timeout', '1', '--vpcd-port', String(await freePort())]);
    expect(nowhere.code, nowhere.stderr).toBe(4);
    expect(nowhere.stderr).toMatch(/vpcd is not listening.*pcscd.*\(CBDC_ERR_NFC_UNAVAILABLE\)\s*$/s);
  });

  it('pays offline over nfc-pcsc -> pcscd -> vpcd -> applet, settles once, and the payee’s online balance rises once', async () => {
    const receiving = bob.spawn(['offline', 'receive', '120', '--timeout', '60', '--json']);
    const paid = await alice.run(['offline', 'pay', '--timeout', '60', '--json'], { timeoutMs: 90_000 });
    expect(paid.code, paid.stderr).toBe(0);
    expect(paid.json[0]).toMatchObject({ amount_fen: '12000', balance_fen: '28000', counter: '2' });
    const got = await receiving.exited;
    expect(got.code, receiving.stderr).toBe(0);
    expect(receiving.json[0]).toMatchObject({ payer: `bank-a/${aliceSerial}`, amount_fen: '12000', balance_fen: '12000' });

    // Payee first, payer second, then each again: one settlement.
    const [b1] = await bob.ok(['offline', 'sync']);
    expect(b1!.results.map((x: { status: string }) => x.status)).toEqual(['accepted', 'accepted']);
    const [a1] = await alice.ok(['offline', 'sync']);
    expect(a1!.results.map((x: { status: string }) => x.status)).toEqual(['duplicate']);
    const [b2] = await bob.ok(['offline', 'sync']);
    const [a2] = await alice.ok(['offline', 'sync']);
    expect(b2!.results).toEqual([]);
    expect(a2!.results).toEqual([]);
    const bobSerial = b1!.device.serial as string;
    expect(await device(aliceSerial)).toMatchObject({ paid_fen: '12000', held_fen: '28000' });
    expect(await device(bobSerial)).toMatchObject({ received_fen: '12000', held_fen: '12000' });
    expect(await offlineCheck()).toMatchObject({ ok: true, reserve_fen: '40000', liabilities_fen: '40000' });

    const before = await walletFen(bob);
    const [u] = await bob.ok(['offline', 'unload', '120']);
    expect(u!.balance_fen).toBe('0');
    await eventually(() => walletFen(bob), (v) => v === before + 12_000n);
    await bob.ok(['offline', 'sync']);
    await new Promise((r) => setTimeout(r, 500));
    expect(await walletFen(bob)).toBe(before + 12_000n);
    expect(await offlineCheck()).toMatchObject({ ok: true, reserve_fen: '28000', liabilities_fen: '28000' });
  });

  it('catches a cloned device paying two payees at one counter: evidence, revocation, loss within the caps', async () => {
    // The attacker's copy: the card's whole committed state (key, counter, balance) in another file.
    const cloneFile = path.join(root, 'clone.wallet.json');
    cpSync(deviceDirOf(alice.file), deviceDirOf(cloneFile), { recursive: true });
    const original = localDevice(alice.file);
    const clone = localDevice(cloneFile);
    await tapInProcess(original, localDevice(bob.file), 25_000n);
    await tapInProcess(clone, localDevice(carol.file), 25_000n);

    const [b] = await bob.ok(['offline', 'sync']);
    expect(b!.findings).toEqual([]);
    const [c] = await carol.ok(['offline', 'sync']);
    expect(c!.findings.map((f: { kind: string }) => f.kind)).toContain('counter_reuse');
    expect(c!.revoked).toEqual([aliceSerial]);

    // The evidence: two vouchers signed by the device at one counter.
    const ev = await net.bank('bank-a').client('staff').get<{ evidence: { serial: string; kind: string; vouchers: string[] }[] }>('/v1/bank/offline/evidence');
    const mine = ev.body.evidence.filter((e) => e.serial === aliceSerial && e.kind === 'counter_reuse');
    expect(mine.length).toBeGreaterThan(0);
    const [v1, v2] = mine[0]!.vouchers.map((h) => decodeVoucher(Buffer.from(h, 'hex')));
    expect(v1!.counter).toBe(v2!.counter);
    expect(voucherHash(v1!).equals(voucherHash(v2!))).toBe(false);

    // The loss is bounded by the caps, covered from the bank's holdings: the reserve still covers every device.
    const check = await offlineCheck();
    expect(check.ok, check.problems.join('; ')).toBe(true);
    expect(BigInt(check.loss_fen)).toBeGreaterThan(0n);
    expect(BigInt(check.max_device_loss_fen)).toBeLessThanOrEqual(50_000n);
    expect(await device(aliceSerial)).toMatchObject({ status: 'revoked' });

    // The original device is refused at its sync; Bob's device learns the list at its next sync and refuses the clone.
    const refused = await alice.run(['offline', 'sync']);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr.trim().endsWith('(CBDC_ERR_OFFLINE_REVOKED)'), refused.stderr).toBe(true);
    await bob.ok(['offline', 'sync']);
    const bobCard = localDevice(bob.file);
    const err = await tapInProcess(localDevice(cloneFile), bobCard, 1_000n).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CardRefusal);
    expect((err as CardRefusal).sw).toBe(SW.REVOKED);
    expect(bobCard.applet.committed.balanceFen).toBe(25_000n);
  });
});
