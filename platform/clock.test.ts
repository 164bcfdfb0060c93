// The bank's clock: every day and year boundary is Asia/Shanghai (UTC+8, no daylight saving).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BANK_TIME_ZONE, dayKey, dayStartMs, systemClock, yearKey } from './clock.js';

const ms = (iso: string): number => Date.parse(iso);

describe('bank clock (Asia/Shanghai)', () => {
  it('names its time zone', () => {
    expect(BANK_TIME_ZONE).toBe('Asia/Shanghai');
  });

  it('the day turns at 16:00 UTC', () => {
    expect(dayKey(ms('2026-01-01T15:59:59.999Z'))).toBe('2026-01-01');
    expect(dayKey(ms('2026-01-01T16:00:00.000Z'))).toBe('2026-01-02');
    expect(dayKey(ms('2025-12-31T16:00:00.000Z'))).toBe('2026-01-01');
    expect(dayKey(ms('2026-01-01T00:00:00.000Z'))).toBe('2026-01-01');
  });

  it('answers the same for every instant of a day asked in turn, and the next day at its first millisecond', () => {
    const start = ms('2026-03-09T16:00:00.000Z');
    for (const t of [start, start + 1, start + 43_200_000, start + 86_399_999]) expect(dayKey(t)).toBe('2026-03-10');
    expect(dayKey(start + 86_400_000)).toBe('2026-03-11');
    expect(dayKey(start - 1)).toBe('2026-03-09');
    expect(dayKey(start + 86_399_999)).toBe('2026-03-10');
  });

  it('the year turns at 2026-12-31T16:00Z', () => {
    expect(yearKey(ms('2026-12-31T15:59:59.999Z'))).toBe('2026');
    expect(yearKey(ms('2026-12-31T16:00:00.000Z'))).toBe('2027');
    expect(dayKey(ms('2026-12-31T16:00:00.000Z'))).toBe('2027-01-01');
    expect(yearKey(ms('2025-12-31T15:59:59.999Z'))).toBe('2025');
    expect(yearKey(ms('2025-12-31T16:00:00.000Z'))).toBe('2026');
  });

  it('handles leap days and agrees with Intl for Asia/Shanghai', () => {
    expect(dayKey(ms('2028-02-28T16:00:00.000Z'))).toBe('2028-02-29');
    expect(dayKey(ms('2028-02-29T16:00:00.000Z'))).toBe('2028-03-01');
    const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });
    // From 1992: China kept daylight saving time 1986-1991, which Intl's zone data knows and
    // the bank's fixed UTC+8 clock does not claim to.
    fc.assert(fc.property(fc.integer({ min: ms('1992-01-01T00:00:00Z'), max: ms('2100-01-01T00:00:00Z') }), (t) => {
      expect(dayKey(t)).toBe(fmt.format(t));
      expect(yearKey(t)).toBe(fmt.format(t).slice(0, 4));
    }), { numRuns: 300 });
  });

  it('dayStartMs is the instant the day begins (16:00 UTC the day before)', () => {
    expect(dayStartMs('2026-01-02')).toBe(ms('2026-01-01T16:00:00.000Z'));
    expect(dayStartMs('2027-01-01')).toBe(ms('2026-12-31T16:00:00.000Z'));
    expect(dayKey(dayStartMs('2026-01-02'))).toBe('2026-01-02');
    expect(dayKey(dayStartMs('2026-01-02') - 1)).toBe('2026-01-01');
  });

  it('property: dayStartMs inverts dayKey and every instant lies in [start, start + 24 h)', () => {
    fc.assert(fc.property(fc.integer({ min: ms('1990-01-01T00:00:00Z'), max: ms('2100-01-01T00:00:00Z') }), (t) => {
      const d = dayKey(t);
      const start = dayStartMs(d);
      expect(start <= t && t < start + 86_400_000).toBe(true);
      expect(dayKey(start)).toBe(d);
      expect(dayKey(start - 1)).not.toBe(d);
    }), { numRuns: 500 });
  });

  it('the system clock is wall time', () => {
    const before = Date.now();
    const t = systemClock();
    expect(t >= before && t <= Date.now()).toBe(true);
  });
});
