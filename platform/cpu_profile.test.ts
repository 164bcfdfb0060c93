// Self time from a .cpuprofile: each sample charged the time until the next one.
import { describe, expect, it } from 'vitest';
import { type CpuProfile, topSelfTimeUs } from './cpu_profile.js';

describe('topSelfTimeUs', () => {
  it('charges each sample the time to the next, to the function on top of its stack, most first', () => {
    const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 4 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('apply', 'file:///repo/dist/central/store_lmdb.js') },
        { id: 3, callFrame: frame('', 'file:///repo/node_modules/lmdb/write.js') },
      ],
      samples: [3, 2, 3, 1],
      timeDeltas: [5, 10, 20, 30],
    };
    const r = topSelfTimeUs(profile, 10);
    expect(r.totalUs).toBe(60);
    expect(r.top).toEqual([['(anonymous) lmdb/write.js:5', 40], ['apply central/store_lmdb.js:5', 20], ['(root)', 0]]);
    expect(topSelfTimeUs(profile, 1).top).toEqual([['(anonymous) lmdb/write.js:5', 40]]);
  });
});
