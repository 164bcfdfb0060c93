// Money is integer fen (1/100 yuan). JSON carries decimal strings, memory holds bigint,
// and no float ever touches an amount.
import { CbdcError } from './errors.js';

/**
 * The one upper bound for any amount and any sum of amounts: 10^18 fen (10^16 yuan),
 * which fits an unsigned 64-bit field with room to spare and exceeds any money supply.
 */
export const AMOUNT_FEN_MAX = 1_000_000_000_000_000_000n;

const FEN_PATTERN = /^(0|[1-9][0-9]*)$/;
/** Digits of AMOUNT_FEN_MAX; a well-formed amount with more digits is above it. */
const FEN_DIGITS_MAX = 19;

/** Parses a decimal string of fen. Refuses numbers, signs, fractions and leading zeros. */
export function parseAmountFen(value: unknown, what = 'amount'): bigint {
  if (typeof value !== 'string' || !FEN_PATTERN.test(value)) {
    throw new CbdcError('CBDC_ERR_AMOUNT_FORMAT', `${what} must be a decimal string of fen, got ${describe(value)}`);
  }
  // Well-formed but too long is a range error, like any other value above the bound
  // (checked on the length first, so a huge digit string never becomes a bigint).
  const fen = value.length > FEN_DIGITS_MAX ? AMOUNT_FEN_MAX + 1n : BigInt(value);
  if (fen > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE', `${what} is above AMOUNT_FEN_MAX`);
  return fen;
}

/** Parses a strictly positive amount. */
export function parsePositiveAmountFen(value: unknown, what = 'amount'): bigint {
  const fen = parseAmountFen(value, what);
  if (fen === 0n) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE', `${what} must be positive`);
  return fen;
}

export function formatAmountFen(fen: bigint): string {
  if (fen < 0n || fen > AMOUNT_FEN_MAX) throw new RangeError(`amount out of range: ${fen}`);
  return fen.toString(10);
}

/** Adds amounts; a sum above AMOUNT_FEN_MAX is an error, never a wrap. */
export function addAmountsFen(a: bigint, b: bigint): bigint {
  const sum = a + b;
  if (sum > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_OVERFLOW');
  return sum;
}

/** Parses what a person types ("12.34", "12", "0.5") into fen. */
export function parseYuan(text: string): bigint {
  const m = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?$/.exec(text.trim());
  if (!m) throw new CbdcError('CBDC_ERR_AMOUNT_FORMAT', `"${text}" is not an amount in yuan like 12.34`);
  // AMOUNT_FEN_MAX is 10^16 yuan (17 digits), which is itself allowed; more digits are above it.
  if (m[1]!.length > FEN_DIGITS_MAX - 2) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE');
  const fen = BigInt(m[1]!) * 100n + BigInt((m[2] ?? '').padEnd(2, '0'));
  if (fen > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE');
  return fen;
}

/** Shows fen the way people write yuan: "12.34". */
export function formatYuan(fen: bigint): string {
  const sign = fen < 0n ? '-' : '';
  const abs = fen < 0n ? -fen : fen;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'number') return `the JSON number ${value}`;
  return typeof value;
}
