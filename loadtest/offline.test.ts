// Offline uploads under --rate, unit level: when each pair's two uploads are due (the vouchers'
// share of the rate, a voucher counted at its first copy), and which pairs a paced run uploads.
// No clock is involved: the schedule is a pure function of the pairs and the rate.
import { describe, expect, it } from 'vitest';
import { OFFLINE_PAYMENTS_PER_PAIR, defaultKnobs, e2eRates, offlineVoucherCount, planOffline, validateKnobs } from './workload.js';
import { pairsUploaded, uploadSchedule } from './offline.js';

describe('offline uploads paced by --rate', () => {
  it('without a rate every upload is due at once and every pair is uploaded', () => {
    const at = uploadSchedule([50, 50, 7], null);
    expect(at).toEqual([0, 0, 0, 0, 0, 0]);
    const uploads = at.map((atMs, i) => ({ pair: i >> 1, first: i % 2 === 0, atMs }));
    expect(pairsUploaded(3, uploads, null)).toEqual([true, true, true]);
  });

  it('each pair takes a slot of its vouchers at the offline rate: first upload at the slot start, second at its middle', () => {
    // 20 vouchers/s: a pair of 50 takes 2.5 s, a pair of 10 half a second.
    expect(uploadSchedule([50, 50, 10, 50], 20)).toEqual([0, 1250, 2500, 3750, 5000, 5250, 5500, 6750]);
  });

  it('the vouchers offered by any time stay within one pair of rate x time, and the whole plan takes vouchers / rate', () => {
    const k = validateKnobs({ ...defaultKnobs(), wallets: 40, banks: 2, rate: 137, durationS: 20, mix: { key: 0.7, multi: 0, policy: 0, contract: 0, offline: 0.3 } });
    const rate = e2eRates(k)!.offline;
    expect(rate).toBeCloseTo(137 * 0.3, 9);
    const pairs = planOffline(k, offlineVoucherCount(k));
    const counts = pairs.map((p) => p.amountsFen.length);
    const total = counts.reduce((s, m) => s + m, 0);
    const at = uploadSchedule(counts, rate);
    expect(at).toHaveLength(2 * pairs.length);
    let offered = 0;
    for (let j = 0; j < pairs.length; j++) {
      const first = at[2 * j]!;
      const second = at[2 * j + 1]!;
      // Due in order, the second copy after the first and before the next pair's.
      expect(second).toBeGreaterThan(first);
      if (j + 1 < pairs.length) expect(at[2 * j + 2]!).toBeGreaterThan(second);
      // Offered before this pair's slot: on the rate's line (up to the 1 ms rounding of due times);
      // at its start, at most one pair's vouchers above it.
      expect(Math.abs(offered - (rate * first) / 1000)).toBeLessThanOrEqual(rate / 1000);
      offered += counts[j]!;
      expect(offered - (rate * first) / 1000).toBeLessThanOrEqual(OFFLINE_PAYMENTS_PER_PAIR + rate / 1000);
    }
    // The last slot ends at total / rate seconds.
    const lastSlotEndMs = at[at.length - 2]! + (1000 * counts[counts.length - 1]!) / rate;
    expect(lastSlotEndMs / 1000).toBeCloseTo(total / rate, 2);
    // The uploads of a full pair are evenly spaced: two per slot.
    expect(at[1]! - at[0]!).toBe(Math.round((1000 * OFFLINE_PAYMENTS_PER_PAIR) / rate / 2));
  });

  it('a paced run uploads the pairs due before the window ends, both uploads of each, and no other', () => {
    // 80 vouchers at 12/s: pair 0 (50) due at 0 s and 2.08 s; pair 1 (30) at 4.17 s, after a 3 s window.
    const at = uploadSchedule([50, 30], 12);
    expect(at).toEqual([0, 2083, 4167, 5417]);
    const uploads = at.map((atMs, i) => ({ pair: i >> 1, first: i % 2 === 0, atMs }));
    expect(pairsUploaded(2, uploads, 3)).toEqual([true, false]);
    expect(pairsUploaded(2, uploads, 4.167)).toEqual([true, false]);
    expect(pairsUploaded(2, uploads, 4.168)).toEqual([true, true]);
    // A pair's second upload past the window still goes with its first (started, it is finished).
    expect(pairsUploaded(2, uploads, 2)).toEqual([true, false]);
  });

  it('refuses a pair without vouchers or a rate of 0 (programmer errors)', () => {
    expect(() => uploadSchedule([50, 0], 10)).toThrow(/0 vouchers/);
    expect(() => uploadSchedule([50], 0)).toThrow(/rate 0/);
  });
});
