// Dual offline, end to end: two wallets at a bank provision real applets (the emulated secure
// element, persisted on disk), load one from the online wallet into the bank's offline
// reserve, pay offline card to card through the whole PC/SC stack (nfc-pcsc -> pcscd ->
// vpcd -> applet), then sync both devices and the bank settles. A cloned card that double
// spends to two payees is caught at reconciliation, revoked, the revocation reaches the
// payees' devices at their next sync, and the loss stays within the caps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { type TestBank, type TestNetwork, type Wallet, fundHoldings, fundWallet, idemKey, openWallet, quiesce, signPayment, startNetwork } from './helpers/bank_fixture.js';
import { Applet } from '../offline/applet.js';
import { FileAppletStore, STATE_FILE_NAME } from '../offline/applet_store.js';
import { CardClient, localChannel } from '../offline/card_client.js';
import { ApduOfflineCard } from '../offline/offline_card.js';
import { CardRefusal, SW } from '../offline/apdu.js';
import { type PcscStack, acquirePcscStack } from '../offline/pcsc_stack.js';
import { PcscReader, receiveOnReader } from '../offline/terminal.js';
import { serveCardOverVpcd } from '../offline/vpcd_card.js';
import { decodeVoucher } from '../offline/voucher.js';
import { decodeCertificate } from '../offline/certificate.js';

const yuan = (n: number): bigint => BigInt(n) * 100n;

let net: TestNetwork;
let A: TestBank;
let stack: PcscStack;
let reader: PcscReader;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cbdc-offline-e2e-'));

interface Device {
  w: Wallet;
  dir: string;
  applet: Applet;
  card: ApduOfflineCard;
  serial: string;
}

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }]);
  A = net.bank('bank-a');
  await fundHoldings(net, A);
  stack = await acquirePcscStack();
  reader = await PcscReader.open({ timeoutMs: 20_000 });
}, 150_000);

afterAll(async () => {
  reader?.close();
  await stack?.release();
  await net?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function open(dir: string): { applet: Applet; card: ApduOfflineCard } {
  const applet = Applet.open(new FileAppletStore(dir));
  const card = new ApduOfflineCard(new CardClient(localChannel(applet)), async () => {
    const t = (await A.staff.get('/v1/offline/trust')).body as { network: string; banks: { id: string; public_key: string }[] };
    return { network: t.network, banks: new Map(t.banks.map((b) => [b.id, Buffer.from(b.public_key, 'hex')])) };
  });
  return { applet, card };
}

let devices = 0;
async function provision(w: Wallet): Promise<Device> {
  const dir = path.join(root, `device-${devices++}`);
  const { applet, card } = open(dir);
  const r = await w.client.post(`/v1/accounts/${w.id}/offline/devices`, { device_public_key: (await card.publicKey()).toString('hex') });
  expect(r.status, r.text).toBe(201);
  await card.installCertificate(r.body.certificate);
  return { w, dir, applet, card, serial: r.body.serial };
}

async function sync(d: Device): Promise<{ findings: { kind: string }[]; revoked: string[] }> {
  const { log, received } = await d.card.log();
  const r = await d.w.client.post('/v1/offline/uploads', { certificate: await d.card.certificate(), log, received });
  expect(r.status, r.text).toBe(200);
  await d.card.installRevocationList(r.body.revocation_list);
  if (r.body.sync_authorisation !== null) await d.card.applyAuthorisation(r.body.sync_authorisation);
  return r.body;
}

async function load(d: Device, amountFen: bigint): Promise<void> {
  const p = await d.w.client.post(`/v1/accounts/${d.w.id}/offline/devices/${d.serial}/loads`, { amount_fen: amountFen.toString(), idempotency_key: idemKey() });
  expect(p.status, p.text).toBe(200);
  const s = await signPayment(d.w, p.body.payment);
  expect(s.body.status).toBe('settled');
  const a = await d.w.client.post(`/v1/accounts/${d.w.id}/offline/devices/${d.serial}/loads/${p.body.payment.id}/authorisation`, { device_counter: (await d.card.counter()).toString() });
  expect(a.status, a.text).toBe(200);
  await d.card.applyAuthorisation(a.body.authorisation);
  await sync(d);
}

async function bankView(d: Device): Promise<Record<string, string>> {
  const r = await A.staff.get(`/v1/bank/offline/devices/${d.serial}`);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

async function check(): Promise<{ ok: boolean; loss_fen: string; max_device_loss_fen: string; problems: string[] }> {
  await quiesce(net);
  const r = await A.staff.get('/v1/bank/offline/check');
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** The payer's card tapped on the payee's reader for one payment. */
async function payOnReader(payer: Device, payee: Device, amountFen: bigint) {
  const tap = serveCardOverVpcd(payer.applet);
  await tap.connected;
  try {
    return await receiveOnReader({ reader, payee: payee.card.client, amountFen, timeoutMs: 20_000 });
  } finally {
    await tap.close();
    await reader.waitForRemoval(20_000);
  }
}

describe('offline payments settle at the bank', () => {
  it('pays card to card through PC/SC with no network, and the bank settles both sides at sync', async () => {
    const [alice, bob] = [await openWallet(A), await openWallet(A)];
    await fundWallet(alice, yuan(1_000));
    const da = await provision(alice);
    const db = await provision(bob);
    await load(da, yuan(300));
    expect(await da.card.balanceFen()).toBe(yuan(300));

    // Offline: no bank call between these two lines.
    const r = await payOnReader(da, db, yuan(42));
    expect(r.payVoucher.amountFen).toBe(yuan(42));
    expect([await da.card.balanceFen(), await db.card.balanceFen()]).toEqual([yuan(258), yuan(42)]);

    // Back online: the payee syncs first (its upload carries the payer's voucher), then the payer.
    const sb = await sync(db);
    const sa = await sync(da);
    expect([sb.findings, sa.findings, sb.revoked, sa.revoked]).toEqual([[], [], [], []]);
    const [va, vb] = [await bankView(da), await bankView(db)];
    expect([va.paid_fen, va.held_fen, vb.received_fen, vb.held_fen]).toEqual(['4200', '25800', '4200', '4200']);
    expect((await da.card.log()).log).toEqual([]); // the bank holds it all now
    const c = await check();
    expect(c.ok, c.problems.join('; ')).toBe(true);
    expect(c.loss_fen).toBe('0');
  });

  it('a cloned card double spending to two payees is caught, revoked, refused by payees after their sync; the loss is within the caps', async () => {
    const [mallory, bob, carol] = [await openWallet(A), await openWallet(A), await openWallet(A)];
    await fundWallet(mallory, yuan(1_000));
    const dm = await provision(mallory);
    const db = await provision(bob);
    const dc = await provision(carol);
    await load(dm, yuan(500));
    // The secure element read out and copied, key, counter and all.
    const cloneDir = path.join(root, 'clone');
    fs.mkdirSync(cloneDir);
    fs.copyFileSync(path.join(dm.dir, STATE_FILE_NAME), path.join(cloneDir, STATE_FILE_NAME));
    const clone: Device = { ...dm, dir: cloneDir, ...open(cloneDir) };

    // Offline, both copies spend the same balance; each payee's checks pass.
    const r1 = await payOnReader(dm, db, yuan(500));
    const r2 = await payOnReader(clone, dc, yuan(500));
    expect(r1.payVoucher.counter).toBe(r2.payVoucher.counter);
    expect([await db.card.balanceFen(), await dc.card.balanceFen()]).toEqual([yuan(500), yuan(500)]);

    // Reconciliation: the second upload shows the counter used twice.
    await sync(db);
    const s = await sync(dc);
    expect(s.findings.map((f) => f.kind)).toContain('counter_reuse');
    expect(s.revoked).toEqual([dm.serial]);
    const ev = (await A.staff.get('/v1/bank/offline/evidence')).body.evidence.filter((e: { serial: string }) => e.serial === dm.serial);
    expect(ev[0].vouchers.map((h: string) => decodeVoucher(Buffer.from(h, 'hex')).counter)).toEqual([r1.payVoucher.counter, r2.payVoucher.counter]);

    // The revocation reached carol's device in that sync, bob's at his next: both now refuse either copy.
    await sync(db);
    for (const payee of [db, dc]) {
      for (const payer of [dm, clone]) {
        const before = await payee.card.balanceFen();
        const tap = serveCardOverVpcd(payer.applet);
        await tap.connected;
        try {
          await expect(receiveOnReader({ reader, payee: payee.card.client, amountFen: 100n, timeoutMs: 20_000 })).rejects.toSatisfy(
            (e: unknown) => e instanceof CardRefusal && e.sw === SW.REVOKED,
          );
        } finally {
          await tap.close();
          await reader.waitForRemoval(20_000);
        }
        expect(await payee.card.balanceFen()).toBe(before);
      }
    }
    // The loss is one balance's worth, within the device's caps, and the reserve check holds.
    const c = await check();
    expect(c.ok, c.problems.join('; ')).toBe(true);
    expect(BigInt(c.loss_fen)).toBe(yuan(500));
    const cert = decodeCertificate(Buffer.from((await dm.card.certificate())!, 'hex'));
    expect(BigInt(c.loss_fen)).toBeLessThanOrEqual(cert.balanceCapFen);
  });
});
