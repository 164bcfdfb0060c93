// The shared cache of serialized batch events (events.ts): bounded by count and by size,
// oldest out first, and never holding a text larger than the bound.
import { describe, expect, it } from 'vitest';
import { EventTextCache } from './events.js';

describe('EventTextCache', () => {
  it('keeps the newest batches within its count bound, oldest out first', () => {
    const c = new EventTextCache(3, 1_000);
    for (let seq = 0n; seq < 5n; seq++) expect(c.put(seq, `{"seq":"${seq}"}`)).toBe(`{"seq":"${seq}"}`);
    expect(c.size).toBe(3);
    expect(c.get(0n)).toBeUndefined();
    expect(c.get(1n)).toBeUndefined();
    expect(c.get(4n)).toBe('{"seq":"4"}');
    // The same sequence again keeps the first text (a durable batch's event never changes).
    expect(c.put(4n, 'other')).toBe('other');
    expect(c.get(4n)).toBe('{"seq":"4"}');
  });
  it('keeps within its size bound, and does not keep a text larger than the bound at all', () => {
    const c = new EventTextCache(100, 10);
    c.put(1n, 'aaaa');
    c.put(2n, 'bbbb');
    c.put(3n, 'cccc');
    expect(c.get(1n)).toBeUndefined();
    expect([c.get(2n), c.get(3n)]).toEqual(['bbbb', 'cccc']);
    expect(c.put(4n, 'x'.repeat(11))).toBe('x'.repeat(11));
    expect(c.get(4n)).toBeUndefined();
    expect(c.size).toBe(2);
  });
});
