// Worker thread: verifies packed (signature 64 | hash 32 | key 33) triples with one backend.
import { verifierByName } from '../protocol/sig.js';
import { TRIPLE_BYTES } from './verify_pack.js';

export interface VerifyTask {
  packed: Uint8Array;
  count: number;
  backend: 'noble' | 'native';
}

export default function verifyTriples(task: VerifyTask): Uint8Array {
  const v = verifierByName(task.backend);
  const out = new Uint8Array(task.count);
  const b = task.packed;
  for (let i = 0; i < task.count; i++) {
    const at = i * TRIPLE_BYTES;
    out[i] = v.verify(b.subarray(at, at + 64), b.subarray(at + 64, at + 96), b.subarray(at + 96, at + 129)) ? 1 : 0;
  }
  return out;
}
