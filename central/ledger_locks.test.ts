// Lock policies at the ledger, on real LMDB: central evaluates every condition of an input's
// lock when it is spent, at the batch time it fixes before evaluating, in both verification
// modes. Every refusal has its code and leaves the ledger byte-for-byte unchanged.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocol/errors.js';
import { sha256 } from '../protocol/hash.js';
import { type Lock, afterLock, andLock, beforeLock, encodeLock, hashLock, keyLock, multiLock, orLock, purposeLock, threshLock } from '../protocol/lock.js';
import { signMerchantCert } from '../protocol/merchant_cert.js';
import type { Tx } from '../protocol/tx.js';
import { withMerchantCert, withPreimages } from '../protocol/tx_builder.js';
import type { TxResult } from './ledger.js';
import { type Coin, type KeyPair, LedgerFixture, NETWORK, attest, coinsOf, keyPair, transferTx } from '../test/helpers/ledger_fixture.js';

const BANK = 'bank-a';
const BANK_KEY = keyPair('bank-a');
const MERCHANT_BANK = 'bank-m';
const MERCHANT_BANK_KEY = keyPair('bank-m');
const CITY = keyPair('city');
const CITIZEN = keyPair('citizen');
const METRO = keyPair('metro');
const GROCER = keyPair('grocer');
const BUYER = keyPair('buyer');
const SELLER = keyPair('seller');
const ARBITER = keyPair('arbiter');
const MALLORY = keyPair('mallory');

const T0 = 1_800_000_000_000;
const EXPIRY = T0 + 30 * 86_400_000;
const TRANSIT = [4111, 4112, 4131];

const subsidyLock: Lock = orLock(
  andLock(multiLock(2, [CITIZEN.pk, BANK_KEY.pk]), beforeLock(EXPIRY), purposeLock(TRANSIT)),
  andLock(keyLock(CITY.pk), afterLock(EXPIRY)),
);
const metroLock = multiLock(2, [METRO.pk, MERCHANT_BANK_KEY.pk]);
const grocerLock = multiLock(2, [GROCER.pk, MERCHANT_BANK_KEY.pk]);
const certFor = (lock: Lock, mcc: number, o: { expiresMs?: number; signer?: KeyPair; intermediary?: string } = {}) =>
  signMerchantCert((o.signer ?? MERCHANT_BANK_KEY).sk, { network: NETWORK, intermediary: o.intermediary ?? MERCHANT_BANK, lockBytes: encodeLock(lock), mcc, expiresMs: o.expiresMs ?? EXPIRY });

function expectOk(r: TxResult | undefined): asserts r is Extract<TxResult, { ok: true }> {
  expect(r, 'a result').toBeDefined();
  if (!r!.ok) expect.fail(`expected ok, got ${r!.code}: ${r!.message}`);
}

describe.each(['full', 'attested'] as const)('lock policies at the ledger, %s mode', (mode) => {
  let fx: LedgerFixture;
  let now = T0;

  beforeEach(async () => {
    now = T0;
    fx = await LedgerFixture.open({ durability: 'overlapping', pool: null, ledger: { clockMs: () => now } });
    await fx.register(BANK, BANK_KEY, 10_000_000n, 10_000_000n);
    await fx.register(MERCHANT_BANK, MERCHANT_BANK_KEY, 10_000_000n, 10_000_000n);
  });
  afterEach(async () => {
    await fx.dispose();
  });

  const submit = (txs: Tx[]): Promise<TxResult[]> => (mode === 'attested' ? fx.submit(txs, attest(txs, BANK_KEY)) : fx.submit(txs));
  const submitOne = async (tx: Tx): Promise<TxResult> => (await submit([tx]))[0]!;
  const accept = async (tx: Tx): Promise<Coin[]> => coinsOf(tx, await submitOne(tx));

  async function expectRefused(tx: Tx, code: ErrorCode): Promise<void> {
    const before = fx.store.digest();
    const supplyBefore = fx.store.supply();
    const [r] = await submit([tx]);
    expect(r!.ok ? 'ok' : r!.code).toBe(code);
    expect(fx.store.digest()).toBe(before);
    expect(fx.store.supply()).toEqual(supplyBefore);
  }

  async function subsidy(value = 1_000n): Promise<Coin> {
    return (await fx.issue(BANK, [{ value, lock: subsidyLock }]))[0]!;
  }

  describe('purpose-bound subsidy', () => {
    it('pays a certified transit merchant with change back to the same lock, and the change stays bound', async () => {
      const coin = await subsidy();
      const tx = withMerchantCert(transferTx([coin], [{ value: 300n, lock: metroLock }, { value: 700n, lock: subsidyLock }], [CITIZEN, BANK_KEY]), 0, certFor(metroLock, 4111));
      const [metro, change] = await accept(tx);
      expect(fx.store.getOutput(metro!.pos)!.lockBytes.equals(encodeLock(metroLock))).toBe(true);
      // The change is still purpose-bound: paying a grocer from it is refused.
      const toGrocer = withMerchantCert(transferTx([change!], [{ value: 700n, lock: grocerLock }], [CITIZEN, BANK_KEY]), 0, certFor(grocerLock, 5411));
      await expectRefused(toGrocer, 'CBDC_ERR_LOCK_PURPOSE');
      expect(fx.store.audit().ok).toBe(true);
    });

    it('refuses the wrong merchant, a missing, forged, unknown or expired certificate, and a certificate on change', async () => {
      const coin = await subsidy();
      const pay = (lock: Lock) => transferTx([coin], [{ value: 1_000n, lock }], [CITIZEN, BANK_KEY]);
      await expectRefused(withMerchantCert(pay(grocerLock), 0, certFor(grocerLock, 5411)), 'CBDC_ERR_LOCK_PURPOSE');
      await expectRefused(pay(metroLock), 'CBDC_ERR_LOCK_PURPOSE');
      await expectRefused(pay(keyLock(MALLORY.pk)), 'CBDC_ERR_LOCK_PURPOSE');
      // A certificate for another lock, moved onto this output: its signature does not verify (both modes).
      await expectRefused(withMerchantCert(pay(grocerLock), 0, certFor(metroLock, 4111)), 'CBDC_ERR_LOCK_CERTIFICATE');
      // Signed by a key other than the named intermediary's.
      await expectRefused(withMerchantCert(pay(metroLock), 0, certFor(metroLock, 4111, { signer: MALLORY })), 'CBDC_ERR_LOCK_CERTIFICATE');
      await expectRefused(withMerchantCert(pay(metroLock), 0, certFor(metroLock, 4111, { signer: MALLORY, intermediary: 'bank-x' })), 'CBDC_ERR_LOCK_CERTIFICATE');
      await expectRefused(withMerchantCert(pay(metroLock), 0, certFor(metroLock, 4111, { expiresMs: T0 })), 'CBDC_ERR_LOCK_CERTIFICATE');
      const changeOnly = transferTx([coin], [{ value: 1_000n, lock: subsidyLock }], [CITIZEN, BANK_KEY]);
      await expectRefused(withMerchantCert(changeOnly, 0, certFor(subsidyLock, 4111)), 'CBDC_ERR_WITNESS');
      // The refusals changed nothing: the coin is still spendable as intended.
      expectOk(await submitOne(withMerchantCert(pay(metroLock), 0, certFor(metroLock, 4111))));
    });

    it('the citizen cannot spend after the expiry; the city reclaims only from then on', async () => {
      const coin = await subsidy();
      const reclaim = transferTx([coin], [{ value: 1_000n, lock: keyLock(CITY.pk) }], [CITY]);
      await expectRefused(reclaim, 'CBDC_ERR_LOCK_TIMELOCK');
      now = EXPIRY;
      await expectRefused(withMerchantCert(transferTx([coin], [{ value: 1_000n, lock: metroLock }], [CITIZEN, BANK_KEY]), 0, certFor(metroLock, 4111, { expiresMs: EXPIRY + 1 })), 'CBDC_ERR_LOCK_TIMELOCK');
      const r = await submitOne(reclaim);
      expectOk(r);
      expect(fx.store.readBatches(r.batch, 1)[0]!.timeMs).toBeGreaterThanOrEqual(EXPIRY);
    });
  });

  describe('hash-locked payment (DvP)', () => {
    const preimage = Buffer.alloc(32, 0x5a);
    const htlc = orLock(andLock(keyLock(SELLER.pk), hashLock(sha256(preimage))), andLock(keyLock(BUYER.pk), afterLock(EXPIRY)));

    it('the seller claims with the preimage; a wrong or missing preimage is refused', async () => {
      const [coin] = await fx.issue(BANK, [{ value: 500n, lock: htlc }]);
      const claim = transferTx([coin!], [{ value: 500n, lock: keyLock(SELLER.pk) }], [SELLER]);
      await expectRefused(claim, 'CBDC_ERR_LOCK_PREIMAGE');
      await expectRefused(withPreimages(claim, [Buffer.alloc(32, 0x5b)]), 'CBDC_ERR_WITNESS');
      await expectRefused(withPreimages(claim, [preimage, Buffer.alloc(32, 0x5b)]), 'CBDC_ERR_WITNESS');
      // The buyer cannot take it back before the deadline.
      await expectRefused(transferTx([coin!], [{ value: 500n, lock: keyLock(BUYER.pk) }], [BUYER]), 'CBDC_ERR_LOCK_TIMELOCK');
      expectOk(await submitOne(withPreimages(claim, [preimage])));
    });

    it('a forged signature under a policy lock is refused in full mode (attested mode trusts the bank)', async () => {
      const [coin] = await fx.issue(BANK, [{ value: 500n, lock: htlc }]);
      const claim = withPreimages(transferTx([coin!], [{ value: 500n, lock: keyLock(SELLER.pk) }], [SELLER]), [preimage]);
      const forged = { ...claim, sigs: claim.sigs.map((s) => ({ key: s.key, sig: Buffer.from(transferTx([coin!], [{ value: 500n, lock: keyLock(BUYER.pk) }], [SELLER]).sigs[0]!.sig) })) };
      if (mode === 'full') await expectRefused(forged, 'CBDC_ERR_BAD_SIGNATURE');
      else expectOk(await submitOne(forged));
    });
  });

  describe('escrow, prepaid and scheduled payments', () => {
    it('escrow 2-of-3: any two of buyer, seller and arbiter release; one alone is refused', async () => {
      const escrow = threshLock(2, [keyLock(BUYER.pk), keyLock(SELLER.pk), keyLock(ARBITER.pk)]);
      const [c1, c2] = await fx.issue(BANK, [{ value: 100n, lock: escrow }, { value: 100n, lock: escrow }]);
      await expectRefused(transferTx([c1!], [{ value: 100n, lock: keyLock(SELLER.pk) }], [ARBITER]), 'CBDC_ERR_LOCK_UNSATISFIED');
      await expectRefused(transferTx([c1!], [{ value: 100n, lock: keyLock(SELLER.pk) }], [ARBITER, SELLER, MALLORY]), 'CBDC_ERR_WITNESS');
      expectOk(await submitOne(transferTx([c1!], [{ value: 100n, lock: keyLock(SELLER.pk) }], [ARBITER, SELLER])));
      expectOk(await submitOne(transferTx([c2!], [{ value: 100n, lock: keyLock(BUYER.pk) }], [BUYER, ARBITER])));
    });

    it('prepaid: released to the merchant per unit with the bank; refunded to the customer only after the deadline', async () => {
      const deadline = T0 + 86_400_000;
      const prepaid = orLock(multiLock(2, [SELLER.pk, BANK_KEY.pk]), andLock(multiLock(2, [BUYER.pk, BANK_KEY.pk]), afterLock(deadline)));
      const [coin] = await fx.issue(BANK, [{ value: 1_000n, lock: prepaid }]);
      // One lesson released, the rest stays prepaid.
      const [, rest] = await accept(transferTx([coin!], [{ value: 100n, lock: keyLock(SELLER.pk) }, { value: 900n, lock: prepaid }], [SELLER, BANK_KEY]));
      const refund = transferTx([rest!], [{ value: 900n, lock: keyLock(BUYER.pk) }], [BUYER, BANK_KEY]);
      await expectRefused(refund, 'CBDC_ERR_LOCK_TIMELOCK');
      now = deadline;
      expectOk(await submitOne(refund));
    });

    it('scheduled: the payee can take it from the date on; until then the payer may cancel', async () => {
      const date = T0 + 3_600_000;
      const scheduled = orLock(andLock(keyLock(SELLER.pk), afterLock(date)), keyLock(BUYER.pk));
      const [c1, c2] = await fx.issue(BANK, [{ value: 10n, lock: scheduled }, { value: 10n, lock: scheduled }]);
      await expectRefused(transferTx([c1!], [{ value: 10n, lock: keyLock(SELLER.pk) }], [SELLER]), 'CBDC_ERR_LOCK_TIMELOCK');
      expectOk(await submitOne(transferTx([c2!], [{ value: 10n, lock: keyLock(BUYER.pk) }], [BUYER])));
      now = date;
      expectOk(await submitOne(transferTx([c1!], [{ value: 10n, lock: keyLock(SELLER.pk) }], [SELLER])));
    });
  });

  describe('batch time', () => {
    it('is fixed before evaluation, stamps the batch, and never goes backwards when the clock does', async () => {
      const lock = orLock(andLock(keyLock(SELLER.pk), afterLock(T0 + 1_000)), keyLock(BUYER.pk));
      const [coin] = await fx.issue(BANK, [{ value: 10n, lock }]);
      now = T0 + 1_000;
      const r1 = await submitOne(transferTx([coin!], [{ value: 10n, lock }], [BUYER]));
      expectOk(r1);
      const t1 = fx.store.readBatches(r1.batch, 1)[0]!.timeMs;
      expect(t1).toBe(T0 + 1_000);
      // The clock jumps back: the batch time moves on from t1, so after(T0 + 1000) still holds.
      now = T0;
      const [coin2] = coinsOf(transferTx([coin!], [{ value: 10n, lock }], [BUYER]), r1);
      const r2 = await submitOne(transferTx([coin2!], [{ value: 10n, lock: keyLock(SELLER.pk) }], [SELLER]));
      expectOk(r2);
      expect(fx.store.readBatches(r2.batch, 1)[0]!.timeMs).toBe(t1 + 1);
    });

    it('stays monotonic across a restart', async () => {
      now = T0 + 5_000;
      await fx.issue(BANK, [{ value: 10n, lock: keyLock(BUYER.pk) }]);
      await fx.reopen();
      now = T0;
      const [coin] = await fx.issue(BANK, [{ value: 1n, lock: andLock(keyLock(SELLER.pk), afterLock(T0 + 5_000)) }]);
      expect(fx.store.getOutput(coin!.pos)).toBeDefined();
      const last = fx.store.supply().batchCount - 1n;
      expect(fx.store.readBatches(last, 1)[0]!.timeMs).toBe(T0 + 5_001);
      // after(T0 + 5000) holds at that batch time though the clock says T0.
      expectOk(await submitOne(transferTx([coin!], [{ value: 1n, lock: keyLock(SELLER.pk) }], [SELLER])));
    });
  });

  it('plain key and multi locks behave as before alongside policy locks in one batch', async () => {
    const [plain, policy] = await fx.issue(BANK, [{ value: 10n, lock: keyLock(BUYER.pk) }, { value: 10n, lock: andLock(keyLock(SELLER.pk), beforeLock(EXPIRY)) }]);
    const a = transferTx([plain!], [{ value: 10n, lock: keyLock(SELLER.pk) }], [BUYER]);
    const b = transferTx([policy!], [{ value: 10n, lock: keyLock(BUYER.pk) }], [SELLER]);
    const c = transferTx([policy!], [{ value: 10n, lock: keyLock(MALLORY.pk) }], [MALLORY]);
    const rs = await submit([a, b, c]);
    expectOk(rs[0]);
    expectOk(rs[1]);
    expect(rs[2]!.ok ? 'ok' : rs[2]!.code).toBe('CBDC_ERR_LOCK_UNSATISFIED');
  });
});
