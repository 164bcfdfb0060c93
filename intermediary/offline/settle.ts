// Voucher upload and settlement at the bank that certified the devices. One upload carries a
// device's own log (every step since its last sync, in counter order) and the payers'
// vouchers it took as a payee. Runs inside one LMDB write transaction (the caller's), so two
// uploads of the same voucher (payer and payee, twice each) serialize and settle it once.
//
// Settling a `pay` voucher moves liability inside the bank's offline reserve: the payer's
// device now holds less of it, the payee's device more (reserve.ts proves the reserve
// output at central covers every device's liability). The money reaches an online account
// when a device unloads (its `unload` voucher is the receipt the bank pays out). A payee at
// another bank is not settled here: the voucher is recorded as cross_bank_pending (the
// payer's liability falls; the reserve keeps the amount owed to that bank).
//
// Every check of an item runs before that item writes anything; an item refused leaves the
// store as it was. What proves double spending is kept as evidence and revokes the device.
import { CbdcError, type ErrorCode, assert, isCbdcError } from '../../protocol/errors.js';
import type { SignatureVerifier } from '../../protocol/sig.js';
import { type DeviceCertificate, decodeCertificate, verifyCertificate } from '../../offline/certificate.js';
import { type Voucher, chainBreak, decodeVoucher, verifyVoucher, voucherHash } from '../../offline/voucher.js';
import { type DeviceRec, type OfflineStore, type PayoutRec, type VoucherRec, revokeDevice } from './devices.js';
import { type Finding, type LogStep, liabilityFen, overspendFinding, stepFindings } from './fraud.js';
import { fen } from '../store.js';

/** Items one upload may carry (a device's log between syncs is bounded by its certificate too). */
export const UPLOAD_VOUCHERS_MAX = 1_000;

export interface UploadItem {
  certificateHex: string;
  voucherHex: string;
}

export interface Upload {
  /** The uploading device's certificate and its log since its last sync (may be empty). */
  certificateHex: string | null;
  log: string[];
  /** Payers' vouchers this device took (each with the payer's certificate). */
  received: UploadItem[];
}

export interface ItemResult {
  source: 'log' | 'received';
  index: number;
  hash: string | null;
  counter: string | null;
  status: 'accepted' | 'duplicate' | 'refused' | 'not_processed';
  code?: ErrorCode;
  message?: string;
}

export interface UploadOutcome {
  results: ItemResult[];
  findings: (Finding & { serial: string })[];
  revoked: string[];
  /** The uploading device after the upload (null for an upload without a log). */
  device: DeviceRec | null;
  payouts: PayoutRec[];
}

export interface SettleContext {
  store: OfflineStore;
  network: string;
  bankId: string;
  bankPublicKey: Buffer;
  nowMs: number;
  verifier: SignatureVerifier;
  /** Other banks' keys (central's directory) and their revocation lists (peers.ts). */
  peerKeys?: ReadonlyMap<string, Buffer>;
  peerRevoked?: (bank: string, serial: bigint) => boolean;
}


function stepOf(v: VoucherRec): LogStep {
  return { hash: v.hash, counter: BigInt(v.counter), prevHash: v.prevHash, type: v.type, amountFen: BigInt(v.amountFen) };
}

interface Decoded {
  cert: DeviceCertificate;
  device: DeviceRec;
  voucher: Voucher;
  hash: string;
  hex: string;
}

/** Checks a certificate is ours, as issued, for a device we registered. */
function ourDevice(ctx: SettleContext, certHex: string): { cert: DeviceCertificate; device: DeviceRec } {
  if (!/^([0-9a-f]{2}){1,1024}$/.test(certHex)) throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', 'a certificate is lowercase hex');
  const cert = decodeCertificate(Buffer.from(certHex, 'hex'));
  if (cert.bank !== ctx.bankId) {
    // Another bank's device: refused here either way, as revoked when its bank's list says so.
    const key = ctx.peerKeys?.get(cert.bank);
    if (key !== undefined && ctx.peerRevoked?.(cert.bank, cert.serial) === true) {
      verifyCertificate(cert, { network: ctx.network, keys: new Map([[cert.bank, key]]) }, undefined, ctx.verifier);
      throw new CbdcError('CBDC_ERR_OFFLINE_REVOKED', `device ${cert.bank}/${cert.serial} is revoked by ${cert.bank}`);
    }
    throw new CbdcError('CBDC_ERR_OFFLINE_UNTRUSTED', `the certificate is from ${cert.bank}; ${ctx.bankId} settles only devices it certified`);
  }
  verifyCertificate(cert, { network: ctx.network, keys: new Map([[ctx.bankId, ctx.bankPublicKey]]) }, undefined, ctx.verifier);
  const device = ctx.store.device(cert.serial.toString());
  if (device === undefined || device.certHex !== certHex) throw new CbdcError('CBDC_ERR_OFFLINE_UNTRUSTED', `certificate ${cert.serial} is not one ${ctx.bankId} issued`);
  return { cert, device };
}

function decodeOne(ctx: SettleContext, certHex: string, voucherHex: string): Decoded {
  const { cert, device } = ourDevice(ctx, certHex);
  if (!/^([0-9a-f]{2}){1,1024}$/.test(voucherHex)) throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', 'a voucher is lowercase hex');
  const voucher = decodeVoucher(Buffer.from(voucherHex, 'hex'));
  verifyVoucher(voucher, cert, ctx.verifier);
  return { cert, device, voucher, hash: voucherHash(voucher).toString('hex'), hex: voucherHex };
}

function refusal(e: unknown): { code: ErrorCode; message: string } {
  if (isCbdcError(e)) return { code: e.code, message: e.message };
  throw e;
}

/** Processes one upload; call inside a write transaction. Throws (before writing) only when the whole upload is refused. */
export function processUpload(ctx: SettleContext, u: Upload): UploadOutcome {
  if (u.log.length + u.received.length > UPLOAD_VOUCHERS_MAX) throw new CbdcError('CBDC_ERR_BATCH_TOO_LARGE', `an upload carries at most ${UPLOAD_VOUCHERS_MAX} vouchers`);
  const s = ctx.store;
  const out: UploadOutcome = { results: [], findings: [], revoked: [], device: null, payouts: [] };

  // The uploading device: refused as a whole when foreign, unknown or revoked.
  let own: { cert: DeviceCertificate; device: DeviceRec } | null = null;
  if (u.certificateHex !== null) {
    own = ourDevice(ctx, u.certificateHex);
    if (own.device.status === 'revoked') throw new CbdcError('CBDC_ERR_OFFLINE_REVOKED', `device ${own.device.serial} is revoked: ${own.device.revokedReason ?? ''}`);
  } else if (u.log.length > 0) {
    throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', 'a log comes with its device certificate');
  }
  // Decode the log first (all or nothing: a malformed or forged log is refused whole).
  const log: Decoded[] = u.log.map((hex) => {
    if (!/^([0-9a-f]{2}){1,1024}$/.test(hex)) throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', 'a voucher is lowercase hex');
    const voucher = decodeVoucher(Buffer.from(hex, 'hex'));
    verifyVoucher(voucher, own!.cert, ctx.verifier);
    return { cert: own!.cert, device: own!.device, voucher, hash: voucherHash(voucher).toString('hex'), hex };
  });
  // The log's receive steps, by the payer voucher they name (for the payee-side revocation rule).
  const receiveCounter = new Map<string, bigint>();
  for (const d of log) if (d.voucher.type === 'receive') receiveCounter.set(d.voucher.payerVoucherHash.toString('hex'), d.voucher.counter);

  // 1. Payers' vouchers: each settles once, whoever uploads it.
  u.received.forEach((item, index) => {
    const r: ItemResult = { source: 'received', index, hash: null, counter: null, status: 'refused' };
    out.results.push(r);
    let d: Decoded;
    try {
      d = decodeOne(ctx, item.certificateHex, item.voucherHex);
      r.hash = d.hash;
      r.counter = d.voucher.counter.toString();
      if (d.voucher.type !== 'pay') throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', `a payer's voucher is a pay voucher, not ${d.voucher.type}`);
    } catch (e) {
      Object.assign(r, refusal(e));
      return;
    }
    try {
      r.status = settlePay(ctx, d, receiveCounter.get(d.hash) ?? null, own?.device.serial ?? null, out);
    } catch (e) {
      Object.assign(r, refusal(e));
    }
  });

  // 2. The device's own log, in counter order, from the step after its last sync.
  if (own !== null) {
    let stopped: { code: ErrorCode; message: string } | null = null;
    log.forEach((d, index) => {
      const r: ItemResult = { source: 'log', index, hash: d.hash, counter: d.voucher.counter.toString(), status: 'not_processed' };
      out.results.push(r);
      if (stopped !== null) {
        Object.assign(r, stopped);
        return;
      }
      try {
        r.status = applyLogStep(ctx, d, out);
      } catch (e) {
        stopped = refusal(e);
        Object.assign(r, { status: 'refused' }, stopped);
      }
    });
    const dev = s.device(own.device.serial)!;
    judgeOverspend(ctx, dev, out);
    out.device = s.device(own.device.serial)!;
  }
  return out;
}

/** A pay voucher of one of our devices: settle it once (liability payer -> payee). */
function settlePay(ctx: SettleContext, d: Decoded, payeeReceiveCounter: bigint | null, uploader: string | null, out: UploadOutcome): 'accepted' | 'duplicate' {
  const s = ctx.store;
  assert(d.voucher.type === 'pay', 'settlePay takes a pay voucher');
  const v = d.voucher;
  if (s.voucher(d.hash) !== undefined) return 'duplicate';
  const payer = s.device(d.device.serial)!;
  const payeeLocal = v.payee.bank === ctx.bankId;
  const payee = payeeLocal ? s.device(v.payee.serial.toString()) : undefined;
  if (payeeLocal && payee === undefined) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', `the voucher pays device ${v.payee.serial}, which ${ctx.bankId} never certified`);
  if (payer.status === 'revoked') {
    // Honoured only for a payee that took it before it could know: its receive step comes
    // before (or at) the counter at which it was handed a list naming the payer.
    const knew = payee !== undefined && payer.revokedInSeq !== null && fen(payee.listSeqDelivered) >= fen(payer.revokedInSeq);
    const tookBefore = payeeReceiveCounter !== null && uploader === payee?.serial && (!knew || payeeReceiveCounter <= fen(payee!.listDeliveredAtCounter));
    if (!tookBefore) throw new CbdcError('CBDC_ERR_OFFLINE_REVOKED', `device ${payer.serial} is revoked; its vouchers are refused`);
  }
  // Checks done: write.
  const findings = stepFindings(
    { hash: d.hash, counter: v.counter, prevHash: v.prevHash.toString('hex'), type: 'pay', amountFen: v.amountFen },
    s.at(payer.serial, v.counter).map(stepOf), s.at(payer.serial, v.counter - 1n).map(stepOf), s.at(payer.serial, v.counter + 1n).map(stepOf),
  );
  s.putVoucher({
    hash: d.hash, serial: payer.serial, counter: v.counter.toString(), prevHash: v.prevHash.toString('hex'), type: 'pay',
    amountFen: v.amountFen.toString(), balanceAfterFen: v.balanceAfterFen.toString(), hex: d.hex,
    payee: `${v.payee.bank}/${v.payee.serial}`, settlement: payeeLocal ? 'settled' : 'cross_bank_pending', atMs: ctx.nowMs,
  });
  const p = s.device(payer.serial)!;
  s.putDevice({
    ...p, paidFen: (fen(p.paidFen) + v.amountFen).toString(),
    highestCounter: (v.counter > fen(p.highestCounter) ? v.counter : fen(p.highestCounter)).toString(),
  });
  if (payee !== undefined) {
    const q = s.device(payee.serial)!;
    s.putDevice({ ...q, receivedFen: (fen(q.receivedFen) + v.amountFen).toString() });
  }
  for (const f of findings) record(ctx, s.device(payer.serial)!, f, out);
  judgeOverspend(ctx, s.device(payer.serial)!, out);
  return 'accepted';
}

/** One step of the uploading device's own log. Throws (before writing) to stop the log there. */
function applyLogStep(ctx: SettleContext, d: Decoded, out: UploadOutcome): 'accepted' | 'duplicate' {
  const s = ctx.store;
  const dev = s.device(d.device.serial)!;
  const v = d.voucher;
  const synced = fen(dev.syncedCounter);
  if (dev.status === 'revoked') throw new CbdcError('CBDC_ERR_OFFLINE_REVOKED', `device ${dev.serial} was revoked during this upload`);
  if (v.counter <= synced) {
    if (s.voucher(d.hash) !== undefined) return 'duplicate';
    // A different step at a counter already synced: the card was cloned or rolled back.
    const held = s.at(dev.serial, v.counter)[0];
    const f: Finding = { kind: 'counter_reuse', counter: v.counter, hashes: held ? [held.hash, d.hash] : [d.hash], detail: `the log repeats counter ${v.counter}, already synced with another voucher` };
    record(ctx, dev, f, out, d.hex);
    throw new CbdcError('CBDC_ERR_OFFLINE_DOUBLE_SPEND', f.detail);
  }
  if (v.counter > synced + 1n) {
    throw new CbdcError('CBDC_ERR_OFFLINE_COUNTER', `the log skips from counter ${synced} to ${v.counter}: upload every step since the last sync`);
  }
  const why = chainBreak({ hash: Buffer.from(dev.headHash, 'hex'), counter: synced, device: d.cert, balanceAfterFen: fen(dev.headBalanceFen) }, v);
  if (why !== null) {
    const f: Finding = { kind: 'fork', counter: v.counter, hashes: [dev.headHash, d.hash], detail: why };
    record(ctx, dev, f, out, d.hex);
    throw new CbdcError('CBDC_ERR_OFFLINE_DOUBLE_SPEND', `the log does not continue from the last sync: ${why}`);
  }
  // Type checks, before any write.
  if (v.type === 'receive') {
    const paid = s.voucher(v.payerVoucherHash.toString('hex'));
    if (paid === undefined || paid.payee !== `${ctx.bankId}/${dev.serial}` || fen(paid.amountFen) !== v.amountFen) {
      throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', `receive step ${v.counter} needs the payer's voucher (for this device and amount) in the same upload`);
    }
  }
  let auth = null;
  if (v.type === 'load' || v.type === 'unload') {
    auth = s.auth(v.authorisationHash.toString('hex'));
    const ok = auth !== undefined && auth.serial === dev.serial && auth.action === v.type && fen(auth.counter) === v.counter - 1n && fen(auth.amountFen) === v.amountFen;
    if (!ok) {
      if (v.type === 'load') {
        const f: Finding = { kind: 'unauthorised_load', counter: v.counter, hashes: [d.hash], detail: `load step ${v.counter} names no authorisation this bank issued for it` };
        record(ctx, dev, f, out, d.hex);
        throw new CbdcError('CBDC_ERR_OFFLINE_DOUBLE_SPEND', f.detail);
      }
      throw new CbdcError('CBDC_ERR_OFFLINE_SIGNATURE', `unload step ${v.counter} names no unload this bank authorised at that counter`);
    }
  }
  // A payee may have uploaded this very pay step already; settle it now if not.
  let status: 'accepted' | 'duplicate' = 'accepted';
  if (v.type === 'pay' && s.voucher(d.hash) === undefined) settlePay(ctx, d, null, dev.serial, out);
  else if (v.type !== 'pay') {
    const findings = stepFindings({ hash: d.hash, counter: v.counter, prevHash: v.prevHash.toString('hex'), type: v.type, amountFen: v.amountFen }, s.at(dev.serial, v.counter).map(stepOf), [], []);
    s.putVoucher({
      hash: d.hash, serial: dev.serial, counter: v.counter.toString(), prevHash: v.prevHash.toString('hex'), type: v.type,
      amountFen: v.amountFen.toString(), balanceAfterFen: v.balanceAfterFen.toString(), hex: d.hex, payee: null, settlement: null, atMs: ctx.nowMs,
    });
    for (const f of findings) record(ctx, s.device(dev.serial)!, f, out);
  } else {
    // Held already (a payee uploaded it): a different voucher at its counter is still a conflict.
    status = 'duplicate';
    const others = s.at(dev.serial, v.counter).filter((x) => x.hash !== d.hash);
    if (others.length > 0) record(ctx, dev, { kind: 'counter_reuse', counter: v.counter, hashes: [others[0]!.hash, d.hash], detail: `two different vouchers at counter ${v.counter}` }, out);
  }
  if (auth) {
    s.putAuth({ ...auth, status: 'applied' });
    if (v.type === 'unload') {
      const cur = s.device(dev.serial)!;
      s.putDevice({ ...cur, unloadedFen: (fen(cur.unloadedFen) + v.amountFen).toString() });
      const payout: PayoutRec = { id: `unload-${auth.hash}`, kind: 'unload', serial: dev.serial, amountFen: v.amountFen.toString(), txid: null, status: 'queued', atMs: ctx.nowMs };
      s.putPayout(payout);
      out.payouts.push(payout);
    }
  }
  const cur = s.device(dev.serial)!;
  s.putDevice({
    ...cur, syncedCounter: v.counter.toString(), headHash: d.hash, headBalanceFen: v.balanceAfterFen.toString(),
    highestCounter: (v.counter > fen(cur.highestCounter) ? v.counter : fen(cur.highestCounter)).toString(),
  });
  // Authorisations issued for a counter the log has now moved past can never apply: superseded.
  supersedeStale(ctx, dev.serial, v.counter);
  return status;
}

function supersedeStale(ctx: SettleContext, serial: string, counter: bigint): void {
  const s = ctx.store;
  for (const hash of s.meta<string[]>(`open-auths/${serial}`) ?? []) {
    const a = s.auth(hash);
    if (a === undefined || a.status !== 'issued' || fen(a.counter) >= counter) continue;
    s.putAuth({ ...a, status: 'superseded' });
    if (a.action === 'load') {
      const l = s.load(a.ref);
      if (l !== undefined && l.authHash === a.hash) s.putLoad({ ...l, authHash: null });
    }
  }
  const open = (s.meta<string[]>(`open-auths/${serial}`) ?? []).filter((h) => s.auth(h)?.status === 'issued');
  s.setMeta(`open-auths/${serial}`, open);
}

function judgeOverspend(ctx: SettleContext, dev: DeviceRec, out: UploadOutcome): void {
  const t = { loadedFen: fen(dev.loadedFen), unloadedFen: fen(dev.unloadedFen), paidFen: fen(dev.paidFen), receivedFen: fen(dev.receivedFen) };
  const f = overspendFinding(t, fen(dev.syncedCounter), fen(dev.highestCounter), dev.headHash);
  if (f !== null && dev.status === 'active') record(ctx, dev, f, out);
}

/** Keeps the evidence (the device-signed vouchers that prove it) and revokes the device. */
function record(ctx: SettleContext, dev: DeviceRec, f: Finding, out: UploadOutcome, extraHex?: string): void {
  const s = ctx.store;
  const vouchers = f.hashes.map((h) => s.voucher(h)?.hex).filter((x): x is string => x !== undefined);
  if (extraHex !== undefined && !vouchers.includes(extraHex)) vouchers.push(extraHex);
  s.addEvidence({ atMs: ctx.nowMs, serial: dev.serial, kind: f.kind, counter: f.counter.toString(), detail: f.detail, vouchers, certHex: dev.certHex });
  out.findings.push({ ...f, serial: dev.serial });
  if (dev.status === 'active' && !out.revoked.includes(dev.serial)) {
    revokeDevice(s, dev.serial, `${f.kind}: ${f.detail}`, ctx.nowMs);
    out.revoked.push(dev.serial);
  }
}

/** The device's liability now (for callers and checks). */
export function deviceLiabilityFen(d: DeviceRec): bigint {
  return liabilityFen({ loadedFen: fen(d.loadedFen), unloadedFen: fen(d.unloadedFen), paidFen: fen(d.paidFen), receivedFen: fen(d.receivedFen) });
}
