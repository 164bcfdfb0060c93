import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNER, HEADER_TIME, NONCE_BYTES, RequestToSign, requestMessage, signRequestHeaders,
} from './request_auth.js';
import { isHighS, nativeVerifier, nobleVerifier, publicKeyOf, signHash } from './sig.js';
import { TAGS, taggedHash } from './hash.js';
import { txId } from './tx.js';
import { keyLock, makeTx } from './tx_builder.js';

const sk = Buffer.from('11'.repeat(32), 'hex');
const pub = publicKeyOf(sk);
const base: RequestToSign = {
  network: 'testnet',
  method: 'POST',
  path: '/v1/tx?wait=1',
  body: Buffer.from('{"kind":"transfer"}'),
  timeMs: 1_700_000_000_000,
  nonce: Buffer.alloc(NONCE_BYTES, 0x5a),
  signer: 'bank-a',
};

describe('requestMessage', () => {
  it('is deterministic and 32 bytes', () => {
    expect(requestMessage(base).length).toBe(32);
    expect(requestMessage({ ...base, body: Buffer.from(base.body) })).toEqual(requestMessage(base));
  });

  it('follows the documented layout under the "CBDC/request" tag', () => {
    const path = Buffer.from(base.path, 'utf8');
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(BigInt(base.timeMs));
    const msg = Buffer.concat([
      Buffer.of(base.network.length), Buffer.from(base.network),
      Buffer.of(4), Buffer.from('POST'),
      Buffer.of(path.length >> 8, path.length & 0xff), path,
      createHash('sha256').update(base.body).digest(),
      time,
      Buffer.from(base.nonce),
      Buffer.of(base.signer.length), Buffer.from(base.signer),
    ]);
    expect(requestMessage(base)).toEqual(taggedHash(TAGS.request, msg));
  });

  const variants: [string, Partial<RequestToSign>][] = [
    ['network', { network: 'mainnet' }],
    ['method', { method: 'PUT' }],
    ['path', { path: '/v1/tx?wait=0' }],
    ['path (query dropped)', { path: '/v1/tx' }],
    ['body', { body: Buffer.from('{"kind":"transfer" }') }],
    ['body (empty)', { body: Buffer.alloc(0) }],
    ['time', { timeMs: base.timeMs + 1 }],
    ['nonce', { nonce: Buffer.alloc(NONCE_BYTES, 0x5b) }],
    ['signer', { signer: 'bank-b' }],
  ];
  it.each(variants)('changes when the %s changes', (_field, change) => {
    expect(requestMessage({ ...base, ...change }).equals(requestMessage(base))).toBe(false);
  });

  it('gives a distinct message for every single-field change', () => {
    const all = new Set([requestMessage(base).toString('hex'), ...variants.map(([, c]) => requestMessage({ ...base, ...c }).toString('hex'))]);
    expect(all.size).toBe(variants.length + 1);
  });

  it('upper-cases the method (HTTP methods are case-insensitive on the wire here)', () => {
    expect(requestMessage({ ...base, method: 'post' })).toEqual(requestMessage(base));
  });

  it('length-prefixes its strings, so field boundaries cannot shift', () => {
    const a = requestMessage({ ...base, network: 'net', signer: 'ab' });
    const b = requestMessage({ ...base, network: 'neta', signer: 'b' });
    expect(a.equals(b)).toBe(false);
  });

  it('is never a transaction id of the same bytes (tag separation)', () => {
    const tx = makeTx({ network: 'testnet', inputs: [{ pos: 0n, id: Buffer.alloc(32) }], outputs: [{ value: 1n, lock: keyLock(pub) }] });
    expect(requestMessage(base).equals(txId(tx))).toBe(false);
    expect(taggedHash(TAGS.request, Buffer.from('x')).equals(taggedHash(TAGS.tx, Buffer.from('x')))).toBe(false);
  });
});

describe('signRequestHeaders', () => {
  it('produces headers whose signature verifies over requestMessage', () => {
    const h = signRequestHeaders(sk, base);
    expect(Object.keys(h).sort()).toEqual([HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNER, HEADER_TIME].sort());
    expect(h[HEADER_SIGNER]).toBe('bank-a');
    expect(h[HEADER_TIME]).toBe(String(base.timeMs));
    expect(h[HEADER_NONCE]).toBe('5a'.repeat(NONCE_BYTES));
    const sig = Buffer.from(h[HEADER_SIGNATURE]!, 'hex');
    expect(h[HEADER_SIGNATURE]).toMatch(/^[0-9a-f]{128}$/);
    expect(isHighS(sig)).toBe(false);
    expect(nativeVerifier.verify(sig, requestMessage(base), pub)).toBe(true);
    expect(nobleVerifier.verify(sig, requestMessage(base), pub)).toBe(true);
    expect(sig).toEqual(signHash(sk, requestMessage(base)));
  });

  it('a signature for one request does not verify for a changed one', () => {
    const sig = Buffer.from(signRequestHeaders(sk, base)[HEADER_SIGNATURE]!, 'hex');
    expect(nativeVerifier.verify(sig, requestMessage({ ...base, path: '/v1/tx' }), pub)).toBe(false);
    expect(nativeVerifier.verify(sig, requestMessage({ ...base, body: Buffer.from('{}') }), pub)).toBe(false);
    expect(nativeVerifier.verify(sig, requestMessage(base), publicKeyOf(Buffer.from('22'.repeat(32), 'hex')))).toBe(false);
  });

  it('fills in the time and a fresh random nonce, and signs what it reports', () => {
    const { timeMs: _t, nonce: _n, ...rest } = base;
    const before = Date.now();
    const h1 = signRequestHeaders(sk, rest);
    const h2 = signRequestHeaders(sk, rest);
    const after = Date.now();
    const time = Number(h1[HEADER_TIME]);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
    expect(h1[HEADER_NONCE]).toMatch(new RegExp(`^[0-9a-f]{${NONCE_BYTES * 2}}$`));
    expect(h1[HEADER_NONCE]).not.toBe(h2[HEADER_NONCE]);
    const msg = requestMessage({ ...rest, timeMs: time, nonce: Buffer.from(h1[HEADER_NONCE]!, 'hex') });
    expect(nativeVerifier.verify(Buffer.from(h1[HEADER_SIGNATURE]!, 'hex'), msg, pub)).toBe(true);
  });
});
