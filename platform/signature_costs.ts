// What one signature costs on this machine, made and checked with the backend the nodes use
// (native libsecp256k1), in CPU time: the unit the floor of a payment (loadtest/floor.ts) and
// the bank's benchmark (intermediary/bench/bank_bench.ts) count in.
import { createHash } from 'node:crypto';
import { generateSecretKey, nativeVerifier, publicKeyOfNative, signHashNative } from '../protocol/sig.js';

const cpuUsNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * Signing and checking with the backend the nodes use (native libsecp256k1), `n` of each on
 * this thread over distinct 32-byte hashes, in `rounds` rounds; each cost is the least of its
 * rounds, so that other work on this shared machine does not inflate the floor. CPU time, not
 * wall time.
 */
export function measureSignatures(n: number, rounds = 5): { sign_us: number; verify_us: number } {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('n must be a positive integer');
  if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > n) throw new RangeError('rounds must be an integer from 1 to n');
  const sk = generateSecretKey();
  const pk = publicKeyOfNative(sk);
  const perRound = Math.floor(n / rounds);
  const hashes = Array.from({ length: perRound }, (_, i) => createHash('sha256').update(`floor-${i}`).digest());
  // Warm the binding and the JIT before the clock starts.
  for (let i = 0; i < Math.min(perRound, 200); i++) nativeVerifier.verify(signHashNative(sk, hashes[i]!), hashes[i]!, pk);
  let signUs = Infinity;
  let verifyUs = Infinity;
  for (let r = 0; r < rounds; r++) {
    let t = cpuUsNow();
    const sigs = hashes.map((h) => signHashNative(sk, h));
    signUs = Math.min(signUs, (cpuUsNow() - t) / perRound);
    t = cpuUsNow();
    let good = 0;
    for (let i = 0; i < perRound; i++) if (nativeVerifier.verify(sigs[i]!, hashes[i]!, pk)) good++;
    verifyUs = Math.min(verifyUs, (cpuUsNow() - t) / perRound);
    // A programmer error if not: a check that fails is not a check that was measured.
    if (good !== perRound) throw new Error(`floor: ${perRound - good} of ${perRound} signatures did not verify`);
  }
  return { sign_us: round1(signUs), verify_us: round1(verifyUs) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
