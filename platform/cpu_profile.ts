// Where a node's time went: self time per function in a V8 CPU profile (.cpuprofile, as
// `node --cpu-prof` or the inspector's Profiler.stop writes it).
import { readFileSync } from 'node:fs';

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  /** timeDeltas[i]: microseconds from sample i - 1 to sample i. */
  timeDeltas: number[];
}

export function readCpuProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/**
 * The functions with the most self time, in microseconds, and the total sampled. A sample
 * stands for the time until the next one (timeDeltas[i + 1]), charged to the function on top
 * of its stack; names are "function file:line", paths cut after node_modules/ or dist/.
 */
export function topSelfTimeUs(profile: CpuProfile, top: number): { totalUs: number; top: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const cf = byId.get(profile.samples[i]!)!.callFrame;
    const where = cf.url ? ` ${cf.url.replace(/^.*\/(node_modules|dist)\//, '')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}${where}`;
    const d = profile.timeDeltas[i + 1] ?? 0;
    self.set(key, (self.get(key) ?? 0) + d);
    totalUs += d;
  }
  return { totalUs, top: [...self].sort((a, b) => b[1] - a[1]).slice(0, top) };
}
