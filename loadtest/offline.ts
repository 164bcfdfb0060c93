// Offline vouchers in the e2e mix (--mix offline=x). Before the clock: each pair of devices
// (payer and payee wallets at one bank) is registered at the bank, the payer's device loaded
// from its wallet through the bank's offline reserve (a real payment settled at central) and
// synced, then the payer pays the payee card to card OFFLINE_PAYMENTS_PER_PAIR times. The
// devices are the emulated applet in this process (the load generator is the client); the
// bank side is the real bank process over HTTP. During the run both devices of every pair
// upload their logs and the vouchers they took (POST /v1/offline/uploads, as a device's sync
// does), so every pay voucher reaches the bank twice and must settle once. Under --rate the
// uploads are paced to the vouchers' share of the rate (uploadSchedule).
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

/** One device's upload, its body read from its card before the clock. */
export interface OfflineUpload {
  pair: number;
  device: OfflineDevice;
  /** The first of its pair's two uploads (the one whose vouchers settle). */
  first: boolean;
  /** When it is due, ms from the start of the run (0: at once, as fast as the lanes allow). */
  atMs: number;
  body: unknown;
}

/**
 * When each pair's two uploads are due (ms from the start), in pair order: [pair 0 first,
 * pair 0 second, pair 1 first, ...]. Without a rate every upload is due at once. With a rate
 * of r vouchers per second (the offline share of --rate; a voucher counted once, at the first
 * of its two copies), pair j takes a slot of m_j / r seconds, m_j its vouchers, right after
 * pair j - 1's: its first upload is due at the slot's start, its second at the slot's middle.
 * So the vouchers offered by time t stay within one pair's vouchers of r x t, and the uploads
 * are spread evenly (two per slot).
 */
export function uploadSchedule(vouchersPerPair: readonly number[], vouchersPerS: number | null): number[] {
  const out: number[] = [];
  let slotStartMs = 0;
  for (const m of vouchersPerPair) {
    if (!Number.isSafeInteger(m) || m < 1) throw new Error(`uploadSchedule: a pair has ${m} vouchers`);
    if (vouchersPerS === null) {
      out.push(0, 0);
      continue;
    }
    if (!(vouchersPerS > 0)) throw new Error(`uploadSchedule: rate ${vouchersPerS}`);
    const slotMs = (1000 * m) / vouchersPerS;
    out.push(Math.round(slotStartMs), Math.round(slotStartMs + slotMs / 2));
    slotStartMs += slotMs;
  }
  return out;
}

/**
 * The uploads of the run, bodies read from the cards before the clock (a device reads its log
 * before it connects), due as uploadSchedule says; in each pair the payee uploads first for
 * even pairs and the payer for odd ones.
 */
export async function offlineUploads(pairs: readonly OfflinePair[], vouchersPerS: number | null): Promise<OfflineUpload[]> {
  const at = uploadSchedule(pairs.map((p) => p.payHashes.length), vouchersPerS);
  const out: OfflineUpload[] = [];
  for (let j = 0; j < pairs.length; j++) {
    const p = pairs[j]!;
    const order = j % 2 === 0 ? [p.payee, p.payer] : [p.payer, p.payee];
    for (let x = 0; x < 2; x++) {
      const d = order[x]!;
      const { log, received } = await d.card.log();
      out.push({ pair: j, device: d, first: x === 0, atMs: at[2 * j + x]!, body: { certificate: d.certificate, log, received } });
    }
  }
  return out;
}

/**
 * Which pairs a run uploads: all of them unpaced (windowS null); paced, those whose first upload
 * is due before the window's end. Decided by the schedule alone, so the same knobs and seed
 * upload the same pairs however fast the banks answer.
 */
export function pairsUploaded(pairCount: number, uploads: readonly Pick<OfflineUpload, 'pair' | 'first' | 'atMs'>[], windowS: number | null): boolean[] {
  const out = new Array<boolean>(pairCount).fill(false);
  for (const u of uploads) if (u.first) out[u.pair] = windowS === null || u.atMs < windowS * 1000;
  return out;
}

export interface OfflineRunResult {
  recorder: Recorder;
  /** From the first upload to the last answer. */
  seconds: number;
  uploads: number;
  uploadsFailed: number;
  /** Per pair: whether its uploads were made (paced: its slot began before the window ended). */
  pairUploaded: boolean[];
  /** Pay voucher hash -> times the bank answered it `accepted` (must be 1 each). */
  accepted: Map<string, number>;
  duplicates: number;
  refused: number;
  findings: number;
  codes: Map<string, number>;
}

/**
 * The timed part. Each upload goes when it is due and one of its bank's
 * OFFLINE_UPLOAD_LANES_PER_BANK lanes is free. Paced (windowS not null), a pair whose first
 * upload is due at or after the window's end is not uploaded at all (its vouchers stay on the
 * cards, like a payment never started); a pair started is finished. A voucher settles when its first
 * copy arrives; the second copy must be answered `duplicate`. Each upload's settled vouchers
 * are counted in the second its answer arrives (recorder: its own clock, started with the runs
 * beside it).
 */
export async function runOfflineUploads(network: string, pairs: readonly OfflinePair[], uploads: readonly OfflineUpload[], windowS: number | null): Promise<OfflineRunResult> {
  const payHash = new Set(pairs.flatMap((p) => p.payHashes));
  const perBank = new Map<string, OfflineUpload[]>();
  for (const u of uploads) {
    const list = perBank.get(u.device.account.bankUrl) ?? [];
    list.push(u);
    perBank.set(u.device.account.bankUrl, list);
  }
  const pairUploaded = pairsUploaded(pairs.length, uploads, windowS);
  const out: OfflineRunResult = {
    recorder: new Recorder(), seconds: 0, uploads: 0, uploadsFailed: 0, pairUploaded,
    accepted: new Map(), duplicates: 0, refused: 0, findings: 0, codes: new Map(),
  };
  const rec = out.recorder;
  rec.start();
  await Promise.all([...perBank.values()].map((list) => forEachLimited(list.length, OFFLINE_UPLOAD_LANES_PER_BANK, async (i) => {
    const u = list[i]!;
    if (!pairUploaded[u.pair]) return;
    const waitMs = u.atMs - rec.elapsedS() * 1000;
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    const t0 = performance.now();
    const r = await call<UploadAnswer>(network, u.device.account, 'POST', '/v1/offline/uploads', u.body).catch((e: unknown) => ({ status: 0, body: { code: String(e) } as UploadAnswer }));
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
 * The offline part of the conservation check: every pay voucher uploaded settled exactly once
 * (the bank answered `accepted` once and `duplicate` for its second copy), none of a pair not
 * uploaded settled, no refusal and no double-spending finding, each device's paid, received and
 * held figures at the bank are what its uploaded payments make them (a pair not uploaded: the
 * load alone), and each bank's reserve-coverage check passes.
 */
export async function checkOffline(network: string, pairs: readonly OfflinePair[], run: OfflineRunResult, staff: Map<string, { url: string; sk: Buffer }>): Promise<{ checks: Check[]; counts: Record<string, number> }> {
  const checks: Check[] = [];
  const prebuilt = pairs.reduce((s, p) => s + p.payHashes.length, 0);
  let vouchers = 0;
  let once = 0;
  let twice = 0;
  let notUploadedSettled = 0;
  pairs.forEach((p, j) => {
    if (run.pairUploaded[j]) vouchers += p.payHashes.length;
    for (const h of p.payHashes) {
      const n = run.accepted.get(h) ?? 0;
      if (!run.pairUploaded[j]) notUploadedSettled += n;
      else if (n === 1) once++;
      else if (n > 1) twice++;
    }
  });
  const pairsNotUploaded = run.pairUploaded.filter((x) => !x).length;
  checks.push({
    name: 'offline vouchers: every voucher settled exactly once (uploaded by payer and payee)',
    ok: once === vouchers && twice === 0 && notUploadedSettled === 0 && run.duplicates === vouchers && run.refused === 0 && run.uploadsFailed === 0,
    detail: `${once} of ${vouchers} settled once, ${twice} more than once; ${run.duplicates} second copies answered duplicate; ${run.refused} refused; ${run.uploadsFailed} of ${run.uploads} uploads failed` +
      (pairsNotUploaded > 0 ? `; ${pairsNotUploaded} pairs (${prebuilt - vouchers} vouchers) not uploaded, the window over before their turn, ${notUploadedSettled} of those settled` : '') +
      (run.codes.size > 0 ? ` (${JSON.stringify(Object.fromEntries(run.codes))})` : ''),
  });
  checks.push({ name: 'offline vouchers: no double-spending finding', ok: run.findings === 0, detail: `${run.findings} findings` });
  let devicesOk = 0;
  let firstBad = '';
  await forEachLimited(pairs.length, OFFLINE_SETUP_CONCURRENCY, async (j) => {
    const p = pairs[j]!;
    // Not uploaded: the bank knows the load alone (the payments are still on the cards).
    const sum = run.pairUploaded[j] ? p.plan.amountsFen.reduce((s, x) => s + x, 0n) : 0n;
    const s = staff.get(p.payer.account.bank)!;
    const get = (serial: string) => signedCall<DeviceJson>(s.url, network, s.sk, 'staff', 'GET', `/v1/bank/offline/devices/${serial}`);
    const [a, b] = await Promise.all([get(p.payer.serial), get(p.payee.serial)]);
    const ok = a.status === 200 && b.status === 200 &&
      BigInt(a.body.paid_fen) === sum && BigInt(a.body.held_fen) === OFFLINE_LOAD_FEN - sum && BigInt(a.body.loaded_fen) === OFFLINE_LOAD_FEN &&
      BigInt(b.body.received_fen) === sum && BigInt(b.body.held_fen) === sum;
    if (ok) devicesOk++;
    else firstBad ||= `pair ${j}${run.pairUploaded[j] ? '' : ' (not uploaded)'}: payer ${JSON.stringify(a.body)}, payee ${JSON.stringify(b.body)}, payments ${sum} fen`;
  });
  checks.push({
    name: 'offline devices at the bank: paid, received and held match the payments', ok: devicesOk === pairs.length,
    detail: devicesOk === pairs.length ? `${pairs.length} pairs match${pairsNotUploaded > 0 ? ` (${pairsNotUploaded} not uploaded: the load alone)` : ''}` : `${pairs.length - devicesOk} pairs differ; first ${firstBad}`,
  });
  for (const [bank, s] of staff) {
    const r = await signedCall<{ ok: boolean; reserve_fen: string; liabilities_fen: string; problems: string[] }>(s.url, network, s.sk, 'staff', 'GET', '/v1/bank/offline/check');
    checks.push({
      name: `offline reserve covers every device (${bank}: GET /v1/bank/offline/check)`, ok: r.status === 200 && r.body.ok,
      detail: r.status === 200 ? `reserve ${r.body.reserve_fen} fen, liabilities ${r.body.liabilities_fen} fen${r.body.problems.length > 0 ? `; ${r.body.problems.join('; ')}` : ''}` : `HTTP ${r.status}`,
    });
  }
  return { checks, counts: { offline_vouchers: vouchers, offline_vouchers_prebuilt: prebuilt, offline_pairs_not_uploaded: pairsNotUploaded, offline_settled_once: once, offline_settled_more: twice, offline_duplicates: run.duplicates, offline_refused: run.refused, offline_uploads: run.uploads } };
}
