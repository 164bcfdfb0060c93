// The LMDB store behind its narrow interface, driven with TxEffects directly (no Ledger):
// atomic batches, the spent bitmap, issuance rules at apply time, the batch stream,
// intermediaries, durability across reopen, digest and audit (including tampering).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import { CbdcError, type ErrorCode } from '../protocol/errors.js';
import { sha256 } from '../protocol/hash.js';
import { encodeLock } from '../protocol/lock.js';
import { outputId } from '../protocol/tx.js';
import { keyLock } from '../protocol/tx_builder.js';
import { DURABILITIES, type Durability, type EffectResult, type Intermediary, type TxEffect } from './store.js';
import { LmdbStore, SPENT_CHUNK_POSITIONS } from './store_lmdb.js';
import { keyPair } from '../test/helpers/ledger_fixture.js';

const LOCK = encodeLock(keyLock(keyPair('alice').pk));
const BANK_PK = keyPair('bank-a').pk.toString('hex');

function inter(id: string, publicKey: string, quotaFen: bigint, reserveFen: bigint): Intermediary {
  return { id, publicKey, quotaFen, reserveFen, issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n, registeredAtMs: 1 };
}

let txCounter = 0;
function effect(kind: TxEffect['kind'], inputs: { pos: bigint; value: bigint }[], values: bigint[], extra: { intermediary?: string; serial?: bigint } = {}): TxEffect {
  const txid = sha256(Buffer.from(`store-test-tx-${txCounter++}`));
  return {
    txid, kind,
    inputs: inputs.map((i) => i.pos),
    outputs: values.map((value, index) => ({ id: outputId(txid, index, value, LOCK), value, lockBytes: LOCK })),
    inputSumFen: inputs.reduce((s, i) => s + i.value, 0n),
    outputSumFen: values.reduce((s, v) => s + v, 0n),
    intermediary: extra.intermediary ?? '',
    serial: extra.serial ?? 0n,
  };
}

function codes(results: readonly EffectResult[]): (ErrorCode | 'ok')[] {
  return results.map((r) => (r.ok ? 'ok' : r.error.code));
}

describe.each(DURABILITIES)('LmdbStore, durability %s', (durability: Durability) => {
  let dir: string;
  let store: LmdbStore;
  let serial = 0n;
  const issue = (values: bigint[], intermediary = 'bank-a'): TxEffect => effect('issue', [], values, { intermediary, serial: serial++ });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cbdc-store-'));
    store = new LmdbStore({ path: dir, durability });
    serial = 0n;
    await store.registerIntermediary(inter('bank-a', BANK_PK, 10_000_000n, 10_000_000n));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a batch atomically and reports durability as configured', async () => {
    expect(store.durability).toBe(durability);
    const a = await store.apply([issue([100n, 200n]), issue([300n])], 1_000);
    expect(a).toEqual({ seq: 0n, timeMs: 1_000, durable: durability !== 'nosync', results: [{ ok: true, firstPos: 0n }, { ok: true, firstPos: 2n }] });
    const t = effect('transfer', [{ pos: 0n, value: 100n }, { pos: 2n, value: 300n }], [400n]);
    const b = await store.apply([t], 2_000);
    expect(codes(b.results)).toEqual(['ok']);
    expect(b.seq).toBe(1n);
    expect([0n, 1n, 2n, 3n].map((p) => store.isSpent(p))).toEqual([true, false, true, false]);
    expect(store.getOutput(3n)).toEqual({ pos: 3n, value: 400n, id: t.outputs[0]!.id, txid: t.txid, index: 0, batch: 1n, lockBytes: LOCK });
    expect(store.readOutputs(1n, 10).map((o) => o.pos)).toEqual([1n, 2n, 3n]);
    expect(store.supply()).toEqual({ issuedFen: 600n, redeemedFen: 0n, unspentFen: 600n, outputCount: 4n, spentCount: 2n, batchCount: 2n });
    expect(store.audit()).toMatchObject({ ok: true, unspentRecomputedFen: 600n, unspentCount: 2n, outputCount: 4n, problems: [] });
  });

  it('refuses a second spend of one position in the same batch and across batches', async () => {
    await store.apply([issue([10n, 20n])], 1);
    const d = store.digest();
    const spend0 = (): TxEffect => effect('transfer', [{ pos: 0n, value: 10n }], [10n]);
    const r = await store.apply([spend0(), spend0(), effect('transfer', [{ pos: 1n, value: 20n }, { pos: 0n, value: 10n }], [30n])], 2);
    expect(codes(r.results)).toEqual(['ok', 'CBDC_ERR_DOUBLE_SPEND', 'CBDC_ERR_DOUBLE_SPEND']);
    expect(store.digest()).not.toBe(d);
    expect(store.isSpent(1n)).toBe(false);
    const d2 = store.digest();
    const r2 = await store.apply([spend0()], 3);
    expect(r2.seq).toBe(-1n);
    expect(codes(r2.results)).toEqual(['CBDC_ERR_DOUBLE_SPEND']);
    expect(store.digest()).toBe(d2);
    expect(store.supply()).toMatchObject({ spentCount: 1n, batchCount: 2n, unspentFen: 30n });
  });

  it('refuses an effect that spends one position twice', async () => {
    await store.apply([issue([10n, 20n])], 1);
    const d = store.digest();
    const r = await store.apply([effect('transfer', [{ pos: 0n, value: 10n }, { pos: 0n, value: 10n }], [20n])], 2);
    expect(codes(r.results)).toEqual(['CBDC_ERR_DUPLICATE_INPUT']);
    expect(store.digest()).toBe(d);
    expect(store.audit().ok).toBe(true);
  });

  it('enforces serial, quota, reserve and the total issuance bound at apply time', async () => {
    await store.registerIntermediary(inter('bank-b', keyPair('bank-b').pk.toString('hex'), AMOUNT_FEN_MAX, AMOUNT_FEN_MAX));
    await store.registerIntermediary(inter('bank-c', keyPair('bank-c').pk.toString('hex'), AMOUNT_FEN_MAX, AMOUNT_FEN_MAX));
    await store.adjustIntermediary('bank-a', { quotaFen: 1_000n, reserveDeltaFen: -(10_000_000n - 500n) });
    const d = store.digest();
    const r = await store.apply([
      effect('issue', [], [1n], { intermediary: 'bank-a', serial: 1n }),
      effect('issue', [], [1_001n], { intermediary: 'bank-a', serial: 0n }),
      effect('issue', [], [501n], { intermediary: 'bank-a', serial: 0n }),
      effect('issue', [], [1n], { intermediary: 'nobody', serial: 0n }),
    ], 1);
    expect(codes(r.results)).toEqual(['CBDC_ERR_ISSUE_SERIAL', 'CBDC_ERR_QUOTA_EXCEEDED', 'CBDC_ERR_RESERVE_INSUFFICIENT', 'CBDC_ERR_INTERMEDIARY_UNKNOWN']);
    expect(r.seq).toBe(-1n);
    expect(store.digest()).toBe(d);
    const ok = await store.apply([
      effect('issue', [], [AMOUNT_FEN_MAX - 10n], { intermediary: 'bank-b', serial: 0n }),
      effect('issue', [], [11n], { intermediary: 'bank-c', serial: 0n }),
      effect('issue', [], [10n], { intermediary: 'bank-c', serial: 0n }),
    ], 2);
    expect(codes(ok.results)).toEqual(['ok', 'CBDC_ERR_AMOUNT_OVERFLOW', 'ok']);
    expect(store.supply().issuedFen).toBe(AMOUNT_FEN_MAX);
    expect(store.getIntermediary('bank-c')).toMatchObject({ nextSerial: 1n, issuedFen: 10n, reserveFen: AMOUNT_FEN_MAX - 10n });
    // Redemption credits the reserve, but never above AMOUNT_FEN_MAX.
    await store.registerIntermediary(inter('bank-d', keyPair('bank-d').pk.toString('hex'), 0n, AMOUNT_FEN_MAX));
    const red = await store.apply([effect('redeem', [{ pos: 1n, value: 10n }], [], { intermediary: 'bank-d' })], 3);
    expect(codes(red.results)).toEqual(['CBDC_ERR_AMOUNT_OVERFLOW']);
    const red2 = await store.apply([effect('redeem', [{ pos: 1n, value: 10n }], [4n], { intermediary: 'bank-c' })], 3);
    expect(codes(red2.results)).toEqual(['ok']);
    expect(store.getIntermediary('bank-c')).toMatchObject({ redeemedFen: 6n, reserveFen: AMOUNT_FEN_MAX - 4n });
    expect(store.audit()).toMatchObject({ ok: true, unspentRecomputedFen: AMOUNT_FEN_MAX - 6n });
  });

  it('writes nothing when a batch breaks an invariant (the write transaction aborts)', async () => {
    await store.apply([issue([10n, 20n])], 1);
    const d = store.digest();
    const before = store.supply();
    // The second effect does not conserve value, which the ledger guarantees never reaches apply.
    const bad = effect('transfer', [{ pos: 1n, value: 20n }], [25n]);
    await expect(store.apply([effect('transfer', [{ pos: 0n, value: 10n }], [10n]), bad], 2)).rejects.toThrow(/invariant violated/);
    expect(store.digest()).toBe(d);
    expect(store.supply()).toEqual(before);
    expect(store.isSpent(0n)).toBe(false);
    // The store still works afterwards.
    expect(codes((await store.apply([effect('transfer', [{ pos: 0n, value: 10n }], [10n])], 3)).results)).toEqual(['ok']);
  });

  it('keeps the spent bitmap right across chunk boundaries', async () => {
    const n = SPENT_CHUNK_POSITIONS + 8;
    const valueAt = (pos: bigint): bigint => (pos % 7n) + 1n;
    const values = Array.from({ length: n }, (_, i) => valueAt(BigInt(i)));
    await store.apply([issue(values.slice(0, 5_000)), issue(values.slice(5_000))], 1);
    const edge = [0n, 7n, 8n, BigInt(SPENT_CHUNK_POSITIONS - 1), BigInt(SPENT_CHUNK_POSITIONS), BigInt(n - 1)];
    const sum = edge.reduce((s, p) => s + valueAt(p), 0n);
    const r = await store.apply([effect('transfer', edge.map((p) => ({ pos: p, value: valueAt(p) })), [sum])], 2);
    expect(codes(r.results)).toEqual(['ok']);
    const unspent = [1n, 6n, 9n, BigInt(SPENT_CHUNK_POSITIONS - 2), BigInt(SPENT_CHUNK_POSITIONS + 1), BigInt(n - 2), BigInt(n), BigInt(n + 1), 1n << 40n];
    for (const p of edge) expect(store.isSpent(p)).toBe(true);
    for (const p of unspent) expect(store.isSpent(p)).toBe(false);
    // isSpent answers from a mirror of the committed bitmap, loaded again on open.
    await store.close();
    store = new LmdbStore({ path: dir, durability });
    for (const p of edge) expect(store.isSpent(p)).toBe(true);
    for (const p of unspent) expect(store.isSpent(p)).toBe(false);
    const total = values.reduce((s, v) => s + v, 0n);
    expect(store.audit()).toMatchObject({ ok: true, unspentRecomputedFen: total, unspentCount: BigInt(n - edge.length + 1), outputCount: BigInt(n + 1) });
    expect(store.supply().spentCount).toBe(BigInt(edge.length));
  });

  it('registers intermediaries once per id and per key, and adjusts them within bounds', async () => {
    await expect(store.registerIntermediary(inter('bank-a', keyPair('x').pk.toString('hex'), 1n, 1n))).rejects.toMatchObject({ code: 'CBDC_ERR_INTERMEDIARY_EXISTS' });
    await expect(store.registerIntermediary(inter('bank-z', BANK_PK, 1n, 1n))).rejects.toMatchObject({ code: 'CBDC_ERR_INTERMEDIARY_EXISTS' });
    await store.registerIntermediary(inter('bank-z', keyPair('bank-z').pk.toString('hex'), 1n, 1n));
    expect(store.listIntermediaries().map((i) => i.id)).toEqual(['bank-a', 'bank-z']);
    const d = store.digest();
    const refuse = async (p: Promise<unknown>, code: ErrorCode): Promise<void> => {
      const e = await p.then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(CbdcError);
      expect((e as CbdcError).code).toBe(code);
    };
    await refuse(store.adjustIntermediary('nobody', { reserveDeltaFen: 1n }), 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
    await refuse(store.adjustIntermediary('bank-z', { reserveDeltaFen: -2n }), 'CBDC_ERR_RESERVE_INSUFFICIENT');
    await refuse(store.adjustIntermediary('bank-z', { reserveDeltaFen: AMOUNT_FEN_MAX }), 'CBDC_ERR_AMOUNT_OVERFLOW');
    expect(store.digest()).toBe(d);
    expect(await store.adjustIntermediary('bank-z', { reserveDeltaFen: -1n, quotaFen: 7n })).toMatchObject({ reserveFen: 0n, quotaFen: 7n });
    expect(store.getIntermediary('bank-z')).toMatchObject({ reserveFen: 0n, quotaFen: 7n });
    expect(store.getIntermediary('nobody')).toBeUndefined();
  });

  it('reads the batch stream in order, from any sequence, with limits', async () => {
    const e0 = issue([5n, 6n]);
    const e1 = effect('transfer', [{ pos: 0n, value: 5n }], [2n, 3n]);
    const e2 = effect('redeem', [{ pos: 1n, value: 6n }, { pos: 2n, value: 2n }], [1n], { intermediary: 'bank-a' });
    await store.apply([e0], 10);
    await store.apply([e1, effect('transfer', [{ pos: 0n, value: 5n }], [5n])], 20);
    await store.apply([e2], 30);
    const all = store.readBatches(0n, 100);
    expect(all).toEqual([
      { seq: 0n, timeMs: 10, firstPos: 0n, outputCount: 2, txs: [{ txid: e0.txid, kind: 'issue', inputs: [], firstPos: 0n, outputCount: 2, intermediary: 'bank-a' }] },
      { seq: 1n, timeMs: 20, firstPos: 2n, outputCount: 2, txs: [{ txid: e1.txid, kind: 'transfer', inputs: [0n], firstPos: 2n, outputCount: 2, intermediary: '' }] },
      { seq: 2n, timeMs: 30, firstPos: 4n, outputCount: 1, txs: [{ txid: e2.txid, kind: 'redeem', inputs: [1n, 2n], firstPos: 4n, outputCount: 1, intermediary: 'bank-a' }] },
    ]);
    expect(store.readBatches(1n, 1)).toEqual([all[1]]);
    expect(store.readBatches(1n, 5)).toEqual(all.slice(1));
    expect(store.readBatches(9n, 5)).toEqual([]);
    expect(store.supply()).toMatchObject({ issuedFen: 11n, redeemedFen: 7n, unspentFen: 4n });
  });

  it('survives close and reopen with an identical digest', async () => {
    await store.apply([issue([100n, 200n, 300n])], 1);
    await store.apply([effect('transfer', [{ pos: 1n, value: 200n }], [150n, 50n])], 2);
    const digest = store.digest();
    const supply = store.supply();
    const audit = store.audit();
    await store.close();
    store = new LmdbStore({ path: dir, durability });
    expect(store.digest()).toBe(digest);
    expect(store.supply()).toEqual(supply);
    expect(store.audit()).toEqual(audit);
    expect(store.isSpent(1n)).toBe(true);
    expect(store.getIntermediary('bank-a')).toMatchObject({ issuedFen: 600n, nextSerial: 1n });
    expect(codes((await store.apply([effect('transfer', [{ pos: 1n, value: 200n }], [200n])], 3)).results)).toEqual(['CBDC_ERR_DOUBLE_SPEND']);
    expect((await store.apply([issue([1n])], 4)).results).toEqual([{ ok: true, firstPos: 5n }]);
  });

  it('audit finds a tampered ledger', async () => {
    await store.apply([issue([100n, 200n])], 1);
    await store.apply([effect('transfer', [{ pos: 0n, value: 100n }], [100n])], 2);
    expect(store.audit().ok).toBe(true);
    await store.close();
    // Clear the spent bit of position 0 behind the store's back: money appears from nowhere.
    const raw = open({ path: dir, maxDbs: 8 });
    const spent = raw.openDB<Buffer, Buffer>({ name: 'spent', keyEncoding: 'binary', encoding: 'binary' });
    const key = Buffer.alloc(8);
    const chunk = Buffer.from(spent.get(key)!);
    chunk[0] = chunk[0]! & ~1;
    await spent.put(key, chunk);
    await raw.close();
    store = new LmdbStore({ path: dir, durability });
    const a = store.audit();
    expect(a.ok).toBe(false);
    expect(a.unspentRecomputedFen).toBe(400n);
    expect(a.unspentRecordedFen).toBe(300n);
    expect(a.problems.join('\n')).toMatch(/sum\(unspent\) 400 != issued 300 - redeemed 0/);
    expect(a.problems.join('\n')).toMatch(/state says 1 spent, bitmap says 0/);
  });
});
