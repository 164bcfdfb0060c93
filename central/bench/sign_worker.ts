// Worker thread of signInWorkers (workload_gen.ts): signs each (sk, hash) pair it is given.
import { parentPort, workerData } from 'node:worker_threads';
import { signHashNative } from '../../protocol/sig.js';

const job = workerData as { sks: Uint8Array; hashes: Uint8Array };
const n = job.hashes.length / 32;
const out = new Uint8Array(n * 64);
for (let i = 0; i < n; i++) {
  out.set(signHashNative(job.sks.subarray(i * 32, i * 32 + 32), job.hashes.subarray(i * 32, i * 32 + 32)), i * 64);
}
parentPort!.postMessage(out, [out.buffer as ArrayBuffer]);
