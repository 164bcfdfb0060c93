import { describe, expect, it } from 'vitest';
import { CbdcError, ERRORS, ErrorCode, assert, httpStatusOf, isCbdcError } from './errors.js';

// The registry, pinned. Adding, removing or re-statusing a code is an API change: update this
// literal in the same change, on purpose.
const PINNED: Record<ErrorCode, number> = {
  // Amounts and encoding
  CBDC_ERR_AMOUNT_FORMAT: 400,
  CBDC_ERR_AMOUNT_RANGE: 400,
  CBDC_ERR_AMOUNT_OVERFLOW: 400,
  CBDC_ERR_HEX_FORMAT: 400,
  CBDC_ERR_SCHEMA: 400,
  CBDC_ERR_BODY_TOO_LARGE: 413,
  CBDC_ERR_NETWORK_ID: 400,
  // Transactions
  CBDC_ERR_TX_KIND: 400,
  CBDC_ERR_TOO_MANY_INPUTS: 400,
  CBDC_ERR_TOO_MANY_OUTPUTS: 400,
  CBDC_ERR_DUPLICATE_INPUT: 400,
  CBDC_ERR_UNKNOWN_INPUT: 404,
  CBDC_ERR_DOUBLE_SPEND: 409,
  CBDC_ERR_UNBALANCED: 400,
  CBDC_ERR_LOCK_FORMAT: 400,
  CBDC_ERR_LOCK_UNSATISFIED: 403,
  // Lock policies
  CBDC_ERR_LOCK_UNKNOWN_OPERATOR: 400,
  CBDC_ERR_LOCK_TOO_DEEP: 400,
  CBDC_ERR_LOCK_TOO_LARGE: 400,
  CBDC_ERR_LOCK_TIMELOCK: 403,
  CBDC_ERR_LOCK_PREIMAGE: 403,
  CBDC_ERR_LOCK_PURPOSE: 403,
  CBDC_ERR_LOCK_CERTIFICATE: 403,
  CBDC_ERR_LOCK_BUDGET: 400,
  CBDC_ERR_BAD_SIGNATURE: 403,
  CBDC_ERR_HIGH_S: 400,
  CBDC_ERR_BAD_PUBLIC_KEY: 400,
  CBDC_ERR_WITNESS: 400,
  CBDC_ERR_BATCH_TOO_LARGE: 413,
  CBDC_ERR_BATCH_SIGNATURE: 403,
  CBDC_ERR_OVERLOADED: 503,
  CBDC_ERR_HEADERS_TOO_LARGE: 431,
  CBDC_ERR_REQUEST_TIMEOUT: 408,
  CBDC_ERR_RATE_LIMITED: 429,
  // Issuance and redemption
  CBDC_ERR_OPERATOR_SIGNATURE: 403,
  CBDC_ERR_QUOTA_EXCEEDED: 409,
  CBDC_ERR_RESERVE_INSUFFICIENT: 409,
  CBDC_ERR_ISSUE_SERIAL: 409,
  CBDC_ERR_REDEMPTION_EMPTY: 400,
  // Intermediaries and request authentication
  CBDC_ERR_UNAUTHENTICATED: 401,
  CBDC_ERR_REQUEST_SIGNATURE: 401,
  CBDC_ERR_REQUEST_STALE: 401,
  CBDC_ERR_REQUEST_REPLAY: 401,
  CBDC_ERR_FORBIDDEN: 403,
  CBDC_ERR_INTERMEDIARY_UNKNOWN: 404,
  CBDC_ERR_INTERMEDIARY_EXISTS: 409,
  CBDC_ERR_INTERMEDIARY_ID: 400,
  CBDC_ERR_NOT_FOUND: 404,
  // Banks: accounts, limits and payments
  CBDC_ERR_ACCOUNT_UNKNOWN: 404,
  CBDC_ERR_ACCOUNT_FROZEN: 403,
  CBDC_ERR_ACCOUNT_CLOSED: 403,
  CBDC_ERR_ACCOUNT_NOT_EMPTY: 409,
  CBDC_ERR_ACCOUNT_EXISTS: 409,
  CBDC_ERR_ALIAS_TAKEN: 409,
  CBDC_ERR_ALIAS_FORMAT: 400,
  CBDC_ERR_KYC_EVIDENCE: 400,
  CBDC_ERR_KYC_TIER: 400,
  CBDC_ERR_MERCHANT_CATEGORY: 400,
  CBDC_ERR_PAYEE_UNKNOWN: 404,
  CBDC_ERR_PAYEE_REFUSED: 409,
  CBDC_ERR_BALANCE_CAP: 409,
  CBDC_ERR_LIMIT_SINGLE: 409,
  CBDC_ERR_LIMIT_DAILY: 409,
  CBDC_ERR_LIMIT_ANNUAL: 409,
  CBDC_ERR_INSUFFICIENT_FUNDS: 409,
  CBDC_ERR_IDEMPOTENCY_CONFLICT: 409,
  CBDC_ERR_PAYMENT_STATE: 409,
  CBDC_ERR_PAYMENT_OUTPUTS: 409,
  CBDC_ERR_PAYMENT_EXPIRED: 410,
  CBDC_ERR_CENTRAL_UNAVAILABLE: 503,
  // Wallet
  CBDC_ERR_KEYSTORE_PASSPHRASE: 401,
  CBDC_ERR_KEYSTORE_FORMAT: 400,
  CBDC_ERR_KEYSTORE_CORRUPT: 400,
  CBDC_ERR_KEYSTORE_MISSING: 404,
  CBDC_ERR_KEYSTORE_EXISTS: 409,
  CBDC_ERR_WALLET_NO_ACCOUNT: 409,
  CBDC_ERR_PAYMENT_REQUEST_FORMAT: 400,
  CBDC_ERR_BANK_UNREACHABLE: 503,
  CBDC_ERR_BANK_RESPONSE: 502,
  // Offline devices (secure-element applet, PC/SC reader, vpcd bridge)
  CBDC_ERR_OFFLINE_FORMAT: 400,
  CBDC_ERR_OFFLINE_SIGNATURE: 403,
  CBDC_ERR_OFFLINE_UNTRUSTED: 403,
  CBDC_ERR_OFFLINE_CERT_EXPIRED: 403,
  CBDC_ERR_OFFLINE_CERT_MISMATCH: 400,
  CBDC_ERR_OFFLINE_REVOKED: 403,
  CBDC_ERR_OFFLINE_CAP: 409,
  CBDC_ERR_OFFLINE_REFUSED: 409,
  CBDC_ERR_NFC_UNAVAILABLE: 503,
  CBDC_ERR_VPCD_FRAME: 400,
  CBDC_ERR_OFFLINE_STORE: 500,
  // Offline wallets: the bank's side
  CBDC_ERR_OFFLINE_DEVICE_UNKNOWN: 404,
  CBDC_ERR_OFFLINE_COUNTER: 409,
  CBDC_ERR_OFFLINE_DOUBLE_SPEND: 409,
  CBDC_ERR_OFFLINE_LOAD_STATE: 409,
  // Bank contract services
  CBDC_ERR_CONTRACT_UNKNOWN: 404,
  CBDC_ERR_CONTRACT_TERMS: 400,
  CBDC_ERR_CONTRACT_STATE: 409,
  CBDC_ERR_CONTRACT_LIMIT: 409,
  CBDC_ERR_SCHEDULE_MISSED: 409,
  // Storage
  CBDC_ERR_STORAGE: 503,
  // Visitors
  CBDC_ERR_VISITOR_EXPIRED: 403,
  CBDC_ERR_VISITOR_EXISTS: 409,
  CBDC_ERR_VISITOR_VALIDITY: 400,
  CBDC_ERR_VISITOR_ONLY: 409,
  CBDC_ERR_VISITOR_TIER_CHANGE: 409,
  CBDC_ERR_VISITOR_NO_CARD: 409,
  CBDC_ERR_CARD_FORMAT: 400,
  CBDC_ERR_CARD_DECLINED: 402,
  CBDC_ERR_CARD_EXPIRED: 402,
  CBDC_ERR_FX_CURRENCY: 400,
  CBDC_ERR_FX_AMOUNT: 400,
  // Receipts
  CBDC_ERR_TAX_ID: 400,
  CBDC_ERR_RECEIPT_FORMAT: 400,
  CBDC_ERR_RECEIPT_LINES: 400,
  CBDC_ERR_RECEIPT_LINE: 400,
  CBDC_ERR_RECEIPT_TOTAL: 400,
  CBDC_ERR_RECEIPT_SIGNATURE: 403,
  CBDC_ERR_RECEIPT_MERCHANT: 409,
  CBDC_ERR_RECEIPT_NOT_SETTLED: 409,
  CBDC_ERR_RECEIPT_PAYMENT: 409,
  CBDC_ERR_RECEIPT_CONFLICT: 409,
  CBDC_ERR_RECEIPT_UNKNOWN: 404,
  CBDC_ERR_RECEIPT_QUEUE_FULL: 503,
  // Private analytics
  CBDC_ERR_REGION: 400,
  CBDC_ERR_ANALYTICS_QUERY: 400,
  CBDC_ERR_PRIVACY_BUDGET: 429,
  CBDC_ERR_ANALYTICS_PARTY: 403,
  CBDC_ERR_ANALYTICS_SHARE: 400,
  CBDC_ERR_ANALYTICS_STATE: 409,
  CBDC_ERR_ANALYTICS_BANK: 502,
};

const entries = Object.entries(ERRORS) as [ErrorCode, readonly [number, string]][];

describe('the error registry', () => {
  it('is exactly the pinned set of codes with their HTTP statuses', () => {
    const actual = Object.fromEntries(entries.map(([code, [status]]) => [code, status]));
    expect(actual).toEqual(PINNED);
    expect(Object.keys(ERRORS).sort()).toEqual(Object.keys(PINNED).sort());
  });

  it.each(entries)('%s is well formed', (code, [status, doc]) => {
    expect(code).toMatch(/^CBDC_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    expect(Number.isInteger(status)).toBe(true);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(600);
    expect(doc.trim().length).toBeGreaterThan(0);
    expect(doc).toBe(doc.trim());
    expect(doc.endsWith('.')).toBe(true);
    expect(doc).not.toMatch(/\n/);
    expect(httpStatusOf(code)).toBe(status);
  });

  it('has no two codes with the same documentation line', () => {
    const docs = entries.map(([, [, doc]]) => doc);
    expect(new Set(docs).size).toBe(docs.length);
  });
});

describe('CbdcError', () => {
  it('carries its code, status and the registry line as default message', () => {
    const e = new CbdcError('CBDC_ERR_DOUBLE_SPEND');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('CBDC_ERR_DOUBLE_SPEND');
    expect(e.statusCode).toBe(409);
    expect(e.message).toBe(ERRORS.CBDC_ERR_DOUBLE_SPEND[1]);
    expect(e.name).toBe('CbdcError');
    expect(e.toJSON()).toEqual({ code: 'CBDC_ERR_DOUBLE_SPEND', message: ERRORS.CBDC_ERR_DOUBLE_SPEND[1] });
    expect(JSON.parse(JSON.stringify(e))).toEqual({ code: 'CBDC_ERR_DOUBLE_SPEND', message: ERRORS.CBDC_ERR_DOUBLE_SPEND[1] });
  });

  it('takes a specific message', () => {
    const e = new CbdcError('CBDC_ERR_SCHEMA', 'input 3 has an unknown field "x"');
    expect(e.message).toBe('input 3 has an unknown field "x"');
    expect(e.statusCode).toBe(400);
  });

  it('isCbdcError tells operating errors from others', () => {
    expect(isCbdcError(new CbdcError('CBDC_ERR_STORAGE'))).toBe(true);
    expect(isCbdcError(new Error('x'))).toBe(false);
    expect(isCbdcError({ code: 'CBDC_ERR_STORAGE', message: 'forged' })).toBe(false);
    expect(isCbdcError(undefined)).toBe(false);
  });
});

describe('assert', () => {
  it('throws a plain Error (a programmer error, never a CbdcError) when the condition fails', () => {
    expect(() => assert(true, 'fine')).not.toThrow();
    expect(() => assert(1, 'fine')).not.toThrow();
    let thrown: unknown;
    try {
      assert(0, 'the sky is up');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(isCbdcError(thrown)).toBe(false);
    expect((thrown as Error).message).toBe('invariant violated: the sky is up');
  });
});
