// A device for the bank's unit tests: the voucher chain an offline applet keeps (counter,
// previous hash, balance), made with the real offline formats and signed with a real key,
// without the APDU layer. clone() copies its whole state, as an attacker who extracted the
// secure element's key and counter would.
import { generateSecretKey, publicKeyOf } from '../../protocol/sig.js';
import { type DeviceCertificate, decodeCertificate } from '../../offline/certificate.js';
import { authorisationHash, decodeAuthorisation } from '../../offline/authorisation.js';
import { type DeviceRef } from '../../offline/codec.js';
import { GENESIS_HASH, type Voucher, type VoucherBody, decodeVoucher, encodeVoucher, signVoucher, voucherHash } from '../../offline/voucher.js';
import { randomBytes } from 'node:crypto';

export class SimDevice {
  readonly sk: Buffer;
  readonly pub: Buffer;
  cert: DeviceCertificate | null = null;
  certHex = '';
  counter = 0n;
  head: Buffer = GENESIS_HASH;
  balance = 0n;
  /** Own vouchers since the last sync (hex). */
  log: string[] = [];
  /** Payers' vouchers taken since the last sync. */
  taken: { certificate: string; voucher: string }[] = [];

  constructor(sk: Buffer = generateSecretKey()) {
    this.sk = sk;
    this.pub = publicKeyOf(sk);
  }

  install(certHex: string): void {
    this.cert = decodeCertificate(Buffer.from(certHex, 'hex'));
    this.certHex = certHex;
  }

  get ref(): DeviceRef {
    return { bank: this.cert!.bank, serial: this.cert!.serial };
  }

  get serial(): string {
    return this.cert!.serial.toString();
  }

  clone(): SimDevice {
    const c = new SimDevice(this.sk);
    c.cert = this.cert;
    c.certHex = this.certHex;
    c.counter = this.counter;
    c.head = this.head;
    c.balance = this.balance;
    c.log = [...this.log];
    c.taken = [...this.taken];
    return c;
  }

  private step(detail: Record<string, unknown> & { type: VoucherBody['type']; amountFen: bigint }, balanceAfter: bigint): Voucher {
    const body = {
      network: this.cert!.network, device: this.ref, devicePub: this.pub, counter: this.counter + 1n, prevHash: this.head,
      balanceAfterFen: balanceAfter, ...detail,
    } as VoucherBody;
    const v = signVoucher(body, this.sk);
    this.counter = v.counter;
    this.head = voucherHash(v);
    this.balance = balanceAfter;
    this.log.push(encodeVoucher(v).toString('hex'));
    return v;
  }

  /** Applies a bank load or unload authorisation (the applet checks counter and device). */
  apply(authHex: string): Voucher {
    const a = decodeAuthorisation(Buffer.from(authHex, 'hex'));
    if (a.counter !== this.counter || a.device.serial !== this.cert!.serial) throw new Error(`authorisation for counter ${a.counter}, device at ${this.counter}`);
    if (a.action === 'sync') throw new Error('apply takes load or unload');
    const after = a.action === 'load' ? this.balance + a.amountFen : this.balance - a.amountFen;
    if (after < 0n) throw new Error('unload over balance');
    return this.step({ type: a.action, amountFen: a.amountFen, authorisationHash: authorisationHash(a) }, after);
  }

  /** Pays `amountFen` to a payee device; returns the voucher's hex. `force` skips the balance check (a tampered card). */
  pay(payee: DeviceRef, amountFen: bigint, force = false): string {
    if (!force && amountFen > this.balance) throw new Error('insufficient offline balance');
    const after = this.balance >= amountFen ? this.balance - amountFen : 0n;
    const v = this.step({ type: 'pay', amountFen, payee, nonce: randomBytes(16), challengeTimeMs: BigInt(Date.now()) }, after);
    return encodeVoucher(v).toString('hex');
  }

  /** Takes a payer's voucher: records a receive step and keeps the payer's voucher to upload. */
  receive(payerCertHex: string, payVoucherHex: string, amountFen: bigint, payer: DeviceRef, payVoucherHash: Buffer): void {
    this.step({ type: 'receive', amountFen, payer, payerVoucherHash: payVoucherHash }, this.balance + amountFen);
    this.taken.push({ certificate: payerCertHex, voucher: payVoucherHex });
  }

  /** The body of POST /v1/offline/uploads. */
  uploadBody(): { certificate: string; log: string[]; received: { certificate: string; voucher: string }[] } {
    return { certificate: this.certHex, log: [...this.log], received: [...this.taken] };
  }

  /** After an accepted sync: drop what the bank now holds. */
  synced(): void {
    this.log = [];
    this.taken = [];
  }
}

/** Pays from `payer` to `payee` (both simulated): the payer signs, the payee records it. */
export function tap(payer: SimDevice, payee: SimDevice, amountFen: bigint): string {
  const hex = payer.pay(payee.ref, amountFen);
  const v = decodeVoucher(Buffer.from(hex, 'hex'));
  payee.receive(payer.certHex, hex, amountFen, payer.ref, voucherHash(v));
  return hex;
}
