// What the wallet checks before it signs a payment the bank prepared.
import { describe, expect, it } from 'vitest';
import { isCbdcError } from '../protocol/errors.js';
import { lockToJson } from '../protocol/lock.js';
import { txId, txToJson } from '../protocol/tx.js';
import { keyLock, makeTx, multiLock } from '../protocol/tx_builder.js';
import { newKeyPair } from '../platform/key_file.js';
import type { PaymentJson } from './client.js';
import { IDEMPOTENCY_KEY_PATTERN, checkPreparedPayment, newIdempotencyKey } from './wallet.js';

const NETWORK = 'cbdc-test';
const wallet = newKeyPair();
const bank = newKeyPair();
const payee = newKeyPair();
const own = multiLock(2, [wallet.publicKey, bank.publicKey]);
const ownJson = lockToJson(own);

function prepared(outputs: { value: bigint; lock: ReturnType<typeof keyLock> }[], over: Partial<PaymentJson> = {}, network = NETWORK): PaymentJson {
  const tx = makeTx({ network, inputs: [{ pos: 7n, id: Buffer.alloc(32, 1) }], outputs });
  const change = outputs.filter((o) => o.lock === own).reduce((s, o) => s + o.value, 0n);
  return {
    id: 'pay-0123456789abcdef', status: 'awaiting_signature', amount_fen: '1234', txid: txId(tx).toString('hex'), tx: txToJson(tx),
    idempotency_key: 'k-12345678', payee: { bank: 'bank-b', account: 'bank-b.0123456789ab', alias: null, kind: 'customer' },
    wallet_fen: '1234', excess_fen: '0', change_fen: change.toString(), expires_at_ms: 0, result: null, ...over,
  };
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected an error');
}

const payeeLock = multiLock(2, [payee.publicKey, newKeyPair().publicKey]);

describe('checking a prepared payment before signing', () => {
  it('accepts the transaction asked for and returns its txid', () => {
    const p = prepared([{ value: 1234n, lock: payeeLock }, { value: 8766n, lock: own }]);
    expect(checkPreparedPayment(p, { network: NETWORK, ownLock: ownJson, amountFen: 1234n }).toString('hex')).toBe(p.txid);
    // Over the payee's cap: part to its wallet, part to its sweep lock; still 12.34 away in all.
    const split = prepared([{ value: 1000n, lock: payeeLock }, { value: 234n, lock: multiLock(1, [newKeyPair().publicKey, payee.publicKey]) }]);
    expect(() => checkPreparedPayment(split, { network: NETWORK, ownLock: ownJson, amountFen: 1234n })).not.toThrow();
  });

  it('refuses anything else (CBDC_ERR_BANK_RESPONSE)', () => {
    const base = { network: NETWORK, ownLock: ownJson, amountFen: 1234n };
    // More paid away than asked (the "change" short).
    expect(codeOf(() => checkPreparedPayment(prepared([{ value: 2234n, lock: payeeLock }, { value: 7766n, lock: own }]), base))).toBe('CBDC_ERR_BANK_RESPONSE');
    // A txid that is not the transaction's.
    const p = prepared([{ value: 1234n, lock: payeeLock }]);
    expect(codeOf(() => checkPreparedPayment({ ...p, txid: 'ab'.repeat(32) }, base))).toBe('CBDC_ERR_BANK_RESPONSE');
    // Another amount than asked for.
    expect(codeOf(() => checkPreparedPayment(prepared([{ value: 1234n, lock: payeeLock }], { amount_fen: '1235' }), { ...base, amountFen: 1235n }))).toBe('CBDC_ERR_BANK_RESPONSE');
    // Change the bank reports differently from the transaction.
    expect(codeOf(() => checkPreparedPayment(prepared([{ value: 1234n, lock: payeeLock }, { value: 10n, lock: own }], { change_fen: '9' }), base))).toBe('CBDC_ERR_BANK_RESPONSE');
    // Another network.
    expect(codeOf(() => checkPreparedPayment(prepared([{ value: 1234n, lock: payeeLock }], {}, 'cbdc-other'), base))).toBe('CBDC_ERR_BANK_RESPONSE');
  });

  it('for an exchange to the deposit, the amount must go to the bank’s own key', () => {
    const toBank = prepared([{ value: 1234n, lock: keyLock(bank.publicKey) }, { value: 1n, lock: own }]);
    const o = { network: NETWORK, ownLock: ownJson, amountFen: 1234n, toBankKeyHex: bank.publicKey.toString('hex') };
    expect(() => checkPreparedPayment(toBank, o)).not.toThrow();
    const elsewhere = prepared([{ value: 1234n, lock: keyLock(payee.publicKey) }]);
    expect(codeOf(() => checkPreparedPayment(elsewhere, o))).toBe('CBDC_ERR_BANK_RESPONSE');
  });

  it('makes idempotency keys the bank accepts, never the same twice', () => {
    const keys = new Set(Array.from({ length: 1000 }, newIdempotencyKey));
    expect(keys.size).toBe(1000);
    for (const k of keys) expect(k).toMatch(IDEMPOTENCY_KEY_PATTERN);
  });
});
