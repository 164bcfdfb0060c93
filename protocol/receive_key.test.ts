import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as secp from '@noble/secp256k1';
import { generateSecretKey, publicKeyOf, publicKeyTweakAdd, secretKeyTweakAdd } from './sig.js';
import { paymentLock, paymentPublicKey, paymentSecretKey, receivePublicKey } from './receive_key.js';

describe('receive keys', () => {
  it('the secret the bank derives is the secret of the public key anyone derives', () => {
    for (let i = 0; i < 20; i++) {
      const sk = generateSecretKey();
      const pub = publicKeyOf(sk);
      const account = `bank-${i}.${randomBytes(6).toString('hex')}`;
      const r = receivePublicKey(pub, account);
      const pos = BigInt(i * 1_000_003);
      for (const out of [0, 1, 63]) {
        expect(publicKeyOf(paymentSecretKey(sk, pub, account, pos, out))).toEqual(paymentPublicKey(r, pos, out));
      }
    }
  });

  it('the native and the reference point addition agree', () => {
    for (let i = 0; i < 20; i++) {
      const pub = publicKeyOf(generateSecretKey());
      const t = randomBytes(32);
      const reference = Buffer.from(secp.Point.fromBytes(pub).add(secp.Point.BASE.multiply(BigInt('0x' + t.toString('hex')) % secp.Point.CURVE().n)).toBytes(true));
      expect(publicKeyTweakAdd(pub, t)).toEqual(reference);
    }
  });

  it('every account, payment and output gets its own key; the lock names the wallet first', () => {
    const sk = generateSecretKey();
    const pub = publicKeyOf(sk);
    const wallet = publicKeyOf(generateSecretKey());
    const ra = receivePublicKey(pub, 'b.000000000001');
    const rb = receivePublicKey(pub, 'b.000000000002');
    expect(ra).not.toEqual(rb);
    const keys = new Set([paymentPublicKey(ra, 1n, 0), paymentPublicKey(ra, 2n, 0), paymentPublicKey(ra, 1n, 1), paymentPublicKey(rb, 1n, 0)].map((k) => k.toString('hex')));
    expect(keys.size).toBe(4);
    const lock = paymentLock(wallet, ra, 7n, 0);
    expect(lock).toEqual({ type: 'multi', k: 2, keys: [wallet, paymentPublicKey(ra, 7n, 0)] });
  });

  it('refuses an output index past the transaction limit and an empty account id', () => {
    const pub = publicKeyOf(generateSecretKey());
    expect(() => paymentPublicKey(receivePublicKey(pub, 'x.1'), 0n, 64)).toThrow(RangeError);
    expect(() => receivePublicKey(pub, '')).toThrow(RangeError);
    expect(() => secretKeyTweakAdd(Buffer.alloc(32, 0), Buffer.alloc(32, 0))).toThrow(RangeError);
  });
});
