// The Laplace mechanism (Dwork & Roth, "The Algorithmic Foundations of Differential Privacy",
// 2014, Definition 3.3 and Theorem 3.6): releasing f(x) + Lap(Δf/ε) in each coordinate, where
// Δf is f's L1 sensitivity, is ε-differentially private. Every released figure is rounded to an
// integer after the noise is added (post-processing keeps the guarantee, Proposition 2.1).
import { randomBytes } from 'node:crypto';
import { mulberry32 } from './mulberry32.js';

/** A source of uniform numbers in the open interval (0, 1). */
export type Uniform = () => number;

/** Uniform in (0, 1) from node:crypto: 53 random bits, never exactly 0. */
export const cryptoUniform: Uniform = () => {
  const b = randomBytes(8);
  // 53 bits: the most a double carries exactly.
  const n = (b.readUInt32BE(0) >>> 11) * 2 ** 32 + b.readUInt32BE(4);
  return (n + 0.5) / 2 ** 53;
};

/**
 * A seeded uniform source (mulberry32), for unit tests only: deterministic draws, so a test of
 * the sampler's mean and spread does not flake. Never used for a released figure.
 */
export function seededUniform(seed: number): Uniform {
  const next = mulberry32(seed);
  return () => (next() + 0.5) / 2 ** 32;
}

/** One draw of Lap(0, scale) by inverting its CDF: x = -b·sgn(u)·ln(1 - 2|u|), u uniform in (-1/2, 1/2). */
export function laplace(scale: number, uniform: Uniform = cryptoUniform): number {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`invariant violated: Laplace scale ${scale} must be positive`);
  const u = uniform() - 0.5;
  return -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
}

/** A true integer figure plus Lap(sensitivity/ε), rounded to an integer. */
export function noisyInteger(trueValue: bigint, sensitivity: number, epsilon: number, uniform: Uniform = cryptoUniform): bigint {
  return trueValue + BigInt(Math.round(laplace(sensitivity / epsilon, uniform)));
}

/**
 * A bound the noise of one released figure stays within with probability 1 - δ:
 * P(|Lap(b)| > t) = e^{-t/b}, so t = b·ln(1/δ) (plus the 0.5 of rounding).
 */
export function laplaceBound(sensitivity: number, epsilon: number, delta: number): number {
  return (sensitivity / epsilon) * Math.log(1 / delta) + 0.5;
}
