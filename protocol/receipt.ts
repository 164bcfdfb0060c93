// Electronic receipts (docs/RECEIPTS.md). Two signed messages:
//
//   the draft   what the merchant says was sold (its lines and the total), signed by the
//               merchant's wallet key; it travels with the payment, so nobody else can put
//               words in the merchant's mouth.
//   the receipt the draft bound to the txid that paid it, with the merchant's tax id, signed
//               by the merchant's bank key; anyone holding that key verifies it offline.
//
// Both have one canonical byte encoding (fixed field order, u16 length-prefixed UTF-8 strings,
// big-endian integers, amounts as u64); the signed digest is a BIP340 tagged hash of the bytes
// (protocol/hash.ts), signed like everything else (protocol/sig.ts: ECDSA secp256k1, low-S).
import { randomBytes } from 'node:crypto';
import { CbdcError } from './errors.js';
import { AMOUNT_FEN_MAX } from './amount.js';
import { taggedHash } from './hash.js';
import { isValidPublicKey, loadNative, nativeVerifier, nobleVerifier, signHash } from './sig.js';

export const RECEIPT_VERSION = 1;
export const RECEIPT_TAG = 'cbdc/receipt/v1';
export const RECEIPT_DRAFT_TAG = 'cbdc/receipt-draft/v1';
export const RECEIPT_ID_TAG = 'cbdc/receipt-id/v1';
/** Lines of one receipt at most. */
export const RECEIPT_LINES_MAX = 50;
/** Characters of a line's description (and of the merchant name) at most. */
export const RECEIPT_TEXT_CHARS_MAX = 64;
export const RECEIPT_QUANTITY_MAX = 1_000_000;
/** Tax rates in basis points: 0 to 100 %. */
export const RECEIPT_TAX_RATE_BP_MAX = 10_000;
/** A signed draft's bytes at most (its encoding plus the 64-byte signature): 8192 base64url characters. */
export const RECEIPT_DRAFT_BYTES_MAX = 6_144;
export const RECEIPT_DRAFT_CHARS_MAX = Math.ceil((RECEIPT_DRAFT_BYTES_MAX * 4) / 3);
export const DRAFT_ID_BYTES = 8;

/**
 * China's unified social credit code (GB 32100-2015): 18 characters, registration authority
 * and organisation kind (2), administrative division (6 digits), organisation code (9), check
 * character (1), over the alphabet 0-9 A-Z without I, O, S, V, Z.
 */
export const TAX_ID_PATTERN = /^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$/;
const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';

/** The GB 32100-2015 check character of the first 17: weights 3^(i) mod 31, C18 = 31 - (sum mod 31), 31 -> 0. */
export function taxIdCheckChar(first17: string): string {
  let sum = 0;
  let w = 1;
  for (let i = 0; i < 17; i++) {
    sum += USCC_ALPHABET.indexOf(first17[i]!) * w;
    w = (w * 3) % 31;
  }
  return USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
}

export function isValidTaxId(t: unknown): t is string {
  return typeof t === 'string' && TAX_ID_PATTERN.test(t) && taxIdCheckChar(t.slice(0, 17)) === t[17];
}

export function checkTaxId(t: unknown): string {
  if (!isValidTaxId(t)) throw new CbdcError('CBDC_ERR_TAX_ID', 'a tax id is an 18-character unified social credit code (GB 32100-2015) with a valid check character');
  return t;
}

export interface ReceiptLineIn {
  description: string;
  quantity: number;
  unitPriceFen: bigint;
  taxRateBp: number;
}

export interface ReceiptLine extends ReceiptLineIn {
  amountFen: bigint;
  taxFen: bigint;
}

/**
 * A line's amount and tax. Prices are before tax; the tax of each line is its amount times the
 * rate, rounded half up to the fen (ties go up: 0.5 fen -> 1 fen), the way a line's tax is
 * printed on a VAT invoice.
 */
export function priceLine(l: ReceiptLineIn): ReceiptLine {
  const amountFen = BigInt(l.quantity) * l.unitPriceFen;
  const taxFen = (amountFen * BigInt(l.taxRateBp) + 5_000n) / 10_000n;
  return { ...l, amountFen, taxFen };
}

export function totalsOf(lines: readonly ReceiptLine[]): { subtotalFen: bigint; taxFen: bigint; totalFen: bigint } {
  let subtotalFen = 0n;
  let taxFen = 0n;
  for (const l of lines) {
    subtotalFen += l.amountFen;
    taxFen += l.taxFen;
  }
  return { subtotalFen, taxFen, totalFen: subtotalFen + taxFen };
}

const badLine = (i: number, m: string) => new CbdcError('CBDC_ERR_RECEIPT_LINE', `line ${i + 1}: ${m}`);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkText(s: unknown, what: string, err: (m: string) => CbdcError): string {
  if (typeof s !== 'string' || s.length === 0 || [...s].length > RECEIPT_TEXT_CHARS_MAX || CONTROL.test(s) || s !== s.normalize('NFC') || s.trim() !== s) {
    throw err(`${what} is 1 to ${RECEIPT_TEXT_CHARS_MAX} printable characters (NFC, no surrounding spaces)`);
  }
  return s;
}

/** Checks and prices lines; every refusal is CBDC_ERR_RECEIPT_LINES (count) or CBDC_ERR_RECEIPT_LINE (one line). */
export function checkLines(lines: readonly ReceiptLineIn[]): ReceiptLine[] {
  if (lines.length === 0 || lines.length > RECEIPT_LINES_MAX) throw new CbdcError('CBDC_ERR_RECEIPT_LINES', `a receipt has 1 to ${RECEIPT_LINES_MAX} lines (got ${lines.length})`);
  const out = lines.map((l, i) => {
    checkText(l.description, 'the description', (m) => badLine(i, m));
    if (!Number.isInteger(l.quantity) || l.quantity < 1 || l.quantity > RECEIPT_QUANTITY_MAX) throw badLine(i, `the quantity is a whole number from 1 to ${RECEIPT_QUANTITY_MAX}`);
    if (typeof l.unitPriceFen !== 'bigint' || l.unitPriceFen < 0n || l.unitPriceFen > AMOUNT_FEN_MAX) throw badLine(i, 'the unit price is 0 to AMOUNT_FEN_MAX fen');
    if (!Number.isInteger(l.taxRateBp) || l.taxRateBp < 0 || l.taxRateBp > RECEIPT_TAX_RATE_BP_MAX) throw badLine(i, `the tax rate is 0 to ${RECEIPT_TAX_RATE_BP_MAX} basis points`);
    const p = priceLine(l);
    if (p.amountFen + p.taxFen > AMOUNT_FEN_MAX) throw badLine(i, 'the line is above AMOUNT_FEN_MAX');
    return p;
  });
  if (totalsOf(out).totalFen > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW', 'the receipt total exceeds AMOUNT_FEN_MAX');
  return out;
}

// ---------------------------------------------------------------- canonical bytes

class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): this { this.parts.push(Buffer.from([v])); return this; }
  u16(v: number): this { const b = Buffer.alloc(2); b.writeUInt16BE(v); this.parts.push(b); return this; }
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32BE(v); this.parts.push(b); return this; }
  u64(v: bigint): this { const b = Buffer.alloc(8); b.writeBigUInt64BE(v); this.parts.push(b); return this; }
  str(s: string): this { const b = Buffer.from(s, 'utf8'); this.u16(b.length); this.parts.push(b); return this; }
  raw(b: Uint8Array): this { this.parts.push(Buffer.from(b)); return this; }
  optStr(s: string | null): this { if (s === null) return this.u8(0); return this.u8(1).str(s); }
  done(): Buffer { return Buffer.concat(this.parts); }
}

const badFormat = (m: string) => new CbdcError('CBDC_ERR_RECEIPT_FORMAT', m);

class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void { if (this.at + n > this.b.length) throw badFormat('the bytes end early'); }
  u8(): number { this.need(1); return this.b[this.at++]!; }
  u16(): number { this.need(2); const v = this.b.readUInt16BE(this.at); this.at += 2; return v; }
  u32(): number { this.need(4); const v = this.b.readUInt32BE(this.at); this.at += 4; return v; }
  u64(): bigint { this.need(8); const v = this.b.readBigUInt64BE(this.at); this.at += 8; return v; }
  raw(n: number): Buffer { this.need(n); const v = this.b.subarray(this.at, this.at + n); this.at += n; return Buffer.from(v); }
  str(): string {
    const n = this.u16();
    const bytes = this.raw(n);
    const s = bytes.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(bytes)) throw badFormat('a string is not UTF-8');
    return s;
  }
  optStr(): string | null {
    const f = this.u8();
    if (f === 0) return null;
    if (f !== 1) throw badFormat('an optional field flag is not 0 or 1');
    return this.str();
  }
  end(): void { if (this.at !== this.b.length) throw badFormat('bytes follow the end'); }
}

// ---------------------------------------------------------------- the draft (merchant-signed)

export interface ReceiptDraft {
  network: string;
  merchantAccount: string;
  /** 8 random bytes: each draft is distinct, and pays (is receipted) at most once. */
  draftId: Buffer;
  merchantName: string | null;
  lines: ReceiptLine[];
  totalFen: bigint;
}

export interface SignedDraft {
  draft: ReceiptDraft;
  /** The canonical bytes the signature covers. */
  bytes: Buffer;
  sig: Buffer;
  /** The compact form: base64url(bytes || sig). */
  compact: string;
  /** Hex of the tagged digest the merchant signed (the draft's identity). */
  digestHex: string;
}

export function encodeDraft(d: ReceiptDraft): Buffer {
  const w = new Writer().u8(RECEIPT_VERSION).str(d.network).str(d.merchantAccount).raw(d.draftId).optStr(d.merchantName).u16(d.lines.length);
  for (const l of d.lines) w.str(l.description).u32(l.quantity).u64(l.unitPriceFen).u16(l.taxRateBp);
  return w.u64(d.totalFen).done();
}

export function draftDigest(bytes: Uint8Array): Buffer {
  return taggedHash(RECEIPT_DRAFT_TAG, bytes);
}

/** A draft for these lines, its total computed from them. */
export function makeDraft(o: { network: string; merchantAccount: string; merchantName?: string | null; lines: ReceiptLineIn[]; draftId?: Buffer }): ReceiptDraft {
  const lines = checkLines(o.lines);
  const merchantName = o.merchantName ?? null;
  if (merchantName !== null) checkText(merchantName, 'the merchant name', (m) => new CbdcError('CBDC_ERR_RECEIPT_FORMAT', m));
  return { network: o.network, merchantAccount: o.merchantAccount, draftId: o.draftId ?? randomBytes(DRAFT_ID_BYTES), merchantName, lines, totalFen: totalsOf(lines).totalFen };
}

export function signDraft(d: ReceiptDraft, merchantSecretKey: Uint8Array): SignedDraft {
  const bytes = encodeDraft(d);
  const digest = draftDigest(bytes);
  const sig = signHash(merchantSecretKey, digest);
  const compact = Buffer.concat([bytes, sig]).toString('base64url');
  if (compact.length > RECEIPT_DRAFT_CHARS_MAX) throw badFormat(`the draft is over ${RECEIPT_DRAFT_BYTES_MAX} bytes; use fewer or shorter lines`);
  return { draft: d, bytes, sig, compact, digestHex: digest.toString('hex') };
}

/**
 * Parses a compact draft: canonical bytes (read back, they encode to the same bytes), the
 * network named, lines well formed and the total their sum. The signature is not checked here
 * (the caller knows the merchant's key): see verifyDraftSignature.
 */
export function parseDraft(compact: unknown, network: string): SignedDraft {
  if (typeof compact !== 'string' || compact.length > RECEIPT_DRAFT_CHARS_MAX || !/^[A-Za-z0-9_-]+$/.test(compact)) throw badFormat('a receipt draft is base64url, at most ' + RECEIPT_DRAFT_CHARS_MAX + ' characters');
  const all = Buffer.from(compact, 'base64url');
  if (all.toString('base64url') !== compact || all.length < 64 + 1) throw badFormat('a receipt draft is not canonical base64url');
  const bytes = all.subarray(0, all.length - 64);
  const sig = all.subarray(all.length - 64);
  const r = new Reader(bytes);
  if (r.u8() !== RECEIPT_VERSION) throw badFormat('unknown receipt draft version');
  const net = r.str();
  if (net !== network) throw new CbdcError('CBDC_ERR_NETWORK_ID', 'the receipt draft names another network');
  const merchantAccount = r.str();
  if (!/^[a-z0-9-]{1,32}\.[0-9a-f]{12}$/.test(merchantAccount)) throw badFormat('the draft names no account id');
  const draftId = r.raw(DRAFT_ID_BYTES);
  const merchantName = r.optStr();
  const n = r.u16();
  if (n === 0 || n > RECEIPT_LINES_MAX) throw new CbdcError('CBDC_ERR_RECEIPT_LINES', `a receipt has 1 to ${RECEIPT_LINES_MAX} lines (got ${n})`);
  const raw: ReceiptLineIn[] = [];
  for (let i = 0; i < n; i++) raw.push({ description: r.str(), quantity: r.u32(), unitPriceFen: r.u64(), taxRateBp: r.u16() });
  const totalFen = r.u64();
  r.end();
  const d = makeDraft({ network, merchantAccount, merchantName, lines: raw, draftId });
  if (d.totalFen !== totalFen) throw new CbdcError('CBDC_ERR_RECEIPT_TOTAL', `the draft's total ${totalFen} is not its lines plus tax (${d.totalFen})`);
  if (!encodeDraft(d).equals(bytes)) throw badFormat('the receipt draft is not in canonical form');
  return { draft: d, bytes: Buffer.from(bytes), sig: Buffer.from(sig), compact, digestHex: draftDigest(bytes).toString('hex') };
}

export function verifyDraftSignature(s: SignedDraft, merchantWalletKey: Buffer): boolean {
  return nativeOrNoble(s.sig, draftDigest(s.bytes), merchantWalletKey);
}

// ---------------------------------------------------------------- the receipt (bank-signed)

export interface Receipt {
  network: string;
  bankId: string;
  receiptId: string;
  merchantAccount: string;
  merchantName: string | null;
  taxId: string;
  mcc: string;
  lines: ReceiptLine[];
  subtotalFen: bigint;
  taxFen: bigint;
  totalFen: bigint;
  txid: Buffer;
  issuedAtMs: bigint;
}

export function receiptIdOf(bankId: string, txidHex: string): string {
  return 'rct-' + taggedHash(RECEIPT_ID_TAG, Buffer.from(bankId, 'utf8'), Buffer.from(txidHex, 'hex')).subarray(0, 8).toString('hex');
}

export function encodeReceipt(r: Receipt): Buffer {
  const w = new Writer().u8(RECEIPT_VERSION).str(r.network).str(r.bankId).str(r.receiptId).str(r.merchantAccount).optStr(r.merchantName)
    .str(r.taxId).str(r.mcc).u16(r.lines.length);
  for (const l of r.lines) w.str(l.description).u32(l.quantity).u64(l.unitPriceFen).u16(l.taxRateBp).u64(l.amountFen).u64(l.taxFen);
  return w.u64(r.subtotalFen).u64(r.taxFen).u64(r.totalFen).raw(r.txid).u64(r.issuedAtMs).done();
}

export function receiptDigest(r: Receipt): Buffer {
  return taggedHash(RECEIPT_TAG, encodeReceipt(r));
}

export interface ReceiptLineJson {
  description: string;
  quantity: number;
  unit_price_fen: string;
  tax_rate_bp: number;
  amount_fen: string;
  tax_fen: string;
}

export interface ReceiptJson {
  version: number;
  network: string;
  bank: string;
  receipt_id: string;
  merchant_account: string;
  merchant_name: string | null;
  tax_id: string;
  mcc: string;
  lines: ReceiptLineJson[];
  subtotal_fen: string;
  tax_fen: string;
  total_fen: string;
  txid: string;
  issued_at_ms: number;
  /** Hex of the bank's compact signature over taggedHash('cbdc/receipt/v1', encodeReceipt). */
  signature: string;
}

export function signReceipt(r: Receipt, bankSecretKey: Uint8Array): ReceiptJson {
  return receiptToJson(r, signHash(bankSecretKey, receiptDigest(r)));
}

export function receiptToJson(r: Receipt, sig: Buffer): ReceiptJson {
  return {
    version: RECEIPT_VERSION, network: r.network, bank: r.bankId, receipt_id: r.receiptId, merchant_account: r.merchantAccount, merchant_name: r.merchantName,
    tax_id: r.taxId, mcc: r.mcc,
    lines: r.lines.map((l) => ({ description: l.description, quantity: l.quantity, unit_price_fen: l.unitPriceFen.toString(), tax_rate_bp: l.taxRateBp, amount_fen: l.amountFen.toString(), tax_fen: l.taxFen.toString() })),
    subtotal_fen: r.subtotalFen.toString(), tax_fen: r.taxFen.toString(), total_fen: r.totalFen.toString(), txid: r.txid.toString('hex'),
    issued_at_ms: Number(r.issuedAtMs), signature: sig.toString('hex'),
  };
}

const DEC = /^(0|[1-9][0-9]{0,19})$/;

function fenOf(v: unknown, what: string): bigint {
  if (typeof v !== 'string' || !DEC.test(v)) throw badFormat(`${what} is a decimal string of fen`);
  const n = BigInt(v);
  if (n > AMOUNT_FEN_MAX) throw badFormat(`${what} is above AMOUNT_FEN_MAX`);
  return n;
}

/**
 * A receipt from its JSON form, checked to be self-consistent: every line's amount and tax as
 * priced, the totals their sums, the receipt id the one of its bank and txid. Throws
 * CBDC_ERR_RECEIPT_FORMAT (or a line's code) otherwise.
 */
export function receiptFromJson(j: unknown): { receipt: Receipt; sig: Buffer } {
  if (typeof j !== 'object' || j === null) throw badFormat('a receipt is a JSON object');
  const o = j as Record<string, unknown>;
  if (o.version !== RECEIPT_VERSION) throw badFormat('unknown receipt version');
  for (const k of ['network', 'bank', 'receipt_id', 'merchant_account', 'tax_id', 'mcc', 'txid', 'signature']) if (typeof o[k] !== 'string') throw badFormat(`${k} is a string`);
  if (o.merchant_name !== null && typeof o.merchant_name !== 'string') throw badFormat('merchant_name is a string or null');
  if (!Array.isArray(o.lines) || o.lines.length === 0 || o.lines.length > RECEIPT_LINES_MAX) throw new CbdcError('CBDC_ERR_RECEIPT_LINES', `a receipt has 1 to ${RECEIPT_LINES_MAX} lines`);
  if (!/^[0-9a-f]{64}$/.test(o.txid as string) || !/^[0-9a-f]{128}$/.test(o.signature as string)) throw badFormat('txid or signature is not hex of its length');
  if (typeof o.issued_at_ms !== 'number' || !Number.isSafeInteger(o.issued_at_ms) || o.issued_at_ms < 0) throw badFormat('issued_at_ms is a whole number');
  const lines = checkLines(o.lines.map((l: unknown, i: number) => {
    const x = (typeof l === 'object' && l !== null ? l : {}) as Record<string, unknown>;
    if (typeof x.quantity !== 'number' || typeof x.tax_rate_bp !== 'number') throw badLine(i, 'quantity and tax_rate_bp are numbers');
    return { description: x.description as string, quantity: x.quantity, unitPriceFen: fenOf(x.unit_price_fen, 'unit_price_fen'), taxRateBp: x.tax_rate_bp };
  }));
  (o.lines as Record<string, unknown>[]).forEach((x, i) => {
    if (fenOf(x.amount_fen, 'amount_fen') !== lines[i]!.amountFen || fenOf(x.tax_fen, 'tax_fen') !== lines[i]!.taxFen) throw badLine(i, 'its amount or tax is not as priced');
  });
  const t = totalsOf(lines);
  const receipt: Receipt = {
    network: o.network as string, bankId: o.bank as string, receiptId: o.receipt_id as string, merchantAccount: o.merchant_account as string,
    merchantName: (o.merchant_name as string | null) ?? null, taxId: o.tax_id as string, mcc: o.mcc as string, lines,
    subtotalFen: fenOf(o.subtotal_fen, 'subtotal_fen'), taxFen: fenOf(o.tax_fen, 'tax_fen'), totalFen: fenOf(o.total_fen, 'total_fen'),
    txid: Buffer.from(o.txid as string, 'hex'), issuedAtMs: BigInt(o.issued_at_ms),
  };
  if (receipt.subtotalFen !== t.subtotalFen || receipt.taxFen !== t.taxFen || receipt.totalFen !== t.totalFen) throw new CbdcError('CBDC_ERR_RECEIPT_TOTAL', 'the totals are not the sums of the lines');
  if (receipt.receiptId !== receiptIdOf(receipt.bankId, o.txid as string)) throw badFormat('the receipt id is not the one of its bank and txid');
  return { receipt, sig: Buffer.from(o.signature as string, 'hex') };
}

function nativeOrNoble(sig: Buffer, digest: Buffer, pub: Buffer): boolean {
  if (pub.length !== 33 || !isValidPublicKey(pub)) return false;
  let native = true;
  try {
    loadNative();
  } catch {
    native = false; // no libsecp256k1 binding here: the reference verifier answers the same
  }
  return (native ? nativeVerifier : nobleVerifier).verify(sig, digest, pub);
}

/** Offline: whether `receipt` (its JSON form) is well formed and signed by the bank whose public key is given. No network. */
export function verifyReceipt(receipt: unknown, bankPublicKey: Uint8Array): boolean {
  let parsed;
  try {
    parsed = receiptFromJson(receipt);
  } catch {
    return false;
  }
  return nativeOrNoble(parsed.sig, receiptDigest(parsed.receipt), Buffer.from(bankPublicKey));
}
