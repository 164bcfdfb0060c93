// The folders are the tiers, and each tier imports only what lies under it: protocol/ (the
// wire formats and rules every party shares) imports nothing else; platform/ (node and file
// helpers) only protocol/; central, the banks (intermediary/), the offline card (offline/) and
// the wallet each only protocol/ and platform/, besides what the tier itself needs of another:
// a bank and a wallet speak to the offline card. Tests, benchmarks, the load test and scripts
// may import anything. Relative imports of every source file, as written.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './helpers/central_process.js';

const ALLOWED: Record<string, readonly string[]> = {
  protocol: [],
  platform: ['protocol'],
  central: ['protocol', 'platform'],
  offline: ['protocol', 'platform'],
  intermediary: ['protocol', 'platform', 'offline'],
  wallet: ['protocol', 'platform', 'offline'],
};
/** Tests and benchmarks inside a tier serve no node: their imports are free. */
const FREE = [/\.test\.ts$/, /\/bench\//];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [p] : [];
  });
}

describe('tiers apart', () => {
  it('no source file imports a tier it does not build on', () => {
    const crossings: string[] = [];
    for (const [tier, allowed] of Object.entries(ALLOWED)) {
      for (const file of sources(path.join(REPO_ROOT, tier))) {
        const rel = path.relative(REPO_ROOT, file);
        if (FREE.some((re) => re.test(rel))) continue;
        for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
          const target = path.relative(REPO_ROOT, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!;
          if (target !== tier && !allowed.includes(target)) crossings.push(`${rel} imports ${m[1]}`);
        }
      }
    }
    expect(crossings).toEqual([]);
  });
});
