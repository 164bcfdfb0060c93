// Signed HTTP requests between the tiers. The signer signs a tagged hash of
// (network, method, path, body hash, time, nonce, signer id), so a signature cannot be
// replayed on another network, route or body, nor read as a transaction signature.
import { randomBytes } from 'node:crypto';
import { ByteWriter } from './bytes.js';
import { TAGS, sha256, taggedHash } from './hash.js';
import { signHash } from './sig.js';

export const HEADER_SIGNER = 'x-cbdc-signer';
export const HEADER_TIME = 'x-cbdc-time';
export const HEADER_NONCE = 'x-cbdc-nonce';
export const HEADER_SIGNATURE = 'x-cbdc-signature';
export const NONCE_BYTES = 16;

export interface RequestToSign {
  network: string;
  method: string;
  /** Path with query string, exactly as sent. */
  path: string;
  body: Uint8Array;
  timeMs: number;
  nonce: Uint8Array;
  signer: string;
}

export function requestMessage(r: RequestToSign): Buffer {
  const w = new ByteWriter(160 + r.path.length);
  w.str8(r.network).str8(r.method.toUpperCase());
  w.var16(Buffer.from(r.path, 'utf8'));
  w.bytes(sha256(r.body));
  w.u64(BigInt(r.timeMs));
  w.bytes(r.nonce);
  w.str8(r.signer);
  return taggedHash(TAGS.request, w.finish());
}

/** The headers that authenticate one request. */
export function signRequestHeaders(
  sk: Uint8Array,
  r: Omit<RequestToSign, 'timeMs' | 'nonce'> & { timeMs?: number; nonce?: Uint8Array },
): Record<string, string> {
  const full: RequestToSign = { ...r, timeMs: r.timeMs ?? Date.now(), nonce: r.nonce ?? randomBytes(NONCE_BYTES) };
  const sig = signHash(sk, requestMessage(full));
  return {
    [HEADER_SIGNER]: full.signer,
    [HEADER_TIME]: String(full.timeMs),
    [HEADER_NONCE]: Buffer.from(full.nonce).toString('hex'),
    [HEADER_SIGNATURE]: sig.toString('hex'),
  };
}
