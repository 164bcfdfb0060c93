import { describe, expect, it } from 'vitest';
import { newKeyPair } from '../platform/key_file.js';
import { receivePublicKey, paymentLock } from '../protocol/receive_key.js';
import { encodeLock } from '../protocol/lock.js';
import { RECEIVE_TERMS_TTL_MS, RemoteTerms, type ReceiveTerms, payeeOutputs, sweepLockOf, termsFromJson, termsToJson } from './payee_terms.js';

const bank = newKeyPair();
const wallet = newKeyPair();
const terms = (roomFen: bigint | null, sweeps = true, untilMs = RECEIVE_TERMS_TTL_MS): ReceiveTerms => ({
  bank: 'bank-b', account: 'bank-b.0123456789ab', walletKey: wallet.publicKey, receiveKey: receivePublicKey(bank.publicKey, 'bank-b.0123456789ab'),
  bankKey: bank.publicKey, roomFen, sweeps, untilMs,
});
const hex = (l: Parameters<typeof encodeLock>[0]) => encodeLock(l).toString('hex');

describe('receive terms', () => {
  it('pays all of an amount to the fresh lock of the first input, up to the room; the rest to the sweep lock, or refuses', () => {
    const t = terms(null);
    const all = payeeOutputs(t, 500n, 7n);
    expect(all.walletFen).toBe(500n);
    expect(all.outputs.map((o) => [o.value, hex(o.lock)])).toEqual([[500n, hex(paymentLock(wallet.publicKey, t.receiveKey, 7n, 0))]]);
    // Another first input, another lock.
    expect(hex(payeeOutputs(t, 500n, 8n).outputs[0]!.lock)).not.toBe(hex(all.outputs[0]!.lock));

    const split = payeeOutputs(terms(200n), 500n, 7n);
    expect(split.outputs.map((o) => [o.value, hex(o.lock)])).toEqual([[200n, hex(all.outputs[0]!.lock)], [300n, hex(sweepLockOf(bank.publicKey, wallet.publicKey))]]);
    expect(payeeOutputs(terms(0n), 500n, 7n).outputs.map((o) => o.value)).toEqual([500n]);
    expect(payeeOutputs(terms(0n), 500n, 7n).walletFen).toBe(0n);
    expect(() => payeeOutputs(terms(200n, false), 500n, 7n)).toThrow(expect.objectContaining({ code: 'CBDC_ERR_BALANCE_CAP' }));
  });

  it('round-trips through JSON; a key that is no point is the peer bank refusing', () => {
    const t = terms(123n);
    expect(termsFromJson(termsToJson(t))).toEqual(t);
    expect(() => termsFromJson({ ...termsToJson(t), receive_key: '02' + '00'.repeat(32) })).toThrow(expect.objectContaining({ code: 'CBDC_ERR_PAYEE_REFUSED' }));
  });

  it('a payer bank uses held terms while they hold and have room, and hands the unused room back once', () => {
    let now = 0;
    const held = new RemoteTerms(() => now, 2);
    const t = terms(1_000n);
    held.put('bank-b', 'alias', t);
    expect(held.usable('bank-b', 'alias', 1_000n)).toBe(t);
    held.spend(t, 600n);
    expect(held.usable('bank-b', 'alias', 500n)).toBeUndefined(); // 400 left
    expect(held.usable('bank-b', 'alias', 400n)).toBe(t);
    held.refund(t, 100n);
    expect(t.roomFen).toBe(500n);
    // Released once: a second ask hands back nothing more.
    expect(held.release('bank-b', 'alias')).toBe(500n);
    expect(held.release('bank-b', 'alias')).toBe(0n);
    expect(held.usable('bank-b', 'alias', 1n)).toBeUndefined();
    // Uncapped terms have no room to hand back; lapsed terms are not used.
    const u = terms(null);
    held.put('bank-b', 'acct', u);
    expect(held.release('bank-b', 'acct')).toBe(0n);
    expect(held.usable('bank-b', 'acct', 10n ** 12n)).toBe(u);
    now = RECEIVE_TERMS_TTL_MS;
    expect(held.usable('bank-b', 'acct', 1n)).toBeUndefined();
    // Bounded: the oldest entry goes.
    held.put('bank-b', 'x', terms(null, true, 2 * RECEIVE_TERMS_TTL_MS));
    held.put('bank-b', 'y', terms(null, true, 2 * RECEIVE_TERMS_TTL_MS));
    expect(held.size()).toBe(2);
  });
});
