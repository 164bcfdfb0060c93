// Offline vouchers in the e2e mix (--mix offline=x). Before the clock: each pair of devices
// (payer and payee wallets at one bank) is registered at the bank, the payer's device loaded
// from its wallet through the bank's offline reserve (a real payment settled at central) and
// synced, then the payer pays the payee card to card OFFLINE_PAYMENTS_PER_PAIR times. The
// devices are the emulated applet in this process (the load generator is the client); the
// bank side is the real bank process over HTTP. During the run both devices of every pair
// upload their logs and the vouchers they took (POST /v1/offline/uploads, as a device's sync
// does), so every pay voucher reaches the bank twice and must settle once.
import { Applet, ApduOfflineCard, CardClient, MemoryAppletStore, collectPayment, localChannel, voucherHash } from '../offline/index.js';
import { signHashNative } from '../protocol/sig.js';
import { forEachLimited, getWithRetry, signedCall } from './setup.js';
import { OFFLINE_LOAD_FEN, type OfflinePairPlan } from './workload.js';
import { Recorder } from './runner.js';
import { type Check } from './conservation.js';

/** Setup requests and card work in flight at once. */
const OFFLINE_SETUP_CONCURRENCY = 8;
/** Uploads in flight at once per bank during the run (a bank settles uploads one at a time). */
export const OFFLINE_UPLOAD_LANES_PER_BANK = 4;
/** How long a load payment may take to settle at central. */
const LOAD_SETTLE_WAIT_MS = 120_000;

export interface OfflineAccount {
  accountId: string;
  bank: string;
  bankUrl: string;
  sk: Buffer;
}

export interface OfflineDevice {
  account: OfflineAccount;
  card: ApduOfflineCard;
  serial: string;
  certificate: string;
}

export interface OfflinePair {
  plan: OfflinePairPlan;
  payer: OfflineDevice;
  payee: OfflineDevice;
  /** The pay vouchers' hashes (hex), in payment order. */
  payHashes: string[];
}

interface DeviceJson {
  serial: string;
  certificate: string;
  device_public_key: string;
  paid_fen: string;
  received_fen: string;
  held_fen: string;
  loaded_fen: string;
}

interface UploadAnswer {
  results?: { source: string; hash: string | null; status: string; code?: string }[];
  findings?: { kind: string }[];
  sync_authorisation?: string | null;
  revocation_list?: string;
  code?: string;
  message?: string;
}

function call<T>(network: string, a: OfflineAccount, method: 'GET' | 'POST', p: string, body?: unknown) {
  return signedCall<T & { code?: string; message?: string }>(a.bankUrl, network, a.sk, a.accountId, method, p, body);
}

async function provision(network: string, a: OfflineAccount, trust: { network: string; banks: Map<string, Buffer> }): Promise<OfflineDevice> {
  const card = new ApduOfflineCard(new CardClient(localChannel(Applet.open(new MemoryAppletStore()))), async () => trust);
  const pub = await card.publicKey();
  const r = await call<DeviceJson>(network, a, 'POST', `/v1/accounts/${a.accountId}/offline/devices`, { device_public_key: pub.toString('hex') });
  if (r.status !== 201) throw new Error(`registering a device of ${a.accountId}: ${r.status} ${r.body.code} ${r.body.message}`);
  await card.installCertificate(r.body.certificate);
  return { account: a, card, serial: r.body.serial, certificate: r.body.certificate };
}

/** One upload of a device's log and the vouchers it took; applies the sync authorisation it answers with. */
async function sync(network: string, d: OfflineDevice): Promise<UploadAnswer> {
  const { log, received } = await d.card.log();
  const r = await call<UploadAnswer>(network, d.account, 'POST', '/v1/offline/uploads', { certificate: d.certificate, log, received });
  if (r.status !== 200) throw new Error(`syncing device ${d.serial}: ${r.status} ${r.body.code} ${r.body.message}`);
  if (r.body.revocation_list) await d.card.installRevocationList(r.body.revocation_list);
  if (r.body.sync_authorisation) await d.card.applyAuthorisation(r.body.sync_authorisation);
  return r.body;
}

/** Loads a device from its account's wallet: a payment to the offline reserve, then the bank's load authorisation. */
async function load(network: string, d: OfflineDevice, amountFen: bigint, key: string): Promise<void> {
  const a = d.account;
  const base = `/v1/accounts/${a.accountId}/offline/devices/${d.serial}`;
  const prep = await call<{ payment: { id: string; txid: string; status: string } }>(network, a, 'POST', `${base}/loads`, { amount_fen: amountFen.toString(), idempotency_key: key });
  if (prep.status !== 200) throw new Error(`loading device ${d.serial}: ${prep.status} ${prep.body.code} ${prep.body.message}`);
  const pid = prep.body.payment.id;
  let status = prep.body.payment.status;
  if (status === 'awaiting_signature') {
    const sig = signHashNative(a.sk, Buffer.from(prep.body.payment.txid, 'hex')).toString('hex');
    const s = await call<{ status: string }>(network, a, 'POST', `/v1/accounts/${a.accountId}/payments/${pid}/sign`, { sig });
    if (s.status !== 200) throw new Error(`signing the load of ${d.serial}: ${s.status} ${s.body.code} ${s.body.message}`);
    status = s.body.status;
  }
  const deadline = Date.now() + LOAD_SETTLE_WAIT_MS;
  while (status === 'submitted' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const g = await call<{ status: string }>(network, a, 'GET', `/v1/accounts/${a.accountId}/payments/${pid}`);
    status = g.body.status;
  }
  if (status !== 'settled') throw new Error(`the load payment of ${d.serial} is ${status}`);
  const auth = await call<{ authorisation: string; status: string }>(network, a, 'POST', `${base}/loads/${pid}/authorisation`, { device_counter: (await d.card.counter()).toString() });
  if (auth.status !== 200 || auth.body.status !== 'issued') throw new Error(`load authorisation of ${d.serial}: ${auth.status} ${auth.body.code} ${auth.body.message}`);
  await d.card.applyAuthorisation(auth.body.authorisation);
}

/**
 * Registers and loads the devices of every pair and makes their offline payments (card to
 * card, in this process). Loads are wallet payments settled at central: run this before the
 * baseline of the conservation check is read.
 */
export async function prepareOffline(network: string, plans: readonly OfflinePairPlan[], accountOf: (wallet: number) => OfflineAccount, idemPrefix: string): Promise<OfflinePair[]> {
  const trusts = new Map<string, { network: string; banks: Map<string, Buffer> }>();
  for (const p of plans) {
    const a = accountOf(p.payer);
    if (trusts.has(a.bankUrl)) continue;
    const r = await getWithRetry(`${a.bankUrl}/v1/offline/trust`);
    const t = (await r.json()) as { network: string; banks: { id: string; public_key: string }[] };
    trusts.set(a.bankUrl, { network: t.network, banks: new Map(t.banks.map((b) => [b.id, Buffer.from(b.public_key, 'hex')])) });
  }
  const pairs: OfflinePair[] = new Array(plans.length);
  await forEachLimited(plans.length, OFFLINE_SETUP_CONCURRENCY, async (j) => {
    const p = plans[j]!;
    const pa = accountOf(p.payer);
    const qa = accountOf(p.payee);
    if (pa.bankUrl !== qa.bankUrl) throw new Error('an offline pair must be at one bank');
    const trust = trusts.get(pa.bankUrl)!;
    const payer = await provision(network, pa, trust);
    const payee = await provision(network, qa, trust);
    await load(network, payer, OFFLINE_LOAD_FEN, `${idemPrefix}-offline-${j}`);
    await sync(network, payer);
    const payHashes: string[] = [];
    for (const amountFen of p.amountsFen) {
      await payee.card.client.select();
      const challenge = await payee.card.client.challenge(amountFen, BigInt(Date.now()));
      const receipt = await collectPayment(payer.card.client, payee.card.client, challenge);
      payHashes.push(voucherHash(receipt.payVoucher).toString('hex'));
    }
    pairs[j] = { plan: p, payer, payee, payHashes };
  });
  return pairs;
}

export interface OfflineRunResult {
  recorder: Recorder;
  /** From the first upload to the last answer. */
  seconds: number;
  uploads: number;
  uploadsFailed: number;
  /** Pay voucher hash -> times the bank answered it `accepted` (must be 1 each). */
  accepted: Map<string, number>;
  duplicates: number;
  refused: number;
  findings: number;
  codes: Map<string, number>;
}

/**
 * The timed part: every device uploads once (payee before payer for even pairs, after for
 * odd ones), OFFLINE_UPLOAD_LANES_PER_BANK uploads in flight per bank. A voucher settles
 * when its first copy arrives; the second copy must be answered `duplicate`.
 */
export async function runOfflineUploads(network: string, pairs: readonly OfflinePair[]): Promise<OfflineRunResult> {
  const payHash = new Set(pairs.flatMap((p) => p.payHashes));
  const perBank = new Map<string, OfflineDevice[]>();
  pairs.forEach((p, j) => {
    const list = perBank.get(p.payer.account.bankUrl) ?? [];
    list.push(...(j % 2 === 0 ? [p.payee, p.payer] : [p.payer, p.payee]));
    perBank.set(p.payer.account.bankUrl, list);
  });
  // The bodies are read from the cards before the clock (a device reads its log before it connects).
  const bodies = new Map<OfflineDevice, Buffer>();
  for (const list of perBank.values()) {
    for (const d of list) {
      const { log, received } = await d.card.log();
      bodies.set(d, Buffer.from(JSON.stringify({ certificate: d.certificate, log, received })));
    }
  }
  const out: OfflineRunResult = { recorder: new Recorder(), seconds: 0, uploads: 0, uploadsFailed: 0, accepted: new Map(), duplicates: 0, refused: 0, findings: 0, codes: new Map() };
  const rec = out.recorder;
  rec.start();
  await Promise.all([...perBank.values()].map((list) => forEachLimited(list.length, OFFLINE_UPLOAD_LANES_PER_BANK, async (i) => {
    const d = list[i]!;
    const t0 = performance.now();
    const r = await call<UploadAnswer>(network, d.account, 'POST', '/v1/offline/uploads', JSON.parse(bodies.get(d)!.toString()) as unknown).catch((e: unknown) => ({ status: 0, body: { code: String(e) } as UploadAnswer }));
    out.uploads++;
    if (r.status !== 200) {
      out.uploadsFailed++;
      const code = r.body.code ?? `http_${r.status}`;
      out.codes.set(code, (out.codes.get(code) ?? 0) + 1);
      rec.error();
      return;
    }
    let settled = 0;
    for (const x of r.body.results ?? []) {
      if (x.hash === null || !payHash.has(x.hash)) continue;
      if (x.status === 'accepted') {
        settled++;
        out.accepted.set(x.hash, (out.accepted.get(x.hash) ?? 0) + 1);
      } else if (x.status === 'duplicate') out.duplicates++;
      else {
        out.refused++;
        const code = x.code ?? x.status;
        out.codes.set(code, (out.codes.get(code) ?? 0) + 1);
      }
    }
    out.findings += (r.body.findings ?? []).length;
    rec.record(settled, 0, performance.now() - t0);
  })));
  out.seconds = Math.round(rec.elapsedS() * 100) / 100;
  return out;
}

/**
 * The offline part of the conservation check: every pay voucher settled exactly once (the
 * bank answered `accepted` once and `duplicate` for its second copy), no refusal and no
 * double-spending finding, each device's paid, received and held figures at the bank are
 * what its payments make them, and each bank's reserve-coverage check passes.
 */
export async function checkOffline(network: string, pairs: readonly OfflinePair[], run: OfflineRunResult, staff: Map<string, { url: string; sk: Buffer }>): Promise<{ checks: Check[]; counts: Record<string, number> }> {
  const checks: Check[] = [];
  const vouchers = pairs.reduce((s, p) => s + p.payHashes.length, 0);
  let once = 0;
  let twice = 0;
  for (const p of pairs) for (const h of p.payHashes) {
    const n = run.accepted.get(h) ?? 0;
    if (n === 1) once++;
    else if (n > 1) twice++;
  }
  checks.push({
    name: 'offline vouchers: every voucher settled exactly once (uploaded by payer and payee)', ok: once === vouchers && twice === 0 && run.duplicates === vouchers && run.refused === 0 && run.uploadsFailed === 0,
    detail: `${once} of ${vouchers} settled once, ${twice} more than once; ${run.duplicates} second copies answered duplicate; ${run.refused} refused; ${run.uploadsFailed} of ${run.uploads} uploads failed` +
      (run.codes.size > 0 ? ` (${JSON.stringify(Object.fromEntries(run.codes))})` : ''),
  });
  checks.push({ name: 'offline vouchers: no double-spending finding', ok: run.findings === 0, detail: `${run.findings} findings` });
  let devicesOk = 0;
  let firstBad = '';
  await forEachLimited(pairs.length, OFFLINE_SETUP_CONCURRENCY, async (j) => {
    const p = pairs[j]!;
    const sum = p.plan.amountsFen.reduce((s, x) => s + x, 0n);
    const s = staff.get(p.payer.account.bank)!;
    const get = (serial: string) => signedCall<DeviceJson>(s.url, network, s.sk, 'staff', 'GET', `/v1/bank/offline/devices/${serial}`);
    const [a, b] = await Promise.all([get(p.payer.serial), get(p.payee.serial)]);
    const ok = a.status === 200 && b.status === 200 &&
      BigInt(a.body.paid_fen) === sum && BigInt(a.body.held_fen) === OFFLINE_LOAD_FEN - sum && BigInt(a.body.loaded_fen) === OFFLINE_LOAD_FEN &&
      BigInt(b.body.received_fen) === sum && BigInt(b.body.held_fen) === sum;
    if (ok) devicesOk++;
    else firstBad ||= `pair ${j}: payer ${JSON.stringify(a.body)}, payee ${JSON.stringify(b.body)}, payments ${sum} fen`;
  });
  checks.push({ name: 'offline devices at the bank: paid, received and held match the payments', ok: devicesOk === pairs.length, detail: devicesOk === pairs.length ? `${pairs.length} pairs match` : `${pairs.length - devicesOk} pairs differ; first ${firstBad}` });
  for (const [bank, s] of staff) {
    const r = await signedCall<{ ok: boolean; reserve_fen: string; liabilities_fen: string; problems: string[] }>(s.url, network, s.sk, 'staff', 'GET', '/v1/bank/offline/check');
    checks.push({
      name: `offline reserve covers every device (${bank}: GET /v1/bank/offline/check)`, ok: r.status === 200 && r.body.ok,
      detail: r.status === 200 ? `reserve ${r.body.reserve_fen} fen, liabilities ${r.body.liabilities_fen} fen${r.body.problems.length > 0 ? `; ${r.body.problems.join('; ')}` : ''}` : `HTTP ${r.status}`,
    });
  }
  return { checks, counts: { offline_vouchers: vouchers, offline_settled_once: once, offline_settled_more: twice, offline_duplicates: run.duplicates, offline_refused: run.refused, offline_uploads: run.uploads } };
}
