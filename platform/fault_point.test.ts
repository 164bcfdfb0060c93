import { describe, expect, it } from 'vitest';
import { parseFaultPoint } from './fault_point.js';

describe('fault point settings', () => {
  it('reads "name" and "name:N"; unset is none', () => {
    expect(parseFaultPoint(undefined)).toBeNull();
    expect(parseFaultPoint('')).toBeNull();
    expect(parseFaultPoint('payment-answered')).toEqual({ name: 'payment-answered', nth: 1 });
    expect(parseFaultPoint('payment-reserving:5')).toEqual({ name: 'payment-reserving', nth: 5 });
  });

  it('refuses anything else, so a mistyped setting cannot silently arm nothing', () => {
    for (const bad of ['Payment', 'a:0', 'a:-1', 'a:1.5', 'a:', ':3', 'a b', `a:${10 ** 7}`, 'x'.repeat(65)]) {
      expect(() => parseFaultPoint(bad), bad).toThrow(/CBDC_FAULT_POINT/);
    }
  });
});
