// Double-spend detection as pure functions: each kind of finding, and no finding for an
// honest log however its vouchers arrive.
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH_HEX, type LogStep, liabilityFen, lossFen, overspendFinding, stepFindings } from './fraud.js';

const h = (n: number) => n.toString(16).padStart(64, '0');
const step = (counter: number, hash: number, prev: number | null, amountFen = 100n): LogStep => ({
  hash: h(hash), counter: BigInt(counter), prevHash: prev === null ? GENESIS_HASH_HEX : h(prev), type: 'pay', amountFen,
});

describe('stepFindings', () => {
  it('finds nothing in an honest chain, whatever order its steps arrive in', () => {
    const s1 = step(1, 11, null);
    const s2 = step(2, 12, 11);
    const s3 = step(3, 13, 12);
    expect(stepFindings(s2, [], [s1], [s3])).toEqual([]);
    expect(stepFindings(s3, [], [s2], [])).toEqual([]);
    expect(stepFindings(s1, [], [], [s2])).toEqual([]);
    expect(stepFindings(s2, [s2], [s1], [])).toEqual([]);
  });

  it('finds a counter used twice, naming both vouchers', () => {
    const a = step(5, 51, 40);
    const b = step(5, 52, 40);
    expect(stepFindings(b, [a], [], [])).toEqual([expect.objectContaining({ kind: 'counter_reuse', counter: 5n, hashes: [h(51), h(52)] })]);
  });

  it('finds a fork: a voucher not chained to the one before it, or the one after not chained to it', () => {
    const before = step(4, 40, 39);
    const forked = step(5, 50, 99);
    expect(stepFindings(forked, [], [before], []).map((f) => f.kind)).toEqual(['fork']);
    const after = step(6, 60, 77);
    expect(stepFindings(step(5, 50, 40), [], [before], [after])).toEqual([expect.objectContaining({ kind: 'fork', counter: 6n, hashes: [h(50), h(60)] })]);
    expect(stepFindings(step(1, 10, 3), [], [], []).map((f) => f.kind)).toEqual(['fork']);
  });
});

describe('liability, loss and overspend', () => {
  const t = { loadedFen: 1_000n, unloadedFen: 100n, paidFen: 1_200n, receivedFen: 200n };
  it('computes liability and the loss below zero', () => {
    expect(liabilityFen(t)).toBe(-100n);
    expect(lossFen(t)).toBe(100n);
    expect(lossFen({ ...t, paidFen: 500n })).toBe(0n);
  });
  it('judges overspend only once the whole log is held', () => {
    expect(overspendFinding(t, 3n, 5n, h(1))).toBeNull();
    expect(overspendFinding(t, 5n, 5n, h(1))).toEqual(expect.objectContaining({ kind: 'overspend', counter: 5n }));
    expect(overspendFinding({ ...t, paidFen: 1_100n }, 5n, 5n, h(1))).toBeNull();
  });
});
