// The KYC tier table and its pure checks: the limits pinned, boundaries exact to the fen.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CbdcError, ERRORS } from '../protocol/errors.js';
import {
  DEFAULT_TIER_LIMITS, TIER_EVIDENCE, TIERS, type Evidence, type Tier, type TierLimits, checkEvidence, checkPayerLimits, parseTier, splitAtCap,
} from './tiers.js';
import { TIER_GROUPS } from '../platform/analytics.js';

const yuan = (n: number): bigint => BigInt(n) * 100n;

function codeOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(CbdcError);
    const code = (e as CbdcError).code;
    expect(Object.hasOwn(ERRORS, code)).toBe(true);
    return code;
  }
}

describe('the default limit table', () => {
  it('is pinned, in yuan: balance cap / single / daily / annual', () => {
    expect(DEFAULT_TIER_LIMITS[4]).toEqual({ balanceCapFen: yuan(10_000), singlePaymentFen: yuan(2_000), dailyFen: yuan(5_000), annualFen: yuan(50_000) });
    expect(DEFAULT_TIER_LIMITS[3]).toEqual({ balanceCapFen: yuan(20_000), singlePaymentFen: yuan(5_000), dailyFen: yuan(10_000), annualFen: yuan(200_000) });
    expect(DEFAULT_TIER_LIMITS[2]).toEqual({ balanceCapFen: yuan(500_000), singlePaymentFen: yuan(50_000), dailyFen: yuan(100_000), annualFen: null });
    expect(DEFAULT_TIER_LIMITS[1]).toEqual({ balanceCapFen: null, singlePaymentFen: null, dailyFen: null, annualFen: null });
    expect(DEFAULT_TIER_LIMITS[5]).toEqual({ balanceCapFen: yuan(10_000), singlePaymentFen: yuan(5_000), dailyFen: yuan(10_000), annualFen: yuan(50_000) });
    expect([...TIERS].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(TIERS.map(String)).toEqual(TIER_GROUPS); // central's analytics groups by the same tiers
  });

  it('in fen exactly (4: 1,000,000 / 200,000 / 500,000 / 5,000,000)', () => {
    expect(DEFAULT_TIER_LIMITS[4].balanceCapFen).toBe(1_000_000n);
    expect(DEFAULT_TIER_LIMITS[4].singlePaymentFen).toBe(200_000n);
    expect(DEFAULT_TIER_LIMITS[4].dailyFen).toBe(500_000n);
    expect(DEFAULT_TIER_LIMITS[4].annualFen).toBe(5_000_000n);
  });

  it('loosens monotonically from class 4 to class 1 (null = no cap)', () => {
    const le = (a: bigint | null, b: bigint | null) => b === null || (a !== null && a <= b);
    for (const [tight, loose] of [[4, 3], [3, 2], [2, 1]] as [Tier, Tier][]) {
      for (const k of ['balanceCapFen', 'singlePaymentFen', 'dailyFen', 'annualFen'] as (keyof TierLimits)[]) {
        expect(le(DEFAULT_TIER_LIMITS[tight][k], DEFAULT_TIER_LIMITS[loose][k]), `${k} ${tight} <= ${loose}`).toBe(true);
      }
    }
  });
});

describe('checkPayerLimits', () => {
  const none = { dayFen: 0n, yearFen: 0n };

  it.each([4, 3, 2] as Tier[])('class %i: a single payment exactly at the limit passes; one fen over is CBDC_ERR_LIMIT_SINGLE', (t) => {
    const l = DEFAULT_TIER_LIMITS[t];
    expect(codeOf(() => checkPayerLimits(l, l.singlePaymentFen!, none))).toBeNull();
    expect(codeOf(() => checkPayerLimits(l, l.singlePaymentFen! + 1n, none))).toBe('CBDC_ERR_LIMIT_SINGLE');
  });

  it.each([4, 3, 2] as Tier[])('class %i: the day total exactly at the daily limit passes; one fen over is CBDC_ERR_LIMIT_DAILY', (t) => {
    const l = DEFAULT_TIER_LIMITS[t];
    const amount = 1n;
    expect(codeOf(() => checkPayerLimits(l, amount, { dayFen: l.dailyFen! - amount, yearFen: 0n }))).toBeNull();
    expect(codeOf(() => checkPayerLimits(l, amount, { dayFen: l.dailyFen! - amount + 1n, yearFen: 0n }))).toBe('CBDC_ERR_LIMIT_DAILY');
    // A full single payment on top of used
    expect(codeOf(() => checkPayerLimits(l, l.singlePaymentFen!, { dayFen: l.dailyFen! - l.singlePaymentFen!, yearFen: 0n }))).toBeNull();
    expect(codeOf(() => checkPayerLimits(l, l.singlePaymentFen!, { dayFen: l.dailyFen! - l.singlePaymentFen! + 1n, yearFen: 0n }))).toBe('CBDC_ERR_LIMIT_DAILY');
  });

  it.each([4, 3] as Tier[])('class %i: the year total exactly at the annual limit passes; one fen over is CBDC_ERR_LIMIT_ANNUAL', (t) => {
    const l = DEFAULT_TIER_LIMITS[t];
    expect(codeOf(() => checkPayerLimits(l, 100n, { dayFen: 0n, yearFen: l.annualFen! - 100n }))).toBeNull();
    expect(codeOf(() => checkPayerLimits(l, 100n, { dayFen: 0n, yearFen: l.annualFen! - 99n }))).toBe('CBDC_ERR_LIMIT_ANNUAL');
  });

  it('class 2 has no annual limit; class 1 has none at all', () => {
    expect(codeOf(() => checkPayerLimits(DEFAULT_TIER_LIMITS[2], 1n, { dayFen: 0n, yearFen: 10n ** 17n }))).toBeNull();
    expect(codeOf(() => checkPayerLimits(DEFAULT_TIER_LIMITS[1], 10n ** 17n, { dayFen: 10n ** 17n, yearFen: 10n ** 17n }))).toBeNull();
  });

  it('checks single before daily before annual', () => {
    const l = DEFAULT_TIER_LIMITS[4];
    const all = { dayFen: l.dailyFen!, yearFen: l.annualFen! };
    expect(codeOf(() => checkPayerLimits(l, l.singlePaymentFen! + 1n, all))).toBe('CBDC_ERR_LIMIT_SINGLE');
    expect(codeOf(() => checkPayerLimits(l, 1n, all))).toBe('CBDC_ERR_LIMIT_DAILY');
    expect(codeOf(() => checkPayerLimits(l, 1n, { dayFen: 0n, yearFen: l.annualFen! }))).toBe('CBDC_ERR_LIMIT_ANNUAL');
  });

  it('property: passes exactly when amount <= single, day+amount <= daily, year+amount <= annual', () => {
    const lim = fc.option(fc.bigInt({ min: 0n, max: 10n ** 12n }), { nil: null });
    fc.assert(fc.property(
      fc.record({ balanceCapFen: lim, singlePaymentFen: lim, dailyFen: lim, annualFen: lim }),
      fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n }),
      (l, amount, day, year) => {
        const expected = l.singlePaymentFen !== null && amount > l.singlePaymentFen ? 'CBDC_ERR_LIMIT_SINGLE'
          : l.dailyFen !== null && day + amount > l.dailyFen ? 'CBDC_ERR_LIMIT_DAILY'
          : l.annualFen !== null && year + amount > l.annualFen ? 'CBDC_ERR_LIMIT_ANNUAL' : null;
        expect(codeOf(() => checkPayerLimits(l, amount, { dayFen: day, yearFen: year }))).toBe(expected);
      },
    ), { numRuns: 300 });
  });
});

describe('splitAtCap', () => {
  const l4 = DEFAULT_TIER_LIMITS[4];
  it('fills the wallet up to its cap and sends the rest to the excess', () => {
    expect(splitAtCap(l4, 0n, 500n)).toEqual({ walletFen: 500n, excessFen: 0n });
    expect(splitAtCap(l4, l4.balanceCapFen! - 500n, 500n)).toEqual({ walletFen: 500n, excessFen: 0n });
    expect(splitAtCap(l4, l4.balanceCapFen! - 500n, 501n)).toEqual({ walletFen: 500n, excessFen: 1n });
    expect(splitAtCap(l4, l4.balanceCapFen!, 7n)).toEqual({ walletFen: 0n, excessFen: 7n });
    // Over the cap already (e.g. after a downgrade elsewhere): no room, never negative.
    expect(splitAtCap(l4, l4.balanceCapFen! + 100n, 7n)).toEqual({ walletFen: 0n, excessFen: 7n });
  });

  it('no cap: everything goes to the wallet', () => {
    expect(splitAtCap(DEFAULT_TIER_LIMITS[1], 10n ** 17n, 10n ** 17n)).toEqual({ walletFen: 10n ** 17n, excessFen: 0n });
  });

  it('property: the parts sum to the incoming amount, and the wallet part never exceeds the room', () => {
    fc.assert(fc.property(
      fc.option(fc.bigInt({ min: 0n, max: 10n ** 15n }), { nil: null }), fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 0n, max: 10n ** 15n }),
      (cap, balance, incoming) => {
        const limits: TierLimits = { balanceCapFen: cap, singlePaymentFen: null, dailyFen: null, annualFen: null };
        const { walletFen, excessFen } = splitAtCap(limits, balance, incoming);
        expect(walletFen + excessFen).toBe(incoming);
        expect(walletFen >= 0n && excessFen >= 0n).toBe(true);
        if (cap !== null) {
          const room = cap > balance ? cap - balance : 0n;
          expect(walletFen <= room).toBe(true);
          // The wallet takes as much as fits: excess only when the room is used up.
          if (excessFen > 0n) expect(walletFen).toBe(room);
        } else {
          expect(excessFen).toBe(0n);
        }
      },
    ), { numRuns: 500 });
  });
});

describe('checkEvidence', () => {
  const full: Evidence = { phone: '+8613800138000', name: 'Li Lei', id_number: '11010519491231002X', linked_account: 'ICBC-6222020000000000', verified_in_person_by: 'teller-7' };
  const RESIDENT = TIERS.filter((t) => t !== 5);

  it('the evidence each tier needs', () => {
    expect(TIER_EVIDENCE[4]).toEqual(['phone']);
    expect(TIER_EVIDENCE[3]).toEqual(['phone', 'name', 'id_number']);
    expect(TIER_EVIDENCE[2]).toEqual(['phone', 'name', 'id_number', 'linked_account']);
    expect(TIER_EVIDENCE[1]).toEqual(['phone', 'name', 'id_number', 'linked_account', 'verified_in_person_by']);
    expect(TIER_EVIDENCE[5]).toEqual(['phone', 'passport_number', 'nationality']);
  });

  it.each(RESIDENT)('class %i: complete evidence passes; its fields and well-formed extras are kept, in-person verification only where needed', (t) => {
    const out = checkEvidence(t, full);
    const kept = new Set([...TIER_EVIDENCE[t], 'phone', 'name', 'id_number', 'linked_account']);
    expect(Object.keys(out).sort()).toEqual([...kept].sort());
    for (const k of kept) expect(out[k as keyof Evidence]).toBe(full[k as keyof Evidence]);
    // verified_in_person_by is never taken from an applicant for a tier that does not need it.
    if (t !== 1) expect(out.verified_in_person_by).toBeUndefined();
  });

  it.each(RESIDENT)('class %i: each missing field is CBDC_ERR_KYC_EVIDENCE', (t) => {
    for (const field of TIER_EVIDENCE[t]) {
      const ev: Evidence = { ...full };
      delete ev[field as keyof Evidence];
      expect(codeOf(() => checkEvidence(t, ev)), `${t} without ${field}`).toBe('CBDC_ERR_KYC_EVIDENCE');
    }
  });

  const malformed: Record<keyof Evidence, unknown[]> = {
    phone: ['13800138000', '+86 138', '+12345', '+1234567890123456', '', 8613800138000, '+86138001380a'],
    name: ['', 'x'.repeat(65), 'a\nb', 'tab\there', 42],
    id_number: ['12345', 'x'.repeat(33), '110105-1949', '身份证号码一二三', null],
    linked_account: ['abc', 'x'.repeat(35), 'acct 1234', 'acct_1234'],
    verified_in_person_by: ['', 'y'.repeat(65), 'a\u0000b'],
    passport_number: ['1234', 'x'.repeat(21), '12 345 678', '12-345678', '', 12345678],
    nationality: ['fra', 'FR', 'FRAN', 'F1A', '', 250],
  };

  it('malformed fields are CBDC_ERR_KYC_EVIDENCE for every tier that needs them', () => {
    for (const t of RESIDENT) {
      for (const field of TIER_EVIDENCE[t] as (keyof Evidence)[]) {
        for (const bad of malformed[field]) {
          const ev = { ...full, [field]: bad } as Evidence;
          expect(codeOf(() => checkEvidence(t, ev)), `${t} ${field}=${JSON.stringify(bad)}`).toBe('CBDC_ERR_KYC_EVIDENCE');
        }
      }
    }
  });

  it('extra fields a tier does not need are kept when well-formed and refused when malformed', () => {
    expect(checkEvidence(4, { phone: '+8613800138000', linked_account: 'ACCT-1234' })).toEqual({ phone: '+8613800138000', linked_account: 'ACCT-1234' });
    expect(checkEvidence(4, { phone: '+8613800138000' })).toEqual({ phone: '+8613800138000' });
    expect(codeOf(() => checkEvidence(4, { phone: '+8613800138000', name: '' }))).toBe('CBDC_ERR_KYC_EVIDENCE');
    expect(codeOf(() => checkEvidence(4, { phone: '+8613800138000', id_number: 'bad id' }))).toBe('CBDC_ERR_KYC_EVIDENCE');
    expect(codeOf(() => checkEvidence(3, { ...full, linked_account: 'no' }))).toBe('CBDC_ERR_KYC_EVIDENCE');
    expect(checkEvidence(2, { ...full, verified_in_person_by: 'self-declared' }).verified_in_person_by).toBeUndefined();
  });

  it('accepts the boundary formats', () => {
    expect(() => checkEvidence(4, { phone: '+123456' })).not.toThrow();
    expect(() => checkEvidence(4, { phone: '+123456789012345' })).not.toThrow();
    expect(() => checkEvidence(3, { phone: '+123456', name: '王'.repeat(64), id_number: 'A'.repeat(32) })).not.toThrow();
    expect(() => checkEvidence(3, { phone: '+123456', name: 'n', id_number: '123456' })).not.toThrow();
  });
});

describe('class 5 (visitor) evidence', () => {
  const visitor: Evidence = { phone: '+33612345678', passport_number: '12AB34567', nationality: 'FRA' };

  it('phone, passport number and nationality pass; only the phone is kept (the passport is hashed, never stored)', () => {
    expect(checkEvidence(5, visitor)).toEqual({ phone: '+33612345678' });
    expect(checkEvidence(5, { ...visitor, passport_number: 'a1b2c' })).toEqual({ phone: '+33612345678' });
    expect(checkEvidence(5, { ...visitor, passport_number: 'X'.repeat(20) })).toEqual({ phone: '+33612345678' });
  });

  it('each missing or malformed field is CBDC_ERR_KYC_EVIDENCE', () => {
    for (const field of TIER_EVIDENCE[5]) {
      const ev: Evidence = { ...visitor };
      delete ev[field as keyof Evidence];
      expect(codeOf(() => checkEvidence(5, ev)), `without ${field}`).toBe('CBDC_ERR_KYC_EVIDENCE');
    }
    for (const bad of ['1234', 'x'.repeat(21), '12 345', null]) expect(codeOf(() => checkEvidence(5, { ...visitor, passport_number: bad } as Evidence))).toBe('CBDC_ERR_KYC_EVIDENCE');
    for (const bad of ['fra', 'FR', 'FRAN', 'F1A']) expect(codeOf(() => checkEvidence(5, { ...visitor, nationality: bad }))).toBe('CBDC_ERR_KYC_EVIDENCE');
  });

  it('a Chinese passport opens a resident account, and a visitor gives no resident identity or linked account', () => {
    expect(codeOf(() => checkEvidence(5, { ...visitor, nationality: 'CHN' }))).toBe('CBDC_ERR_KYC_EVIDENCE');
    for (const extra of [{ name: 'Jean Dupont' }, { id_number: '110105194912310' }, { linked_account: 'ACCT-1234' }, { verified_in_person_by: 'teller-7' }]) {
      expect(codeOf(() => checkEvidence(5, { ...visitor, ...extra })), JSON.stringify(extra)).toBe('CBDC_ERR_KYC_EVIDENCE');
    }
  });

  it('the resident tiers refuse passport fields (they would never be stored raw anyway)', () => {
    for (const t of [1, 2, 3, 4] as Tier[]) {
      const ev = { phone: '+8613800138000', name: 'Li Lei', id_number: '11010519491231002X', linked_account: 'ICBC-6222', verified_in_person_by: 't' };
      expect(codeOf(() => checkEvidence(t, { ...ev, passport_number: '12AB34567' }))).toBe('CBDC_ERR_KYC_EVIDENCE');
      expect(codeOf(() => checkEvidence(t, { ...ev, nationality: 'FRA' }))).toBe('CBDC_ERR_KYC_EVIDENCE');
    }
  });
});

describe('parseTier', () => {
  it('accepts exactly the integers 1 to 5', () => {
    for (const t of [1, 2, 3, 4, 5]) expect(parseTier(t)).toBe(t);
  });
  it.each([0, 6, -1, 1.5, '1', '4', null, undefined, NaN, 2n, [3], { tier: 3 }, true])('refuses %s with CBDC_ERR_KYC_TIER', (v) => {
    expect(codeOf(() => parseTier(v))).toBe('CBDC_ERR_KYC_TIER');
  });
});
