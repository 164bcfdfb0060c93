// What workload generators share (the in-process ledger benchmark and the HTTP load tests):
// a seeded random generator, a deterministic pool of secret keys, and ECDSA signing spread
// over worker threads (one per core), so millions of signatures are ready before a clock starts.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isValidSecretKey, publicKeyOfNative } from '../../protocol/sig.js';
import { type Lock, afterLock, andLock, beforeLock, keyLock, multiLock, orLock } from '../../protocol/lock.js';

/** xoshiro128** seeded from sha256(seed || 0 || label): the same seed and label give the same stream. */
export function makeRng(seed: string, label: string): () => number {
  const h = createHash('sha256').update(seed).update('\0').update(label).digest();
  let a = h.readUInt32LE(0) | 1, b = h.readUInt32LE(4), c = h.readUInt32LE(8), d = h.readUInt32LE(12);
  return () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    return r;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A uniform integer in [0, n), n <= 2^53. Two draws: 53 bits, so the modulo bias is nil for any n we use. */
export function below(rng: () => number, n: number): number {
  return (rng() * 2_097_152 + (rng() >>> 11)) % n;
}

export interface KeyPool {
  sks: Buffer[];
  pubs: Buffer[];
  /** The public key of a pool key without deriving it again (signTx asks for each signer's). */
  pubOf: (sk: Uint8Array) => Buffer;
}

/** `count` valid secret keys, key i = sha256(seed || label || u32be(i)) skipping invalid ones. */
export function makeKeyPool(seed: string, count: number, label = ''): KeyPool {
  const sks: Buffer[] = [];
  const pubs: Buffer[] = [];
  const bySk = new WeakMap<Uint8Array, Buffer>();
  const idx = Buffer.alloc(4);
  for (let i = 0; sks.length < count; i++) {
    idx.writeUInt32BE(i);
    const sk = createHash('sha256').update(seed).update(label).update(idx).digest();
    if (!isValidSecretKey(sk)) continue;
    const pub = publicKeyOfNative(sk);
    sks.push(sk);
    pubs.push(pub);
    bySk.set(sk, pub);
  }
  const pubOf = (sk: Uint8Array): Buffer => bySk.get(sk) ?? publicKeyOfNative(sk);
  return { sks, pubs, pubOf };
}

/** Below this many signatures one thread signs them all (a worker's start costs more). */
const SIGNATURES_PER_WORKER_MIN = 1000;

function signWorkerFile(): string {
  const here = fileURLToPath(import.meta.url);
  // From TypeScript sources (tests), workers run the built JavaScript.
  if (here.endsWith('.ts')) return path.resolve(path.dirname(here), '..', '..', 'dist', 'central', 'bench', 'sign_worker.js');
  return path.join(path.dirname(here), 'sign_worker.js');
}

/**
 * signHashNative over (sk, hash) pairs packed 32 bytes each, split across up to `threads` worker
 * threads; resolves with 64 bytes per pair, in order.
 */
export async function signInWorkers(sks: Uint8Array, hashes: Uint8Array, threads: number): Promise<Buffer> {
  const n = hashes.length / 32;
  if (sks.length !== hashes.length || !Number.isInteger(n)) throw new Error('signInWorkers: one 32-byte key per 32-byte hash');
  if (n === 0) return Buffer.alloc(0);
  const workers = Math.max(1, Math.min(threads, Math.ceil(n / SIGNATURES_PER_WORKER_MIN)));
  const per = Math.ceil(n / workers);
  const parts: Promise<Uint8Array>[] = [];
  for (let from = 0; from < n; from += per) {
    const to = Math.min(n, from + per);
    const job = { sks: sks.slice(from * 32, to * 32), hashes: hashes.slice(from * 32, to * 32) };
    parts.push(new Promise<Uint8Array>((resolve, reject) => {
      const worker = new Worker(signWorkerFile(), { workerData: job });
      let result: Uint8Array | null = null;
      worker.once('message', (bytes: Uint8Array) => { result = bytes; });
      worker.once('error', reject);
      worker.once('exit', (code) => (code === 0 && result !== null ? resolve(result) : reject(new Error(`signing worker exited with ${code}`))));
    }));
  }
  return Buffer.concat(await Promise.all(parts));
}

const DAY_MS = 86_400_000;

/**
 * The bench policy for an owner: or(and(multi(2, [x, y]), before(now + 1 year)), and(after(now - 1 day), key(owner))).
 * Shared by the ledger benchmark's policy phases and the load test's policy transfers.
 */
export function benchPolicy(owner: Buffer, x: Buffer, y: Buffer, nowMs: number): Lock {
  return orLock(andLock(multiLock(2, [x, y]), beforeLock(nowMs + 365 * DAY_MS)), andLock(afterLock(nowMs - DAY_MS), keyLock(owner)));
}
