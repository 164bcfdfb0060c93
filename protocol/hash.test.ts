import { describe, expect, it } from 'vitest';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { TAGS, sha256, taggedHash } from './hash.js';

// An independent construction: @noble/hashes' sha256, not node:crypto, and no caching.
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
function independentTaggedHash(tag: string, msg: Uint8Array): string {
  const t = nobleSha256(utf8(tag));
  return hex(nobleSha256(concat(t, t, msg)));
}

describe('sha256', () => {
  it('matches the FIPS 180-2 "abc" vector and hashes its parts as one message', () => {
    expect(sha256(utf8('abc')).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256(utf8('a'), utf8('b'), utf8('c'))).toEqual(sha256(utf8('abc')));
    expect(sha256().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('taggedHash', () => {
  it('is sha256(sha256(tag) || sha256(tag) || msg), computed independently', () => {
    const msgs = [new Uint8Array(0), utf8('abc'), new Uint8Array(32).fill(0xab), new Uint8Array(1000).map((_, i) => i & 0xff)];
    for (const tag of [...Object.values(TAGS), 'BIP0340/challenge', '', 'ü-unicode-tag']) {
      for (const m of msgs) {
        expect(taggedHash(tag, m).toString('hex')).toBe(independentTaggedHash(tag, m));
        // Asked twice (the prefix is cached), the answer does not change.
        expect(taggedHash(tag, m).toString('hex')).toBe(independentTaggedHash(tag, m));
      }
    }
  });

  it('hashes its parts as one concatenated message', () => {
    expect(taggedHash(TAGS.tx, utf8('ab'), utf8('cd'))).toEqual(taggedHash(TAGS.tx, utf8('abcd')));
  });

  it('separates domains: the same message under two tags gives different digests', () => {
    const m = utf8('same bytes');
    const digests = new Set(Object.values(TAGS).map((t) => taggedHash(t, m).toString('hex')));
    expect(digests.size).toBe(Object.values(TAGS).length);
    expect(taggedHash(TAGS.tx, m).equals(sha256(m))).toBe(false);
  });

  it('pins one digest, so a change of tag strings or construction is noticed', () => {
    // Computed outside JavaScript (Python hashlib): t = sha256(tag); sha256(t + t + msg).
    expect(taggedHash(TAGS.tx).toString('hex')).toBe('df07648f2c84d7bc630719a90fb61f2680b0970958780bc93e47aa39013f9c6b');
    expect(taggedHash('BIP0340/challenge', utf8('abc')).toString('hex')).toBe('770a5b7e7c304bbcc3ea107343ff951dd404312ef418db0c3b94e2ebfbb50087');
    expect(TAGS).toEqual({ tx: 'CBDC/tx', output: 'CBDC/output', request: 'CBDC/request', batch: 'CBDC/batch', operator: 'CBDC/operator', merchant: 'CBDC/merchant' });
  });
});
