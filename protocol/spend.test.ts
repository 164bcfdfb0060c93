// Whole-spend checks (checkSpend), merchant certificates, and the witness additions of the
// transaction format (preimages and certificates: JSON form, canonical order, refusals).
import { describe, expect, it } from 'vitest';
import { isCbdcError } from './errors.js';
import { sha256 } from './hash.js';
import { TX_PREIMAGES_MAX } from './limits.js';
import { type Lock, andLock, afterLock, beforeLock, encodeLock, hashLock, keyLock, multiLock, orLock, purposeLock } from './lock.js';
import { merchantCertMessage, signMerchantCert, verifyMerchantCert } from './merchant_cert.js';
import { nativeVerifier, nobleVerifier, publicKeyOf } from './sig.js';
import { type SpendInput, checkSpend } from './spend.js';
import { type Tx, parseTx, txId, txToJson } from './tx.js';
import { makeTx, signTx, withMerchantCert, withPreimages } from './tx_builder.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CbdcError, nothing was thrown');
}

const NET = 'testnet';
const sk = (i: number): Buffer => Buffer.from((BigInt(i) * 104729n + 3n).toString(16).padStart(64, '0'), 'hex');
const [citizenSk, bankSk, citySk, merchantBankSk, otherSk] = [sk(1), sk(2), sk(3), sk(4), sk(5)];
const [citizen, bank, city, merchantBank, other] = [citizenSk, bankSk, citySk, merchantBankSk, otherSk].map(publicKeyOf) as [Buffer, Buffer, Buffer, Buffer, Buffer];
const T = 1_767_225_600_000;
const EXPIRY = T + 30 * 86_400_000;
const DIRECTORY = new Map([['bank-m', merchantBank], ['bank-a', bank]]);
const directory = (id: string): Buffer | undefined => DIRECTORY.get(id);

const subsidy: Lock = orLock(andLock(multiLock(2, [citizen, bank]), beforeLock(EXPIRY), purposeLock([4111, 4131])), andLock(keyLock(city), afterLock(EXPIRY)));
const subsidyBytes = encodeLock(subsidy);
const metroLock = multiLock(2, [publicKeyOf(sk(10)), merchantBank]);
const grocerLock = multiLock(2, [publicKeyOf(sk(11)), merchantBank]);
const cert = (lock: Lock, mcc: number, expiresMs = EXPIRY, signer = merchantBankSk, intermediary = 'bank-m') =>
  signMerchantCert(signer, { network: NET, intermediary, lockBytes: encodeLock(lock), mcc, expiresMs });

function spendTx(outputs: { value: bigint; lock: Lock }[], signers: Buffer[]): Tx {
  return signTx(makeTx({ network: NET, inputs: [{ pos: 3n, id: Buffer.alloc(32, 1) }], outputs }), signers);
}
const subsidyInput: SpendInput[] = [{ lock: subsidy, lockBytes: subsidyBytes }];

describe('merchant certificates', () => {
  it('sign and verify; any change of network, lock, category, expiry or signer breaks it', () => {
    const c = cert(metroLock, 4111);
    const lb = encodeLock(metroLock);
    expect(verifyMerchantCert(c, NET, lb, merchantBank)).toBe(true);
    expect(verifyMerchantCert(c, NET, lb, merchantBank, nativeVerifier)).toBe(true);
    expect(verifyMerchantCert(c, 'othernet', lb, merchantBank)).toBe(false);
    expect(verifyMerchantCert(c, NET, encodeLock(grocerLock), merchantBank)).toBe(false);
    expect(verifyMerchantCert({ ...c, mcc: 5411 }, NET, lb, merchantBank)).toBe(false);
    expect(verifyMerchantCert({ ...c, expiresMs: c.expiresMs + 1 }, NET, lb, merchantBank)).toBe(false);
    expect(verifyMerchantCert({ ...c, intermediary: 'bank-a' }, NET, lb, merchantBank)).toBe(false);
    expect(verifyMerchantCert(c, NET, lb, bank, nobleVerifier)).toBe(false);
  });
});

describe('checkSpend', () => {
  it('a subsidy paid to a certified transit merchant with change back: certificate checks returned', () => {
    const tx = withMerchantCert(spendTx([{ value: 300n, lock: metroLock }, { value: 700n, lock: subsidy }], [citizenSk, bankSk]), 0, cert(metroLock, 4111));
    const checks = checkSpend(tx, subsidyInput, T, directory);
    expect(checks).toHaveLength(1);
    expect(checks[0]!.key.equals(merchantBank)).toBe(true);
    expect(checks[0]!.msg.equals(merchantCertMessage(NET, 'bank-m', encodeLock(metroLock), 4111, EXPIRY))).toBe(true);
    expect(nobleVerifier.verify(checks[0]!.sig, checks[0]!.msg, checks[0]!.key)).toBe(true);
  });

  it.each<[string, () => Tx, number, string]>([
    ['no certificate for the merchant', () => spendTx([{ value: 1000n, lock: metroLock }], [citizenSk, bankSk]), T, 'CBDC_ERR_LOCK_PURPOSE'],
    ['a merchant of another category', () => withMerchantCert(spendTx([{ value: 1000n, lock: grocerLock }], [citizenSk, bankSk]), 0, cert(grocerLock, 5411)), T, 'CBDC_ERR_LOCK_PURPOSE'],
    ['after the expiry, by the citizen', () => spendTx([{ value: 1000n, lock: subsidy }], [citizenSk, bankSk]), EXPIRY, 'CBDC_ERR_LOCK_TIMELOCK'],
    ['before the expiry, by the city', () => spendTx([{ value: 1000n, lock: keyLock(city) }], [citySk]), EXPIRY - 1, 'CBDC_ERR_LOCK_TIMELOCK'],
    ['a certificate from an unknown intermediary', () => withMerchantCert(spendTx([{ value: 1000n, lock: metroLock }], [citizenSk, bankSk]), 0, cert(metroLock, 4111, EXPIRY, otherSk, 'bank-x')), T, 'CBDC_ERR_LOCK_CERTIFICATE'],
    ['an expired certificate', () => withMerchantCert(spendTx([{ value: 1000n, lock: metroLock }], [citizenSk, bankSk]), 0, cert(metroLock, 4111, T)), T, 'CBDC_ERR_LOCK_CERTIFICATE'],
    ['a certificate on the change output', () => withMerchantCert(spendTx([{ value: 1000n, lock: subsidy }], [citizenSk, bankSk]), 0, cert(subsidy, 4111)), T, 'CBDC_ERR_WITNESS'],
    ['a preimage no input asks for', () => withPreimages(spendTx([{ value: 1000n, lock: subsidy }], [citizenSk, bankSk]), [Buffer.alloc(32, 1)]), T, 'CBDC_ERR_WITNESS'],
    ['a signature from a key no input lock names', () => spendTx([{ value: 1000n, lock: subsidy }], [citizenSk, bankSk, otherSk]), T, 'CBDC_ERR_WITNESS'],
  ])('refuses %s (%s)', (_name, build, timeMs, code) => {
    expect(codeOf(() => checkSpend(build(), subsidyInput, timeMs, directory))).toBe(code);
  });

  it('refuses certificates when no input has a purpose rule', () => {
    const lock = keyLock(citizen);
    const tx = withMerchantCert(spendTx([{ value: 1000n, lock: metroLock }], [citizenSk]), 0, cert(metroLock, 4111));
    expect(codeOf(() => checkSpend(tx, [{ lock, lockBytes: encodeLock(lock) }], T, directory))).toBe('CBDC_ERR_WITNESS');
    expect(checkSpend({ ...tx, certs: [] }, [{ lock, lockBytes: encodeLock(lock) }], T, directory)).toEqual([]);
  });

  it('hash lock: the right preimage opens it, a wrong one is refused as unneeded, none as CBDC_ERR_LOCK_PREIMAGE', () => {
    const pre = Buffer.alloc(32, 9);
    const htlc = orLock(andLock(keyLock(other), hashLock(sha256(pre))), andLock(keyLock(citizen), afterLock(EXPIRY)));
    const input = [{ lock: htlc, lockBytes: encodeLock(htlc) }];
    const base = spendTx([{ value: 1000n, lock: keyLock(other) }], [otherSk]);
    expect(checkSpend(withPreimages(base, [pre]), input, T, directory)).toEqual([]);
    expect(codeOf(() => checkSpend(withPreimages(base, [Buffer.alloc(32, 8)]), input, T, directory))).toBe('CBDC_ERR_WITNESS');
    expect(codeOf(() => checkSpend(base, input, T, directory))).toBe('CBDC_ERR_LOCK_PREIMAGE');
  });

  it('one work budget for the whole transaction (CBDC_ERR_LOCK_BUDGET)', () => {
    const wide = orLock(...Array.from({ length: 15 }, () => purposeLock(Array.from({ length: 32 }, (_, i) => 4000 + i))));
    const outputs = Array.from({ length: 64 }, () => ({ value: 1n, lock: wide }));
    const inputs = [0, 1, 2].map(() => ({ lock: wide, lockBytes: encodeLock(wide) }));
    const tx = makeTx({ network: NET, inputs: [0n, 1n, 2n].map((pos) => ({ pos, id: Buffer.alloc(32, 1) })), outputs });
    // All outputs are change: one such input alone is satisfied, three of them cost too much.
    const one = makeTx({ network: NET, inputs: [{ pos: 0n, id: Buffer.alloc(32, 1) }], outputs });
    expect(checkSpend(one, inputs.slice(0, 1), T, directory)).toEqual([]);
    expect(codeOf(() => checkSpend(tx, inputs, T, directory))).toBe('CBDC_ERR_LOCK_BUDGET');
  });
});

describe('the witness additions of the transaction format', () => {
  const pre1 = Buffer.alloc(32, 1);
  const pre2 = Buffer.alloc(32, 2);
  function full(): Tx {
    const tx = spendTx([{ value: 300n, lock: metroLock }, { value: 700n, lock: subsidy }], [citizenSk, bankSk]);
    return withPreimages(withMerchantCert(tx, 0, cert(metroLock, 4111)), [pre2, pre1]);
  }

  it('round-trips through JSON; the txid does not cover them', () => {
    const tx = full();
    expect(tx.preimages).toEqual([pre1, pre2]);
    const json = txToJson(tx);
    expect(json.witness.preimages).toEqual([pre1.toString('hex'), pre2.toString('hex')]);
    expect(json.witness.certs).toEqual([{ output: 0, intermediary: 'bank-m', mcc: '4111', expires_ms: EXPIRY, sig: tx.certs![0]!.sig.toString('hex') }]);
    const back = parseTx(JSON.parse(JSON.stringify(json)), NET);
    expect(back).toEqual(tx);
    expect(txId(back).equals(txId({ ...tx, preimages: undefined, certs: undefined }))).toBe(true);
    // A transaction without them has neither field, in memory or in JSON (older transactions unchanged).
    const plain = parseTx(txToJson(spendTx([{ value: 1000n, lock: subsidy }], [citizenSk])), NET);
    expect('preimages' in plain || 'certs' in plain).toBe(false);
    expect(Object.keys(txToJson(plain).witness)).toEqual(['sigs']);
  });

  const mutate = (f: (w: Record<string, unknown>) => void): unknown => {
    const j = JSON.parse(JSON.stringify(txToJson(full()))) as { witness: Record<string, unknown> };
    f(j.witness);
    return j;
  };
  it.each<[string, (w: Record<string, unknown>) => void, string]>([
    ['empty preimages list', (w) => (w.preimages = []), 'CBDC_ERR_WITNESS'],
    ['preimages out of order', (w) => (w.preimages = (w.preimages as string[]).reverse()), 'CBDC_ERR_WITNESS'],
    ['a preimage twice', (w) => (w.preimages = [(w.preimages as string[])[0], (w.preimages as string[])[0]]), 'CBDC_ERR_WITNESS'],
    ['a preimage of 31 bytes', (w) => (w.preimages = ['01'.repeat(31)]), 'CBDC_ERR_HEX_FORMAT'],
    [`more than ${TX_PREIMAGES_MAX} preimages`, (w) => (w.preimages = Array.from({ length: TX_PREIMAGES_MAX + 1 }, (_, i) => i.toString(16).padStart(64, '0'))), 'CBDC_ERR_WITNESS'],
    ['empty certs list', (w) => (w.certs = []), 'CBDC_ERR_WITNESS'],
    ['a certificate for a missing output', (w) => ((w.certs as { output: number }[])[0]!.output = 2), 'CBDC_ERR_WITNESS'],
    ['two certificates for one output', (w) => (w.certs = [(w.certs as unknown[])[0], (w.certs as unknown[])[0]]), 'CBDC_ERR_WITNESS'],
    ['a certificate mcc as a number', (w) => ((w.certs as { mcc: unknown }[])[0]!.mcc = 4111), 'CBDC_ERR_WITNESS'],
    ['a certificate expiry as a string', (w) => ((w.certs as { expires_ms: unknown }[])[0]!.expires_ms = String(EXPIRY)), 'CBDC_ERR_WITNESS'],
    ['a certificate with an unknown field', (w) => ((w.certs as Record<string, unknown>[])[0]!.lock = 'x'), 'CBDC_ERR_WITNESS'],
    ['a certificate with a bad intermediary id', (w) => ((w.certs as Record<string, unknown>[])[0]!.intermediary = 'Bank M'), 'CBDC_ERR_WITNESS'],
  ])('refuses %s', (_name, f, code) => {
    expect(codeOf(() => parseTx(mutate(f), NET))).toBe(code);
  });

  it('issuance carries no preimages or certificates', () => {
    const issue = makeTx({ kind: 'issue', network: NET, intermediary: 'bank-a', serial: 0n, inputs: [], outputs: [{ value: 5n, lock: keyLock(citizen) }] });
    const j = { ...txToJson(issue), witness: { operator: '00'.repeat(64), preimages: [pre1.toString('hex')] } };
    expect(codeOf(() => parseTx(j, NET))).toBe('CBDC_ERR_WITNESS');
  });
});
