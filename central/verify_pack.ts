// The packed form of signature checks sent to verification workers: one buffer per chunk,
// so a chunk of hundreds of checks costs one message and no per-check object.
export const TRIPLE_BYTES = 64 + 32 + 33;

export class TriplePacker {
  private buf: Buffer;
  count = 0;
  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafe(capacity * TRIPLE_BYTES);
  }
  add(sig64: Uint8Array, hash32: Uint8Array, pub33: Uint8Array): number {
    if ((this.count + 1) * TRIPLE_BYTES > this.buf.length) {
      const next = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(next);
      this.buf = next;
    }
    const at = this.count * TRIPLE_BYTES;
    this.buf.set(sig64, at);
    this.buf.set(hash32, at + 64);
    this.buf.set(pub33, at + 96);
    return this.count++;
  }
  /** The triples [from, to) as their own buffer. */
  slice(from: number, to: number): Uint8Array {
    return new Uint8Array(this.buf.subarray(from * TRIPLE_BYTES, to * TRIPLE_BYTES));
  }
}
