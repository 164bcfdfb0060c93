import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { generateSecretKey, publicKeyOf } from './sig.js';
import { SHARE_PRIME, addShares, decodeSigned, encodeSigned, openShare, parseShareVector, sealShare, split, type ShareContext } from './secret_share.js';

describe('additive sharing mod 2^61-1', () => {
  it('shares of x sum to x, negative figures included', () => {
    for (const parties of [2, 3, 5, 16]) {
      const x = [0n, 1n, 42n, -7n, 1_000_000_000n, -(10n ** 15n)];
      const shares = split(x.map(encodeSigned), parties);
      expect(shares).toHaveLength(parties);
      for (const s of shares) for (const v of s) expect(v >= 0n && v < SHARE_PRIME).toBe(true);
      expect(addShares(shares).map(decodeSigned)).toEqual(x);
    }
  });

  it('any proper subset is independent of x: the first share of 0 and of 10^12 look alike (uniform mean, no bias)', () => {
    const n = 4000;
    const mean = (x: bigint): number => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const shares = split([x], 3);
        // Any two of three shares: their sum is as uniform as one share.
        s += Number((shares[0]![0]! + shares[2]![0]!) % SHARE_PRIME) / Number(SHARE_PRIME);
      }
      return s / n;
    };
    const a = mean(0n);
    const b = mean(10n ** 12n);
    // Uniform on [0,1): mean 0.5, standard error sqrt(1/12/n) ≈ 0.0046.
    expect(Math.abs(a - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(b - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(a - b)).toBeLessThan(0.035);
  });

  it('parses share vectors strictly', () => {
    expect(parseShareVector(['0', '12'], 2)).toEqual([0n, 12n]);
    for (const bad of [['1'], ['1', 2], ['1', '-2'], ['1', SHARE_PRIME.toString()], ['01', '1'], 'x']) expect(() => parseShareVector(bad, 2)).toThrow(/share/);
  });
});

describe('sealed shares (ECDH secp256k1 + HKDF + AES-256-GCM)', () => {
  const a = generateSecretKey();
  const b = generateSecretKey();
  const c = generateSecretKey();
  const ctx: ShareContext = { network: 'cbdc-local', queryId: `aq-${randomBytes(16).toString('hex')}`, from: 'bank-a', to: 'bank-b', parties: ['bank-a', 'bank-b', 'central'] };
  const share = [5n, SHARE_PRIME - 1n, 123456789n];

  it('opens for its recipient, from its sender, in its query', () => {
    const box = sealShare(ctx, a, publicKeyOf(b), share);
    expect(openShare(ctx, b, publicKeyOf(a), box, 3)).toEqual(share);
    // The plaintext is not in the box.
    expect(box.ct).not.toContain(Buffer.from('123456789').toString('hex'));
  });

  it('refuses a tampered ciphertext, tag or iv, another query id, party list, sender or recipient key', () => {
    const box = sealShare(ctx, a, publicKeyOf(b), share);
    const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
    const refusals: [ShareContext, Uint8Array, Uint8Array, typeof box][] = [
      [ctx, b, publicKeyOf(a), { ...box, ct: flip(box.ct) }],
      [ctx, b, publicKeyOf(a), { ...box, tag: flip(box.tag) }],
      [ctx, b, publicKeyOf(a), { ...box, iv: flip(box.iv) }],
      [{ ...ctx, queryId: `aq-${'0'.repeat(32)}` }, b, publicKeyOf(a), box],
      [{ ...ctx, parties: ['bank-a', 'bank-b', 'bank-c', 'central'] }, b, publicKeyOf(a), box],
      [{ ...ctx, network: 'other' }, b, publicKeyOf(a), box],
      [ctx, c, publicKeyOf(a), box],
      [ctx, b, publicKeyOf(c), box],
      [{ ...ctx, from: 'bank-c' }, b, publicKeyOf(a), { ...box, from: 'bank-c' }],
    ];
    for (const [cx, sk, pk, bx] of refusals) expect(() => openShare(cx, sk, pk, bx, 3)).toThrow(expect.objectContaining({ code: 'CBDC_ERR_ANALYTICS_SHARE' }));
  });
});
