// Property: random sequences of valid and invalid operations (issuance, transfers of random
// amounts split over random outputs, double spends, replays, unbalanced, bad witnesses,
// redemption, mixed and attested batches) applied through the Ledger on real LMDB
//   - get exactly the result a simple model predicts (ok, or the exact error code),
//   - never spend an output position twice over the whole run,
//   - keep the supply invariant after every step: audit().ok, supply().unspentFen ==
//     issuedFen - redeemedFen, and the model's unspent set and total equal the store's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocol/errors.js';
import { sha256 } from '../protocol/hash.js';
import type { Lock } from '../protocol/lock.js';
import { signHash } from '../protocol/sig.js';
import { type OutPoint, type Tx, outputId, txId } from '../protocol/tx.js';
import type { Durability } from './store.js';
import {
  type KeyPair, LedgerFixture, OPERATOR, attest, issueTx, keyPair, redeemTx, toKey, toMulti2, transferTx,
} from '../test/helpers/ledger_fixture.js';

// ---------------------------------------------------------------------------------------
// Actors

const WALLETS = [keyPair('w0'), keyPair('w1'), keyPair('w2'), keyPair('w3')];
const MALLORY = keyPair('mallory');
const BANKS = [
  // bank-a: the quota binds first; bank-b: the reserve binds first.
  { id: 'bank-a', key: keyPair('bank-a'), quotaFen: 500_000n, reserveFen: 10_000_000n },
  { id: 'bank-b', key: keyPair('bank-b'), quotaFen: 10_000_000n, reserveFen: 400_000n },
] as const;
const NO_BANK = 'bank-x';

/** A lock and the keys that satisfy it, from a random number. */
function ownerOf(n: number): { lock: Lock; signers: KeyPair[] } {
  const w = WALLETS[n % WALLETS.length]!;
  if (n % 5 === 4) return { lock: toMulti2(w, BANKS[0].key), signers: [w, BANKS[0].key] };
  return { lock: toKey(w), signers: [w] };
}

// ---------------------------------------------------------------------------------------
// The model

interface ModelCoin {
  readonly pos: bigint;
  readonly id: Buffer;
  readonly value: bigint;
  readonly signers: readonly KeyPair[];
  spent: boolean;
}

interface BankState {
  quotaFen: bigint;
  reserveFen: bigint;
  issuedFen: bigint;
  redeemedFen: bigint;
  nextSerial: bigint;
}

interface Model {
  coins: ModelCoin[];
  issuedFen: bigint;
  redeemedFen: bigint;
  banks: Map<string, BankState>;
  /** Position -> txid of the one accepted transaction that spent it. */
  spentBy: Map<bigint, string>;
}

type Defect = 'none' | 'unbalanced' | 'empty' | 'opsig' | 'nolock' | 'witness' | 'badsig' | 'duplicate';

/** A transaction with what the model needs to predict its result. */
interface Planned {
  readonly tx: Tx;
  readonly kind: Tx['kind'];
  /** Per input: its position and whether it names a real output (right position and id). */
  readonly inputs: readonly { pos: bigint; known: boolean }[];
  readonly defect: Defect;
  readonly intermediary: string;
  readonly outputSignersOf: readonly (readonly KeyPair[])[];
}

function newModel(): Model {
  return {
    coins: [], issuedFen: 0n, redeemedFen: 0n, spentBy: new Map(),
    banks: new Map(BANKS.map((b) => [b.id, { quotaFen: b.quotaFen, reserveFen: b.reserveFen, issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n }])),
  };
}

const unspentCoins = (m: Model): ModelCoin[] => m.coins.filter((c) => !c.spent);
const spentCoins = (m: Model): ModelCoin[] => m.coins.filter((c) => c.spent);

/** Distinct coins picked by random numbers (at most 3). */
function pick(from: readonly ModelCoin[], picks: readonly number[]): ModelCoin[] {
  if (from.length === 0) return [];
  const chosen = new Map<bigint, ModelCoin>();
  for (const p of picks) {
    const c = from[p % from.length]!;
    chosen.set(c.pos, c);
  }
  return [...chosen.values()];
}

/** Splits total into at most weights.length+1 positive parts, by the given weights. */
function split(total: bigint, weights: readonly number[]): bigint[] {
  const k = BigInt(Math.min(weights.length + 1, Number(total < 64n ? total : 64n)));
  const ws = [...weights.slice(0, Number(k) - 1), 1].map((w) => BigInt(w + 1));
  const wsum = ws.reduce((a, b) => a + b, 0n);
  const rest = total - k;
  const parts = ws.map((w) => 1n + (rest * w) / wsum);
  const given = parts.reduce((a, b) => a + b, 0n);
  parts[parts.length - 1]! += total - given;
  return parts;
}

function signersOf(coins: readonly ModelCoin[]): KeyPair[] {
  const out: KeyPair[] = [];
  for (const c of coins) for (const s of c.signers) if (!out.includes(s)) out.push(s);
  return out;
}

function withBadSig(tx: Tx): Tx {
  const s0 = tx.sigs[0];
  if (s0 === undefined) return tx;
  const signer = [...WALLETS, ...BANKS.map((b) => b.key)].find((k) => k.pk.equals(s0.key))!;
  const junk = signHash(signer.sk, sha256(Buffer.from('not this transaction'), txId(tx)));
  return { ...tx, sigs: tx.sigs.map((s, i) => (i === 0 ? { key: s.key, sig: junk } : s)) };
}

// ---------------------------------------------------------------------------------------
// Operations (generated) and how each becomes planned transactions against the model

type IssueOp = { t: 'issue'; bank: number; values: number[]; owners: number[]; variant: 'ok' | 'replaySerial' | 'gap' | 'opsig' | 'nobank' };
type TransferOp = { t: 'transfer'; picks: number[]; weights: number[]; owners: number[]; defect: Defect; delta: number; unknownKind: number };
type RedeemOp = { t: 'redeem'; bank: number; picks: number[]; change: number; owner: number; defect: Defect };
type DoubleSpendOp = { t: 'doubleSpend'; spent: number; extra: number[]; owner: number };
type ReplayOp = { t: 'replay'; index: number };
type SingleOp = IssueOp | TransferOp | RedeemOp | DoubleSpendOp | ReplayOp;
type BatchOp = { t: 'batch'; ops: SingleOp[]; attested: boolean };
type Op = SingleOp | BatchOp;

function weighted<T>(...choices: [T, number][]): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([v, weight]) => ({ arbitrary: fc.constant(v), weight })));
}

const owners = fc.array(fc.nat({ max: 999 }), { minLength: 5, maxLength: 5 });
const picks = fc.array(fc.nat({ max: 9_999 }), { minLength: 1, maxLength: 3 });

const issueArb: fc.Arbitrary<IssueOp> = fc.record({
  t: fc.constant('issue' as const),
  bank: fc.nat({ max: 1 }),
  values: fc.array(fc.integer({ min: 1, max: 150_000 }), { minLength: 1, maxLength: 4 }),
  owners,
  variant: weighted<IssueOp['variant']>(['ok', 8], ['replaySerial', 1], ['gap', 1], ['opsig', 1], ['nobank', 1]),
});
const transferArb: fc.Arbitrary<TransferOp> = fc.record({
  t: fc.constant('transfer' as const),
  picks,
  weights: fc.array(fc.nat({ max: 100 }), { maxLength: 4 }),
  owners,
  defect: weighted<Defect>(['none', 10], ['unbalanced', 1], ['nolock', 1], ['witness', 1], ['badsig', 2], ['duplicate', 1]),
  delta: fc.integer({ min: -500, max: 500 }).filter((d) => d !== 0),
  unknownKind: fc.nat({ max: 3 }),
});
const redeemArb: fc.Arbitrary<RedeemOp> = fc.record({
  t: fc.constant('redeem' as const),
  bank: fc.nat({ max: 4 }),
  picks,
  change: fc.nat({ max: 1_000_000 }),
  owner: fc.nat({ max: 999 }),
  defect: weighted<Defect>(['none', 6], ['empty', 1], ['opsig', 1], ['nolock', 1]),
});
const doubleSpendArb: fc.Arbitrary<DoubleSpendOp> = fc.record({
  t: fc.constant('doubleSpend' as const), spent: fc.nat({ max: 9_999 }), extra: fc.array(fc.nat({ max: 9_999 }), { maxLength: 1 }), owner: fc.nat({ max: 999 }),
});
const replayArb: fc.Arbitrary<ReplayOp> = fc.record({ t: fc.constant('replay' as const), index: fc.nat({ max: 9_999 }) });
const singleArb: fc.Arbitrary<SingleOp> = fc.oneof(
  { arbitrary: issueArb, weight: 4 }, { arbitrary: transferArb, weight: 6 }, { arbitrary: redeemArb, weight: 2 },
  { arbitrary: doubleSpendArb, weight: 1 }, { arbitrary: replayArb, weight: 1 },
);
const batchArb: fc.Arbitrary<BatchOp> = fc.record({
  t: fc.constant('batch' as const), ops: fc.array(singleArb, { minLength: 2, maxLength: 5 }), attested: fc.boolean(),
});
const opArb: fc.Arbitrary<Op> = fc.oneof({ arbitrary: singleArb, weight: 4 }, { arbitrary: batchArb, weight: 1 });

function plan(m: Model, op: SingleOp, history: readonly Planned[]): Planned | null {
  switch (op.t) {
    case 'issue': {
      const bank = BANKS[op.bank]!;
      const st = m.banks.get(bank.id)!;
      const outs = op.values.map((v, i) => ({ value: BigInt(v), ...ownerOf(op.owners[i]!) }));
      let serial = st.nextSerial;
      if (op.variant === 'replaySerial') serial = st.nextSerial > 0n ? st.nextSerial - 1n : st.nextSerial + 3n;
      if (op.variant === 'gap') serial = st.nextSerial + 1n + BigInt(op.owners[0]! % 5);
      const intermediary = op.variant === 'nobank' ? NO_BANK : bank.id;
      const tx = issueTx(intermediary, serial, outs, op.variant === 'opsig' ? MALLORY : OPERATOR);
      return { tx, kind: 'issue', inputs: [], defect: op.variant === 'opsig' ? 'opsig' : 'none', intermediary, outputSignersOf: outs.map((o) => o.signers) };
    }
    case 'transfer': {
      const coins = pick(unspentCoins(m), op.picks);
      if (coins.length === 0) return null;
      const total = coins.reduce((s, c) => s + c.value, 0n);
      const parts = split(total, op.weights);
      if (op.defect === 'unbalanced') {
        const last = parts[parts.length - 1]! + BigInt(op.delta);
        parts[parts.length - 1] = last > 0n ? last : parts[parts.length - 1]! + 1n;
      }
      const outs = parts.map((value, i) => ({ value, ...ownerOf(op.owners[i % op.owners.length]!) }));
      let inputs: { pos: bigint; known: boolean; id: Buffer }[] = coins.map((c) => ({ pos: c.pos, id: c.id, known: true }));
      if (op.defect === 'duplicate') inputs = [...inputs, inputs[0]!];
      // Without a defect, a quarter of the transfers carry one unknown input instead.
      const unknown = op.defect === 'none' && op.unknownKind === 0;
      if (unknown) {
        const at = op.picks[0]! % inputs.length;
        const real = inputs[at]!;
        inputs[at] = op.picks[0]! % 2 === 0
          ? { pos: real.pos, id: sha256(real.id), known: false }
          : { pos: (1n << 40n) + real.pos, id: real.id, known: false };
      }
      let signers = signersOf(coins);
      if (op.defect === 'nolock') signers = signers.slice(0, -1);
      if (op.defect === 'witness') signers = [...signers, MALLORY];
      let tx = transferTx(inputs.map((i): OutPoint => ({ pos: i.pos, id: i.id })), outs, signers);
      if (op.defect === 'badsig') tx = withBadSig(tx);
      return { tx, kind: 'transfer', inputs, defect: op.defect, intermediary: '', outputSignersOf: outs.map((o) => o.signers) };
    }
    case 'redeem': {
      const coins = pick(unspentCoins(m), op.picks.slice(0, 2));
      if (coins.length === 0) return null;
      const total = coins.reduce((s, c) => s + c.value, 0n);
      const change = op.defect === 'empty' ? total + BigInt(op.change % 2) : BigInt(op.change) % total;
      const owner = ownerOf(op.owner);
      const outs = change > 0n ? [{ value: change, ...owner }] : [];
      const intermediary = op.bank === 4 ? NO_BANK : BANKS[op.bank % 2]!.id;
      let signers = signersOf(coins);
      if (op.defect === 'nolock') signers = signers.slice(0, -1);
      const tx = redeemTx(intermediary, coins, outs, signers, op.defect === 'opsig' ? MALLORY : OPERATOR);
      return {
        tx, kind: 'redeem', inputs: coins.map((c) => ({ pos: c.pos, known: true })), defect: op.defect, intermediary,
        outputSignersOf: outs.map((o) => o.signers),
      };
    }
    case 'doubleSpend': {
      const spent = spentCoins(m);
      if (spent.length === 0) return null;
      const coins = [spent[op.spent % spent.length]!, ...pick(unspentCoins(m), op.extra)];
      const total = coins.reduce((s, c) => s + c.value, 0n);
      const owner = ownerOf(op.owner);
      const tx = transferTx(coins, [{ value: total, lock: owner.lock }], signersOf(coins));
      return { tx, kind: 'transfer', inputs: coins.map((c) => ({ pos: c.pos, known: true })), defect: 'none', intermediary: '', outputSignersOf: [owner.signers] };
    }
    case 'replay':
      return history.length === 0 ? null : history[op.index % history.length]!;
  }
}

/** The result the ledger must give, and the model's in-batch working state after it. */
function predict(m: Model, p: Planned, attested: boolean, batchSpent: Set<bigint>, banks: Map<string, BankState>): ErrorCode | 'ok' {
  // prepare: against the committed state
  if (new Set(p.inputs.map((i) => i.pos)).size !== p.inputs.length) return 'CBDC_ERR_DUPLICATE_INPUT';
  let inSum = 0n;
  for (const i of p.inputs) {
    if (!i.known) return 'CBDC_ERR_UNKNOWN_INPUT';
    const c = m.coins[Number(i.pos)]!;
    if (c.spent) return 'CBDC_ERR_DOUBLE_SPEND';
    inSum += c.value;
  }
  const outSum = p.tx.outputs.reduce((s, o) => s + o.value, 0n);
  if (p.kind === 'transfer' && inSum !== outSum) return 'CBDC_ERR_UNBALANCED';
  if (p.kind === 'redeem' && inSum <= outSum) return 'CBDC_ERR_REDEMPTION_EMPTY';
  if (p.defect === 'opsig') return 'CBDC_ERR_OPERATOR_SIGNATURE';
  if (p.defect === 'nolock') return 'CBDC_ERR_LOCK_UNSATISFIED';
  if (p.defect === 'witness') return 'CBDC_ERR_WITNESS';
  if (p.defect === 'badsig' && !attested) return 'CBDC_ERR_BAD_SIGNATURE';
  // apply: against the batch's working state
  for (const i of p.inputs) if (batchSpent.has(i.pos)) return 'CBDC_ERR_DOUBLE_SPEND';
  if (p.kind !== 'transfer') {
    const b = banks.get(p.intermediary);
    if (b === undefined) return 'CBDC_ERR_INTERMEDIARY_UNKNOWN';
    if (p.kind === 'issue') {
      if (p.tx.serial !== b.nextSerial) return 'CBDC_ERR_ISSUE_SERIAL';
      if (b.issuedFen - b.redeemedFen + outSum > b.quotaFen) return 'CBDC_ERR_QUOTA_EXCEEDED';
      if (b.reserveFen < outSum) return 'CBDC_ERR_RESERVE_INSUFFICIENT';
      banks.set(p.intermediary, { ...b, issuedFen: b.issuedFen + outSum, reserveFen: b.reserveFen - outSum, nextSerial: b.nextSerial + 1n });
    } else {
      const destroyed = inSum - outSum;
      banks.set(p.intermediary, { ...b, redeemedFen: b.redeemedFen + destroyed, reserveFen: b.reserveFen + destroyed });
    }
  }
  for (const i of p.inputs) batchSpent.add(i.pos);
  return 'ok';
}

// ---------------------------------------------------------------------------------------
// Running one sequence

async function checkStore(fx: LedgerFixture, m: Model): Promise<void> {
  const supply = fx.store.supply();
  const unspent = unspentCoins(m);
  const unspentFen = unspent.reduce((s, c) => s + c.value, 0n);
  expect(supply.unspentFen).toBe(supply.issuedFen - supply.redeemedFen);
  expect(supply).toMatchObject({
    issuedFen: m.issuedFen, redeemedFen: m.redeemedFen, unspentFen, outputCount: BigInt(m.coins.length), spentCount: BigInt(m.coins.length - unspent.length),
  });
  const audit = fx.store.audit();
  expect(audit.problems).toEqual([]);
  expect(audit.ok).toBe(true);
  expect(audit.unspentRecomputedFen).toBe(audit.issuedFen - audit.redeemedFen);
  expect(audit.unspentRecomputedFen).toBe(unspentFen);
  expect(audit.unspentCount).toBe(BigInt(unspent.length));
  for (const c of m.coins) {
    expect(fx.store.isSpent(c.pos)).toBe(c.spent);
    const o = fx.store.getOutput(c.pos)!;
    expect(o.value).toBe(c.value);
    expect(o.id.equals(c.id)).toBe(true);
  }
  expect(fx.store.getOutput(BigInt(m.coins.length))).toBeUndefined();
  for (const [id, b] of m.banks) expect(fx.store.getIntermediary(id)).toMatchObject(b);
}

async function runSequence(durability: Durability, ops: readonly Op[]): Promise<void> {
  const fx = await LedgerFixture.open({ durability });
  try {
    for (const b of BANKS) await fx.register(b.id, b.key, b.quotaFen, b.reserveFen);
    const m = newModel();
    const history: Planned[] = [];
    for (const op of ops) {
      const singles = op.t === 'batch' ? op.ops : [op];
      const attested = op.t === 'batch' && op.attested;
      // Every transaction of a step is planned against the committed state, then submitted in one call.
      const planned = singles.map((s) => plan(m, s, history)).filter((p): p is Planned => p !== null);
      if (planned.length === 0) continue;
      const batchSpent = new Set<bigint>();
      const banks = new Map(m.banks);
      const expected = planned.map((p) => predict(m, p, attested, batchSpent, banks));
      const digestBefore = fx.store.digest();
      const txs = planned.map((p) => p.tx);
      const results = await fx.submit(txs, attested ? attest(txs, BANKS[0].key) : undefined);
      expect(results.map((r) => (r.ok ? 'ok' : r.code))).toEqual(expected);

      // Fold the accepted transactions into the model, in order.
      let nextPos = BigInt(m.coins.length);
      for (const [k, r] of results.entries()) {
        const p = planned[k]!;
        if (!r.ok) continue;
        expect(r.txid).toBe(txId(p.tx).toString('hex'));
        expect(r.firstPos).toBe(nextPos);
        for (const i of p.inputs) {
          // The no-double-spend property, over the whole run.
          expect(m.spentBy.has(i.pos), `position ${i.pos} spent twice`).toBe(false);
          m.spentBy.set(i.pos, r.txid);
          m.coins[Number(i.pos)]!.spent = true;
        }
        const txid = txId(p.tx);
        p.tx.outputs.forEach((o, index) => {
          const id = outputId(txid, index, o.value, o.lockBytes);
          expect(r.outputIds[index]!.equals(id)).toBe(true);
          m.coins.push({ pos: nextPos++, id, value: o.value, signers: p.outputSignersOf[index]!, spent: false });
        });
        const outSum = p.tx.outputs.reduce((s, o) => s + o.value, 0n);
        if (p.kind === 'issue') m.issuedFen += outSum;
        if (p.kind === 'redeem') m.redeemedFen += p.inputs.reduce((s, i) => s + m.coins[Number(i.pos)]!.value, 0n) - outSum;
      }
      m.banks = banks;
      if (results.every((r) => !r.ok)) expect(fx.store.digest()).toBe(digestBefore);
      for (const p of planned) if (!history.includes(p)) history.push(p);
      await checkStore(fx, m);
    }
    // What the run committed survives close and reopen unchanged.
    const digest = fx.store.digest();
    await fx.reopen();
    expect(fx.store.digest()).toBe(digest);
    await checkStore(fx, m);
  } finally {
    await fx.dispose();
  }
}

describe('Ledger property: no double spend, supply invariant, exact results', () => {
  it('holds for random operation sequences (nosync)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40, size: 'medium' }), (ops) => runSequence('nosync', ops)),
      { seed: 0x5eed_cbdc, numRuns: 40 },
    );
  }, 60_000);

  it('holds for random operation sequences (sync)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 20, size: 'medium' }), (ops) => runSequence('sync', ops)),
      { seed: 0x0bad_5eed, numRuns: 8 },
    );
  }, 60_000);
});
