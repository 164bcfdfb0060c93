// The reader's side of the command set: typed calls that build command APDUs, send them
// over any channel (an applet in this process, or a card behind PC/SC), and decode the
// answers. Any status word but 9000 becomes a CardRefusal (CBDC_ERR_OFFLINE_REFUSED) that
// keeps the status word.
import { u64be } from '../protocol/bytes.js';
import { DeviceCertificate, decodeCertificate, encodeCertificate } from './certificate.js';
import { PaymentChallenge, decodeChallenge, encodeChallenge } from './challenge.js';
import { PayVoucher, Voucher, decodeVoucher, encodeVoucher } from './voucher.js';
import { BankAuthorisation, encodeAuthorisation } from './authorisation.js';
import { RevocationList, encodeRevocationList } from './revocation.js';
import { CLA_ISO, CLA_PROPRIETARY, CardRefusal, INS, OFFLINE_AID, encodeCommandApdu, parseResponseApdu } from './apdu.js';
import { Applet, AppletStatus, decodeStatus, encodeAcceptData, encodeInitialise } from './applet.js';
import { ByteReader, formatError } from './codec.js';

/** Something that carries one command APDU to a card and brings back its response APDU. */
export interface CardChannel {
  transmit(command: Buffer): Promise<Buffer>;
}

/** A channel to an applet in this process (the payee's own device, or tests). */
export function localChannel(applet: Applet): CardChannel {
  return { transmit: async (command) => applet.process(command) };
}

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(INS).map(([k, v]) => [v, k]));

export class CardClient {
  constructor(readonly channel: CardChannel) {}

  /** Sends one command; returns the response data of a 9000, throws CardRefusal otherwise. */
  async command(ins: number, data: Buffer = Buffer.alloc(0), p1p2 = 0): Promise<Buffer> {
    const cla = ins === INS.SELECT ? CLA_ISO : CLA_PROPRIETARY;
    const apdu = encodeCommandApdu({ cla, ins, p1: p1p2 >> 8, p2: p1p2 & 0xff, data, ne: 65536 });
    const r = parseResponseApdu(await this.channel.transmit(apdu));
    if (r.sw !== 0x9000) throw new CardRefusal(r.sw, NAMES[ins] ?? `INS ${ins}`);
    return r.data;
  }

  async select(): Promise<void> {
    const cla = CLA_ISO;
    const apdu = encodeCommandApdu({ cla, ins: INS.SELECT, p1: 0x04, p2: 0x00, data: OFFLINE_AID, ne: 256 });
    const r = parseResponseApdu(await this.channel.transmit(apdu));
    if (r.sw !== 0x9000) throw new CardRefusal(r.sw, 'SELECT');
  }

  async status(): Promise<AppletStatus> {
    return decodeStatus(await this.command(INS.GET_STATUS));
  }

  async certificate(): Promise<DeviceCertificate> {
    return decodeCertificate(await this.command(INS.GET_CERTIFICATE));
  }

  /** Personalisation: network and trusted bank keys; answers the device's new public key. */
  async initialise(network: string, trust: ReadonlyMap<string, Buffer>): Promise<Buffer> {
    return this.command(INS.INITIALISE, encodeInitialise(network, trust));
  }

  async installCertificate(cert: DeviceCertificate): Promise<void> {
    await this.command(INS.INSTALL_CERTIFICATE, encodeCertificate(cert));
  }

  /** Payee: a challenge for `amountFen` at the payee's time `timeMs`. */
  async challenge(amountFen: bigint, timeMs: bigint): Promise<PaymentChallenge> {
    return decodeChallenge(await this.command(INS.CHALLENGE, Buffer.concat([u64be(amountFen), u64be(timeMs)])));
  }

  /** Payer: answers a challenge with a pay voucher (the same one again for a repeated challenge). */
  async pay(challenge: PaymentChallenge): Promise<PayVoucher> {
    const v = decodeVoucher(await this.command(INS.PAY, encodeChallenge(challenge)));
    if (v.type !== 'pay') throw formatError('PAY answered a voucher that is not a payment');
    return v;
  }

  /** Payee: checks a payer certificate (trust, validity at `timeMs`, revocation). */
  async checkPayer(cert: DeviceCertificate, timeMs: bigint): Promise<void> {
    await this.command(INS.CHECK_PAYER, Buffer.concat([u64be(timeMs), encodeCertificate(cert)]));
  }

  /** Payee: verifies and credits a pay voucher; answers the payee's receive voucher. */
  async accept(cert: DeviceCertificate, voucher: Voucher): Promise<Voucher> {
    return decodeVoucher(await this.command(INS.ACCEPT, encodeAcceptData(encodeCertificate(cert), encodeVoucher(voucher))));
  }

  /** Every voucher not yet acknowledged by a sync, oldest first (for upload to the bank). */
  async exportLog(): Promise<Voucher[]> {
    const out: Voucher[] = [];
    for (;;) {
      const r = new ByteReader(await this.command(INS.EXPORT_LOG, Buffer.alloc(0), out.length), 'export log');
      const total = r.u16('total');
      const n = r.u8('count');
      for (let i = 0; i < n; i++) out.push(decodeVoucher(r.bytes(r.u16('length'), 'voucher')));
      r.end();
      if (out.length >= total) return out;
      if (n === 0) throw formatError('EXPORT LOG made no progress');
    }
  }

  /** The payers' vouchers (with their certificates) this card accepted since its last sync. */
  async exportReceived(): Promise<{ cert: DeviceCertificate; voucher: PayVoucher }[]> {
    const out: { cert: DeviceCertificate; voucher: PayVoucher }[] = [];
    for (;;) {
      const r = new ByteReader(await this.command(INS.EXPORT_RECEIVED, Buffer.alloc(0), out.length), 'export received');
      const total = r.u16('total');
      const n = r.u8('count');
      for (let i = 0; i < n; i++) {
        const cert = decodeCertificate(r.bytes(r.u16('length'), 'certificate'));
        const voucher = decodeVoucher(r.bytes(r.u16('length'), 'voucher'));
        if (voucher.type !== 'pay') throw formatError('EXPORT RECEIVED answered a voucher that is not a payment');
        out.push({ cert, voucher });
      }
      r.end();
      if (out.length >= total) return out;
      if (n === 0) throw formatError('EXPORT RECEIVED made no progress');
    }
  }

  /** Applies a bank `load` authorisation; answers the device's load voucher. */
  async load(auth: BankAuthorisation): Promise<Voucher> {
    return decodeVoucher(await this.command(INS.LOAD, encodeAuthorisation(auth)));
  }

  /** Applies a bank `unload` authorisation; answers the device's unload voucher (its receipt). */
  async unload(auth: BankAuthorisation): Promise<Voucher> {
    return decodeVoucher(await this.command(INS.UNLOAD, encodeAuthorisation(auth)));
  }

  /** Applies a bank `sync` acknowledgement: the log drops what the bank holds. */
  async sync(auth: BankAuthorisation): Promise<void> {
    await this.command(INS.SYNC, encodeAuthorisation(auth));
  }

  async installRevocationList(list: RevocationList): Promise<void> {
    await this.command(INS.REVOCATION_LIST, encodeRevocationList(list));
  }
}
