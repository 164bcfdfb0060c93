// The load test's recorder with a warm-up: answers in the first seconds count in the totals and
// the timeline, not in the window's counts or its latency figures.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Recorder } from './runner.js';

describe('Recorder warm-up', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  /** A recorder whose clock reads `at()` seconds after its start. */
  function clocked(warmupS: number): { rec: Recorder; at: (s: number) => void } {
    let nowMs = 1_000;
    vi.spyOn(performance, 'now').mockImplementation(() => nowMs);
    const rec = new Recorder(warmupS);
    rec.start();
    return { rec, at: (s) => { nowMs = 1_000 + s * 1_000; } };
  }

  it('keeps warm-up answers out of the window and its latency, in the totals and the timeline', () => {
    const { rec, at } = clocked(2);
    at(0.5); rec.record(1, 0, 900);
    at(1.9); rec.record(0, 1, 800);
    at(2.0); rec.record(1, 0, 10);
    at(3.5); rec.record(2, 0, 20);
    at(5.2); rec.record(1, 0, 30); // after a 3 s window: drained
    expect([rec.accepted, rec.rejected]).toEqual([5, 1]);
    expect(rec.inWindow(3)).toEqual({ accepted: 3, rejected: 0 });
    const f = rec.all.figures();
    expect(f.max_ms).toBe(30);
    expect(rec.perSecond().map((s) => s.accepted)).toEqual([1, 0, 1, 2, 0, 1]);
    expect(rec.perSecond()[0]!.p50_ms).toBe(900);
  });

  it('without one, the window starts at the first second', () => {
    const { rec, at } = clocked(0);
    at(0.1); rec.record(1, 0, 900);
    at(1.5); rec.record(1, 1, 5);
    expect(rec.inWindow(1)).toEqual({ accepted: 1, rejected: 0 });
    expect(rec.inWindow(2)).toEqual({ accepted: 2, rejected: 1 });
    expect(rec.all.figures().max_ms).toBe(900);
  });

  it('merges only runs with the same warm-up (a programmer error)', () => {
    expect(() => new Recorder(1).merge(new Recorder(0))).toThrow(/warm-up/);
    const a = new Recorder(1);
    a.merge(new Recorder(1));
    expect(a.accepted).toBe(0);
  });
});
