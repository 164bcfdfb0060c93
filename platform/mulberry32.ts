// mulberry32 (Tommy Ettinger, public domain): a small seeded 32-bit PRNG. For reproducible test
// schedules and deterministic test draws only: never for keys, nonces or released figures.

/** The generator's next 32-bit unsigned value on each call. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
