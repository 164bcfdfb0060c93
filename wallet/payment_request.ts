// Payment requests a payee hands to a payer (pasted, or shown as a QR code):
//
//   cbdc:pay?to=<alias or account id>&bank=<bank id>&amount=12.34&memo=<text>&receipt=<draft>
//
// `to` is required; `bank`, `amount`, `memo` and `receipt` are optional. `receipt` is a
// merchant's signed receipt draft (protocol/receipt.ts, base64url), sent with the payment. Values are percent-encoded
// (a phone alias's "+" is written %2B so that generic URL parsers, which read "+" as a space,
// agree; this parser also takes a literal "+"). The amount is in yuan as people write it.
import { CbdcError } from '../protocol/errors.js';
import { formatYuan, parseYuan } from '../protocol/amount.js';
import { RECEIPT_DRAFT_CHARS_MAX } from '../protocol/receipt.js';

export const PAYMENT_REQUEST_PREFIX = 'cbdc:pay?';
export const ALIAS_PATTERN = /^(\+[0-9]{6,15}|@[a-z0-9_]{3,32})$/;
export const ACCOUNT_ID_PATTERN = /^[a-z0-9-]{1,32}\.[0-9a-f]{12}$/;
export const BANK_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const MEMO_CHARS_MAX = 140;
const REQUEST_CHARS_MAX = 1024;
/** A request carrying a receipt draft: the draft's own limit on top (about 9 KB in all; a QR code of it needs a reader of large codes). */
const REQUEST_WITH_RECEIPT_CHARS_MAX = REQUEST_CHARS_MAX + '&receipt='.length + RECEIPT_DRAFT_CHARS_MAX;

/** Whom to pay, as the bank's payment API takes it. */
export type Payee = { alias: string; bank?: string } | { account: string; bank?: string };

export interface PaymentRequest {
  payee: Payee;
  /** fen; absent when the request leaves the amount to the payer. */
  amountFen?: bigint;
  memo?: string;
  /** The merchant's signed receipt draft (compact form). */
  receipt?: string;
}

const bad = (message: string) => new CbdcError('CBDC_ERR_PAYMENT_REQUEST_FORMAT', message);

/** Reads "+8613800000000", "@alice" or "bank-a.0123456789ab" as a payee (optionally at a bank). */
export function parsePayee(text: string, bank?: string): Payee {
  const t = text.trim();
  if (bank !== undefined && !BANK_ID_PATTERN.test(bank)) throw bad(`"${bank.slice(0, 40)}" is not a bank id`);
  if (ALIAS_PATTERN.test(t)) return bank === undefined ? { alias: t } : { alias: t, bank };
  if (ACCOUNT_ID_PATTERN.test(t)) {
    const own = t.slice(0, t.indexOf('.'));
    if (bank !== undefined && bank !== own) throw bad(`account ${t} is at ${own}, not at ${bank}`);
    return bank === undefined ? { account: t } : { account: t, bank };
  }
  throw new CbdcError('CBDC_ERR_ALIAS_FORMAT', `"${t.slice(0, 40)}" is neither an alias (+8613800000000, @handle) nor an account id (bank-a.0123456789ab)`);
}

export function payeeLabel(p: Payee): string {
  const who = 'alias' in p ? p.alias : p.account;
  return p.bank !== undefined && !('account' in p) ? `${who}@${p.bank}` : who;
}

function encodeValue(v: string): string {
  // encodeURIComponent leaves "@" encoded; keep it readable, it is unambiguous in a query.
  return encodeURIComponent(v).replace(/%40/g, '@');
}

function decodeValue(v: string, key: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw bad(`the ${key} value is not valid percent-encoding`);
  }
}

/** Writes a payment request string. */
export function formatPaymentRequest(r: PaymentRequest): string {
  const parts: string[] = [];
  const p = r.payee;
  parts.push(`to=${encodeValue('alias' in p ? p.alias : p.account)}`);
  if (p.bank !== undefined) parts.push(`bank=${encodeValue(p.bank)}`);
  if (r.amountFen !== undefined) parts.push(`amount=${formatYuan(r.amountFen)}`);
  if (r.memo !== undefined && r.memo.length > 0) parts.push(`memo=${encodeValue(r.memo)}`);
  if (r.receipt !== undefined) parts.push(`receipt=${r.receipt}`);
  return PAYMENT_REQUEST_PREFIX + parts.join('&');
}

export function isPaymentRequest(text: string): boolean {
  return text.trim().toLowerCase().startsWith('cbdc:');
}

/** Parses a payment request string; every malformed part is CBDC_ERR_PAYMENT_REQUEST_FORMAT (or the amount's own code). */
export function parsePaymentRequest(text: string): PaymentRequest {
  const t = text.trim();
  if (t.length > REQUEST_WITH_RECEIPT_CHARS_MAX) throw bad('the payment request is too long');
  if (!t.toLowerCase().startsWith(PAYMENT_REQUEST_PREFIX)) throw bad('a payment request starts with "cbdc:pay?"');
  const query = t.slice(PAYMENT_REQUEST_PREFIX.length);
  const fields = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(`"${part.slice(0, 40)}" is not key=value`);
    const key = part.slice(0, eq);
    if (!/^[a-z_]{1,16}$/.test(key)) throw bad(`"${key.slice(0, 20)}" is not a field name`);
    if (fields.has(key)) throw bad(`the field "${key}" appears twice`);
    fields.set(key, decodeValue(part.slice(eq + 1), key));
  }
  const to = fields.get('to');
  if (to === undefined || to === '') throw bad('the payment request names no payee (to=…)');
  let payee: Payee;
  try {
    payee = parsePayee(to, fields.get('bank'));
  } catch (e) {
    throw bad((e as Error).message);
  }
  const out: PaymentRequest = { payee };
  const amount = fields.get('amount');
  if (amount !== undefined) {
    const fen = parseYuan(amount);
    if (fen === 0n) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE', 'the requested amount must be more than 0.00');
    out.amountFen = fen;
  }
  const memo = fields.get('memo');
  if (memo !== undefined) {
    // eslint-disable-next-line no-control-regex
    if (memo.length > MEMO_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(memo)) throw bad(`the memo must be at most ${MEMO_CHARS_MAX} printable characters`);
    out.memo = memo;
  }
  const receipt = fields.get('receipt');
  if (receipt !== undefined) {
    if (receipt.length > RECEIPT_DRAFT_CHARS_MAX || !/^[A-Za-z0-9_-]+$/.test(receipt)) throw bad(`the receipt draft is base64url, at most ${RECEIPT_DRAFT_CHARS_MAX} characters`);
    out.receipt = receipt;
  }
  if (t.length - (receipt === undefined ? 0 : receipt.length + '&receipt='.length) > REQUEST_CHARS_MAX) throw bad('the payment request is too long');
  return out;
}
