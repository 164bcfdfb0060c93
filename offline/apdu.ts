// ISO/IEC 7816-4 command and response APDUs (§5.1 command-response pairs, §5.6 status
// bytes), short and extended length, and the applet's command set and status words.
//
//   command  = CLA INS P1 P2 [Lc data] [Le]
//     case 1   CLA INS P1 P2
//     case 2S  ... Le(1)                     Le 00 means 256
//     case 3S  ... Lc(1, 01..FF) data
//     case 4S  ... Lc(1) data Le(1)
//     case 2E  ... 00 Le(2)                  Le 0000 means 65536
//     case 3E  ... 00 Lc(2, 0001..FFFF) data
//     case 4E  ... 00 Lc(2) data Le(2)
//   response = [data] SW1 SW2
import { CbdcError } from '../protocol/errors.js';

/** Bytes of the longest command APDU (case 4E with 65535 data bytes). */
export const COMMAND_APDU_BYTES_MAX = 4 + 3 + 0xffff + 2;
/** Bytes of the longest response APDU (65536 data bytes and the status word). */
export const RESPONSE_APDU_BYTES_MAX = 0x10000 + 2;

export interface CommandApdu {
  readonly cla: number;
  readonly ins: number;
  readonly p1: number;
  readonly p2: number;
  readonly data: Buffer;
  /** Ne, the most response bytes expected (0 when the command has no Le field). */
  readonly ne: number;
}

/** Status words (ISO 7816-4 §5.6 tables 5 and 6; 91xx are this applet's own, §5.6 allows 9XXX). */
export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700, // Wrong length (Lc/Le inconsistent with the bytes sent, or data of the wrong size)
  SECURITY_STATUS: 0x6982, // Security status not satisfied: a signature does not verify, or the bank is not trusted
  CONDITIONS_NOT_SATISFIED: 0x6985, // Conditions of use not satisfied: no application selected, not personalised, wrong life-cycle state
  WRONG_DATA: 0x6a80, // Incorrect parameters in the command data field
  FILE_FULL: 0x6a84, // Not enough memory space: the voucher log or a table is full
  APP_NOT_FOUND: 0x6a82, // File or application not found (SELECT of an AID this card does not hold)
  WRONG_P1P2: 0x6a86, // Incorrect parameters P1-P2
  REFERENCED_DATA_NOT_FOUND: 0x6a88, // Referenced data not found: a challenge nonce not issued here, or already used
  INS_NOT_SUPPORTED: 0x6d00, // Instruction code not supported or invalid
  CLA_NOT_SUPPORTED: 0x6e00, // Class not supported
  NO_PRECISE_DIAGNOSIS: 0x6f00, // No precise diagnosis: the card could not persist its state; nothing changed
  // Proprietary (9XXX):
  INSUFFICIENT_BALANCE: 0x9101, // The offline balance does not cover the amount
  OVER_PAYMENT_CAP: 0x9102, // The amount is over the payer certificate's per-payment cap
  OVER_BALANCE_CAP: 0x9103, // The credit would take the balance over the certificate's balance cap
  SYNC_REQUIRED: 0x9104, // The payments allowed before sync are used up
  COUNTER_MISMATCH: 0x9105, // An authorisation names another counter (replayed, or a counter rollback)
  REVOKED: 0x9106, // The payer's (or this device's own) certificate is revoked
  CERT_EXPIRED: 0x9107, // The certificate is not valid at the challenge's time
} as const;
export type StatusWord = (typeof SW)[keyof typeof SW];

const SW_NAMES = new Map<number, string>(Object.entries(SW).map(([k, v]) => [v, k]));

export function swName(sw: number): string {
  return SW_NAMES.get(sw) ?? 'UNKNOWN';
}

export function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** Class bytes: 00 interindustry (SELECT), 80 proprietary (everything else). */
export const CLA_ISO = 0x00;
export const CLA_PROPRIETARY = 0x80;

/** Instruction bytes of the command set. */
export const INS = {
  SELECT: 0xa4, // ISO 7816-4 §11.1.1, P1 04 (select by DF name = AID), P2 00 (first or only occurrence)
  GET_STATUS: 0x10,
  GET_CERTIFICATE: 0x12,
  INITIALISE: 0x20, // personalisation: network and trusted bank keys; generates the device key pair
  INSTALL_CERTIFICATE: 0x22,
  CHALLENGE: 0x30, // payee: make a payment challenge
  PAY: 0x32, // payer: answer a challenge with a pay voucher
  ACCEPT: 0x34, // payee: verify and credit a payer's voucher
  CHECK_PAYER: 0x36, // payee: verify a payer certificate (trust, validity, revocation) before PAY
  EXPORT_LOG: 0x40, // the vouchers not yet acknowledged by a sync, from index P1P2
  EXPORT_RECEIVED: 0x42, // the payers' vouchers (with certificates) behind those receive vouchers, from index P1P2
  LOAD: 0x50,
  UNLOAD: 0x52,
  SYNC: 0x54,
  REVOCATION_LIST: 0x56,
} as const;

/** The applet's AID: a proprietary RID (ISO 7816-5 category F) and PIX "CBDCOFF" 01. */
export const OFFLINE_AID = Buffer.from('F043424443' + '4F4646' + '01', 'hex');

/**
 * Parses a command APDU. Returns the status word to answer with when it is malformed
 * (6700 for any length inconsistency).
 */
export function parseCommandApdu(bytes: Uint8Array): CommandApdu | { sw: StatusWord } {
  const n = bytes.length;
  if (n < 4 || n > COMMAND_APDU_BYTES_MAX) return { sw: SW.WRONG_LENGTH };
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const head = { cla, ins, p1, p2 };
  if (n === 4) return { ...head, data: Buffer.alloc(0), ne: 0 }; // case 1
  const b4 = bytes[4]!;
  if (n === 5) return { ...head, data: Buffer.alloc(0), ne: b4 === 0 ? 256 : b4 }; // case 2S
  if (b4 !== 0) {
    const lc = b4;
    if (n === 5 + lc) return { ...head, data: Buffer.from(bytes.subarray(5, 5 + lc)), ne: 0 }; // case 3S
    if (n === 6 + lc) {
      const le = bytes[5 + lc]!;
      return { ...head, data: Buffer.from(bytes.subarray(5, 5 + lc)), ne: le === 0 ? 256 : le }; // case 4S
    }
    return { sw: SW.WRONG_LENGTH };
  }
  // b4 = 00 with more bytes: extended length.
  if (n < 7) return { sw: SW.WRONG_LENGTH };
  const l2 = (bytes[5]! << 8) | bytes[6]!;
  if (n === 7) return { ...head, data: Buffer.alloc(0), ne: l2 === 0 ? 65536 : l2 }; // case 2E
  const lc = l2;
  if (lc === 0) return { sw: SW.WRONG_LENGTH };
  if (n === 7 + lc) return { ...head, data: Buffer.from(bytes.subarray(7, 7 + lc)), ne: 0 }; // case 3E
  if (n === 9 + lc) {
    const le = (bytes[7 + lc]! << 8) | bytes[8 + lc]!;
    return { ...head, data: Buffer.from(bytes.subarray(7, 7 + lc)), ne: le === 0 ? 65536 : le }; // case 4E
  }
  return { sw: SW.WRONG_LENGTH };
}

export function isParsed(p: CommandApdu | { sw: StatusWord }): p is CommandApdu {
  return !('sw' in p);
}

/**
 * Encodes a command: short form when data and Ne fit (Lc <= 255, Ne <= 256), else
 * extended. `ne` 0 means no Le field.
 */
export function encodeCommandApdu(c: CommandApdu): Buffer {
  if (c.data.length > 0xffff || c.ne < 0 || c.ne > 65536) throw new RangeError('APDU data or Ne out of range');
  const head = Buffer.from([c.cla, c.ins, c.p1, c.p2]);
  const short = c.data.length <= 255 && c.ne <= 256;
  const parts: Buffer[] = [head];
  if (short) {
    if (c.data.length > 0) parts.push(Buffer.from([c.data.length]), c.data);
    if (c.ne > 0) parts.push(Buffer.from([c.ne === 256 ? 0 : c.ne]));
  } else {
    parts.push(Buffer.from([0]));
    if (c.data.length > 0) parts.push(Buffer.from([c.data.length >> 8, c.data.length & 0xff]), c.data);
    if (c.ne > 0) parts.push(Buffer.from([(c.ne >> 8) & 0xff, c.ne & 0xff])); // 65536 -> 0000
  }
  return Buffer.concat(parts);
}

export function responseApdu(data: Uint8Array, sw: number): Buffer {
  const out = Buffer.alloc(data.length + 2);
  out.set(data, 0);
  out.writeUInt16BE(sw, data.length);
  return out;
}

export interface ResponseApdu {
  readonly data: Buffer;
  readonly sw: number;
}

export function parseResponseApdu(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2 || bytes.length > RESPONSE_APDU_BYTES_MAX) {
    throw new CbdcError('CBDC_ERR_OFFLINE_REFUSED', `response APDU of ${bytes.length} bytes has no status word`);
  }
  const b = Buffer.from(bytes);
  return { data: b.subarray(0, b.length - 2), sw: b.readUInt16BE(b.length - 2) };
}

/** The card answered other than 9000: a coded error that keeps the status word. */
export class CardRefusal extends CbdcError {
  readonly sw: number;
  constructor(sw: number, what: string) {
    super('CBDC_ERR_OFFLINE_REFUSED', `${what}: card answered ${swHex(sw)} (${swName(sw)})`);
    this.sw = sw;
  }
}
