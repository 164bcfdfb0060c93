// The bank's offline reserve and the offline service around it.
//
// Provisioning: a device is registered and certified (devices.ts). A load is an online
// payment from the customer's wallet to the reserve lock key(offline-reserve key) at central,
// signed by the wallet like any payment; when it settles, in the same write transaction, the
// device's loaded total rises (Bank.onApplied), and the bank then signs a load authorisation
// for the device's current counter. An unload authorisation takes money off the device; the
// device's `unload` voucher is the receipt, and the bank pays that amount from the reserve to
// the owner's wallet. A device whose liability went below zero (a clone spent twice) is
// covered from the bank's own holdings: that is the bank's loss, bounded by the caps.
//
// Invariant (check()): the reserve's unspent outputs at central add up to at least what every
// device still holds, sum of max(0, loaded + received - paid - unloaded).
import { CbdcError, assert, isCbdcError } from '../../protocol/errors.js';
import { type Lock, encodeLock } from '../../protocol/lock.js';
import { nativeVerifier, signHashNative } from '../../protocol/sig.js';
import { type Tx, parseTx, txId, txToJson, type TxJson } from '../../protocol/tx.js';
import { keyLock, makeTx } from '../../protocol/tx_builder.js';
import type { KeyPair } from '../../platform/key_file.js';
import { decodeCertificate } from '../../offline/certificate.js';
import { authorisationHash, encodeAuthorisation, signAuthorisation } from '../../offline/authorisation.js';
import { BANK_OWNER, OFFLINE_RESERVE_OWNER, type Bank } from '../bank.js';
import { type PaymentRec, fen, posKey } from '../store.js';
import { selectCoins } from '../coins.js';
import {
  type AuthRec, type DeviceRec, type EvidenceRec, type PayoutRec, OfflineStore, registerDevice, revocationList, revokeDevice,
} from './devices.js';
import { type Upload, type UploadOutcome, deviceLiabilityFen, processUpload } from './settle.js';
import { lossFen } from './fraud.js';
import { PeerRevocationLists } from './peers.js';
import { checkActive } from '../accounts.js';

/** Owner name of reserve coins in the bank's coin table. */
export const RESERVE_OWNER = OFFLINE_RESERVE_OWNER;
/** Payouts in one transaction at most (each pays up to two outputs; change takes one). */
export const PAYOUTS_PER_TX_MAX = 20;
/** How long an upload waits for the payouts it queued to settle before answering. */
const PAYOUT_WAIT_MS = 10_000;


export interface OfflineConfig {
  bankSecretKey: Buffer;
  reserveKey: KeyPair;
  /** Other banks' keys from central's directory (for their revocation lists), and a way to read it again. */
  peerKeys?: () => ReadonlyMap<string, Buffer>;
  refreshPeerKeys?: () => Promise<void>;
}

export interface CoverageCheck {
  ok: boolean;
  reserve_fen: string;
  reserve_coins: number;
  liabilities_fen: string;
  devices: number;
  revoked: number;
  loss_fen: string;
  loss_covered_fen: string;
  max_device_loss_fen: string;
  problems: string[];
}

export class OfflineService {
  readonly store: OfflineStore;
  readonly reserveLock: Lock;
  readonly reserveLockHex: string;
  private timer: NodeJS.Timeout | null = null;
  private payoutsBusy: Promise<void> | null = null;
  /** Every peer bank's revocation list (peers.ts). */
  readonly peerLists: PeerRevocationLists;

  constructor(readonly bank: Bank, private readonly cfg: OfflineConfig) {
    this.store = new OfflineStore(bank.store);
    this.peerLists = new PeerRevocationLists({
      store: this.store, network: bank.network, selfId: bank.id, secretKey: cfg.bankSecretKey, peers: bank.peers,
      keys: cfg.peerKeys ?? (() => new Map()), refreshKeys: cfg.refreshPeerKeys ?? (async () => undefined),
      ...(bank.link.ca !== undefined ? { ca: bank.link.ca } : {}),
    });
    this.reserveLock = keyLock(cfg.reserveKey.publicKey);
    this.reserveLockHex = encodeLock(this.reserveLock).toString('hex');
  }

  get reservePublicKey(): Buffer {
    return this.cfg.reserveKey.publicKey;
  }

  async start(): Promise<void> {
    await this.bank.store.root.transaction(() => {
      if (this.bank.store.locks.get(this.reserveLockHex) === undefined) this.bank.store.locks.putSync(this.reserveLockHex, RESERVE_OWNER);
    });
    assert(this.bank.onApplied === null, 'one offline hook per bank');
    this.bank.onApplied = (txid, payment) => this.onApplied(txid, payment);
    this.timer = setInterval(() => void this.runPayouts(), 2_000);
    this.timer.unref();
    this.peerLists.start();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.peerLists.stop();
    await this.payoutsBusy;
  }

  /** The banks a device of this bank trusts: this one, and each peer bank central's directory names. */
  trustedBanks(): { id: string; publicKey: Buffer }[] {
    const keys = this.cfg.peerKeys?.() ?? new Map<string, Buffer>();
    const peers = [...this.bank.peers.keys()].filter((id) => keys.has(id)).sort().map((id) => ({ id, publicKey: keys.get(id)! }));
    return [{ id: this.bank.id, publicKey: this.bank.publicKey }, ...peers];
  }

  /** Refuses a device its bank revoked (every route acting for a device calls this first). */
  private notRevoked(d: DeviceRec): void {
    if (d.status === 'revoked') throw new CbdcError('CBDC_ERR_OFFLINE_REVOKED', `device ${d.serial} is revoked: ${d.revokedReason ?? ''}`);
  }

  /** Check-then-write in one LMDB write transaction; a CbdcError thrown before writing comes back as a rejection. */
  private async atomic<T>(fn: () => T): Promise<T> {
    const r = await this.bank.store.root.transaction(() => {
      try {
        return { ok: true as const, value: fn() };
      } catch (e) {
        if (isCbdcError(e)) return { ok: false as const, error: e };
        throw e;
      }
    });
    if (!r.ok) throw r.error;
    return r.value;
  }

  private now(): number {
    return Date.now();
  }

  // ---------------------------------------------------------------- devices

  ownDevice(account: string, serial: string): DeviceRec {
    const d = this.store.device(serial);
    if (d === undefined || d.account !== account) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', `no offline device ${serial.slice(0, 20)} for this account`);
    return d;
  }

  async provision(account: string, devicePub: Buffer, caps: { balanceCapFen?: bigint; paymentCapFen?: bigint }): Promise<DeviceRec> {
    const a = this.bank.account(account);
    checkActive(a);
    return this.atomic(() => registerDevice(this.store, {
      network: this.bank.network, bank: this.bank.id, bankSecretKey: this.cfg.bankSecretKey, account, devicePub, nowMs: this.now(),
      ...(caps.balanceCapFen !== undefined ? { balanceCapFen: caps.balanceCapFen } : {}), ...(caps.paymentCapFen !== undefined ? { paymentCapFen: caps.paymentCapFen } : {}),
    }).device);
  }

  /** The device must be active and report the counter the bank last synced (no rollback, nothing unsynced). */
  private checkCounter(d: DeviceRec, deviceCounter: bigint): void {
    this.notRevoked(d);
    if (deviceCounter < fen(d.syncedCounter)) throw new CbdcError('CBDC_ERR_OFFLINE_COUNTER', `the device says counter ${deviceCounter}, below ${d.syncedCounter} already synced: a rolled-back card`);
    if (deviceCounter > fen(d.syncedCounter)) throw new CbdcError('CBDC_ERR_OFFLINE_COUNTER', `the device is at counter ${deviceCounter}, the bank has its log to ${d.syncedCounter}: sync first`);
  }

  /** Step 1 of a load: the payment wallet -> reserve, prepared for the wallet's signature. */
  async prepareLoad(account: string, serial: string, amountFen: bigint, idempotencyKey: string): Promise<PaymentRec> {
    const d = this.ownDevice(account, serial);
    this.notRevoked(d);
    const held = deviceLiabilityFen(d);
    if (held + amountFen > fen(d.caps.balanceCapFen)) {
      throw new CbdcError('CBDC_ERR_OFFLINE_CAP', `the device would hold ${held + amountFen} fen, over its balance cap of ${d.caps.balanceCapFen}`);
    }
    return this.bank.preparePayment(account, { idempotencyKey: `offline-load-${serial}-${idempotencyKey}`.slice(0, 64), payee: { offlineDevice: serial, reserveLock: this.reserveLock }, amountFen });
  }

  /** Step 2 of a load (after the payment settled): the bank's load authorisation for the device's counter. */
  async loadAuthorisation(account: string, serial: string, paymentId: string, deviceCounter: bigint): Promise<{ auth: AuthRec; load: { amountFen: string; txid: string } }> {
    return this.atomic(() => {
      const d = this.ownDevice(account, serial);
      // Even an authorisation issued before the revocation is not handed out again.
      this.notRevoked(d);
      const l = this.store.load(paymentId);
      if (l === undefined || l.serial !== serial) throw new CbdcError('CBDC_ERR_OFFLINE_LOAD_STATE', 'that load has not settled (sign the payment first), or is for another device');
      if (l.authHash !== null) {
        const a = this.store.auth(l.authHash)!;
        if (a.status === 'applied' || fen(a.counter) === deviceCounter) return { auth: a, load: { amountFen: l.amountFen, txid: l.txid } };
      }
      this.checkCounter(d, deviceCounter);
      const auth = this.issue(d, 'load', fen(l.amountFen), paymentId);
      this.store.putLoad({ ...l, authHash: auth.hash });
      return { auth, load: { amountFen: l.amountFen, txid: l.txid } };
    });
  }

  /** An unload authorisation: the device takes `amountFen` off its balance; its receipt is paid out online. */
  async unloadAuthorisation(account: string, serial: string, amountFen: bigint, deviceCounter: bigint, idempotencyKey: string): Promise<AuthRec> {
    return this.atomic(() => {
      const d = this.ownDevice(account, serial);
      this.notRevoked(d);
      const ref = `unload:${idempotencyKey}`;
      const earlier = this.store.meta<string>(`unload-key/${serial}/${idempotencyKey}`);
      if (earlier !== undefined) {
        const a = this.store.auth(earlier)!;
        if (fen(a.amountFen) !== amountFen) throw new CbdcError('CBDC_ERR_IDEMPOTENCY_CONFLICT');
        if (a.status !== 'superseded') return a;
      }
      this.checkCounter(d, deviceCounter);
      if (amountFen > fen(d.headBalanceFen)) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS', `the device's synced balance is ${d.headBalanceFen} fen`);
      if (amountFen > deviceLiabilityFen(d)) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS', 'the device holds less than that at the bank');
      const auth = this.issue(d, 'unload', amountFen, ref);
      this.store.setMeta(`unload-key/${serial}/${idempotencyKey}`, auth.hash);
      return auth;
    });
  }

  /** Inside a transaction: signs and records a load/unload authorisation at the device's synced counter. */
  private issue(d: DeviceRec, action: 'load' | 'unload', amountFen: bigint, ref: string): AuthRec {
    const cert = decodeCertificate(Buffer.from(d.certHex, 'hex'));
    const body = { network: this.bank.network, device: { bank: cert.bank, serial: cert.serial }, devicePub: cert.devicePub, action, counter: fen(d.syncedCounter), amountFen };
    const signed = signAuthorisation(body, this.cfg.bankSecretKey);
    const rec: AuthRec = {
      hash: authorisationHash(body).toString('hex'), serial: d.serial, action, counter: d.syncedCounter, amountFen: amountFen.toString(),
      hex: encodeAuthorisation(signed).toString('hex'), status: 'issued', ref,
    };
    this.store.putAuth(rec);
    this.store.setMeta(`open-auths/${d.serial}`, [...(this.store.meta<string[]>(`open-auths/${d.serial}`) ?? []), rec.hash]);
    return rec;
  }

  /** The sync authorisation for what the bank holds of the device's log (null before its first step). */
  syncAuthorisation(d: DeviceRec): string | null {
    if (fen(d.syncedCounter) === 0n) return null;
    const cert = decodeCertificate(Buffer.from(d.certHex, 'hex'));
    const body = { network: this.bank.network, device: { bank: cert.bank, serial: cert.serial }, devicePub: cert.devicePub, action: 'sync' as const, counter: fen(d.syncedCounter), amountFen: 0n };
    return encodeAuthorisation(signAuthorisation(body, this.cfg.bankSecretKey)).toString('hex');
  }

  revocations(): { sequence: bigint; hex: string; serials: bigint[] } {
    return revocationList(this.store, this.bank.network, this.bank.id, this.cfg.bankSecretKey, this.now());
  }

  /** Every list a device of this bank installs: this bank's own first, then each peer bank's. */
  revocationLists(): string[] {
    return [this.revocations().hex, ...this.peerLists.lists().sort((a, b) => (a.bank < b.bank ? -1 : 1)).map((l) => l.hex)];
  }

  /** Staff: revoke a device (lost, stolen). */
  async revoke(serial: string, reason: string): Promise<DeviceRec> {
    return this.atomic(() => {
      if (this.store.device(serial) === undefined) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN');
      return revokeDevice(this.store, serial, `staff: ${reason}`, this.now());
    });
  }

  evidence(fromSeq = 0, limit = 100): EvidenceRec[] {
    return this.store.evidence(fromSeq, limit);
  }

  // ---------------------------------------------------------------- uploads

  /**
   * A device's sync, or a payee's upload of vouchers it took: settles what is new, keeps the
   * evidence of any double spending, then waits for the payouts it queued (unloads, loss
   * covers) to settle at central, and hands the device the bank's revocation list.
   */
  async upload(u: Upload): Promise<UploadOutcome & { syncAuthorisation: string | null; revocations: { sequence: bigint; hex: string }; revocationLists: string[] }> {
    // Other banks' newest lists first, so a device they revoked is refused here too.
    await this.peerLists.refreshIfStale();
    const outcome = await this.atomic(() => {
      const o = processUpload({
        store: this.store, network: this.bank.network, bankId: this.bank.id, bankPublicKey: this.bank.publicKey, nowMs: this.now(), verifier: nativeVerifier,
        peerKeys: this.cfg.peerKeys?.() ?? new Map(), peerRevoked: (bank, serial) => this.peerLists.revoked(bank, serial),
      }, u);
      o.payouts.push(...this.queueLossCovers());
      if (o.device !== null && o.device.status === 'active') {
        // The list handed over now: from here on, this device as a payee knows every serial on it.
        const seq = this.store.meta<string>('revocation-seq') ?? '0';
        const d = this.store.device(o.device.serial)!;
        this.store.putDevice({ ...d, listSeqDelivered: seq, listDeliveredAtCounter: d.syncedCounter });
        o.device = this.store.device(o.device.serial)!;
      }
      return o;
    });
    await this.bank.durable();
    // Answer once this upload's payouts (its unloads, the loss covers it made) have settled, or the wait is up.
    if (outcome.payouts.length > 0) await this.settlePayouts(outcome.payouts.map((p) => p.id), PAYOUT_WAIT_MS);
    const device = outcome.device === null ? null : this.store.device(outcome.device.serial)!;
    const r = this.revocations();
    return {
      ...outcome, device, syncAuthorisation: device !== null && device.status === 'active' ? this.syncAuthorisation(device) : null,
      revocations: { sequence: r.sequence, hex: r.hex }, revocationLists: this.revocationLists(),
    };
  }

  /** Inside a transaction: for each device whose liability is below zero, queue a cover from holdings. */
  private queueLossCovers(): PayoutRec[] {
    const queued: PayoutRec[] = [];
    const pending = new Map<string, bigint>();
    for (const p of this.store.payouts()) {
      if (p.kind === 'loss_cover' && p.status !== 'settled') pending.set(p.serial, (pending.get(p.serial) ?? 0n) + fen(p.amountFen));
    }
    for (const d of this.store.devices()) {
      const loss = lossFen({ loadedFen: fen(d.loadedFen), unloadedFen: fen(d.unloadedFen), paidFen: fen(d.paidFen), receivedFen: fen(d.receivedFen) });
      const gap = loss - fen(d.lossCoveredFen) - (pending.get(d.serial) ?? 0n);
      if (gap <= 0n) continue;
      const seq = this.store.meta<number>('cover-next') ?? 0;
      this.store.setMeta('cover-next', seq + 1);
      const p: PayoutRec = { id: `cover-${seq}`, kind: 'loss_cover', serial: d.serial, amountFen: gap.toString(), txid: null, status: 'queued', atMs: this.now() };
      this.store.putPayout(p);
      queued.push(p);
    }
    return queued;
  }

  // ---------------------------------------------------------------- settlement hook and payouts

  /** Inside the transaction applying a settled transaction (Bank.onApplied). */
  private onApplied(txid: string, payment: PaymentRec | undefined): void {
    if (payment?.payee.kind === 'offline' && payment.payee.account !== null) {
      const serial = payment.payee.account;
      if (this.store.load(payment.id) !== undefined) return;
      const d = this.store.device(serial);
      assert(d !== undefined, 'a load pays a registered device');
      this.store.putDevice({ ...d, loadedFen: (fen(d.loadedFen) + fen(payment.amountFen)).toString() });
      this.store.putLoad({ paymentId: payment.id, serial, amountFen: payment.amountFen, txid, authHash: null });
      return;
    }
    const ids = this.store.meta<string[]>(`payout-tx/${txid}`);
    if (ids === undefined) return;
    for (const id of ids) {
      const p = this.store.payout(id)!;
      if (p.status === 'settled') continue;
      this.store.putPayout({ ...p, status: 'settled', txid });
      if (p.kind === 'loss_cover') {
        const d = this.store.device(p.serial)!;
        this.store.putDevice({ ...d, lossCoveredFen: (fen(d.lossCoveredFen) + fen(p.amountFen)).toString() });
      }
    }
  }

  /** Runs payouts until the ones named have settled or the time is up. */
  async settlePayouts(ids: string[], maxMs: number): Promise<void> {
    const until = Date.now() + maxMs;
    for (;;) {
      await this.runPayouts();
      if (ids.every((id) => this.store.payout(id)?.status === 'settled') || Date.now() >= until) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** One pass over the payouts: builds, submits or resubmits their transactions (one pass at a time). */
  runPayouts(): Promise<void> {
    this.payoutsBusy ??= this.payoutPass().finally(() => {
      this.payoutsBusy = null;
    });
    return this.payoutsBusy;
  }

  private async payoutPass(): Promise<void> {
    // Submitted before and not yet applied: send again (central refuses a second spend; the event stream settles it).
    const submitted = new Set<string>();
    for (const p of this.store.payouts()) if (p.status === 'submitted' && p.txid !== null) submitted.add(p.txid);
    for (const txid of submitted) {
      if (this.bank.store.applied.get(txid) !== undefined) continue;
      const json = this.store.meta<TxJson>(`payout-json/${txid}`);
      if (json !== undefined) await this.submit(parseTx(json, this.bank.network), txid);
    }
    for (const kind of ['loss_cover', 'unload'] as const) {
      const queued = [...this.store.payouts()].filter((p) => p.kind === kind && p.status === 'queued').slice(0, PAYOUTS_PER_TX_MAX);
      if (queued.length === 0) continue;
      let built;
      try {
        built = await this.build(kind, queued);
      } catch (e) {
        if (isCbdcError(e)) continue; // holdings or a payee quote not available yet: next pass
        throw e;
      }
      await this.submit(built.tx, built.txid);
    }
  }

  /** Builds one transaction for a group of payouts and reserves its inputs. */
  private async build(kind: 'loss_cover' | 'unload', payouts: PayoutRec[]): Promise<{ tx: Tx; txid: string }> {
    const outputs: { value: bigint; lock: Lock }[] = [];
    let total = 0n;
    for (const p of payouts) {
      total += fen(p.amountFen);
      if (kind === 'loss_cover') continue;
      const d = this.store.device(p.serial)!;
      const q = await this.bank.quote({ account: d.account }, fen(p.amountFen), `offline device ${p.serial}`);
      outputs.push(...q.outputs);
    }
    if (kind === 'loss_cover') outputs.push({ value: total, lock: this.reserveLock });
    return this.atomic(() => {
      const owner = kind === 'loss_cover' ? BANK_OWNER : RESERVE_OWNER;
      const { coins, sumFen } = selectCoins(this.bank.store, owner, total, owner === RESERVE_OWNER ? 'the offline reserve does not cover that yet' : "the bank's holdings do not cover that yet");
      if (sumFen > total) outputs.push({ value: sumFen - total, lock: kind === 'loss_cover' ? this.bank.holdingsLock : this.reserveLock });
      const unsigned = makeTx({ network: this.bank.network, inputs: coins.map((c) => ({ pos: BigInt(c.pos), id: Buffer.from(c.id, 'hex') })), outputs });
      const id = txId(unsigned);
      const sk = kind === 'loss_cover' ? this.cfg.bankSecretKey : this.cfg.reserveKey.secretKey;
      const pk = kind === 'loss_cover' ? this.bank.publicKey : this.cfg.reserveKey.publicKey;
      const tx: Tx = { ...unsigned, sigs: [{ key: pk, sig: signHashNative(sk, id) }] };
      const txid = id.toString('hex');
      for (const c of coins) this.bank.store.reserved.reserve(posKey(c.pos), `offline:${txid}`);
      for (const p of payouts) {
        const cur = this.store.payout(p.id)!;
        assert(cur.status === 'queued', 'a payout is built once at a time');
        this.store.putPayout({ ...cur, status: 'submitted', txid });
      }
      this.store.setMeta(`payout-tx/${txid}`, payouts.map((p) => p.id));
      this.store.setMeta(`payout-json/${txid}`, txToJson(tx));
      return { tx, txid };
    });
  }

  private async submit(tx: Tx, txid: string): Promise<void> {
    const r = await this.bank.link.submit(tx);
    if (r.status === 'settled') {
      await this.bank.applySettled(tx, r, {});
      return;
    }
    const uncertain = r.code === 'CBDC_ERR_CENTRAL_UNAVAILABLE' || r.code === 'CBDC_ERR_OVERLOADED' || r.code === 'CBDC_ERR_DOUBLE_SPEND' || r.code === 'CBDC_ERR_UNKNOWN_INPUT';
    if (uncertain) return; // sent again on the next pass; the event stream applies it if it did settle
    // Refused for good: release the inputs and queue the payouts again.
    await this.atomic(() => {
      if (this.bank.store.applied.get(txid) !== undefined) return;
      for (const i of tx.inputs) this.bank.store.reserved.release(posKey(i.pos), `offline:${txid}`);
      for (const id of this.store.meta<string[]>(`payout-tx/${txid}`) ?? []) {
        const p = this.store.payout(id)!;
        if (p.status === 'submitted' && p.txid === txid) this.store.putPayout({ ...p, status: 'queued', txid: null });
      }
    });
    process.stderr.write(`bank ${this.bank.id}: offline payout ${txid} refused by central: ${r.code} ${r.message}\n`);
  }

  // ---------------------------------------------------------------- the invariant

  /**
   * The reserve covers every device: each reserve output the bank holds is unspent at central
   * with the value the bank recorded, and their sum is at least the devices' liabilities.
   * Also reports each revoked device's loss against its balance cap.
   */
  async check(): Promise<CoverageCheck> {
    const problems: string[] = [];
    let reserve = 0n;
    let coins = 0;
    for (const { key } of this.bank.store.coinsByOwner.getRange({ start: [RESERVE_OWNER, ''], end: [RESERVE_OWNER, '~'] })) {
      const c = this.bank.store.coins.get(key[1]);
      if (c === undefined) continue;
      coins++;
      const o = await this.bank.link.call<{ value: string; spent: boolean }>('GET', `/v1/outputs/${c.pos}?id=${c.id}`).catch((e: Error) => {
        problems.push(`reserve output ${c.pos}: ${e.message}`);
        return null;
      });
      if (o === null) continue;
      if (o.spent) problems.push(`reserve output ${c.pos} is spent at central`);
      else if (o.value !== c.value) problems.push(`reserve output ${c.pos}: ${c.value} here, ${o.value} at central`);
      else reserve += fen(o.value);
    }
    let liabilities = 0n;
    let loss = 0n;
    let covered = 0n;
    let maxLoss = 0n;
    let devices = 0;
    let revoked = 0;
    for (const d of this.store.devices()) {
      devices++;
      if (d.status === 'revoked') revoked++;
      const l = deviceLiabilityFen(d);
      if (l > 0n) liabilities += l;
      const dl = l < 0n ? -l : 0n;
      loss += dl;
      covered += fen(d.lossCoveredFen);
      if (dl > maxLoss) maxLoss = dl;
      if (dl > fen(d.caps.balanceCapFen)) problems.push(`device ${d.serial}: loss ${dl} fen is over its balance cap ${d.caps.balanceCapFen}`);
    }
    if (reserve < liabilities) problems.push(`the reserve at central (${reserve} fen) is below what devices hold (${liabilities} fen)`);
    return {
      ok: problems.length === 0, reserve_fen: reserve.toString(), reserve_coins: coins, liabilities_fen: liabilities.toString(),
      devices, revoked, loss_fen: loss.toString(), loss_covered_fen: covered.toString(), max_device_loss_fen: maxLoss.toString(), problems,
    };
  }
}
