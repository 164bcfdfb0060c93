// The payee's terminal: an NFC reader on PC/SC (through nfc-pcsc, an optional dependency)
// and the payee's own device. When a payer's card is tapped it runs the payment in APDUs:
//
//   payee device  CHALLENGE(amount, now)        -> challenge (payee, amount, nonce, time)
//   payer card    SELECT AID, GET CERTIFICATE   -> payer certificate
//   terminal      verifies the certificate offline against the bank keys it knows
//   payee device  CHECK PAYER(now, certificate)  (its trusted keys and revocation lists)
//   payer card    PAY(challenge)                -> pay voucher (debited, counter moved on)
//   terminal      verifies the voucher: the payer's key, the challenge's fields, the caps
//   payee device  ACCEPT(certificate, voucher)  -> receive voucher (credited)
//
// Every check that can refuse comes before PAY, so a refused payer is never debited. If the
// card is lifted during PAY, the terminal waits for it to come back and repeats PAY with the
// same challenge: the card answers the voucher it already signed, never a second one.
import { CbdcError, isCbdcError } from '../protocol/errors.js';
import { DeviceCertificate, verifyCertificate } from './certificate.js';
import type { BankKeys } from './codec.js';
import { PaymentChallenge } from './challenge.js';
import { PayVoucher, Voucher, verifyVoucher } from './voucher.js';
import { CardChannel, CardClient } from './card_client.js';
import { sameDevice } from './codec.js';
import { CardRefusal } from './apdu.js';

/** The reader name vpcd gives its first virtual reader. */
export const VPCD_READER_NAME = 'Virtual PCD 00 00';
/** Longest response a transmit asks PC/SC for (extended length: 65536 data bytes + SW). */
const RESPONSE_BYTES_MAX = 65538;
/** How long a terminal waits for a card by default. */
export const CARD_WAIT_MS_DEFAULT = 30_000;

export const NFC_INSTALL_HINT =
  'the PC/SC stack is needed: install the Debian packages pcscd and libpcsclite-dev (and vsmartcard-vpcd for the virtual reader), ' +
  'install the optional npm dependency nfc-pcsc, and start pcscd (scripts/pcsc.sh start)';

export interface PaymentReceipt {
  readonly payerCert: DeviceCertificate;
  readonly payVoucher: PayVoucher;
  readonly receiveVoucher: Voucher;
}

/** Checks a pay voucher against the challenge it must answer. */
function checkAnswers(v: PayVoucher, ch: PaymentChallenge): void {
  if (!v.nonce.equals(ch.nonce) || v.amountFen !== ch.amountFen || v.challengeTimeMs !== ch.timeMs || !sameDevice(v.payee, ch.payee) || v.network !== ch.network) {
    throw new CbdcError('CBDC_ERR_OFFLINE_FORMAT', 'the voucher does not answer the challenge');
  }
}

/**
 * Runs one payment from a payer card (any channel) into the payee's device, for a challenge
 * the payee's device made. Throws coded errors; nothing is debited when it throws before PAY.
 */
export async function collectPayment(payer: CardClient, payee: CardClient, challenge: PaymentChallenge, o: { trust?: BankKeys; payerBanks?: ReadonlySet<string> } = {}): Promise<PaymentReceipt> {
  await payer.select();
  const payerCert = await payer.certificate();
  if (o.trust !== undefined) verifyCertificate(payerCert, o.trust, challenge.timeMs);
  // The payee's device first: a revoked payer is refused as revoked, whatever its bank.
  await payee.checkPayer(payerCert, challenge.timeMs);
  if (o.payerBanks !== undefined && !o.payerBanks.has(payerCert.bank)) {
    throw new CbdcError('CBDC_ERR_OFFLINE_UNTRUSTED', `the payer's device is certified by ${payerCert.bank}, whose offline vouchers the payee's bank does not settle`);
  }
  const payVoucher = await payer.pay(challenge);
  checkAnswers(payVoucher, challenge);
  verifyVoucher(payVoucher, payerCert);
  const receiveVoucher = await payee.accept(payerCert, payVoucher);
  return { payerCert, payVoucher, receiveVoucher };
}

// --- PC/SC through nfc-pcsc -------------------------------------------------------------

interface NfcReader {
  name: string;
  autoProcessing: boolean;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  on(event: 'card', f: (card: { atr?: Buffer }) => void): void;
  on(event: 'card.off', f: () => void): void;
  on(event: 'error', f: (e: Error) => void): void;
  on(event: 'end', f: () => void): void;
}
interface Nfc {
  on(event: 'reader', f: (r: NfcReader) => void): void;
  on(event: 'error', f: (e: Error) => void): void;
  close(): void;
}

/** Loads nfc-pcsc, or says what to install. */
async function loadNfc(): Promise<new () => Nfc> {
  try {
    const mod = (await import('nfc-pcsc' as string)) as { NFC?: new () => Nfc; default?: { NFC?: new () => Nfc } | (new () => Nfc) };
    const ctor = mod.NFC ?? (typeof mod.default === 'function' ? mod.default : mod.default?.NFC);
    if (ctor === undefined) throw new Error('nfc-pcsc has no NFC export');
    return ctor;
  } catch (e) {
    throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `nfc-pcsc could not be loaded (${(e as Error).message}); ${NFC_INSTALL_HINT}`);
  }
}

/** A reader on PC/SC that hands out a channel each time a card is presented. */
export class PcscReader {
  private reader: NfcReader | null = null;
  private present = false;
  /** Counts card arrivals; a channel that failed makes its own arrival stale. */
  private arrival = 0;
  private staleArrival = 0;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readerWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private removalWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private failure: CbdcError | null = null;

  private constructor(
    private readonly nfc: Nfc,
    private readonly readerName: string,
  ) {
    nfc.on('error', (e) => this.fail(new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `PC/SC: ${e.message}; ${NFC_INSTALL_HINT}`)));
    nfc.on('reader', (r) => {
      // Every reader gets an error listener (an EventEmitter 'error' with none would throw);
      // errors on ours surface as failed transmits.
      r.on('error', () => undefined);
      if (r.name !== this.readerName) return;
      // Before any card event: this terminal speaks APDUs itself (no UID read, no auto SELECT).
      r.autoProcessing = false;
      this.reader = r;
      r.on('card', () => {
        this.present = true;
        this.arrival++;
        for (const w of this.waiters.splice(0)) w.resolve();
      });
      r.on('card.off', () => {
        this.present = false;
        for (const w of this.removalWaiters.splice(0)) w.resolve();
      });
      r.on('end', () => {
        this.reader = null;
        this.present = false;
      });
      for (const w of this.readerWaiters.splice(0)) w.resolve();
    });
  }

  /** Opens PC/SC and waits for the named reader (default: vpcd's first virtual reader). */
  static async open(o: { readerName?: string; timeoutMs?: number } = {}): Promise<PcscReader> {
    const NFC = await loadNfc();
    let nfc: Nfc;
    try {
      nfc = new NFC();
    } catch (e) {
      throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `PC/SC could not be opened (${(e as Error).message}); ${NFC_INSTALL_HINT}`);
    }
    const r = new PcscReader(nfc, o.readerName ?? VPCD_READER_NAME);
    try {
      await r.waitFor(r.readerWaiters, () => r.reader !== null, o.timeoutMs ?? CARD_WAIT_MS_DEFAULT, `no reader named "${r.readerName}"`);
    } catch (e) {
      r.close();
      throw e;
    }
    return r;
  }

  private fail(e: CbdcError): void {
    this.failure = e;
    for (const w of [...this.waiters.splice(0), ...this.readerWaiters.splice(0), ...this.removalWaiters.splice(0)]) w.reject(e);
  }

  private waitFor(list: { resolve: () => void; reject: (e: Error) => void }[], ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = list.indexOf(entry);
        if (i >= 0) list.splice(i, 1);
        reject(new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `${what} within ${timeoutMs} ms; ${NFC_INSTALL_HINT}`));
      }, timeoutMs);
      const entry = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      list.push(entry);
    });
  }

  /** Whether a card is on the reader (as PC/SC last reported). */
  get cardPresent(): boolean {
    return this.present;
  }

  /**
   * Waits for a card on the reader; answers a channel to it. After a channel failed, only a
   * card that arrives later counts (the failed one is lifted, or about to be reported so).
   */
  async waitForCard(timeoutMs = CARD_WAIT_MS_DEFAULT): Promise<CardChannel> {
    await this.waitFor(this.waiters, () => this.present && this.reader !== null && this.arrival > this.staleArrival, timeoutMs, `no card on "${this.readerName}"`);
    const reader = this.reader!;
    const arrival = this.arrival;
    const lost = (why: string): CbdcError => {
      this.staleArrival = Math.max(this.staleArrival, arrival);
      return new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `the card did not answer (${why})`);
    };
    return {
      transmit: async (command) => {
        let response: Buffer;
        try {
          response = Buffer.from(await reader.transmit(command, RESPONSE_BYTES_MAX));
        } catch (e) {
          throw lost((e as Error).message);
        }
        // No status word: the card left the field mid-command.
        if (response.length < 2) throw lost(`${response.length}-byte response`);
        return response;
      },
    };
  }

  /** Waits until PC/SC reports the reader empty. */
  async waitForRemoval(timeoutMs = CARD_WAIT_MS_DEFAULT): Promise<void> {
    await this.waitFor(this.removalWaiters, () => !this.present, timeoutMs, `the card stayed on "${this.readerName}"`);
  }

  close(): void {
    this.nfc.close();
  }
}

export interface ReceiveOnReaderOptions {
  /** The payee's own device (for example `new CardClient(localChannel(applet))`). */
  payee: CardClient;
  amountFen: bigint;
  /** The payee's clock; default Date.now(). */
  nowMs?: bigint;
  /** Bank keys the terminal checks the payer certificate against (besides the payee device). */
  trust?: BankKeys;
  /** Banks whose devices the payee takes payments from (any its device trusts when absent). */
  payerBanks?: ReadonlySet<string>;
  readerName?: string;
  /** How long to wait for the card (and, after a lift during PAY, for it to come back). */
  timeoutMs?: number;
  /** Attempts when the card is lifted mid-payment (default 3). */
  attempts?: number;
  /** An open reader to use instead of opening (and closing) one. */
  reader?: PcscReader;
}

/**
 * The payee's terminal function: makes a challenge on the payee's device, waits for a card on
 * the reader, and collects the payment. A card lifted mid-payment is waited for again and the
 * same challenge repeated. Refusals throw CardRefusal (CBDC_ERR_OFFLINE_REFUSED, with the
 * status word) or the verification error's code.
 */
export async function receiveOnReader(o: ReceiveOnReaderOptions): Promise<PaymentReceipt> {
  const nowMs = o.nowMs ?? BigInt(Date.now());
  const reader = o.reader ?? (await PcscReader.open({ ...(o.readerName !== undefined ? { readerName: o.readerName } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) }));
  try {
    const challenge = await o.payee.challenge(o.amountFen, nowMs);
    const attempts = o.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const channel = await reader.waitForCard(o.timeoutMs ?? CARD_WAIT_MS_DEFAULT);
      try {
        return await collectPayment(new CardClient(channel), o.payee, challenge, {
          ...(o.trust === undefined ? {} : { trust: o.trust }), ...(o.payerBanks === undefined ? {} : { payerBanks: o.payerBanks }),
        });
      } catch (e) {
        // Only a lost card is retried; a refusal or a bad voucher is final.
        const lost = isCbdcError(e) && e.code === 'CBDC_ERR_NFC_UNAVAILABLE' && !(e instanceof CardRefusal);
        if (!lost || attempt >= attempts) throw e;
      }
    }
  } finally {
    if (o.reader === undefined) reader.close();
  }
}
