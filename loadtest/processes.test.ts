// The process sampler with readings fed by the test (CPU in 10 ms ticks, as /proc counts it):
// a short last interval is not plotted as a spike, and the means are CPU time over wall time.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProcSampler } from './processes.js';

describe('ProcSampler', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('one process at half a core, stopped 13 ms after a sample: two points of 0.5, a mean of CPU over wall time', () => {
    let nowMs = 0;
    let cpuS = 0;
    let machineBusyS = 0;
    const s = new ProcSampler(() => new Map([['node', 42]]), 500, {
      readProc: (pid) => (pid === 42 ? { cpuS, rssMb: 100 + nowMs / 100 } : null),
      readMachine: () => ({ busyS: machineBusyS, totalS: 0 }),
      nowMs: () => nowMs,
    });
    s.start();
    for (const [t, cpu, machine] of [[500, 0.25, 0.35], [1000, 0.5, 0.7]] as const) {
      nowMs = t;
      cpuS = cpu;
      machineBusyS = machine;
      vi.advanceTimersByTime(500);
    }
    // One tick (10 ms of CPU) in the last 13 ms: 0.77 cores if it were plotted.
    nowMs = 1013;
    cpuS = 0.51;
    machineBusyS = 0.71;
    s.stop();
    expect(s.series.get('node')!.map((p) => p.cpu)).toEqual([0.5, 0.5]);
    expect(s.cpuSeconds('node')).toBeCloseTo(0.51, 9);
    expect(s.summary().node).toEqual({ cpu_cores_mean: Math.round((0.51 / 1.013) * 100) / 100, rss_mb_max: 110 });
    // The machine was busy 0.2 s beyond the sampled process over the first two intervals.
    expect(s.others.map((o) => o.cores)).toEqual([0.2, 0.2]);
    expect(s.othersMean()).toBe(Math.round((0.2 / 1.013) * 100) / 100);
  });

  it('a process that is gone is left out; one that appears later is measured from its first reading', () => {
    let nowMs = 0;
    let alive = true;
    const s = new ProcSampler(() => new Map([['a', 1], ['b', 2]]), 500, {
      readProc: (pid) => (pid === 1 ? (alive ? { cpuS: nowMs / 1000, rssMb: 1 } : null) : nowMs >= 500 ? { cpuS: 10 + nowMs / 4000, rssMb: 2 } : null),
      readMachine: () => null,
      nowMs: () => nowMs,
    });
    s.start();
    nowMs = 500;
    vi.advanceTimersByTime(500);
    nowMs = 1000;
    alive = false;
    vi.advanceTimersByTime(500);
    s.stop();
    expect(s.cpuSeconds('a')).toBeCloseTo(0.5, 9);
    expect(s.summary().a!.cpu_cores_mean).toBe(1);
    expect(s.cpuSeconds('b')).toBeCloseTo(0.125, 9);
    expect(s.summary().b!.cpu_cores_mean).toBe(0.25);
    expect(s.othersMean()).toBe(0);
  });
});
