// The visitor wallets' pure parts: the FX arithmetic (exact rationals, rounding always in the
// bank's favour by less than one fen), the card checks (Luhn, expiry by the bank's clock), the
// simulated acquirer's declines, the passport hash and the validity window.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CbdcError, ERRORS } from '../../protocol/errors.js';
import {
  DECLINING_TEST_CARDS, DEFAULT_FX_TABLE, SimulatedAcquirer, checkCard, checkFxConfig, convertIn, convertOut, luhnValid, parseFxRate, rateOf, type FxRate,
} from './acquirer.js';
import { VISITOR_VALIDITY_MAX_MS, checkValidity, checkVisitorReceives, keyedHash, passportCanonical, passportHash, visitorExpired } from './rules.js';
import type { AccountRec } from '../store.js';

function codeOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(CbdcError);
    expect(Object.hasOwn(ERRORS, (e as CbdcError).code)).toBe(true);
    return (e as CbdcError).code;
  }
}

const USD: FxRate = { fen: 710n, minor: 100n, exponent: 2 };
const JPY: FxRate = { fen: 47n, minor: 10n, exponent: 0 };

describe('convertIn (card -> wallet)', () => {
  it('USD 100.00 at 7.10, 1.5% fee: 710.00 gross, 10.65 fee, 699.35 in', () => {
    expect(convertIn(USD, 150, 10_000n)).toEqual({ amountFen: 69_935n, feeFen: 1_065n });
  });
  it('rounds down to the fen: USD 0.01 at 7.10, 1.5% = 6.9935 fen -> 6 fen (fee 1)', () => {
    expect(convertIn(USD, 150, 1n)).toEqual({ amountFen: 6n, feeFen: 1n });
  });
  it('no fee: exactly the rate; JPY 1 = 4.7 fen -> 4', () => {
    expect(convertIn(USD, 0, 100n)).toEqual({ amountFen: 710n, feeFen: 0n });
    expect(convertIn(JPY, 0, 1n)).toEqual({ amountFen: 4n, feeFen: 0n });
  });
  it('less than one fen after the fee is CBDC_ERR_FX_AMOUNT', () => {
    expect(codeOf(() => convertIn({ fen: 1n, minor: 10n, exponent: 2 }, 150, 5n))).toBe('CBDC_ERR_FX_AMOUNT');
  });
  it('property: the visitor gets the exact value less the fee, rounded down by less than one fen', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 1n, max: 10n ** 6n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), fc.integer({ min: 0, max: 2_000 }), fc.bigInt({ min: 1n, max: 10n ** 12n }),
      (rf, rm, bps, minor) => {
        const rate = { fen: rf, minor: rm, exponent: 2 };
        // Exact value times the common denominator D = rm * 10000.
        const D = rm * 10_000n;
        const exactTimesD = minor * rf * (10_000n - BigInt(bps));
        let r;
        try {
          r = convertIn(rate, bps, minor);
        } catch (e) {
          expect((e as CbdcError).code).toBe('CBDC_ERR_FX_AMOUNT');
          expect(exactTimesD < D).toBe(true);
          return;
        }
        // amount <= exact < amount + 1 (in the bank's favour, by less than one fen).
        expect(r.amountFen * D <= exactTimesD).toBe(true);
        expect(exactTimesD < (r.amountFen + 1n) * D).toBe(true);
        expect(r.feeFen >= 0n).toBe(true);
        expect(r.amountFen + r.feeFen).toBe((minor * rf) / rm);
      },
    ), { numRuns: 500 });
  });
});

describe('convertOut (deposit -> card)', () => {
  it('50.00 yuan to USD at 7.10 plus 1.5%: 6.938 USD -> 6.93 refunded, costing 49.95 (fee 0.74); the rest stays', () => {
    const r = convertOut(USD, 150, 5_000n);
    expect(r.amountMinor).toBe(693n);
    // 693 * 710 * 10150 / 1_000_000 = 4994.1045 -> 4995 fen (rounded up: the bank never takes less than the refund costs).
    expect(r.amountFen).toBe(4_995n);
    // At the rate alone 693 cents are 4920.3 -> 4921 fen.
    expect(r.feeFen).toBe(74n);
  });
  it('too little for one minor unit is CBDC_ERR_FX_AMOUNT', () => {
    expect(codeOf(() => convertOut(USD, 150, 7n))).toBe('CBDC_ERR_FX_AMOUNT');
    expect(convertOut(USD, 0, 8n)).toEqual({ amountMinor: 1n, amountFen: 8n, feeFen: 0n });
  });
  it('property: takes at most what is offered, and the price of what it refunds rounded up by less than one fen', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 1n, max: 10n ** 6n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), fc.integer({ min: 0, max: 2_000 }), fc.bigInt({ min: 1n, max: 10n ** 12n }),
      (rf, rm, bps, offered) => {
        const rate = { fen: rf, minor: rm, exponent: 2 };
        let r;
        try {
          r = convertOut(rate, bps, offered);
        } catch (e) {
          expect((e as CbdcError).code).toBe('CBDC_ERR_FX_AMOUNT');
          return;
        }
        const D = rm * 10_000n;
        const priceTimesD = r.amountMinor * rf * (10_000n + BigInt(bps));
        expect(r.amountFen <= offered).toBe(true);
        // price <= amount < price + 1
        expect(r.amountFen * D >= priceTimesD).toBe(true);
        expect((r.amountFen - 1n) * D < priceTimesD).toBe(true);
        // One more minor unit would cost more than was offered: the refund is as large as it can be.
        expect((r.amountMinor + 1n) * rf * (10_000n + BigInt(bps)) > offered * D).toBe(true);
        expect(r.feeFen >= 0n).toBe(true);
      },
    ), { numRuns: 500 });
  });
});

describe('the FX table', () => {
  it('the default table passes its own check; unknown currencies are CBDC_ERR_FX_CURRENCY', () => {
    expect(() => checkFxConfig(DEFAULT_FX_TABLE, 150)).not.toThrow();
    expect(rateOf(DEFAULT_FX_TABLE, 'USD')).toEqual(USD);
    for (const c of ['XXX', 'usd', 'CNY', 'constructor', '__proto__']) expect(codeOf(() => rateOf(DEFAULT_FX_TABLE, c)), c).toBe('CBDC_ERR_FX_CURRENCY');
  });
  it('parses serve --fx-rate, with ISO 4217 exponents', () => {
    expect(parseFxRate('USD=710/100')).toEqual(['USD', USD]);
    expect(parseFxRate('JPY=47/10')).toEqual(['JPY', JPY]);
    for (const bad of ['USD=7.10', 'usd=710/100', 'USD=710', 'USD=/100', 'USDX=1/1']) expect(() => parseFxRate(bad), bad).toThrow(/--fx-rate/);
  });
  it('refuses a bad configuration: fee out of range, CNY, zero terms', () => {
    expect(() => checkFxConfig(DEFAULT_FX_TABLE, 2_001)).toThrow();
    expect(() => checkFxConfig(DEFAULT_FX_TABLE, -1)).toThrow();
    expect(() => checkFxConfig(DEFAULT_FX_TABLE, Number.NaN)).toThrow();
    expect(() => checkFxConfig({ CNY: { fen: 1n, minor: 1n, exponent: 2 } }, 0)).toThrow();
    expect(() => checkFxConfig({ USD: { fen: 0n, minor: 1n, exponent: 2 } }, 0)).toThrow();
    expect(() => checkFxConfig({}, 0)).toThrow();
  });
});

describe('cards', () => {
  const now = Date.UTC(2026, 11, 6);
  it('Luhn: the test numbers pass, a changed digit fails', () => {
    for (const n of ['4111111111111111', '5555555555554444', '378282246310005', ...Object.keys(DECLINING_TEST_CARDS)]) expect(luhnValid(n), n).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });
  it('form: 12 to 19 digits passing Luhn, expiry MM/YY', () => {
    expect(checkCard({ number: '4111111111111111', expiry: '12/28' }, now)).toEqual({ last4: '1111' });
    for (const number of ['4111111111111112', '41111111111', '4'.repeat(20), '4111 1111 1111 1111', '', 'abcd']) {
      expect(codeOf(() => checkCard({ number, expiry: '12/28' }, now)), number).toBe('CBDC_ERR_CARD_FORMAT');
    }
    for (const expiry of ['13/28', '00/28', '1/28', '12-28', '12/2028', '']) expect(codeOf(() => checkCard({ number: '4111111111111111', expiry }, now)), expiry).toBe('CBDC_ERR_CARD_FORMAT');
  });
  it('expiry by the bank clock: valid through the last day of its month', () => {
    expect(checkCard({ number: '4111111111111111', expiry: '12/26' }, Date.UTC(2026, 11, 31, 23, 59)).last4).toBe('1111');
    expect(codeOf(() => checkCard({ number: '4111111111111111', expiry: '12/26' }, Date.UTC(2027, 0, 1)))).toBe('CBDC_ERR_CARD_EXPIRED');
    expect(codeOf(() => checkCard({ number: '4111111111111111', expiry: '11/26' }, now))).toBe('CBDC_ERR_CARD_EXPIRED');
  });
  it('the simulated acquirer declines its test numbers (nothing logged) and charges others', () => {
    const acq = new SimulatedAcquirer();
    for (const number of Object.keys(DECLINING_TEST_CARDS)) expect(codeOf(() => acq.charge({ number, expiry: '12/28' }, 'USD', 100n, now))).toBe('CBDC_ERR_CARD_DECLINED');
    expect(acq.log).toEqual([]);
    const c = acq.charge({ number: '5555555555554444', expiry: '12/28' }, 'USD', 100n, now);
    expect(c.last4).toBe('4444');
    expect(c.reference).toMatch(/^acq-[0-9a-f]{16}$/);
    expect(acq.log).toEqual([{ kind: 'charge', reference: c.reference, currency: 'USD', amountMinor: 100n, last4: '4444' }]);
    // The log holds no card number.
    expect(JSON.stringify(acq.log, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain('5555555555554444');
  });
});

describe('passport hash and validity', () => {
  const pepper = Buffer.alloc(32, 7);
  it('HMAC-SHA256 under the pepper over NATIONALITY:NUMBER (uppercased)', () => {
    expect(passportCanonical('FRA', '12ab34567')).toBe('FRA:12AB34567');
    // RFC 4231 test case 2 checks the HMAC itself.
    expect(keyedHash(Buffer.from('Jefe'), 'what do ya want for nothing?')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(passportHash(pepper, 'FRA', '12ab34567')).toBe(passportHash(pepper, 'FRA', '12AB34567'));
    expect(passportHash(pepper, 'FRA', '12AB34567')).not.toBe(passportHash(pepper, 'DEU', '12AB34567'));
    expect(passportHash(pepper, 'FRA', '12AB34567')).not.toBe(passportHash(Buffer.alloc(32, 8), 'FRA', '12AB34567'));
    expect(passportHash(pepper, 'FRA', '12AB34567')).toMatch(/^[0-9a-f]{64}$/);
  });
  it('validity: at least an hour, at most 180 days ahead, whole ms', () => {
    const now = 1_800_000_000_000;
    expect(checkValidity(now + 3_600_000, now)).toBe(now + 3_600_000);
    expect(checkValidity(now + VISITOR_VALIDITY_MAX_MS, now)).toBe(now + VISITOR_VALIDITY_MAX_MS);
    for (const v of [now + 3_599_999, now + VISITOR_VALIDITY_MAX_MS + 1, now - 1, 1.5, undefined, '1900000000000', null]) expect(codeOf(() => checkValidity(v, now)), String(v)).toBe('CBDC_ERR_VISITOR_VALIDITY');
  });
  it('an expired visitor wallet refuses money in; a resident account never expires', () => {
    const a = { visitor: { passportHash: 'x', validUntilMs: 1_000 } } as AccountRec;
    expect(visitorExpired(a, 999)).toBe(false);
    expect(codeOf(() => checkVisitorReceives(a, 999))).toBeNull();
    expect(visitorExpired(a, 1_000)).toBe(true);
    expect(codeOf(() => checkVisitorReceives(a, 1_000))).toBe('CBDC_ERR_VISITOR_EXPIRED');
    expect(visitorExpired({} as AccountRec, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});
