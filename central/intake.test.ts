// The intake step (intake.ts): what a worker computes from a transaction's bytes and the
// committed outputs must be exactly what the ledger computes on its own thread, and a ledger
// whose large submissions take that step on real worker threads must decide every
// transaction as one that never does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocol/errors.js';
import { type Tx, outputId, txId } from '../protocol/tx.js';
import { andLock, afterLock, orLock } from '../protocol/tx_builder.js';
import { encodeLock } from '../protocol/lock.js';
import { INTAKE_WORKER_TX_MIN, type TxResult } from './ledger.js';
import { type Admitted, packIntake, runIntake, unpackIntake } from './intake.js';
import { VerifyPool } from './verify_pool.js';
import {
  type Coin, type KeyPair, LedgerFixture, attest, coinsOf, issueTx, keyPair, redeemTx, toKey, toMulti2, transferTx,
} from '../test/helpers/ledger_fixture.js';

const BANK = 'bank-a';
const BANK_KEY = keyPair('bank-a');
const ALICE = keyPair('alice');
const BOB = keyPair('bob');
const CAROL = keyPair('carol');
const QUOTA = 10_000_000n;
const RESERVE = 8_000_000n;

function outcome(r: TxResult): string {
  return r.ok ? `ok ${r.firstPos} ${r.outputIds.map((b) => b.toString('hex')).join(',')}` : (r.code as ErrorCode);
}

describe('intake: worker-side ids and input reads', () => {
  let fx: LedgerFixture;
  let coins: Coin[];

  beforeAll(async () => {
    fx = await LedgerFixture.open({ durability: 'nosync', pool: null });
    await fx.register(BANK, BANK_KEY, QUOTA, RESERVE);
    const policy = orLock(andLock(afterLock(1), toKey(ALICE)), toMulti2(BOB, CAROL));
    coins = await fx.issue(BANK, [
      { value: 100n, lock: toKey(ALICE) }, { value: 200n, lock: toMulti2(BOB, CAROL) }, { value: 300n, lock: policy }, { value: 400n, lock: toKey(BOB) },
    ]);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  function sample(): Tx[] {
    const [a, b, c, d] = coins as [Coin, Coin, Coin, Coin];
    return [
      transferTx([a, d], [{ value: 250n, lock: toKey(CAROL) }, { value: 250n, lock: toMulti2(ALICE, BOB) }], [ALICE, BOB]),
      transferTx([b], [{ value: 200n, lock: toKey(ALICE) }], [BOB, CAROL]),
      issueTx(BANK, 7n, Array.from({ length: 5 }, (_, i) => ({ value: BigInt(1 + i), lock: toKey(BOB) }))),
      redeemTx(BANK, [c], [{ value: 1n, lock: toKey(ALICE) }], [ALICE]),
      // Unknown position, and a known position with another output's id: both misses.
      transferTx([{ pos: 999_999n, id: a.id }, { pos: a.pos, id: d.id }], [{ value: 1n, lock: toKey(ALICE) }], [ALICE]),
    ];
  }

  it('gives the txids and output ids the protocol defines, and each input read as the store has it', () => {
    const txs = sample();
    const task = packIntake(txs, 0, txs.length, fx.store.path ?? null);
    const admitted: Admitted[] = [];
    unpackIntake(txs, 0, txs.length, runIntake(task), admitted);
    expect(admitted).toHaveLength(txs.length);
    for (const [t, tx] of txs.entries()) {
      const a = admitted[t]!;
      const txid = txId(tx);
      expect(a.txid.equals(txid)).toBe(true);
      expect(a.outputIds.map((b) => b.toString('hex'))).toEqual(tx.outputs.map((o, i) => outputId(txid, i, o.value, o.lockBytes).toString('hex')));
      let at = a.inputsAt;
      for (const input of tx.inputs) {
        const want = fx.store.inputOf(input.pos, input.id);
        if (want === undefined) {
          expect(a.inputs[at]).toBe(0);
          at += 1;
        } else {
          expect(a.inputs[at]).toBe(1);
          expect(a.inputs.readBigUInt64BE(at + 1)).toBe(want.value);
          const len = a.inputs.readUInt16BE(at + 9);
          expect(a.inputs.subarray(at + 11, at + 11 + len).equals(want.lockBytes)).toBe(true);
          at += 11 + len;
        }
      }
    }
    // The policy lock came back whole (longer than a key lock).
    expect(encodeLock(coins[2]!.lock).length).toBeGreaterThan(34);
  });

  it('reads nothing without a ledger path, and splits a chunk anywhere', () => {
    const txs = sample();
    const admitted: Admitted[] = [];
    unpackIntake(txs, 0, 2, runIntake(packIntake(txs, 0, 2, null)), admitted);
    unpackIntake(txs, 2, txs.length, runIntake(packIntake(txs, 2, txs.length, null)), admitted);
    for (const [t, tx] of txs.entries()) {
      expect(admitted[t]!.txid.equals(txId(tx))).toBe(true);
      expect([...admitted[t]!.inputs.subarray(admitted[t]!.inputsAt, admitted[t]!.inputsAt + tx.inputs.length)]).toEqual(tx.inputs.map(() => 0));
    }
    expect(() => unpackIntake(txs, 0, 1, runIntake(packIntake(txs, 0, 2, null)), [])).toThrow(/does not match/);
  });
});

describe('ledger with intake on worker threads decides as the ledger without', () => {
  let pool: VerifyPool;
  beforeAll(() => {
    pool = new VerifyPool({ threads: 2 });
  });
  afterAll(async () => {
    await pool.close();
  });

  /**
   * One scripted session: issuance submitted as concurrent chunks (serials must stay in
   * submission order), then chunks of transfers mixing valid ones with every refusal the
   * intake's data feeds (unknown input, wrong id, double spend in and across chunks,
   * unbalanced, bad signature, lock unsatisfied), an attested chunk and a badly attested one,
   * and transfers spending outputs made by the chunk submitted just before (not yet committed
   * when their intake ran). Returns every outcome and the final supply.
   */
  async function session(withPool: boolean): Promise<{ outcomes: string[]; supply: unknown; audit: boolean; completed: number }> {
    let clock = 1_700_000_000_000;
    const n = INTAKE_WORKER_TX_MIN + 8;
    // One batch per chunk, each prepared after the one before it is committed: the same batches
    // in both sessions, however the worker threads' answers interleave.
    const fx = await LedgerFixture.open({
      durability: 'overlapping', pool: withPool ? pool : null, ledger: { clockMs: () => clock++, batchTxMax: n, inflightBatchesMax: 1 },
    });
    const completed0 = (pool as unknown as { pool: { completed: number } }).pool.completed;
    try {
      await fx.register(BANK, BANK_KEY, QUOTA, RESERVE);
      const owners: KeyPair[] = [ALICE, BOB, CAROL];
      const issues = Array.from({ length: 2 * n }, (_, s) => issueTx(BANK, BigInt(s), [
        { value: BigInt(1000 + s), lock: toKey(owners[s % 3]!) }, { value: BigInt(2000 + s), lock: toKey(owners[(s + 1) % 3]!) },
      ]));
      const [r1, r2] = await Promise.all([fx.submit(issues.slice(0, n)), fx.submit(issues.slice(n))]);
      const issued = [...r1, ...r2];
      const coins = issues.flatMap((tx, s) => coinsOf(tx, issued[s]!));
      const outcomes = issued.map(outcome);

      const ownerOf = (c: Coin): KeyPair => owners.find((k) => encodeLock(toKey(k)).equals(encodeLock(c.lock)))!;
      const spend = (c: Coin, to: KeyPair, value = c.value): Tx => transferTx([c], [{ value, lock: toKey(to) }], [ownerOf(c)]);
      const chunkA: Tx[] = [];
      for (let i = 0; i < n; i++) {
        const c = coins[i]!;
        if (i === 3) chunkA.push(transferTx([{ pos: 1_000_000n, id: c.id }], [{ value: c.value, lock: toKey(ALICE) }], [ownerOf(c)]));
        else if (i === 4) chunkA.push(transferTx([{ pos: c.pos, id: coins[i + 1]!.id }], [{ value: c.value, lock: toKey(ALICE) }], [ownerOf(c)]));
        else if (i === 5) chunkA.push(spend(coins[2]!, BOB)); // spends what entry 2 spends: same chunk
        else if (i === 6) chunkA.push(spend(c, BOB, c.value + 1n));
        else if (i === 7) chunkA.push({ ...spend(c, BOB), sigs: [{ key: ownerOf(c).pk, sig: spend(coins[8]!, BOB).sigs[0]!.sig }] });
        else if (i === 9) chunkA.push(transferTx([c], [{ value: c.value, lock: toKey(ALICE) }], [owners.find((k) => k !== ownerOf(c))!]));
        else chunkA.push(spend(c, owners[(i + 1) % 3]!));
      }
      const chunkB: Tx[] = [];
      for (let i = n; i < 2 * n; i++) chunkB.push(i === n + 1 ? spend(coins[0]!, CAROL) : spend(coins[i]!, ALICE)); // [n+1]: across chunks
      const chunkBad: Tx[] = [];
      for (let i = 2 * n; i < 3 * n; i++) chunkBad.push(spend(coins[i]!, BOB));
      const badAttestation = attest(chunkBad.slice(1), BANK_KEY);
      const chunkC: Tx[] = [];
      for (let i = 3 * n; i < 4 * n; i++) chunkC.push(spend(coins[i]!, CAROL));
      const [ra, rb, rbad, rc] = await Promise.all([
        fx.submit(chunkA), fx.submit(chunkB, attest(chunkB, BANK_KEY)), fx.submit(chunkBad, badAttestation), fx.submit(chunkC),
      ]);
      outcomes.push(...ra!.map(outcome), ...rb!.map(outcome), ...rbad!.map(outcome), ...rc!.map(outcome));

      // Outputs of a chunk spent by the next, submitted before the first is committed.
      const firstD = fx.store.supply().outputCount;
      const chunkD: Tx[] = [];
      for (let i = 2 * n; i < 3 * n; i++) chunkD.push(spend(coins[i]!, CAROL));
      const made: Coin[] = chunkD.map((tx, k) => ({ pos: firstD + BigInt(k), id: outputId(txId(tx), 0, tx.outputs[0]!.value, tx.outputs[0]!.lockBytes), value: tx.outputs[0]!.value, lock: toKey(CAROL) }));
      const chunkE = made.map((c) => spend(c, ALICE));
      const [rd, re] = await Promise.all([fx.submit(chunkD), fx.submit(chunkE)]);
      outcomes.push(...rd!.map(outcome), ...re!.map(outcome));
      const audit = fx.store.audit().ok;
      return { outcomes, supply: fx.store.supply(), audit, completed: (pool as unknown as { pool: { completed: number } }).pool.completed - completed0 };
    } finally {
      await fx.dispose();
    }
  }

  it('gives every transaction the same result, code and ids, and the same final supply', async () => {
    const inline = await session(false);
    const workers = await session(true);
    expect(workers.outcomes).toEqual(inline.outcomes);
    expect(workers.supply).toEqual(inline.supply);
    expect(inline.audit && workers.audit).toBe(true);
    // Intake jobs really ran on the pool's threads in the second session, none in the first.
    expect(inline.completed).toBe(0);
    expect(workers.completed).toBeGreaterThanOrEqual(8);
    // The script exercised what it meant to.
    const codes = new Set(inline.outcomes.map((o) => o.split(' ')[0]));
    for (const c of ['ok', 'CBDC_ERR_UNKNOWN_INPUT', 'CBDC_ERR_DOUBLE_SPEND', 'CBDC_ERR_UNBALANCED', 'CBDC_ERR_BAD_SIGNATURE', 'CBDC_ERR_LOCK_UNSATISFIED', 'CBDC_ERR_BATCH_SIGNATURE']) {
      expect(codes, c).toContain(c);
    }
    const n = INTAKE_WORKER_TX_MIN + 8;
    expect(inline.outcomes.slice(-n).every((o) => o.startsWith('ok'))).toBe(true); // chunk E spent chunk D's outputs
  }, 120_000);
});
