import { describe, expect, it } from 'vitest';
import { cryptoUniform, laplace, laplaceBound, noisyInteger, seededUniform } from './laplace.js';
import { PRIVACY_DEFAULTS, formatEpsilon, parseDayRange, parseEpsilon, releaseCells } from './analytics.js';

describe('Laplace sampler', () => {
  it('has mean 0 and variance 2b^2 over many seeded draws, and P(|X| > t) = e^{-t/b}', () => {
    const u = seededUniform(42);
    const b = 3;
    const n = 200_000;
    let sum = 0;
    let sq = 0;
    let over = 0;
    for (let i = 0; i < n; i++) {
      const x = laplace(b, u);
      sum += x;
      sq += x * x;
      if (Math.abs(x) > 2 * b) over++;
    }
    const mean = sum / n;
    const variance = sq / n - mean * mean;
    // Standard error of the mean: sqrt(2b^2/n) ≈ 0.0095; 5 of them.
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(variance / (2 * b * b)).toBeGreaterThan(0.97);
    expect(variance / (2 * b * b)).toBeLessThan(1.03);
    expect(over / n).toBeCloseTo(Math.exp(-2), 2);
  });

  it('the crypto source gives uniform numbers strictly inside (0, 1), and the same spread', () => {
    let sum = 0;
    for (let i = 0; i < 20_000; i++) {
      const v = cryptoUniform();
      expect(v > 0 && v < 1).toBe(true);
      sum += v;
    }
    expect(Math.abs(sum / 20_000 - 0.5)).toBeLessThan(0.01);
    let abs = 0;
    for (let i = 0; i < 20_000; i++) abs += Math.abs(laplace(2));
    // E|X| = b.
    expect(abs / 20_000).toBeGreaterThan(1.9);
    expect(abs / 20_000).toBeLessThan(2.1);
  });

  it('noisy integers are integers around the true value, within the stated bound', () => {
    const u = seededUniform(7);
    const bound = laplaceBound(5, 1, 1e-6);
    for (let i = 0; i < 10_000; i++) {
      const v = noisyInteger(1000n, 5, 1, u);
      expect(typeof v).toBe('bigint');
      expect(Math.abs(Number(v - 1000n))).toBeLessThanOrEqual(bound);
    }
    expect(() => laplace(0)).toThrow(/invariant/);
  });
});

describe('query parameters and release', () => {
  it('epsilon is a bounded decimal string kept in hundredths', () => {
    expect(parseEpsilon('0.5', PRIVACY_DEFAULTS)).toBe(50);
    expect(parseEpsilon('2', PRIVACY_DEFAULTS)).toBe(200);
    expect(parseEpsilon('0.1', PRIVACY_DEFAULTS)).toBe(10);
    for (const bad of ['0.05', '2.01', '-1', '1e0', '0.123', '', ' 1', '3']) expect(() => parseEpsilon(bad, PRIVACY_DEFAULTS), bad).toThrow(/epsilon/);
    expect(formatEpsilon(950)).toBe('9.5');
    expect(formatEpsilon(1000)).toBe('10');
    expect(formatEpsilon(5)).toBe('0.05');
  });

  it('day ranges: calendar days, in order, at most the limit', () => {
    const r = parseDayRange('2026-12-30', '2027-01-02', 366);
    expect(r.days).toEqual(['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
    expect(r.toMs - r.fromMs).toBe(4 * 86_400_000);
    expect(() => parseDayRange('2026-02-30', '2026-03-01', 366)).toThrow(/calendar/);
    expect(() => parseDayRange('2026-03-02', '2026-03-01', 366)).toThrow(/before/);
    expect(() => parseDayRange('2025-01-01', '2026-01-02', 366)).toThrow(/366/);
  });

  it('suppresses cells whose noisy count is under k, releases the others near their truth', () => {
    const u = seededUniform(3);
    const cells = [{ group: 'small', count: 3n, valueFen: 300n }, { group: 'big', count: 500n, valueFen: 50_000n }];
    const counts = releaseCells(cells, { values: false, epsilon: 2, paymentsMax: 1, valueFenMax: 1000n, minGroupSize: 10 }, u);
    expect(counts[0]).toEqual({ group: 'small', suppressed: true, value: null });
    expect(Math.abs(Number(counts[1]!.value) - 500)).toBeLessThan(20);
    const values = releaseCells(cells, { values: true, epsilon: 2, paymentsMax: 1, valueFenMax: 100n, minGroupSize: 10 }, u);
    expect(values[0]!.suppressed).toBe(true);
    expect(Math.abs(Number(values[1]!.value) - 50_000)).toBeLessThan(3_000);
  });
});
