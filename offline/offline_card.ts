// The card as the wallet's offline flows see it (wallet/offline_wallet.ts OfflineCard): hex
// in and out, one call per step, over the APDU command set. Initialises a blank card with
// the network and bank keys the bank publishes (GET /v1/offline/trust) the first time its
// public key is asked for.
import { bytesToHex } from '../protocol/bytes.js';
import { CardClient } from './card_client.js';
import { decodeCertificate, encodeCertificate } from './certificate.js';
import { decodeAuthorisation } from './authorisation.js';
import { decodeRevocationList } from './revocation.js';
import { encodeVoucher } from './voucher.js';
import { CbdcError } from '../protocol/errors.js';

export interface CardTrust {
  network: string;
  /** Bank id -> the bank's offline public key. */
  banks: ReadonlyMap<string, Buffer>;
}

export class ApduOfflineCard {
  /**
   * `trust` is asked for only when the card is blank (for example from the bank's
   * /v1/offline/trust); every call selects the applet first, as a tap would.
   */
  constructor(
    readonly client: CardClient,
    private readonly trust?: () => Promise<CardTrust>,
  ) {}

  private async status() {
    await this.client.select();
    return this.client.status();
  }

  async publicKey(): Promise<Buffer> {
    const st = await this.status();
    if (st.devicePub !== null) return st.devicePub;
    if (this.trust === undefined) throw new CbdcError('CBDC_ERR_OFFLINE_STORE', 'the card is blank and no trusted bank keys were given to initialise it');
    const t = await this.trust();
    return this.client.initialise(t.network, t.banks);
  }

  async installCertificate(certificateHex: string): Promise<void> {
    await this.client.select();
    await this.client.installCertificate(decodeCertificate(Buffer.from(certificateHex, 'hex')));
  }

  async certificate(): Promise<string | null> {
    const st = await this.status();
    return st.certified ? bytesToHex(encodeCertificate(await this.client.certificate())) : null;
  }

  async counter(): Promise<bigint> {
    return (await this.status()).counter;
  }

  async balanceFen(): Promise<bigint> {
    return (await this.status()).balanceFen;
  }

  /** Applies a bank authorisation with the command its action names (LOAD, UNLOAD or SYNC). */
  async applyAuthorisation(authorisationHex: string): Promise<void> {
    const a = decodeAuthorisation(Buffer.from(authorisationHex, 'hex'));
    await this.client.select();
    if (a.action === 'load') await this.client.load(a);
    else if (a.action === 'unload') await this.client.unload(a);
    else await this.client.sync(a);
  }

  async installRevocationList(listHex: string): Promise<void> {
    await this.client.select();
    await this.client.installRevocationList(decodeRevocationList(Buffer.from(listHex, 'hex')));
  }

  async log(): Promise<{ log: string[]; received: { certificate: string; voucher: string }[] }> {
    await this.client.select();
    const log = (await this.client.exportLog()).map((v) => bytesToHex(encodeVoucher(v)));
    const received = (await this.client.exportReceived()).map((r) => ({ certificate: bytesToHex(encodeCertificate(r.cert)), voucher: bytesToHex(encodeVoucher(r.voucher)) }));
    return { log, received };
  }
}
