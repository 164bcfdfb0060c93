// The wallet's side of offline payments with its bank: register the device's secure element,
// load it from the wallet (a payment to the bank's offline reserve, checked and signed like
// any payment, then the bank's load authorisation applied on the card), unload it back,
// and sync (upload the card's log and the payers' vouchers it took, apply the bank's sync
// authorisation, install the revocation list). The card itself sits behind OfflineCard.
import { CbdcError } from '../protocol/errors.js';
import { signHash } from '../protocol/sig.js';
import { CardRefusal, SW } from '../offline/apdu.js';
import { BankRefusal, type PaymentJson } from './client.js';
import { type Wallet, checkIdempotencyKey, checkPreparedPayment } from './wallet.js';

/** What the wallet needs of the device's secure element (the applet, over whatever link). */
export interface OfflineCard {
  /** The element's public key (33 bytes, SEC1 compressed); a blank card is initialised first (see OfflineWallet.trust). */
  publicKey(): Promise<Buffer>;
  installCertificate(certificateHex: string): Promise<void>;
  /** The certificate installed, or null before provisioning. */
  certificate(): Promise<string | null>;
  counter(): Promise<bigint>;
  balanceFen(): Promise<bigint>;
  /** Applies a bank authorisation (load, unload or sync); refuses one not for its counter. */
  applyAuthorisation(authorisationHex: string): Promise<void>;
  installRevocationList(listHex: string): Promise<void>;
  /** Its own log since the last sync, and the payers' vouchers (with certificates) it took. */
  log(): Promise<{ log: string[]; received: { certificate: string; voucher: string }[] }>;
}

export interface DeviceJson {
  serial: string;
  account: string;
  status: 'active' | 'revoked';
  device_public_key: string;
  certificate: string;
  balance_cap_fen: string;
  payment_cap_fen: string;
  payments_before_sync: number;
  loaded_fen: string;
  unloaded_fen: string;
  paid_fen: string;
  received_fen: string;
  held_fen: string;
  synced_counter: string;
  synced_balance_fen: string;
  revoked_reason: string | null;
}

export interface AuthJson {
  authorisation: string;
  action: string;
  counter: string;
  amount_fen: string;
  status: string;
}

export interface UploadJson {
  results: { source: string; index: number; hash: string | null; counter: string | null; status: string; code?: string; message?: string }[];
  findings: { serial: string; kind: string; counter: string; detail: string }[];
  revoked: string[];
  device: DeviceJson | null;
  sync_authorisation: string | null;
  revocation_list: string;
  revocation_sequence: string;
  /** Every list to install: the bank's own, then each peer bank's (absent from older banks). */
  revocation_lists?: string[];
}

const badResponse = (what: string) => new CbdcError('CBDC_ERR_BANK_RESPONSE', what);

/** The card refused a list because it does not trust the bank that signed it. */
const isUntrustedList = (e: unknown): boolean => e instanceof CardRefusal && e.sw === SW.SECURITY_STATUS;

export class OfflineWallet {
  constructor(readonly wallet: Wallet, readonly card: OfflineCard) {}

  private get accountId(): string {
    return this.wallet.account.account_id;
  }

  private async serial(): Promise<string> {
    const cert = await this.card.certificate();
    if (cert === null) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', 'this device is not provisioned yet: run cbdc-wallet offline provision');
    const d = (await this.devices()).find((x) => x.certificate === cert);
    if (d === undefined) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', "the bank does not know this device's certificate for this account");
    return d.serial;
  }

  /** The network and bank keys a blank card is initialised with (GET /v1/offline/trust). */
  async trust(): Promise<{ network: string; banks: ReadonlyMap<string, Buffer> }> {
    const t = await this.wallet.client().call<{ network: string; banks: { id: string; public_key: string }[] }>('GET', '/v1/offline/trust', undefined, { idempotent: true });
    if (t.network !== this.wallet.account.network) throw badResponse(`the bank's offline trust list is for network ${t.network}`);
    return { network: t.network, banks: new Map(t.banks.map((b) => [b.id, Buffer.from(b.public_key, 'hex')])) };
  }

  async devices(): Promise<DeviceJson[]> {
    return (await this.wallet.client().call<{ devices: DeviceJson[] }>('GET', `/v1/accounts/${this.accountId}/offline/devices`, undefined, { idempotent: true })).devices;
  }

  /** Registers the card's key with the bank and installs the certificate it signs. */
  async provision(caps: { balanceCapFen?: bigint; paymentCapFen?: bigint } = {}): Promise<DeviceJson> {
    if ((await this.card.certificate()) !== null) throw new CbdcError('CBDC_ERR_ACCOUNT_EXISTS', 'this device is already provisioned');
    const c = this.wallet.client();
    const pub = await this.card.publicKey();
    const body = {
      device_public_key: pub.toString('hex'),
      ...(caps.balanceCapFen !== undefined ? { balance_cap_fen: caps.balanceCapFen.toString() } : {}),
      ...(caps.paymentCapFen !== undefined ? { payment_cap_fen: caps.paymentCapFen.toString() } : {}),
    };
    const d = await c.call<DeviceJson>('POST', `/v1/accounts/${this.accountId}/offline/devices`, body, { idempotent: false, retryOn503: false });
    if (d.device_public_key !== pub.toString('hex')) throw badResponse('the bank certified another key');
    await this.card.installCertificate(d.certificate);
    return d;
  }

  /**
   * Uploads the card's log and the vouchers it took; applies the bank's sync authorisation and
   * revocation list. A refusal (a revoked card) is thrown after the list is installed.
   */
  async sync(): Promise<UploadJson> {
    const cert = await this.card.certificate();
    if (cert === null) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', 'this device is not provisioned yet: run cbdc-wallet offline provision');
    const { log, received } = await this.card.log();
    const c = this.wallet.client();
    let r: UploadJson;
    try {
      r = await c.call<UploadJson>('POST', '/v1/offline/uploads', { certificate: cert, log, received }, { idempotent: true });
    } catch (e) {
      if (e instanceof BankRefusal) {
        const got = await c.call<{ list: string; lists?: string[] }>('GET', '/v1/offline/revocations', undefined, { idempotent: true }).catch(() => null);
        if (got !== null) await this.installLists(got.lists ?? [got.list]);
      }
      throw e;
    }
    await this.installLists(r.revocation_lists ?? [r.revocation_list]);
    if (r.sync_authorisation !== null) await this.card.applyAuthorisation(r.sync_authorisation);
    return r;
  }

  /**
   * Installs each bank's list on the card. A list from a bank the card does not trust (a card
   * made before that bank was in the directory) is skipped: the card refuses that bank's
   * devices anyway. Any other refusal (an older list, a bad signature) is thrown.
   */
  private async installLists(lists: readonly string[]): Promise<void> {
    for (const hex of lists) {
      try {
        await this.card.installRevocationList(hex);
      } catch (e) {
        if (hex !== lists[0] && isUntrustedList(e)) continue;
        throw e;
      }
    }
  }

  /** Load: a payment wallet -> offline reserve, then the bank's load authorisation applied on the card. */
  async load(amountFen: bigint, idempotencyKey: string): Promise<{ payment: PaymentJson; authorisation: AuthJson; balanceFen: bigint }> {
    await this.sync();
    const serial = await this.serial();
    const c = this.wallet.client();
    const a = this.wallet.account;
    const base = `/v1/accounts/${a.account_id}/offline/devices/${serial}`;
    const prepared = await c.call<{ payment: PaymentJson; reserve_public_key: string }>('POST', `${base}/loads`, { amount_fen: amountFen.toString(), idempotency_key: checkIdempotencyKey(idempotencyKey).slice(0, 40) }, { idempotent: true });
    let p = prepared.payment;
    if (p.status === 'awaiting_signature') {
      // The wallet's consent: exactly this amount to the bank's offline-reserve key, change back to itself.
      const txid = checkPreparedPayment(p, { network: a.network, ownLock: a.lock, amountFen, toBankKeyHex: prepared.reserve_public_key });
      p = await c.signPayment(a.account_id, p.id, signHash(this.wallet.keystore.secretKey, txid).toString('hex'));
    }
    for (let i = 0; p.status === 'submitted' && i < 30; i++) {
      await new Promise((r) => setTimeout(r, 500));
      p = await c.payment(a.account_id, p.id);
    }
    if (p.status !== 'settled') throw new BankRefusal(p.result?.code ?? 'CBDC_ERR_OFFLINE_LOAD_STATE', p.result?.message ?? `the load payment is ${p.status}`, 409, { payment: p });
    const auth = await c.call<AuthJson>('POST', `${base}/loads/${p.id}/authorisation`, { device_counter: (await this.card.counter()).toString() }, { idempotent: true });
    if (auth.status === 'issued') await this.card.applyAuthorisation(auth.authorisation);
    await this.sync();
    return { payment: p, authorisation: auth, balanceFen: await this.card.balanceFen() };
  }

  /** Unload: the card takes the amount off its balance; the sync that follows gets it paid to the wallet. */
  async unload(amountFen: bigint, idempotencyKey: string): Promise<{ authorisation: AuthJson; balanceFen: bigint; sync: UploadJson }> {
    await this.sync();
    const serial = await this.serial();
    const c = this.wallet.client();
    const auth = await c.call<AuthJson>('POST', `/v1/accounts/${this.accountId}/offline/devices/${serial}/unloads`, {
      amount_fen: amountFen.toString(), device_counter: (await this.card.counter()).toString(), idempotency_key: checkIdempotencyKey(idempotencyKey).slice(0, 40),
    }, { idempotent: true });
    if (auth.status === 'issued') await this.card.applyAuthorisation(auth.authorisation);
    const sync = await this.sync();
    return { authorisation: auth, balanceFen: await this.card.balanceFen(), sync };
  }

  /** The device as the bank sees it, and the card's own counter and balance. */
  async status(): Promise<{ device: DeviceJson | null; counter: bigint; balanceFen: bigint }> {
    const cert = await this.card.certificate();
    const device = cert === null ? null : (await this.devices()).find((d) => d.certificate === cert) ?? null;
    return { device, counter: await this.card.counter(), balanceFen: await this.card.balanceFen() };
  }
}
