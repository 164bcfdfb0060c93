// A revoked offline device is refused everywhere, with real processes: central and two banks
// (`node dist/.../cli.js serve`), cards that are the real applet spoken to in APDUs. Bank A
// revokes Alice's device; then, each time with a coded refusal and nothing changed (the
// devices' records at both banks, the accounts, both banks' lists, central's supply, the
// cards' state digests):
//   - at bank A: a load, a load authorisation for money loaded before, an unload, a sync, a
//     new certificate for the revoked key, a payee's upload of a voucher the revoked card made
//     after the revocation without the payee's own receipt;
//   - on Alice's own card once it holds the list: it pays no one;
//   - on a device of bank B, after its sync at bank B (which hands over bank A's list): it
//     takes no payment from Alice's card (before that sync it would have);
//   - at bank B's API: Alice's device syncing there, or a payee there uploading her voucher;
//     and bank B's terminal takes no payer of bank A at all (not settled between banks yet).
// And the rule for vouchers made before the payee could know: honoured, once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ERRORS, type ErrorCode } from '../../protocol/errors.js';
import { signHash } from '../../protocol/sig.js';
import { newKeyPair } from '../../platform/key_file.js';
import { SignedClient } from '../../platform/signed_client.js';
import { BankClient } from '../../wallet/client.js';
import { OfflineWallet } from '../../wallet/offline_wallet.js';
import type { Wallet } from '../../wallet/wallet.js';
import { Applet } from '../../offline/applet.js';
import { MemoryAppletStore } from '../../offline/applet_store.js';
import { stateDigest } from '../../offline/applet_state.js';
import { CardClient, localChannel } from '../../offline/card_client.js';
import { ApduOfflineCard } from '../../offline/offline_card.js';
import { CardRefusal, SW } from '../../offline/apdu.js';
import { collectPayment } from '../../offline/terminal.js';
import { decodeCertificate } from '../../offline/certificate.js';
import { encodeVoucher } from '../../offline/voucher.js';
import { type BankProcess, NetworkProcess, killAllNetworkProcesses } from '../helpers/network_process.js';
import { waitForHoldings } from '../helpers/wallet_fixture.js';

const yuan = (n: number): bigint => BigInt(n) * 100n;

let root: string;
let net: NetworkProcess;
const tried: Record<string, number> = {};
const count = (what: string) => { tried[what] = (tried[what] ?? 0) + 1; };

interface Person {
  bank: BankProcess;
  id: string;
  sk: Buffer;
  http: SignedClient;
}

interface Device {
  who: Person;
  applet: Applet;
  card: ApduOfflineCard;
  serial: string;
  certHex: string;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-revocation-'));
  net = new NetworkProcess({ root, startTimeoutMs: 60_000 });
  await net.start();
  await Promise.all([...net.banks.values()].map((b) => waitForHoldings(b, yuan(10_000), 90_000)));
}, 180_000);

afterAll(async () => {
  await net?.killAll();
  await killAllNetworkProcesses();
  if (root) await rm(root, { recursive: true, force: true });
  process.stdout.write(`faults/revocation ${JSON.stringify(tried)}\n`);
});

let phones = 0;
async function person(bank: BankProcess, fundFen: bigint): Promise<Person> {
  const kp = newKeyPair();
  const opener = new SignedClient(bank.url, net.network, `key:${kp.publicKey.toString('hex')}`, kp.secretKey);
  const r = await opener.post<{ id: string }>('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: `+8613900${String(phones++).padStart(6, '0')}` } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const p: Person = { bank, id: r.body.id, sk: kp.secretKey, http: new SignedClient(bank.url, net.network, r.body.id, kp.secretKey) };
  if (fundFen > 0n) {
    const dep = await bank.client('staff').post(`/v1/accounts/${p.id}/deposit`, { amount_fen: fundFen.toString() });
    expect(dep.status, JSON.stringify(dep.body)).toBe(200);
    const ex = await p.http.post<{ status: string }>(`/v1/accounts/${p.id}/exchange`, { direction: 'to_wallet', amount_fen: fundFen.toString(), idempotency_key: `fund-${p.id.replace('.', '-')}` });
    expect(ex.status, JSON.stringify(ex.body)).toBe(200);
    expect(ex.body.status).toBe('settled');
  }
  return p;
}

/** The wallet side the offline flows need (its account and a client for its bank). */
function offlineWallet(d: Device): OfflineWallet {
  const client = new BankClient({ url: d.who.bank.url, network: net.network, signer: d.who.id, secretKey: d.who.sk });
  const w = { account: { account_id: d.who.id, network: net.network }, client: () => client } as unknown as Wallet;
  return new OfflineWallet(w, d.card);
}

/** A blank card initialised with what its bank publishes (its own key and its peers'), then certified. */
async function provision(who: Person): Promise<Device> {
  const applet = Applet.open(new MemoryAppletStore());
  const card = new ApduOfflineCard(new CardClient(localChannel(applet)), async () => {
    const t = await who.bank.client('staff').get<{ network: string; banks: { id: string; public_key: string }[] }>('/v1/offline/trust');
    return { network: t.body.network, banks: new Map(t.body.banks.map((b) => [b.id, Buffer.from(b.public_key, 'hex')])) };
  });
  const r = await who.http.post<{ serial: string; certificate: string }>(`/v1/accounts/${who.id}/offline/devices`, { device_public_key: (await card.publicKey()).toString('hex') });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  await card.installCertificate(r.body.certificate);
  return { who, applet, card, serial: r.body.serial, certHex: r.body.certificate };
}

/** A load through the reserve; returns the load's payment id. */
async function load(d: Device, amountFen: bigint): Promise<string> {
  const base = `/v1/accounts/${d.who.id}/offline/devices/${d.serial}`;
  const p = await d.who.http.post<{ payment: { id: string; txid: string; status: string } }>(`${base}/loads`, { amount_fen: amountFen.toString(), idempotency_key: `load-${d.serial}-${amountFen}` });
  expect(p.status, JSON.stringify(p.body)).toBe(200);
  const s = await d.who.http.post<{ status: string }>(`/v1/accounts/${d.who.id}/payments/${p.body.payment.id}/sign`, { sig: signHash(d.who.sk, Buffer.from(p.body.payment.txid, 'hex')).toString('hex') });
  expect(s.body.status, JSON.stringify(s.body)).toBe('settled');
  const a = await d.who.http.post<{ authorisation: string }>(`${base}/loads/${p.body.payment.id}/authorisation`, { device_counter: (await d.card.counter()).toString() });
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  await d.card.applyAuthorisation(a.body.authorisation);
  await offlineWallet(d).sync();
  return p.body.payment.id;
}

/** One payment card to card (the payee's terminal, without the reader). */
async function pay(payer: Device, payee: Device, amountFen: bigint) {
  return (await payment(payer, payee, amountFen))();
}

/** The payee's challenge now (it changes the payee's card), and the rest of the payment to run later. */
async function payment(payer: Device, payee: Device, amountFen: bigint, payerBanks?: Set<string>): Promise<() => ReturnType<typeof collectPayment>> {
  await payee.card.client.select();
  const ch = await payee.card.client.challenge(amountFen, BigInt(Date.now()));
  return () => collectPayment(payer.card.client, payee.card.client, ch, payerBanks ? { payerBanks } : {});
}

function expectCoded(r: { status: number; body: unknown }, code: ErrorCode): void {
  expect(r.body, JSON.stringify(r.body)).toMatchObject({ code });
  expect(r.status).toBe(ERRORS[code][0]);
}

async function refusedOnCard(f: () => Promise<unknown>, sw: number): Promise<void> {
  const e = await f().then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(CardRefusal);
  expect((e as CardRefusal).sw).toBe(sw);
}

describe('a revoked offline device is refused at both banks and on both banks\' devices', () => {
  it('refuses it everywhere with a coded error, changing nothing', async () => {
    const A = net.bank('bank-a');
    const B = net.bank('bank-b');
    const [alice, carol, dora] = await Promise.all([person(A, yuan(2_000)), person(A, 0n), person(B, 0n)]);
    const aliceDev = await provision(alice);
    const carolDev = await provision(carol);
    const doraDev = await provision(dora);
    // Bank B's devices trust bank A's key (from central's directory), so they can check its lists.
    expect([...(await B.client('staff').get<{ banks: { id: string }[] }>('/v1/offline/trust')).body.banks].map((b) => b.id)).toEqual(['bank-b', 'bank-a']);
    const earlierLoad = await load(aliceDev, yuan(300));
    await load(aliceDev, yuan(200));
    await pay(aliceDev, carolDev, yuan(10));
    await offlineWallet(carolDev).sync();
    const aliceCert = decodeCertificate(Buffer.from(aliceDev.certHex, 'hex'));
    // Before any revocation, Dora's card would take Alice's card as a payer.
    await doraDev.card.client.select();
    await doraDev.card.client.checkPayer(aliceCert, BigInt(Date.now()));

    // Bank A's staff revoke Alice's device (a lost card, say).
    const rv = await A.client('staff').post<{ status: string }>(`/v1/bank/offline/devices/${aliceDev.serial}/revoke`, { reason: 'reported lost' });
    expect(rv.status, JSON.stringify(rv.body)).toBe(200);
    expect(rv.body.status).toBe('revoked');
    // Carol's card has not synced since: it still takes one payment from Alice's card (a voucher
    // made after the revocation, before the payee could know).
    const late = await pay(aliceDev, carolDev, yuan(7));

    const figures = async (): Promise<string> => JSON.stringify(await Promise.all([
      A.client('staff').get(`/v1/bank/offline/devices/${aliceDev.serial}`), A.client('staff').get(`/v1/bank/offline/devices/${carolDev.serial}`),
      B.client('staff').get(`/v1/bank/offline/devices/${doraDev.serial}`), alice.http.get(`/v1/accounts/${alice.id}`),
      A.client('staff').get('/v1/bank/offline/evidence'), B.client('staff').get('/v1/bank/offline/evidence'),
      A.client('staff').get('/v1/bank/totals'), B.client('staff').get('/v1/bank/totals'), net.operator().get('/v1/supply'),
    ].map((p) => p.then((r) => [r.status, r.body]))));
    const cards = () => [aliceDev, carolDev, doraDev].map((d) => stateDigest(d.applet.committed));
    const unchanged = async (what: string, attack: () => Promise<void>): Promise<void> => {
      const before = await figures();
      const cardsBefore = cards();
      await attack();
      expect(await figures(), what).toBe(before);
      expect(cards(), what).toEqual(cardsBefore);
      count(what);
    };

    // 1. Bank A's endpoints for the device.
    const base = `/v1/accounts/${alice.id}/offline/devices/${aliceDev.serial}`;
    await unchanged('bank A: load', async () => {
      expectCoded(await alice.http.post(`${base}/loads`, { amount_fen: '100', idempotency_key: 'after-revoke-1' }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    await unchanged('bank A: load authorisation for money loaded before', async () => {
      expectCoded(await alice.http.post(`${base}/loads/${earlierLoad}/authorisation`, { device_counter: (await aliceDev.card.counter()).toString() }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    await unchanged('bank A: unload', async () => {
      expectCoded(await alice.http.post(`${base}/unloads`, { amount_fen: '100', device_counter: (await aliceDev.card.counter()).toString(), idempotency_key: 'after-revoke-2' }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    await unchanged('bank A: sync', async () => {
      const { log, received } = await aliceDev.card.log();
      expectCoded(await alice.http.post('/v1/offline/uploads', { certificate: aliceDev.certHex, log, received }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    const other = await person(A, 0n);
    await unchanged('bank A: the revoked key certified again', async () => {
      expectCoded(await other.http.post(`/v1/accounts/${other.id}/offline/devices`, { device_public_key: aliceCert.devicePub.toString('hex') }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    await unchanged('bank A: a payee uploads the late voucher without its own receipt', async () => {
      const received = [{ certificate: aliceDev.certHex, voucher: encodeVoucher(late.payVoucher).toString('hex') }];
      expectCoded(await carol.http.post('/v1/offline/uploads', { log: [], received }), 'CBDC_ERR_OFFLINE_REVOKED');
    });

    // 2. Alice's own card, once it holds bank A's list (the wallet's failed sync fetches it).
    await expect(offlineWallet(aliceDev).sync()).rejects.toMatchObject({ code: 'CBDC_ERR_OFFLINE_REVOKED' });
    const toCarol = await payment(aliceDev, carolDev, yuan(1));
    await unchanged('Alice\'s card pays no one', async () => {
      await refusedOnCard(toCarol, SW.REVOKED);
    });

    // 3. Bank B's device after its sync at bank B, which hands over bank A's list.
    const r = await offlineWallet(doraDev).sync();
    expect(r.revocation_lists?.length).toBe(2);
    const lists = doraDev.applet.committed.revocations;
    expect(lists.get('bank-a')?.serials).toContain(aliceCert.serial);
    const toDora = await payment(aliceDev, doraDev, yuan(1));
    await unchanged('bank B\'s device refuses the payer', async () => {
      await doraDev.card.client.select();
      await refusedOnCard(() => doraDev.card.client.checkPayer(aliceCert, BigInt(Date.now())), SW.REVOKED);
      await refusedOnCard(toDora, SW.REVOKED);
    });

    // 4. Bank B's API.
    await unchanged('bank B: the revoked device syncs there', async () => {
      // Alice banks at A; at bank B a customer (Dora's wallet) brings the revoked device's certificate.
      expectCoded(await dora.http.post('/v1/offline/uploads', { certificate: aliceDev.certHex, log: [], received: [] }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    await unchanged('bank B: a payee there uploads a voucher of the revoked device', async () => {
      const received = [{ certificate: aliceDev.certHex, voucher: encodeVoucher(late.payVoucher).toString('hex') }];
      expectCoded(await dora.http.post('/v1/offline/uploads', { log: [], received }), 'CBDC_ERR_OFFLINE_REVOKED');
    });
    // The control: bank A's device that is not revoked is refused at bank B as another bank's,
    // not as revoked; and the wallet's terminal at bank B takes no payer of bank A (banks do not
    // settle each other's offline vouchers yet), before anything is paid.
    expectCoded(await dora.http.post('/v1/offline/uploads', { certificate: carolDev.certHex, log: [], received: [] }), 'CBDC_ERR_OFFLINE_UNTRUSTED');
    const fromCarol = await payment(carolDev, doraDev, yuan(1), new Set(['bank-b']));
    await unchanged('bank B\'s terminal refuses a payer of bank A', async () => {
      await expect(fromCarol()).rejects.toMatchObject({ code: 'CBDC_ERR_OFFLINE_UNTRUSTED' });
    });

    // 5. The voucher Carol's card took before it could know: honoured once, when she syncs.
    const carolBefore = (await A.client('staff').get<{ received_fen: string }>(`/v1/bank/offline/devices/${carolDev.serial}`)).body;
    const s1 = await offlineWallet(carolDev).sync();
    expect(s1.results.filter((x) => x.status === 'accepted').length).toBeGreaterThanOrEqual(1);
    const carolAfter = (await A.client('staff').get<{ received_fen: string }>(`/v1/bank/offline/devices/${carolDev.serial}`)).body;
    expect(BigInt(carolAfter.received_fen) - BigInt(carolBefore.received_fen)).toBe(yuan(7));
    // Her card now holds the list: Alice's card is refused there too.
    await refusedOnCard(() => pay(aliceDev, carolDev, yuan(1)), SW.REVOKED);
    const check = await A.client('staff').get<{ ok: boolean; problems: string[] }>('/v1/bank/offline/check');
    expect(check.body.ok, JSON.stringify(check.body)).toBe(true);
  }, 240_000);
});
