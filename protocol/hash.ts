// Hashes. Tagged hashes follow BIP340: H_tag(m) = sha256(sha256(tag) || sha256(tag) || m),
// so a digest made for one kind of message can never be read as another kind.
import { createHash, hash as oneShot } from 'node:crypto';

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The domain tags in use; each names one kind of signed or hashed message. */
export const TAGS = {
  tx: 'CBDC/tx',
  output: 'CBDC/output',
  request: 'CBDC/request',
  batch: 'CBDC/batch',
  operator: 'CBDC/operator',
  merchant: 'CBDC/merchant',
} as const;

const prefixes = new Map<string, Buffer>();

function tagPrefix(tag: string): Buffer {
  let p = prefixes.get(tag);
  if (p === undefined) {
    const t = sha256(Buffer.from(tag, 'utf8'));
    p = Buffer.concat([t, t]);
    prefixes.set(tag, p);
  }
  return p;
}

/** BIP340 tagged hash. */
export function taggedHash(tag: string, ...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256').update(tagPrefix(tag));
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The 64-byte BIP340 prefix sha256(tag)||sha256(tag), for callers that build one buffer. */
export function taggedHashPrefix(tag: string): Buffer {
  return tagPrefix(tag);
}

/**
 * sha256 of one buffer that already starts with a tag prefix: one call into the hash, no
 * hash object (the hot path hashes small messages, where the object costs as much as the hash).
 */
export function sha256Once(msg: Uint8Array): Buffer {
  return oneShot('sha256', msg, 'buffer') as Buffer;
}
