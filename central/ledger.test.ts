// The ledger suite, run under every durability setting the store supports, on real LMDB in a
// fresh temp dir per test. Every rejection is checked for its exact code and for leaving the
// ledger byte-for-byte unchanged (store.digest() before and after).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocol/errors.js';
import { type Tx, outputId, txId } from '../protocol/tx.js';
import { signHash } from '../protocol/sig.js';
import type { Durability } from './store.js';
import { durabilitiesUnderTest, storeUnderTest } from '../test/helpers/store_under_test.js';
import type { TxResult } from './ledger.js';
import { VerifyPool } from './verify_pool.js';
import {
  type Coin, type KeyPair, LedgerFixture, attest, coinsOf, issueTx, keyPair, redeemTx, toKey, toMulti2, transferTx,
} from '../test/helpers/ledger_fixture.js';

const BANK = 'bank-a';
const BANK_KEY = keyPair('bank-a');
const OTHER_BANK_KEY = keyPair('bank-b');
const ALICE = keyPair('alice');
const BOB = keyPair('bob');
const CAROL = keyPair('carol');
const MALLORY = keyPair('mallory');
const QUOTA = 1_000_000n;
const RESERVE = 800_000n;

function expectOk(r: TxResult | undefined): asserts r is Extract<TxResult, { ok: true }> {
  expect(r, 'a result').toBeDefined();
  if (!r!.ok) expect.fail(`expected ok, got ${r!.code}: ${r!.message}`);
}

function expectCode(r: TxResult | undefined, code: ErrorCode): void {
  expect(r, 'a result').toBeDefined();
  expect(r!.ok ? 'ok' : r!.code).toBe(code);
}

/** A copy of a transaction with one witness signature replaced. */
function withSig(tx: Tx, index: number, sig: Buffer): Tx {
  return { ...tx, sigs: tx.sigs.map((s, i) => (i === index ? { key: s.key, sig } : s)) };
}

describe.each(durabilitiesUnderTest())(`Ledger on ${storeUnderTest()}, durability %s`, (durability: Durability) => {
  let fx: LedgerFixture;
  const durable = durability !== 'nosync';

  beforeEach(async () => {
    fx = await LedgerFixture.open({ durability, pool: null });
    await fx.register(BANK, BANK_KEY, QUOTA, RESERVE);
  });
  afterEach(async () => {
    await fx.dispose();
  });

  /** Submits and expects every transaction refused with `code`, and the ledger untouched. */
  async function expectRefused(txs: Tx[], code: ErrorCode, attestation?: { key: Buffer; sig: Buffer }): Promise<TxResult[]> {
    const before = fx.store.digest();
    const supplyBefore = fx.store.supply();
    const results = await fx.submit(txs, attestation);
    expect(results).toHaveLength(txs.length);
    for (const r of results) expectCode(r, code);
    expect(fx.store.digest()).toBe(before);
    expect(fx.store.supply()).toEqual(supplyBefore);
    return results;
  }

  /** Issues two coins to alice (700 and 300 fen) and returns them. */
  async function aliceCoins(): Promise<Coin[]> {
    return fx.issue(BANK, [{ value: 700n, lock: toKey(ALICE) }, { value: 300n, lock: toKey(ALICE) }]);
  }

  describe('issuance and redemption', () => {
    it('issues to a registered intermediary on the operator signature and debits its reserve', async () => {
      const tx = issueTx(BANK, 0n, [{ value: 1_000n, lock: toKey(ALICE) }, { value: 2_000n, lock: toMulti2(BOB, BANK_KEY) }]);
      const r = await fx.submitOne(tx);
      expectOk(r);
      const txid = txId(tx);
      expect(r.txid).toBe(txid.toString('hex'));
      expect(r.batch).toBe(0n);
      expect(r.firstPos).toBe(0n);
      expect(r.durable).toBe(durable);
      expect(r.outputIds).toEqual([
        outputId(txid, 0, 1_000n, tx.outputs[0]!.lockBytes),
        outputId(txid, 1, 2_000n, tx.outputs[1]!.lockBytes),
      ]);
      const out1 = fx.store.getOutput(1n)!;
      expect(out1).toMatchObject({ pos: 1n, value: 2_000n, index: 1, batch: 0n });
      expect(out1.id.equals(r.outputIds[1]!)).toBe(true);
      expect(out1.txid.equals(txid)).toBe(true);
      expect(out1.lockBytes.equals(tx.outputs[1]!.lockBytes)).toBe(true);
      expect(fx.store.getOutput(2n)).toBeUndefined();

      const bank = fx.store.getIntermediary(BANK)!;
      expect(bank.reserveFen).toBe(RESERVE - 3_000n);
      expect(bank.issuedFen).toBe(3_000n);
      expect(bank.redeemedFen).toBe(0n);
      expect(bank.nextSerial).toBe(1n);
      expect(fx.store.supply()).toEqual({ issuedFen: 3_000n, redeemedFen: 0n, unspentFen: 3_000n, outputCount: 2n, spentCount: 0n, batchCount: 1n });
      const audit = fx.store.audit();
      expect(audit.ok).toBe(true);
      expect(audit.unspentRecomputedFen).toBe(3_000n);
      expect(audit.intermediariesOutstandingFen).toBe(3_000n);

      // The next serial is accepted too.
      expectOk(await fx.submitOne(issueTx(BANK, 1n, [{ value: 5n, lock: toKey(ALICE) }])));
      expect(fx.store.getIntermediary(BANK)!.nextSerial).toBe(2n);
    });

    it('refuses an issuance signed by a key other than the operator', async () => {
      await expectRefused([issueTx(BANK, 0n, [{ value: 100n, lock: toKey(ALICE) }], MALLORY)], 'CBDC_ERR_OPERATOR_SIGNATURE');
      // The operator's signature over a different issuance does not carry over either.
      const good = issueTx(BANK, 0n, [{ value: 100n, lock: toKey(ALICE) }]);
      const other = issueTx(BANK, 0n, [{ value: 101n, lock: toKey(ALICE) }]);
      await expectRefused([{ ...good, operatorSig: other.operatorSig }], 'CBDC_ERR_OPERATOR_SIGNATURE');
      expect(fx.store.getIntermediary(BANK)!.nextSerial).toBe(0n);
    });

    it('refuses an issuance to an unknown intermediary', async () => {
      await expectRefused([issueTx('bank-zz', 0n, [{ value: 100n, lock: toKey(ALICE) }])], 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
    });

    it('refuses a replayed issuance and a serial gap', async () => {
      const tx = issueTx(BANK, 0n, [{ value: 100n, lock: toKey(ALICE) }]);
      expectOk(await fx.submitOne(tx));
      await expectRefused([tx], 'CBDC_ERR_ISSUE_SERIAL');
      await expectRefused([issueTx(BANK, 2n, [{ value: 100n, lock: toKey(ALICE) }])], 'CBDC_ERR_ISSUE_SERIAL');
      await expectRefused([issueTx(BANK, 0n, [{ value: 55n, lock: toKey(BOB) }])], 'CBDC_ERR_ISSUE_SERIAL');
      // A refused issuance does not consume its serial.
      expectOk(await fx.submitOne(issueTx(BANK, 1n, [{ value: 100n, lock: toKey(ALICE) }])));
      expect(fx.store.supply().issuedFen).toBe(200n);
    });

    it('accepts consecutive serials in one batch and refuses the same issuance twice in one batch', async () => {
      const a = issueTx(BANK, 0n, [{ value: 10n, lock: toKey(ALICE) }]);
      const b = issueTx(BANK, 1n, [{ value: 20n, lock: toKey(ALICE) }]);
      const [ra, rb, rReplay] = await fx.submit([a, b, a]);
      expectOk(ra);
      expectOk(rb);
      expect(rb.batch).toBe(ra.batch);
      expectCode(rReplay, 'CBDC_ERR_ISSUE_SERIAL');
      expect(fx.store.getIntermediary(BANK)!).toMatchObject({ nextSerial: 2n, issuedFen: 30n, reserveFen: RESERVE - 30n });
    });

    it('refuses issuance over the outstanding quota; redemption frees quota', async () => {
      await fx.store.adjustIntermediary(BANK, { quotaFen: 5_000n });
      await expectRefused([issueTx(BANK, 0n, [{ value: 5_001n, lock: toKey(ALICE) }])], 'CBDC_ERR_QUOTA_EXCEEDED');
      const [coin] = await fx.issue(BANK, [{ value: 4_000n, lock: toKey(ALICE) }, { value: 1_000n, lock: toKey(ALICE) }]);
      await expectRefused([issueTx(BANK, 1n, [{ value: 1n, lock: toKey(ALICE) }])], 'CBDC_ERR_QUOTA_EXCEEDED');
      expectOk(await fx.submitOne(redeemTx(BANK, [coin!], [], [ALICE])));
      expectOk(await fx.submitOne(issueTx(BANK, 1n, [{ value: 4_000n, lock: toKey(ALICE) }])));
      await expectRefused([issueTx(BANK, 2n, [{ value: 1n, lock: toKey(ALICE) }])], 'CBDC_ERR_QUOTA_EXCEEDED');
      expect(fx.store.audit().ok).toBe(true);
    });

    it('refuses issuance beyond the reserve', async () => {
      await fx.store.adjustIntermediary(BANK, { reserveDeltaFen: -(RESERVE - 100n) });
      await expectRefused([issueTx(BANK, 0n, [{ value: 101n, lock: toKey(ALICE) }])], 'CBDC_ERR_RESERVE_INSUFFICIENT');
      await expectRefused([issueTx(BANK, 0n, [{ value: 60n, lock: toKey(ALICE) }, { value: 41n, lock: toKey(BOB) }])], 'CBDC_ERR_RESERVE_INSUFFICIENT');
      expectOk(await fx.submitOne(issueTx(BANK, 0n, [{ value: 100n, lock: toKey(ALICE) }])));
      expect(fx.store.getIntermediary(BANK)!.reserveFen).toBe(0n);
      await expectRefused([issueTx(BANK, 1n, [{ value: 1n, lock: toKey(ALICE) }])], 'CBDC_ERR_RESERVE_INSUFFICIENT');
    });

    it('redemption destroys value, credits the reserve and updates the supply', async () => {
      const [c700, c300] = await aliceCoins();
      const tx = redeemTx(BANK, [c700!, c300!], [{ value: 250n, lock: toKey(ALICE) }], [ALICE]);
      const r = await fx.submitOne(tx);
      expectOk(r);
      expect(r.firstPos).toBe(2n);
      expect(fx.store.isSpent(0n)).toBe(true);
      expect(fx.store.isSpent(1n)).toBe(true);
      expect(fx.store.isSpent(2n)).toBe(false);
      expect(fx.store.getOutput(2n)!.value).toBe(250n);
      const bank = fx.store.getIntermediary(BANK)!;
      expect(bank.reserveFen).toBe(RESERVE - 1_000n + 750n);
      expect(bank.issuedFen).toBe(1_000n);
      expect(bank.redeemedFen).toBe(750n);
      expect(fx.store.supply()).toEqual({ issuedFen: 1_000n, redeemedFen: 750n, unspentFen: 250n, outputCount: 3n, spentCount: 2n, batchCount: 2n });
      const audit = fx.store.audit();
      expect(audit).toMatchObject({ ok: true, unspentRecomputedFen: 250n, unspentCount: 1n, intermediariesOutstandingFen: 250n });

      // Redeeming everything that is left, with no outputs at all.
      const [change] = coinsOf(tx, r);
      expectOk(await fx.submitOne(redeemTx(BANK, [change!], [], [ALICE])));
      expect(fx.store.supply()).toMatchObject({ issuedFen: 1_000n, redeemedFen: 1_000n, unspentFen: 0n });
      expect(fx.store.getIntermediary(BANK)!.reserveFen).toBe(RESERVE);
      expect(fx.store.audit()).toMatchObject({ ok: true, unspentRecomputedFen: 0n });
    });

    it('refuses a redemption that destroys nothing, lacks owner or operator signatures, or names no intermediary', async () => {
      const [c700] = await aliceCoins();
      await expectRefused([redeemTx(BANK, [c700!], [{ value: 700n, lock: toKey(ALICE) }], [ALICE])], 'CBDC_ERR_REDEMPTION_EMPTY');
      await expectRefused([redeemTx(BANK, [c700!], [{ value: 400n, lock: toKey(ALICE) }, { value: 301n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_REDEMPTION_EMPTY');
      await expectRefused([redeemTx(BANK, [c700!], [], [ALICE], MALLORY)], 'CBDC_ERR_OPERATOR_SIGNATURE');
      await expectRefused([redeemTx(BANK, [c700!], [], [BOB])], 'CBDC_ERR_LOCK_UNSATISFIED');
      await expectRefused([redeemTx('bank-zz', [c700!], [], [ALICE])], 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
      expectOk(await fx.submitOne(redeemTx(BANK, [c700!], [], [ALICE])));
      await expectRefused([redeemTx(BANK, [c700!], [], [ALICE])], 'CBDC_ERR_DOUBLE_SPEND');
    });
  });

  describe('transfers', () => {
    it('answers a settled transaction sent again with its settlement, also after a restart, and nothing else', async () => {
      const [c700, c300] = await aliceCoins();
      const tx = transferTx([c700!, c300!], [{ value: 600n, lock: toKey(BOB) }, { value: 400n, lock: toKey(ALICE) }], [ALICE]);
      const first = await fx.submitOne(tx);
      expectOk(first);
      const again = await fx.submitOne(tx);
      expectCode(again, 'CBDC_ERR_DOUBLE_SPEND');
      const answered = fx.ledger.settledBefore(tx, again);
      expectOk(answered);
      expect({ ...answered, outputIds: answered.outputIds.map((b) => b.toString('hex')) }).toEqual({ ...first, outputIds: first.outputIds.map((b) => b.toString('hex')) });
      // Another transaction spending the same coin stays refused.
      const other = transferTx([c700!], [{ value: 700n, lock: toKey(CAROL) }], [ALICE]);
      const otherResult = await fx.submitOne(other);
      expectCode(otherResult, 'CBDC_ERR_DOUBLE_SPEND');
      expect(fx.ledger.settledBefore(other, otherResult)).toBe(otherResult);
      await fx.reopen();
      const afterRestart = fx.ledger.settledBefore(tx, await fx.submitOne(tx));
      expectOk(afterRestart);
      expect([afterRestart.batch, afterRestart.firstPos]).toEqual([first.batch, first.firstPos]);
    });

    it('applies a valid 2-in/2-out transfer', async () => {
      const [c700, c300] = await aliceCoins();
      const tx = transferTx([c700!, c300!], [{ value: 600n, lock: toKey(BOB) }, { value: 400n, lock: toKey(ALICE) }], [ALICE]);
      const r = await fx.submitOne(tx);
      expectOk(r);
      expect(r.batch).toBe(1n);
      expect(r.firstPos).toBe(2n);
      expect(r.durable).toBe(durable);
      expect(fx.store.isSpent(0n)).toBe(true);
      expect(fx.store.isSpent(1n)).toBe(true);
      expect(fx.store.isSpent(2n)).toBe(false);
      expect(fx.store.isSpent(3n)).toBe(false);
      const [toBob, change] = coinsOf(tx, r);
      expect(fx.store.getOutput(2n)).toMatchObject({ value: 600n, index: 0, batch: 1n });
      expect(fx.store.getOutput(2n)!.id.equals(toBob!.id)).toBe(true);
      expect(fx.store.getOutput(3n)!.id.equals(change!.id)).toBe(true);
      // Spent outputs stay readable: the ledger of record keeps them.
      expect(fx.store.getOutput(0n)!.value).toBe(700n);
      expect(fx.store.supply()).toEqual({ issuedFen: 1_000n, redeemedFen: 0n, unspentFen: 1_000n, outputCount: 4n, spentCount: 2n, batchCount: 2n });
      expect(fx.store.audit()).toMatchObject({ ok: true, unspentRecomputedFen: 1_000n, unspentCount: 2n });
      // Bob can spend what he received.
      expectOk(await fx.submitOne(transferTx([toBob!], [{ value: 600n, lock: toKey(CAROL) }], [BOB])));
    });

    it('refuses unbalanced transfers', async () => {
      const [c700, c300] = await aliceCoins();
      await expectRefused([transferTx([c700!, c300!], [{ value: 600n, lock: toKey(BOB) }, { value: 401n, lock: toKey(ALICE) }], [ALICE])], 'CBDC_ERR_UNBALANCED');
      await expectRefused([transferTx([c700!, c300!], [{ value: 600n, lock: toKey(BOB) }, { value: 399n, lock: toKey(ALICE) }], [ALICE])], 'CBDC_ERR_UNBALANCED');
      await expectRefused([transferTx([c700!], [{ value: 1_000n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNBALANCED');
    });

    it('refuses unknown inputs: no output at the position, or another id there', async () => {
      const [c700, c300] = await aliceCoins();
      await expectRefused([transferTx([{ pos: 2n, id: c700!.id }], [{ value: 700n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNKNOWN_INPUT');
      await expectRefused([transferTx([{ pos: 1n << 40n, id: c700!.id }], [{ value: 700n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNKNOWN_INPUT');
      await expectRefused([transferTx([{ pos: c700!.pos, id: c300!.id }], [{ value: 700n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNKNOWN_INPUT');
      await expectRefused([transferTx([c300!, { pos: c700!.pos, id: Buffer.alloc(32) }], [{ value: 1_000n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNKNOWN_INPUT');
    });

    it('refuses a transaction naming one input twice, even when it did not come through parseTx', async () => {
      const [c700, c300] = await aliceCoins();
      await expectRefused([transferTx([c700!, c700!], [{ value: 1_400n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_DUPLICATE_INPUT');
      await expectRefused([transferTx([c300!, c700!, c300!], [{ value: 1_300n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_DUPLICATE_INPUT');
      await expectRefused([redeemTx(BANK, [c300!, c300!], [{ value: 1n, lock: toKey(ALICE) }], [ALICE])], 'CBDC_ERR_DUPLICATE_INPUT');
      expect(fx.store.audit()).toMatchObject({ ok: true, unspentRecomputedFen: 1_000n });
    });

    it('refuses double spends across batches, including a replay of the same transaction', async () => {
      const [c700, c300] = await aliceCoins();
      const tx = transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE]);
      expectOk(await fx.submitOne(tx));
      await expectRefused([tx], 'CBDC_ERR_DOUBLE_SPEND');
      await expectRefused([transferTx([c700!], [{ value: 700n, lock: toKey(CAROL) }], [ALICE])], 'CBDC_ERR_DOUBLE_SPEND');
      await expectRefused([transferTx([c300!, c700!], [{ value: 1_000n, lock: toKey(CAROL) }], [ALICE])], 'CBDC_ERR_DOUBLE_SPEND');
      expect(fx.store.isSpent(c700!.pos)).toBe(true);
      expect(fx.store.isSpent(c300!.pos)).toBe(false);
    });

    it('accepts exactly one of two transactions spending the same input in one submit call', async () => {
      const [c700, c300] = await aliceCoins();
      const toBob = transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE]);
      const toCarol = transferTx([c700!, c300!], [{ value: 1_000n, lock: toKey(CAROL) }], [ALICE]);
      const unrelated = issueTx(BANK, 1n, [{ value: 1n, lock: toKey(ALICE) }]);
      const before = fx.store.supply();
      const results = await fx.submit([toBob, toCarol, unrelated, toBob]);
      const ok = results.filter((r) => r.ok);
      expect(ok).toHaveLength(2);
      expectOk(results[0]);
      expectCode(results[1], 'CBDC_ERR_DOUBLE_SPEND');
      expectOk(results[2]);
      expectCode(results[3], 'CBDC_ERR_DOUBLE_SPEND');
      expect(results[0].batch).toBe(results[2].batch);
      // Only the winner's effects are in the ledger: c300 is still unspent and Carol got nothing.
      expect(fx.store.isSpent(c700!.pos)).toBe(true);
      expect(fx.store.isSpent(c300!.pos)).toBe(false);
      expect(fx.store.supply()).toMatchObject({ outputCount: before.outputCount + 2n, spentCount: 1n, unspentFen: 1_001n });
      const [batch] = fx.store.readBatches(results[0].batch, 1);
      expect(batch!.txs.map((t) => t.txid.toString('hex'))).toEqual([results[0].txid, results[2].txid]);
      expect(fx.store.audit().ok).toBe(true);
    });

    it('refuses a transfer whose witness does not satisfy a lock', async () => {
      const [c700, c300] = await aliceCoins();
      await expectRefused([transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [])], 'CBDC_ERR_LOCK_UNSATISFIED');
      await expectRefused([transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [BOB])], 'CBDC_ERR_LOCK_UNSATISFIED');
      const [bobCoin] = await fx.issue(BANK, [{ value: 50n, lock: toKey(BOB) }]);
      // Both owners must sign a transaction spending both coins.
      await expectRefused([transferTx([c300!, bobCoin!], [{ value: 350n, lock: toKey(CAROL) }], [ALICE])], 'CBDC_ERR_LOCK_UNSATISFIED');
      await expectRefused([transferTx([c300!, bobCoin!], [{ value: 350n, lock: toKey(CAROL) }], [BOB])], 'CBDC_ERR_LOCK_UNSATISFIED');
      expectOk(await fx.submitOne(transferTx([c300!, bobCoin!], [{ value: 350n, lock: toKey(CAROL) }], [ALICE, BOB])));
    });

    it('refuses an extra signature from a key no lock names', async () => {
      const [c700] = await aliceCoins();
      await expectRefused([transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE, MALLORY])], 'CBDC_ERR_WITNESS');
      // Being paid by the transaction does not make the payee a signer.
      await expectRefused([transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE, BOB])], 'CBDC_ERR_WITNESS');
    });

    it('refuses a well-formed signature that does not verify', async () => {
      const [c700, c300] = await aliceCoins();
      const tx = transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE]);
      const other = transferTx([c300!], [{ value: 300n, lock: toKey(BOB) }], [ALICE]);
      await expectRefused([withSig(tx, 0, other.sigs[0]!.sig)], 'CBDC_ERR_BAD_SIGNATURE');
      // Bob's valid signature over the txid, claimed to be Alice's.
      await expectRefused([withSig(tx, 0, signHash(BOB.sk, txId(tx)))], 'CBDC_ERR_BAD_SIGNATURE');
      // A bad signature sinks only its own transaction in a batch.
      const [bad, good] = await fx.submit([withSig(tx, 0, other.sigs[0]!.sig), other]);
      expectCode(bad, 'CBDC_ERR_BAD_SIGNATURE');
      expectOk(good);
      expect(fx.store.isSpent(c700!.pos)).toBe(false);
      expectOk(await fx.submitOne(tx));
    });

    it('needs both signatures for a multi(2, [a, b]) lock', async () => {
      const [shared] = await fx.issue(BANK, [{ value: 900n, lock: toMulti2(ALICE, BANK_KEY) }]);
      const outs = [{ value: 900n, lock: toKey(CAROL) }];
      await expectRefused([transferTx([shared!], outs, [ALICE])], 'CBDC_ERR_LOCK_UNSATISFIED');
      await expectRefused([transferTx([shared!], outs, [BANK_KEY])], 'CBDC_ERR_LOCK_UNSATISFIED');
      await expectRefused([transferTx([shared!], outs, [ALICE, MALLORY])], 'CBDC_ERR_LOCK_UNSATISFIED');
      const both = transferTx([shared!], outs, [ALICE, BANK_KEY]);
      await expectRefused([withSig(both, 1, signHash(BANK_KEY.sk, Buffer.alloc(32, 7)))], 'CBDC_ERR_BAD_SIGNATURE');
      await expectRefused([transferTx([shared!], outs, [ALICE, BANK_KEY, BOB])], 'CBDC_ERR_WITNESS');
      expectOk(await fx.submitOne(both));
      expect(fx.store.isSpent(shared!.pos)).toBe(true);
    });
  });

  describe('attested submissions', () => {
    it('accepts a batch attested by the submitting key', async () => {
      const [c700, c300] = await aliceCoins();
      const a = transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE]);
      const b = transferTx([c300!], [{ value: 100n, lock: toKey(BOB) }, { value: 200n, lock: toKey(ALICE) }], [ALICE]);
      const results = await fx.submit([a, b], attest([a, b], BANK_KEY));
      for (const r of results) expectOk(r);
      expect(fx.store.supply()).toMatchObject({ spentCount: 2n, outputCount: 5n });
    });

    it('refuses the whole batch on a wrong attestation and changes nothing', async () => {
      const [c700, c300] = await aliceCoins();
      const a = transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE]);
      const b = transferTx([c300!], [{ value: 300n, lock: toKey(BOB) }], [ALICE]);
      const good = attest([a, b], BANK_KEY);
      const results = await expectRefused([a, b], 'CBDC_ERR_BATCH_SIGNATURE', { key: OTHER_BANK_KEY.pk, sig: good.sig });
      expect(results.map((r) => r.txid)).toEqual([txId(a).toString('hex'), txId(b).toString('hex')]);
      await expectRefused([a, b], 'CBDC_ERR_BATCH_SIGNATURE', attest([b, a], BANK_KEY));
      await expectRefused([a, b], 'CBDC_ERR_BATCH_SIGNATURE', attest([a], BANK_KEY));
      await expectRefused([a, b], 'CBDC_ERR_BATCH_SIGNATURE', attest([a, b], BANK_KEY, 'other-net'));
      await expectRefused([a, b], 'CBDC_ERR_BATCH_SIGNATURE', { key: BANK_KEY.pk, sig: Buffer.alloc(64) });
      expect(fx.ledger.queuedTxCount).toBe(0);
    });

    it('trusts the attestation for witnesses but still refuses double spends, unbalanced and unsatisfied locks', async () => {
      const [c700, c300] = await aliceCoins();
      const [spent] = await fx.issue(BANK, [{ value: 10n, lock: toKey(CAROL) }]);
      expectOk(await fx.submitOne(transferTx([spent!], [{ value: 10n, lock: toKey(BOB) }], [CAROL])));
      const junkSig = transferTx([c300!], [{ value: 300n, lock: toKey(MALLORY) }], [ALICE]).sigs[0]!.sig;
      const garbage = withSig(transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE]), 0, junkSig);
      const sameInput = transferTx([c700!], [{ value: 700n, lock: toKey(CAROL) }], [ALICE]);
      const unbalanced = transferTx([c300!], [{ value: 301n, lock: toKey(BOB) }], [ALICE]);
      const doubleSpend = transferTx([spent!], [{ value: 10n, lock: toKey(MALLORY) }], [CAROL]);
      const noSigner = transferTx([c300!], [{ value: 300n, lock: toKey(MALLORY) }], [MALLORY]);
      const extraKey = transferTx([c300!], [{ value: 300n, lock: toKey(MALLORY) }], [ALICE, MALLORY]);
      const txs = [garbage, sameInput, unbalanced, doubleSpend, noSigner, extraKey];
      const before = fx.store.supply();
      const results = await fx.submit(txs, attest(txs, BANK_KEY));
      expectOk(results[0]);
      expectCode(results[1], 'CBDC_ERR_DOUBLE_SPEND');
      expectCode(results[2], 'CBDC_ERR_UNBALANCED');
      expectCode(results[3], 'CBDC_ERR_DOUBLE_SPEND');
      expectCode(results[4], 'CBDC_ERR_LOCK_UNSATISFIED');
      expectCode(results[5], 'CBDC_ERR_WITNESS');
      expect(fx.store.supply()).toMatchObject({ outputCount: before.outputCount + 1n, spentCount: before.spentCount + 1n, unspentFen: before.unspentFen });
      expect(fx.store.isSpent(c300!.pos)).toBe(false);
      // Without the attestation the same garbage witness is refused.
      const garbage2 = withSig(transferTx([c300!], [{ value: 300n, lock: toKey(BOB) }], [ALICE]), 0, junkSig);
      await expectRefused([garbage2], 'CBDC_ERR_BAD_SIGNATURE');
      expect(fx.store.audit().ok).toBe(true);
    });
  });

  describe('supply, durability and the batch stream', () => {
    it('keeps the supply invariant through mixed activity and survives close and reopen', async () => {
      await fx.register('bank-b', OTHER_BANK_KEY, QUOTA, RESERVE);
      const [a1, a2] = await aliceCoins();
      const [b1] = await fx.issue('bank-b', [{ value: 5_000n, lock: toMulti2(BOB, OTHER_BANK_KEY) }]);
      const t1 = transferTx([a1!, a2!], [{ value: 999n, lock: toKey(CAROL) }, { value: 1n, lock: toKey(ALICE) }], [ALICE]);
      const t2 = transferTx([b1!], [{ value: 2_500n, lock: toKey(CAROL) }, { value: 2_500n, lock: toMulti2(BOB, OTHER_BANK_KEY) }], [BOB, OTHER_BANK_KEY]);
      const [r1, r2] = await fx.submit([t1, t2]);
      const [carol1] = coinsOf(t1, r1!);
      const [carol2, bobRest] = coinsOf(t2, r2!);
      await expectRefused([t1], 'CBDC_ERR_DOUBLE_SPEND');
      const red = redeemTx('bank-b', [carol1!, carol2!], [{ value: 499n, lock: toKey(CAROL) }], [CAROL]);
      expectOk(await fx.submitOne(red));

      const supply = fx.store.supply();
      expect(supply).toEqual({ issuedFen: 6_000n, redeemedFen: 3_000n, unspentFen: 3_000n, outputCount: 8n, spentCount: 5n, batchCount: 4n });
      const audit = fx.store.audit();
      expect(audit).toMatchObject({ ok: true, problems: [], issuedFen: 6_000n, redeemedFen: 3_000n, unspentRecomputedFen: 3_000n, unspentRecordedFen: 3_000n, unspentCount: 3n, outputCount: 8n, intermediariesOutstandingFen: 3_000n });
      expect(audit.unspentRecomputedFen).toBe(audit.issuedFen - audit.redeemedFen);
      expect(fx.store.getIntermediary('bank-b')).toMatchObject({ issuedFen: 5_000n, redeemedFen: 3_000n, reserveFen: RESERVE - 5_000n + 3_000n });

      const digest = fx.store.digest();
      const batches = fx.store.readBatches(0n, 100);
      await fx.reopen();
      expect(fx.store.digest()).toBe(digest);
      expect(fx.store.supply()).toEqual(supply);
      expect(fx.store.audit()).toEqual(audit);
      expect(fx.store.readBatches(0n, 100)).toEqual(batches);
      expect(fx.store.isSpent(carol1!.pos)).toBe(true);
      expect(fx.store.isSpent(bobRest!.pos)).toBe(false);
      // The reopened ledger goes on: spent stays spent, new outputs continue the positions.
      await expectRefused([red], 'CBDC_ERR_DOUBLE_SPEND');
      const r = await fx.submitOne(transferTx([bobRest!], [{ value: 2_500n, lock: toKey(ALICE) }], [BOB, OTHER_BANK_KEY]));
      expectOk(r);
      expect(r.firstPos).toBe(8n);
      expect(r.batch).toBe(4n);
      expect(fx.store.audit().ok).toBe(true);
    });

    it('readBatches returns the ordered stream of committed batches', async () => {
      const iss = issueTx(BANK, 0n, [{ value: 700n, lock: toKey(ALICE) }, { value: 300n, lock: toKey(ALICE) }]);
      const [c700, c300] = coinsOf(iss, await fx.submitOne(iss));
      await expectRefused([transferTx([c700!], [{ value: 1n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNBALANCED');
      const t1 = transferTx([c700!], [{ value: 200n, lock: toKey(BOB) }, { value: 500n, lock: toKey(ALICE) }], [ALICE]);
      const t2 = transferTx([c300!], [{ value: 300n, lock: toKey(CAROL) }], [ALICE]);
      const t1dup = transferTx([c700!], [{ value: 700n, lock: toKey(MALLORY) }], [ALICE]);
      const [r1, rdup, r2] = await fx.submit([t1, t1dup, t2]);
      expectOk(r1);
      expectCode(rdup, 'CBDC_ERR_DOUBLE_SPEND');
      expectOk(r2);
      const [, change] = coinsOf(t1, r1);
      const red = redeemTx(BANK, [change!], [], [ALICE]);
      expectOk(await fx.submitOne(red));

      const batches = fx.store.readBatches(0n, 10);
      expect(batches.map((b) => b.seq)).toEqual([0n, 1n, 2n]);
      for (let i = 1; i < batches.length; i++) expect(batches[i]!.timeMs).toBeGreaterThan(batches[i - 1]!.timeMs);
      const [b0, b1, b2] = batches;
      expect(b0).toMatchObject({ firstPos: 0n, outputCount: 2 });
      expect(b0!.txs).toEqual([{ txid: txId(iss), kind: 'issue', inputs: [], firstPos: 0n, outputCount: 2, intermediary: BANK }]);
      expect(b1).toMatchObject({ firstPos: 2n, outputCount: 3 });
      expect(b1!.txs).toEqual([
        { txid: txId(t1), kind: 'transfer', inputs: [0n], firstPos: 2n, outputCount: 2, intermediary: '' },
        { txid: txId(t2), kind: 'transfer', inputs: [1n], firstPos: 4n, outputCount: 1, intermediary: '' },
      ]);
      expect(b2).toMatchObject({ firstPos: 5n, outputCount: 0 });
      expect(b2!.txs).toEqual([{ txid: txId(red), kind: 'redeem', inputs: [3n], firstPos: 5n, outputCount: 0, intermediary: BANK }]);
      expect(fx.store.readBatches(1n, 1).map((b) => b.seq)).toEqual([1n]);
      expect(fx.store.readBatches(2n, 10)).toEqual([b2]);
      expect(fx.store.readBatches(3n, 10)).toEqual([]);
      // getOutput / isSpent reflect every spend in the stream.
      for (const b of batches) for (const t of b.txs) for (const p of t.inputs) expect(fx.store.isSpent(p)).toBe(true);
      expect([0n, 1n, 2n, 3n, 4n].map((p) => fx.store.isSpent(p))).toEqual([true, true, false, true, false]);
      expect([0n, 1n, 2n, 3n, 4n].map((p) => fx.store.getOutput(p)!.value)).toEqual([700n, 300n, 200n, 500n, 300n]);
      expect(fx.store.getOutput(5n)).toBeUndefined();
      expect(fx.store.isSpent(5n)).toBe(false);
    });

    it('emits each committed batch and none for a batch that commits nothing', async () => {
      const seen: bigint[] = [];
      fx.ledger.on('batch', (b) => seen.push(b.seq));
      const [c700] = await aliceCoins();
      await expectRefused([transferTx([c700!], [{ value: 1n, lock: toKey(BOB) }], [ALICE])], 'CBDC_ERR_UNBALANCED');
      expectOk(await fx.submitOne(transferTx([c700!], [{ value: 700n, lock: toKey(BOB) }], [ALICE])));
      // Both refused at apply (serial, unknown intermediary), so the store commits nothing and no event follows.
      const [ra, rb] = await fx.submit([issueTx(BANK, 5n, [{ value: 1n, lock: toKey(ALICE) }]), issueTx('bank-zz', 0n, [{ value: 1n, lock: toKey(ALICE) }])]);
      expectCode(ra, 'CBDC_ERR_ISSUE_SERIAL');
      expectCode(rb, 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
      expect(seen).toEqual([0n, 1n]);
      expect(fx.store.supply().batchCount).toBe(2n);
    });
  });

  it('verifies in a real VerifyPool with two threads', async () => {
    const pool = new VerifyPool({ threads: 2 });
    const pfx = await LedgerFixture.open({ durability, pool });
    try {
      await pfx.register(BANK, BANK_KEY, QUOTA, RESERVE);
      const owners: KeyPair[] = [ALICE, BOB, CAROL];
      const coins = await pfx.issue(BANK, Array.from({ length: 24 }, (_, i) => ({ value: BigInt(100 + i), lock: toMulti2(owners[i % 3]!, BANK_KEY) })));
      // 24 transfers with 2 signatures each: 48 checks, spread over the workers.
      const txs = coins.map((c, i) => transferTx([c], [{ value: c.value, lock: toKey(owners[(i + 1) % 3]!) }], [owners[i % 3]!, BANK_KEY]));
      const junk = txs[1]!.sigs[0]!.sig;
      txs[5] = withSig(txs[5]!, 0, junk);
      txs[17] = withSig(txs[17]!, 1, signHash(BANK_KEY.sk, Buffer.alloc(32, 1)));
      txs.push(transferTx([coins[3]!], [{ value: coins[3]!.value, lock: toKey(MALLORY) }], [owners[0]!, BANK_KEY])); // same batch double spend
      const results = await pfx.submit(txs);
      results.forEach((r, i) => {
        if (i === 5 || i === 17) expectCode(r, 'CBDC_ERR_BAD_SIGNATURE');
        else if (i === 24) expectCode(r, 'CBDC_ERR_DOUBLE_SPEND');
        else expectOk(r);
      });
      expect(pfx.store.supply()).toMatchObject({ outputCount: 24n + 22n, spentCount: 22n, unspentFen: pfx.store.supply().issuedFen });
      expect(pfx.store.isSpent(coins[5]!.pos)).toBe(false);
      expect(pfx.store.isSpent(coins[17]!.pos)).toBe(false);
      expect(pfx.store.audit().ok).toBe(true);
      // The checks really went through the worker threads (piscina counts completed tasks).
      expect((pool as unknown as { pool: { completed: number } }).pool.completed).toBeGreaterThanOrEqual(2);
    } finally {
      await pfx.dispose();
      await pool.close();
    }
  });
});
