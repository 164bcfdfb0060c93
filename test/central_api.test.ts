// Central's HTTP API against a real node on a real port (in-process startCentral, port 0,
// LMDB in a temp dir): registration, request authentication, issuance and transfers, batches,
// attested verification, and every kind of bad input. Every refusal is checked to change
// nothing by comparing the store digest before and after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ERRORS, type ErrorCode } from '../protocol/errors.js';
import { CURVE_N, signHashNative } from '../protocol/sig.js';
import { txId, txToJson, type Tx } from '../protocol/tx.js';
import { keyLock, makeTx, operatorSignTx } from '../protocol/tx_builder.js';
import { type TxResult, batchMessage } from '../central/ledger.js';
import { BATCH_PARSE_WORKER_BYTES_MIN, batchReplyJson, compactBatchReplyJson, txResultJson } from '../central/api.js';
import { BATCH_WIRE_MEDIA_TYPE, type CompactBatchAnswer, encodeBatchWire, expandCompactAnswer } from '../protocol/batch_wire.js';
import {
  Client, type Coin, type HttpResponse, type InProcessCentral, type KeyPair, type SettledJson, checkErrorShape, coinsFrom, expectError, issueTx, json,
  keyPair, rawRequest, registerBank, seenErrors, signedHeaders, startInProcess, transferTx,
} from './helpers/http_fixture.js';

const alice = keyPair('alice');
const bob = keyPair('bob');
const carol = keyPair('carol');
const bankKey = keyPair('bank-a');
const bankBKey = keyPair('bank-b');

let c: InProcessCentral;
let bank: Client;
let beforeStartMs = 0;

beforeAll(async () => {
  beforeStartMs = Date.now();
  c = await startInProcess({ durability: 'sync', verification: 'full' });
  bank = await registerBank(c, 'bank-a', bankKey);
});

afterAll(async () => {
  await c?.dispose();
});


/** Issues one output per value to `owner` at bank-a's next serial (operator-signed). */
async function issue(central: InProcessCentral, values: bigint[], owner: KeyPair, intermediary = 'bank-a'): Promise<Coin[]> {
  const info = await central.op.get<{ next_serial: string }>(`/v1/intermediaries/${intermediary}`);
  expect(info.status).toBe(200);
  const outs = values.map((value) => ({ value, owner }));
  const tx = operatorSignTx(makeTx({
    kind: 'issue', network: central.network, intermediary, serial: BigInt(info.body.next_serial), inputs: [],
    outputs: outs.map((o) => ({ value: o.value, lock: keyLock(o.owner.pk) })),
  }), central.operator.sk);
  const r = await central.op.post<SettledJson>('/v1/transactions', txToJson(tx));
  expect(r.status, r.text).toBe(200);
  expect(r.body.status).toBe('settled');
  return coinsFrom(r.body, outs);
}

async function supply(central: InProcessCentral): Promise<{ issued_fen: string; redeemed_fen: string; unspent_fen: string; outputs: string; spent: string; batches: string }> {
  const r = await rawRequest(central.url, 'GET', '/v1/supply');
  expect(r.status).toBe(200);
  return r.body;
}

async function outputStatus(client: Client, coin: { pos: bigint; id: Buffer }): Promise<{ status: number; spent?: boolean; value?: string }> {
  const r = await client.get(`/v1/outputs/${coin.pos}?id=${coin.id.toString('hex')}`);
  return r.status === 200 ? { status: 200, spent: r.body.spent, value: r.body.value } : { status: r.status };
}

/** Runs `act` and asserts the ledger (of `central`, by default the full-mode one) is byte-for-byte unchanged afterwards. */
async function unchanged<T>(act: () => Promise<T>, central?: InProcessCentral): Promise<T> {
  const read = (): string => (central ?? c).node.store.digest();
  const before = read();
  const result = await act();
  expect(read()).toBe(before);
  return result;
}

// ---------------------------------------------------------------------------------------

describe('intermediary registration', () => {
  it('the operator registers an intermediary; its record reads back', async () => {
    const r = await c.op.post('/v1/intermediaries', { id: 'bank-b', public_key: bankBKey.pk.toString('hex'), quota_fen: '5000000', reserve_fen: '4000000' });
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ id: 'bank-b', public_key: bankBKey.pk.toString('hex'), quota_fen: '5000000', reserve_fen: '4000000', issued_fen: '0', next_serial: '0' });
    const b = new Client(c.url, c.network, 'bank-b', bankBKey.sk);
    const own = await b.get('/v1/intermediaries/bank-b');
    expect(own.status).toBe(200);
    expect(own.body.id).toBe('bank-b');
    // An intermediary reads only its own record.
    expectError(await b.get('/v1/intermediaries/bank-a'), 403, 'CBDC_ERR_FORBIDDEN');
    expectError(await c.op.get('/v1/intermediaries/no-such-bank'), 404, 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
    const list = await c.op.get('/v1/intermediaries');
    expect(list.status).toBe(200);
    expect(list.body.intermediaries.map((i: { id: string }) => i.id).sort()).toEqual(['bank-a', 'bank-b']);
  });

  it('a duplicate id or key is refused with 409 and changes nothing', async () => {
    await unchanged(async () => {
      const other = keyPair('other-key');
      expectError(await c.op.post('/v1/intermediaries', { id: 'bank-a', public_key: other.pk.toString('hex'), quota_fen: '1', reserve_fen: '1' }), 409, 'CBDC_ERR_INTERMEDIARY_EXISTS');
      expectError(await c.op.post('/v1/intermediaries', { id: 'bank-z', public_key: bankKey.pk.toString('hex'), quota_fen: '1', reserve_fen: '1' }), 409, 'CBDC_ERR_INTERMEDIARY_EXISTS');
      expectError(await c.op.post('/v1/intermediaries', { id: 'bank-y', public_key: c.operator.pk.toString('hex'), quota_fen: '1', reserve_fen: '1' }), 409, 'CBDC_ERR_INTERMEDIARY_EXISTS');
    });
  });

  it('an intermediary may not register intermediaries (403) and changes nothing', async () => {
    await unchanged(async () => {
      const k = keyPair('rogue');
      expectError(await bank.post('/v1/intermediaries', { id: 'rogue', public_key: k.pk.toString('hex'), quota_fen: '1', reserve_fen: '1' }), 403, 'CBDC_ERR_FORBIDDEN');
      expectError(await bank.post('/v1/intermediaries/bank-a/reserve', { deposit_fen: '1000' }), 403, 'CBDC_ERR_FORBIDDEN');
    });
    expect((await c.op.get('/v1/intermediaries/rogue')).status).toBe(404);
  });

  it('bad registration input is refused with its code', async () => {
    await unchanged(async () => {
      const k = keyPair('bad-reg');
      expectError(await c.op.post('/v1/intermediaries', { id: 'Bad_Id', public_key: k.pk.toString('hex'), quota_fen: '1', reserve_fen: '1' }), 400, 'CBDC_ERR_INTERMEDIARY_ID');
      expectError(await c.op.post('/v1/intermediaries', { id: 'ok-id', public_key: k.pk.toString('hex').toUpperCase(), quota_fen: '1', reserve_fen: '1' }), 400, 'CBDC_ERR_HEX_FORMAT');
      // 33 bytes of hex, but not a point on the curve.
      expectError(await c.op.post('/v1/intermediaries', { id: 'ok-id', public_key: '02' + 'ff'.repeat(32), quota_fen: '1', reserve_fen: '1' }), 400, 'CBDC_ERR_BAD_PUBLIC_KEY');
      expectError(await c.op.post('/v1/intermediaries', { id: 'ok-id', public_key: k.pk.toString('hex'), quota_fen: 1, reserve_fen: '1' }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
      expectError(await c.op.post('/v1/intermediaries', { id: 'ok-id', public_key: k.pk.toString('hex'), quota_fen: '1', reserve_fen: '1', extra: true }), 400, 'CBDC_ERR_SCHEMA');
      expectError(await c.op.post('/v1/intermediaries/bank-b/reserve', { withdraw_fen: '999999999999' }), 409, 'CBDC_ERR_RESERVE_INSUFFICIENT');
      expectError(await c.op.post('/v1/intermediaries/nobody/reserve', { deposit_fen: '1' }), 404, 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
    });
  });
});

// ---------------------------------------------------------------------------------------

describe('request authentication', () => {
  /** A valid operator-signed issuance body: accepted when the request is properly signed. */
  let body: Buffer;
  beforeAll(async () => {
    const info = await c.op.get<{ next_serial: string }>('/v1/intermediaries/bank-a');
    const tx = issueTx(c.network, c.operator, 'bank-a', BigInt(info.body.next_serial), [{ value: 777n, owner: alice }]);
    body = Buffer.from(JSON.stringify(json(tx)));
  });

  const send = (headers: Record<string, string>, b: Buffer = body, p = '/v1/transactions', method = 'POST') =>
    rawRequest(c.url, method, p, { headers, body: b });
  const opHeaders = (o: Parameters<Client['headersFor']>[3] = {}, p = '/v1/transactions', b: Buffer = body, method = 'POST') =>
    c.op.headersFor(method, p, b, o);

  it('an unsigned request is refused (401 CBDC_ERR_UNAUTHENTICATED) and changes nothing', async () => {
    await unchanged(async () => {
      expectError(await send({}), 401, 'CBDC_ERR_UNAUTHENTICATED');
      // Every header but the signature.
      const h = opHeaders();
      delete h['x-cbdc-signature'];
      expectError(await send(h), 401, 'CBDC_ERR_UNAUTHENTICATED');
      // Reads need a signature too.
      expectError(await rawRequest(c.url, 'GET', '/v1/audit'), 401, 'CBDC_ERR_UNAUTHENTICATED');
    });
  });

  it('an unknown signer is refused (401) and changes nothing', async () => {
    await unchanged(async () => {
      const stranger = keyPair('stranger');
      expectError(await send(signedHeaders(c.network, 'nobody', stranger.sk, 'POST', '/v1/transactions', body)), 401, 'CBDC_ERR_UNAUTHENTICATED');
    });
  });

  it('a signature by another key is refused (401 CBDC_ERR_REQUEST_SIGNATURE) and changes nothing', async () => {
    await unchanged(async () => {
      expectError(await send(opHeaders({ signWith: keyPair('stranger').sk })), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      // An intermediary's key claiming to be the operator.
      expectError(await send(opHeaders({ signWith: bankKey.sk })), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      // Signed for another network.
      expectError(await send(opHeaders({ network: 'other-net' })), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      // Malformed signature header.
      expectError(await send({ ...opHeaders(), 'x-cbdc-signature': 'zz' }), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
    });
  });

  it('a body altered after signing is refused and changes nothing', async () => {
    await unchanged(async () => {
      const h = opHeaders();
      const altered = Buffer.from(body.toString('utf8').replace('"777"', '"778"'));
      expect(altered.equals(body)).toBe(false);
      expectError(await send(h, altered), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      // Whitespace is a change too: the signature covers the exact bytes.
      expectError(await send(opHeaders(), Buffer.from(body.toString('utf8') + ' ')), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
    });
  });

  it('a path or method altered after signing is refused and changes nothing', async () => {
    await unchanged(async () => {
      expectError(await send(opHeaders({}, '/v1/batches')), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      expectError(await send(opHeaders(), body, '/v1/transactions?x=1'), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      expectError(await send(opHeaders({}, '/v1/transactions', body, 'PUT')), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
    });
  });

  it('a request 60 s in the past or the future is refused as stale and changes nothing', async () => {
    await unchanged(async () => {
      expectError(await send(opHeaders({ timeMs: Date.now() - 60_000 })), 401, 'CBDC_ERR_REQUEST_STALE');
      expectError(await send(opHeaders({ timeMs: Date.now() + 60_000 })), 401, 'CBDC_ERR_REQUEST_STALE');
      // Inside the window but signed before this node started (its nonce memory starts empty then).
      expect(Date.now() - beforeStartMs).toBeLessThan(25_000);
      expectError(await send(opHeaders({ timeMs: beforeStartMs - 1 })), 401, 'CBDC_ERR_REQUEST_STALE');
      // Not a number.
      expectError(await send({ ...opHeaders(), 'x-cbdc-time': 'soon' }), 401, 'CBDC_ERR_REQUEST_STALE');
    });
  });

  it('the same request replayed byte-for-byte is refused (401 CBDC_ERR_REQUEST_REPLAY) and changes nothing', async () => {
    // A deposit is not idempotent: a replay that got through would credit the reserve twice.
    const dep = Buffer.from(JSON.stringify({ deposit_fen: '100' }));
    const p = '/v1/intermediaries/bank-b/reserve';
    const h = c.op.headersFor('POST', p, dep);
    const before = (await c.op.get('/v1/intermediaries/bank-b')).body.reserve_fen as string;
    const first = await rawRequest(c.url, 'POST', p, { headers: h, body: dep });
    expect(first.status, first.text).toBe(200);
    expect(BigInt(first.body.reserve_fen)).toBe(BigInt(before) + 100n);
    await unchanged(async () => {
      expectError(await rawRequest(c.url, 'POST', p, { headers: h, body: dep }), 401, 'CBDC_ERR_REQUEST_REPLAY');
    });
    expect((await c.op.get('/v1/intermediaries/bank-b')).body.reserve_fen).toBe(first.body.reserve_fen);
    // A replayed transaction submission is refused the same way, before the ledger sees it.
    const h2 = opHeaders();
    const ok = await send(h2);
    expect(ok.status, ok.text).toBe(200);
    await unchanged(async () => {
      expectError(await send(h2), 401, 'CBDC_ERR_REQUEST_REPLAY');
    });
  });
});

// ---------------------------------------------------------------------------------------

describe('issuance, transfers, outputs, supply and audit', () => {
  it('issues, transfers between keys, and reports outputs as spent or unspent', async () => {
    const s0 = await supply(c);
    const [a1, a2, a3] = await issue(c, [1000n, 2000n, 3000n], alice);
    const s1 = await supply(c);
    expect(BigInt(s1.issued_fen) - BigInt(s0.issued_fen)).toBe(6000n);
    expect(BigInt(s1.unspent_fen)).toBe(BigInt(s1.issued_fen) - BigInt(s1.redeemed_fen));

    const o1 = await bank.get(`/v1/outputs/${a1!.pos}?id=${a1!.id.toString('hex')}`);
    expect(o1.status).toBe(200);
    expect(o1.body).toMatchObject({ pos: a1!.pos.toString(), id: a1!.id.toString('hex'), value: '1000', lock: { key: alice.pk.toString('hex') }, index: 0, spent: false });

    // alice pays bob 2500 from two outputs, with 500 change; an intermediary submits it.
    const outs = [{ value: 2500n, owner: bob }, { value: 500n, owner: alice }];
    const t1 = transferTx(c.network, [a1!, a2!], outs);
    const r1 = await bank.post<SettledJson>('/v1/transactions', json(t1));
    expect(r1.status, r1.text).toBe(200);
    expect(r1.body).toMatchObject({ status: 'settled', txid: txId(t1).toString('hex'), durable: true });
    const [b1, a4] = coinsFrom(r1.body, outs);
    expect(await outputStatus(bank, a1!)).toEqual({ status: 200, spent: true, value: '1000' });
    expect(await outputStatus(bank, a2!)).toEqual({ status: 200, spent: true, value: '2000' });
    expect(await outputStatus(bank, a3!)).toEqual({ status: 200, spent: false, value: '3000' });
    expect(await outputStatus(bank, b1!)).toEqual({ status: 200, spent: false, value: '2500' });
    expect(await outputStatus(bank, a4!)).toEqual({ status: 200, spent: false, value: '500' });

    // bob pays carol everything, submitted by the operator this time.
    const t2 = transferTx(c.network, [b1!], [{ value: 2500n, owner: carol }]);
    const r2 = await c.op.post<SettledJson>('/v1/transactions', json(t2));
    expect(r2.status, r2.text).toBe(200);
    expect(await outputStatus(bank, b1!)).toEqual({ status: 200, spent: true, value: '2500' });
    const o = await bank.get(`/v1/outputs/${r2.body.outputs[0]!.pos}?id=${r2.body.outputs[0]!.id}`);
    expect(o.body).toMatchObject({ value: '2500', lock: { key: carol.pk.toString('hex') }, spent: false, txid: txId(t2).toString('hex') });

    // Transfers move money, they do not create it.
    const s2 = await supply(c);
    expect(s2.issued_fen).toBe(s1.issued_fen);
    expect(s2.unspent_fen).toBe(s1.unspent_fen);
    expect(BigInt(s2.spent) - BigInt(s1.spent)).toBe(3n);
  });

  it('output lookups: a wrong id or a position past the end is 404; a malformed one is refused', async () => {
    const [coin] = await issue(c, [5n], alice);
    expectError(await bank.get(`/v1/outputs/${coin!.pos}?id=${'00'.repeat(32)}`), 404, 'CBDC_ERR_NOT_FOUND');
    expectError(await bank.get(`/v1/outputs/99999999?id=${coin!.id.toString('hex')}`), 404, 'CBDC_ERR_NOT_FOUND');
    expectError(await bank.get(`/v1/outputs/${coin!.pos}?id=${coin!.id.toString('hex').toUpperCase()}`), 400, 'CBDC_ERR_HEX_FORMAT');
    expectError(await bank.get(`/v1/outputs/-1`), 400, 'CBDC_ERR_SCHEMA');
    expectError(await bank.get(`/v1/outputs/${coin!.pos}?id=${coin!.id.toString('hex')}&x=1`), 400, 'CBDC_ERR_SCHEMA');
    // Without an id the position alone is looked up.
    const r = await bank.get(`/v1/outputs/${coin!.pos}`);
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(coin!.id.toString('hex'));
  });

  it('issuance moves the intermediary record; serials, quota and the operator signature are enforced', async () => {
    const before = (await c.op.get('/v1/intermediaries/bank-b')).body;
    const [coin] = await issue(c, [1_000_000n], alice, 'bank-b');
    expect(coin!.value).toBe(1_000_000n);
    const after = (await c.op.get('/v1/intermediaries/bank-b')).body;
    expect(BigInt(after.issued_fen) - BigInt(before.issued_fen)).toBe(1_000_000n);
    expect(BigInt(before.reserve_fen) - BigInt(after.reserve_fen)).toBe(1_000_000n);
    expect(BigInt(after.next_serial)).toBe(BigInt(before.next_serial) + 1n);

    await unchanged(async () => {
      const serial = BigInt(after.next_serial);
      // A replayed serial.
      const replay = issueTx(c.network, c.operator, 'bank-b', serial - 1n, [{ value: 1n, owner: alice }]);
      expectError(await c.op.post('/v1/transactions', json(replay)), 409, 'CBDC_ERR_ISSUE_SERIAL');
      // Over the quota (5,000,000 fen).
      const big = issueTx(c.network, c.operator, 'bank-b', serial, [{ value: 4_500_000n, owner: alice }]);
      expectError(await c.op.post('/v1/transactions', json(big)), 409, 'CBDC_ERR_QUOTA_EXCEEDED');
      // Signed by an intermediary instead of the operator: submitting it as the operator does not help.
      const forged = issueTx(c.network, bankKey, 'bank-b', serial, [{ value: 1n, owner: alice }]);
      expectError(await c.op.post('/v1/transactions', json(forged)), 403, 'CBDC_ERR_OPERATOR_SIGNATURE');
      const unsignedIssue = json(forged);
      delete unsignedIssue.witness.operator;
      expectError(await bank.post('/v1/transactions', unsignedIssue), 403, 'CBDC_ERR_OPERATOR_SIGNATURE');
      const nobody = issueTx(c.network, c.operator, 'no-such-bank', 0n, [{ value: 1n, owner: alice }]);
      expectError(await c.op.post('/v1/transactions', json(nobody)), 404, 'CBDC_ERR_INTERMEDIARY_UNKNOWN');
    });
  });

  it('GET /v1/supply holds the invariant; GET /v1/audit is for the operator only', async () => {
    const s = await supply(c);
    expect(BigInt(s.unspent_fen)).toBe(BigInt(s.issued_fen) - BigInt(s.redeemed_fen));
    const a = await c.op.get('/v1/audit');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ ok: true, problems: [], issued_fen: s.issued_fen, unspent_recomputed_fen: s.unspent_fen, unspent_recorded_fen: s.unspent_fen });
    await unchanged(async () => {
      expectError(await bank.get('/v1/audit'), 403, 'CBDC_ERR_FORBIDDEN');
    });
  });
});

// ---------------------------------------------------------------------------------------

describe('batches', () => {
  it('settles many transactions with a result per transaction, in order', async () => {
    const n = 60;
    const coins = await issue(c, Array.from({ length: n }, (_, i) => BigInt(100 + i)), alice);
    const txs: Tx[] = coins.map((coin, i) => transferTx(c.network, [coin], i % 2 === 0
      ? [{ value: coin.value, owner: bob }]
      : [{ value: 50n, owner: bob }, { value: coin.value - 50n, owner: carol }]));
    // Two that fail inside the ledger: unbalanced, and an unknown input.
    const unbalanced = transferTx(c.network, [coins[0]!], [{ value: coins[0]!.value + 1n, owner: bob }]);
    const unknown = transferTx(c.network, [{ ...coins[1]!, id: randomBytes(32) }], [{ value: coins[1]!.value, owner: bob }]);
    const all = [...txs.slice(0, 30), unbalanced, ...txs.slice(30), unknown];
    const r = await bank.post('/v1/batches', { transactions: all.map(json) });
    expect(r.status, r.text).toBe(200);
    expect(r.body.accepted).toBe(n);
    expect(r.body.rejected).toBe(2);
    expect(r.body.results).toHaveLength(all.length);
    all.forEach((tx, i) => expect(r.body.results[i].txid).toBe(txId(tx).toString('hex')));
    expect(r.body.results[30]).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_UNBALANCED' });
    expect(r.body.results[all.length - 1]).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_UNKNOWN_INPUT' });
    // A rejected result has the shape of an error response: {code, message, status, txid}.
    for (const res of r.body.results.filter((x: { status: string }) => x.status === 'rejected')) checkErrorShape(ERRORS[res.code as ErrorCode][0], res);
    const settled = r.body.results.filter((x: { status: string }) => x.status === 'settled');
    expect(settled).toHaveLength(n);
    for (const coin of [coins[0]!, coins[17]!, coins[n - 1]!]) expect((await outputStatus(bank, coin)).spent).toBe(true);
    // Each settled result names its outputs; look some up.
    const res = r.body.results[3] as SettledJson;
    expect(res.outputs).toHaveLength(2);
    const o = await bank.get(`/v1/outputs/${res.outputs[1]!.pos}?id=${res.outputs[1]!.id}`);
    expect(o.body).toMatchObject({ value: String(coins[3]!.value - 50n), spent: false, lock: { key: carol.pk.toString('hex') } });
  });

  it('a double spend within one batch settles exactly one of the two', async () => {
    const [coin] = await issue(c, [900n], alice);
    const t1 = transferTx(c.network, [coin!], [{ value: 900n, owner: bob }]);
    const t2 = transferTx(c.network, [coin!], [{ value: 900n, owner: carol }]);
    const r = await bank.post('/v1/batches', { transactions: [json(t1), json(t2)] });
    expect(r.status, r.text).toBe(200);
    const statuses = r.body.results.map((x: { status: string }) => x.status).sort();
    expect(statuses).toEqual(['rejected', 'settled']);
    const rejected = r.body.results.find((x: { status: string }) => x.status === 'rejected');
    expect(rejected.code).toBe('CBDC_ERR_DOUBLE_SPEND');
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect((await outputStatus(bank, coin!)).spent).toBe(true);
  });

  it('many conflicting spends of one output in flight at once: exactly one settles, the rest are double spends', async () => {
    const coins = await issue(c, [500n, 700n, 900n], alice);
    const before = await supply(c);
    const owners = [bob, carol];
    // 3 outputs x 16 different spends each (a resent identical transaction is a repeat, not a
    // conflict), all on the wire together, as single requests and batches.
    const sends = coins.flatMap((coin) => Array.from({ length: 16 }, (_, k) => {
      const split = BigInt(1 + k);
      const tx = transferTx(c.network, [coin], [{ value: coin.value - split, owner: owners[k % 2]! }, { value: split, owner: alice }]);
      return k % 4 === 0
        ? bank.post('/v1/batches', { transactions: [json(tx)] }).then((r) => ({ pos: coin.pos, status: r.body.results?.[0]?.status, code: r.body.results?.[0]?.code }))
        : bank.post('/v1/transactions', json(tx)).then((r) => ({ pos: coin.pos, status: r.status === 200 ? r.body.status : 'rejected', code: r.body.code }));
    }));
    const results = await Promise.all(sends);
    for (const coin of coins) {
      const mine = results.filter((r) => r.pos === coin.pos);
      expect(mine.filter((r) => r.status === 'settled'), `output ${coin.pos}`).toHaveLength(1);
      expect(mine.filter((r) => r.status !== 'settled').map((r) => r.code)).toEqual(Array(15).fill('CBDC_ERR_DOUBLE_SPEND'));
      expect((await outputStatus(bank, coin)).spent).toBe(true);
    }
    const after = await supply(c);
    expect(after.unspent_fen).toBe(before.unspent_fen);
    expect(BigInt(after.outputs) - BigInt(before.outputs)).toBe(6n);
    expect(BigInt(after.spent) - BigInt(before.spent)).toBe(3n);
  });

  it('a batch holding one malformed transaction is refused whole with its code and changes nothing', async () => {
    const coins = await issue(c, [10n, 20n, 30n], alice);
    const good = coins.map((coin) => json(transferTx(c.network, [coin], [{ value: coin.value, owner: bob }])));
    await unchanged(async () => {
      const badNet = { ...good[1]!, network: 'other-net' };
      const r1 = await bank.post('/v1/batches', { transactions: [good[0], badNet, good[2]] });
      expectError(r1, 400, 'CBDC_ERR_NETWORK_ID');
      expect(r1.body.message).toMatch(/^transaction 1:/);
      const badAmount = { ...good[2]!, outputs: [{ ...good[2]!.outputs[0]!, value: 30 }] };
      expectError(await bank.post('/v1/batches', { transactions: [good[0], good[1], badAmount] }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
      const badZero = { ...good[2]!, outputs: [{ ...good[2]!.outputs[0]!, value: '0' }] };
      expectError(await bank.post('/v1/batches', { transactions: [good[0], badZero] }), 400, 'CBDC_ERR_AMOUNT_RANGE');
      expectError(await bank.post('/v1/batches', { transactions: [] }), 413, 'CBDC_ERR_BATCH_TOO_LARGE');
      expectError(await bank.post('/v1/batches', { transactions: good, extra: 1 }), 400, 'CBDC_ERR_SCHEMA');
    });
    for (const coin of coins) expect((await outputStatus(bank, coin)).spent).toBe(false);
  });

  it('a large batch, parsed on a worker thread, answers and refuses exactly as a small one parsed here', async () => {
    expect(c.node.ledger.workerPool?.threads ?? 0).toBeGreaterThan(0);
    const coins: Coin[] = [];
    for (let k = 0; k < 3; k++) coins.push(...await issue(c, Array.from({ length: 60 }, (_, i) => BigInt(1_000 + 60 * k + i)), alice));
    const txs = coins.map((coin) => json(transferTx(c.network, [coin], [{ value: coin.value, owner: bob }])));
    const body = { transactions: txs };
    expect(Buffer.byteLength(JSON.stringify(body))).toBeGreaterThan(BATCH_PARSE_WORKER_BYTES_MIN);
    expect(Buffer.byteLength(JSON.stringify({ transactions: txs.slice(0, 41) }))).toBeLessThan(BATCH_PARSE_WORKER_BYTES_MIN);
    await unchanged(async () => {
      // The same bad transaction at index 40: the same status, code and message either way.
      const bads = [
        { ...txs[40]!, network: 'other-net' }, { ...txs[40]!, outputs: [{ ...txs[40]!.outputs[0]!, value: 30 }] },
        { ...txs[40]!, extra: 1 }, { ...txs[40]!, inputs: [txs[40]!.inputs[0], txs[40]!.inputs[0]] },
      ];
      for (const bad of bads) {
        const small = await bank.post('/v1/batches', { transactions: [...txs.slice(0, 40), bad] });
        const large = await bank.post('/v1/batches', { transactions: [...txs.slice(0, 40), bad, ...txs.slice(41)] });
        expect(small.status).toBe(400);
        expect(large.status).toBe(small.status);
        expect(large.body).toEqual(small.body);
      }
      const text = JSON.stringify(body);
      expectError(await bank.request('POST', '/v1/batches', text.slice(0, -1), { raw: true }), 400, 'CBDC_ERR_SCHEMA');
      expectError(await bank.request('POST', '/v1/batches', `{"__proto__": {"x": 1}, ${text.slice(1)}`, { raw: true }), 400, 'CBDC_ERR_SCHEMA');
    });
    const r = await bank.post('/v1/batches', body);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ accepted: coins.length, rejected: 0 });
    coins.forEach((coin, i) => expect(r.body.results[i]).toMatchObject({ status: 'settled', txid: txId(transferTx(c.network, [coin], [{ value: coin.value, owner: bob }])).toString('hex') }));
    const res = r.body.results[123] as SettledJson;
    expect((await bank.get(`/v1/outputs/${res.outputs[0]!.pos}?id=${res.outputs[0]!.id}`)).body).toMatchObject({ value: String(coins[123]!.value), spent: false });
    for (const coin of [coins[0]!, coins[179]!]) expect((await outputStatus(bank, coin)).spent).toBe(true);
    // Sent again whole (a lost answer): each transaction is answered with its settlement, nothing settles twice.
    const again = await unchanged(() => bank.post('/v1/batches', body));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(r.body);
  });

  it('in the binary form: the same settlement, a compact answer that expands to the JSON answer, the same refusals', async () => {
    const coins: Coin[] = [];
    for (let k = 0; k < 7; k++) coins.push(...await issue(c, Array.from({ length: 60 }, (_, i) => BigInt(5_000 + 60 * k + i)), alice));
    const txs = coins.map((coin, i) => transferTx(c.network, [coin], i % 3 === 0
      ? [{ value: 7n, owner: bob }, { value: coin.value - 7n, owner: carol }]
      : [{ value: coin.value, owner: bob }]));
    const wire = (list: Tx[]): Promise<HttpResponse<CompactBatchAnswer & { code?: string; message?: string }>> => bank.request('POST', '/v1/batches', encodeBatchWire(list), { raw: true, contentType: BATCH_WIRE_MEDIA_TYPE });
    const small = txs.slice(0, 20);
    const large = txs.slice(20);
    expect(encodeBatchWire(small).length).toBeLessThan(BATCH_PARSE_WORKER_BYTES_MIN);
    expect(encodeBatchWire(large).length).toBeGreaterThan(BATCH_PARSE_WORKER_BYTES_MIN);
    await unchanged(async () => {
      // The same bad transaction at index 10, parsed here and on a worker thread: the refusal JSON gets.
      const bads: Tx[] = [{ ...txs[30]!, network: 'other-net' }, { ...txs[30]!, inputs: [txs[30]!.inputs[0]!, txs[30]!.inputs[0]!] }, { ...txs[30]!, sigs: [] }];
      for (const bad of bads) {
        const asJson = await bank.post('/v1/batches', { transactions: [...small.slice(0, 10), bad].map(json) });
        expect(asJson.status).toBe(400);
        for (const list of [[...small.slice(0, 10), bad], [...large.slice(0, 10), bad, ...large.slice(11)]]) {
          const r = await wire(list);
          expect(r.status).toBe(asJson.status);
          expect(r.body).toEqual(asJson.body);
        }
      }
      expectError(await bank.request('POST', '/v1/batches', encodeBatchWire(small).subarray(0, 100), { raw: true, contentType: BATCH_WIRE_MEDIA_TYPE }), 400, 'CBDC_ERR_SCHEMA');
      // A binary body sent as JSON is not JSON.
      expectError(await bank.request('POST', '/v1/batches', encodeBatchWire(small), { raw: true }), 400, 'CBDC_ERR_SCHEMA');
    });
    // One transaction spends what another in the batch spends: exactly one settles.
    const double = transferTx(c.network, [coins[0]!], [{ value: coins[0]!.value, owner: carol }]);
    for (const list of [[...small, double], [...large, double]]) {
      const r = await wire(list);
      expect(r.status, r.text).toBe(200);
      expect(r.body).toMatchObject({ accepted: list.length - 1, rejected: 1, durable: true });
      expect(r.body.results[list.length - 1]).toMatchObject({ txid: txId(double).toString('hex'), code: 'CBDC_ERR_DOUBLE_SPEND' });
      // The same transactions as JSON now: each answered with its settlement, which the compact answer expands to.
      const again = await unchanged(() => bank.post('/v1/batches', { transactions: list.slice(0, -1).map(json) }));
      expect(again.status).toBe(200);
      const expanded = expandCompactAnswer(list.slice(0, -1), { ...r.body, results: r.body.results.slice(0, -1) });
      expect(expanded).toEqual(again.body.results.map(({ durable: _d, ...rest }: { durable: boolean }) => rest));
    }
    for (const coin of [coins[0]!, coins[419]!]) expect((await outputStatus(bank, coin)).spent).toBe(true);
  });

  it('the compact answer is the JSON its type says', () => {
    const results: TxResult[] = [
      { ok: true, txid: 'ab'.repeat(32), batch: 12n, firstPos: 1n << 60n, outputIds: [randomBytes(32)], durable: true },
      { ok: false, txid: null, code: 'CBDC_ERR_DOUBLE_SPEND', message: 'output "1" \\ spent\n' },
      { ok: true, txid: 'cd'.repeat(32), batch: 13n, firstPos: 7n, outputIds: [], durable: false },
    ];
    expect(JSON.parse(compactBatchReplyJson(results))).toEqual({
      accepted: 2, rejected: 1, durable: false,
      results: [['12', String(1n << 60n)], { txid: null, code: 'CBDC_ERR_DOUBLE_SPEND', message: 'output "1" \\ spent\n' }, ['13', '7']],
    });
    expect(JSON.parse(compactBatchReplyJson([]))).toEqual({ accepted: 0, rejected: 0, durable: true, results: [] });
  });

  it('the batch answer is written as JSON.stringify would write it', () => {
    const results: TxResult[] = [];
    for (let i = 0; i < 50; i++) {
      results.push(i % 7 === 3
        ? { ok: false, txid: i % 2 === 0 ? null : randomBytes(32).toString('hex'), code: 'CBDC_ERR_DOUBLE_SPEND', message: `output "${i}" \\ spent\n` }
        : { ok: true, txid: randomBytes(32).toString('hex'), batch: BigInt(i) * 1_000_003n, firstPos: (1n << 40n) + BigInt(i), outputIds: Array.from({ length: i % 4 }, () => randomBytes(32)), durable: i % 5 !== 0 });
    }
    for (const list of [[], results.slice(0, 1), results]) {
      const accepted = list.filter((r) => r.ok).length;
      expect(batchReplyJson(list)).toBe(JSON.stringify({ accepted, rejected: list.length - accepted, results: list.map(txResultJson) }));
    }
  });

  it('in full mode an attestation does not bypass witness checks', async () => {
    const [coin] = await issue(c, [4242n], alice);
    const tx = makeTx({ network: c.network, inputs: [{ pos: coin!.pos, id: coin!.id }], outputs: [{ value: 4242n, lock: keyLock(bob.pk) }] });
    // alice's key, but a signature over some other hash.
    const forged: Tx = { ...tx, sigs: [{ key: alice.pk, sig: signHashNative(alice.sk, randomBytes(32)) }] };
    const attestation = signHashNative(bankKey.sk, batchMessage(c.network, [txId(forged)])).toString('hex');
    await unchanged(async () => {
      const r = await bank.post('/v1/batches', { transactions: [json(forged)], attestation });
      expect(r.status, r.text).toBe(200);
      expect(r.body.results[0]).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_BAD_SIGNATURE' });
    });
    expect((await outputStatus(bank, coin!)).spent).toBe(false);
  });
});

describe('attested verification mode', () => {
  let a: InProcessCentral;
  let abank: Client;
  beforeAll(async () => {
    a = await startInProcess({ durability: 'sync', verification: 'attested' });
    abank = await registerBank(a, 'bank-a', bankKey);
  });
  afterAll(async () => {
    await a?.dispose();
  });

  const attest = (signer: KeyPair, txs: Tx[], network = a.network): string => signHashNative(signer.sk, batchMessage(network, txs.map(txId))).toString('hex');

  it('a batch attested by its submitting intermediary is accepted', async () => {
    const coins = await issue(a, [11n, 22n, 33n, 44n], alice);
    const txs = coins.map((coin) => transferTx(a.network, [coin], [{ value: coin.value, owner: bob }]));
    const r = await abank.post('/v1/batches', { transactions: txs.map(json), attestation: attest(bankKey, txs) });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ accepted: 4, rejected: 0 });
    for (const coin of coins) expect((await outputStatus(abank, coin)).spent).toBe(true);
  });

  it('a wrong attestation rejects every transaction with CBDC_ERR_BATCH_SIGNATURE and changes nothing', async () => {
    const coins = await issue(a, [5n, 6n, 7n], alice);
    const txs = coins.map((coin) => transferTx(a.network, [coin], [{ value: coin.value, owner: carol }]));
    const before = a.node.store.digest();
    const cases: [string, string][] = [
      ['another key', attest(keyPair('stranger'), txs)],
      ['other txids', attest(bankKey, txs.slice(0, 2))],
      ['another network', attest(bankKey, txs, 'other-net')],
      ['txids in another order', attest(bankKey, [...txs].reverse())],
    ];
    for (const [what, attestation] of cases) {
      const r = await abank.post('/v1/batches', { transactions: txs.map(json), attestation });
      expect(r.status, what).toBe(200);
      expect(r.body, what).toMatchObject({ accepted: 0, rejected: 3 });
      for (const res of r.body.results) expect(res, what).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_BATCH_SIGNATURE' });
    }
    // The bank's valid attestation submitted under the operator's name does not verify either.
    const r = await a.op.post('/v1/batches', { transactions: txs.map(json), attestation: attest(bankKey, txs) });
    for (const res of r.body.results) expect(res).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_BATCH_SIGNATURE' });
    expect(a.node.store.digest()).toBe(before);
    for (const coin of coins) expect((await outputStatus(abank, coin)).spent).toBe(false);
  });

  it('in the binary form: attested by its submitting intermediary, accepted; attested wrongly, every transaction refused', async () => {
    const coins = await issue(a, [61n, 62n, 63n], alice);
    const txs = coins.map((coin) => transferTx(a.network, [coin], [{ value: coin.value, owner: bob }]));
    const post = (attestation: string): Promise<HttpResponse<CompactBatchAnswer>> => abank.request('POST', '/v1/batches', encodeBatchWire(txs, Buffer.from(attestation, 'hex')), { raw: true, contentType: BATCH_WIRE_MEDIA_TYPE });
    const wrong = await unchanged(() => post(attest(keyPair('stranger'), txs)), a);
    expect(wrong.body).toMatchObject({ accepted: 0, rejected: 3 });
    for (const res of wrong.body.results) expect(res).toMatchObject({ code: 'CBDC_ERR_BATCH_SIGNATURE' });
    const r = await post(attest(bankKey, txs));
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ accepted: 3, rejected: 0 });
    for (const coin of coins) expect((await outputStatus(abank, coin)).spent).toBe(true);
  });

  it('the ledger rules still hold for attested batches; without an attestation witnesses are verified', async () => {
    const [coin] = await issue(a, [100n], alice);
    const unbalanced = transferTx(a.network, [coin!], [{ value: 101n, owner: bob }]);
    const r1 = await abank.post('/v1/batches', { transactions: [json(unbalanced)], attestation: attest(bankKey, [unbalanced]) });
    expect(r1.body.results[0]).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_UNBALANCED' });
    const tx = makeTx({ network: a.network, inputs: [{ pos: coin!.pos, id: coin!.id }], outputs: [{ value: 100n, lock: keyLock(bob.pk) }] });
    const forged: Tx = { ...tx, sigs: [{ key: alice.pk, sig: signHashNative(alice.sk, randomBytes(32)) }] };
    const r2 = await abank.post('/v1/batches', { transactions: [json(forged)] });
    expect(r2.body.results[0]).toMatchObject({ status: 'rejected', code: 'CBDC_ERR_BAD_SIGNATURE' });
    expectError(await abank.post('/v1/transactions', json(forged)), 403, 'CBDC_ERR_BAD_SIGNATURE');
    expect((await outputStatus(abank, coin!)).spent).toBe(false);
    const audit = await a.op.get('/v1/audit');
    expect(audit.body.ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------

describe('bad input: each refused with its status and code, ledger unchanged', () => {
  let coin: Coin;
  let spentCoin: Coin;
  /** A valid transfer of `coin` (alice -> bob), as JSON, to mutate. */
  let base: () => any;

  beforeAll(async () => {
    const coins = await issue(c, [10_000n, 20_000n], alice);
    coin = coins[0]!;
    spentCoin = coins[1]!;
    const tx = transferTx(c.network, [coin], [{ value: 4_000n, owner: bob }, { value: 6_000n, owner: alice }]);
    const j = JSON.stringify(json(tx));
    base = () => JSON.parse(j);
    const spend = transferTx(c.network, [spentCoin], [{ value: 20_000n, owner: bob }]);
    const r = await bank.post('/v1/transactions', json(spend));
    expect(r.status, r.text).toBe(200);
  });

  /** Posts `body` (JSON value, or raw text with raw: true) and expects the refusal, with nothing changed. */
  async function refused(body: unknown, status: number, code: ErrorCode, raw = false): Promise<void> {
    await unchanged(async () => {
      expectError(await bank.request('POST', '/v1/transactions', body, { raw }), status, code);
    });
  }

  it('an amount as a JSON number', async () => {
    const t = base();
    t.outputs[0].value = 4000;
    await refused(t, 400, 'CBDC_ERR_AMOUNT_FORMAT');
  });

  it('a fractional amount "1.5"', async () => {
    const t = base();
    t.outputs[0].value = '1.5';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_FORMAT');
  });

  it('a negative amount "-1"', async () => {
    const t = base();
    t.outputs[0].value = '-1';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_FORMAT');
  });

  it('an amount with a leading zero or a sign', async () => {
    const t = base();
    t.outputs[0].value = '04000';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_FORMAT');
    t.outputs[0].value = '+4000';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_FORMAT');
    t.outputs[0].value = '4e3';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_FORMAT');
  });

  it('a zero-value output', async () => {
    const t = base();
    t.outputs[0].value = '0';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_RANGE');
  });

  it('an amount above the bound "1000000000000000001"', async () => {
    const t = base();
    t.outputs[0].value = '1000000000000000001';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_RANGE');
    t.outputs[0].value = '9999999999999999999';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_RANGE');
  });

  it('outputs whose sum overflows the bound', async () => {
    const t = base();
    t.outputs[0].value = '1000000000000000000';
    t.outputs[1].value = '1000000000000000000';
    await refused(t, 400, 'CBDC_ERR_AMOUNT_OVERFLOW');
  });

  it('duplicate inputs', async () => {
    const t = base();
    t.inputs.push({ ...t.inputs[0] });
    await refused(t, 400, 'CBDC_ERR_DUPLICATE_INPUT');
  });

  it('an unknown input (no output at that position, or another id there)', async () => {
    const t1 = json(transferTx(c.network, [{ ...coin, pos: 9_999_999n }], [{ value: 10_000n, owner: bob }]));
    await refused(t1, 404, 'CBDC_ERR_UNKNOWN_INPUT');
    const t2 = json(transferTx(c.network, [{ ...coin, id: randomBytes(32) }], [{ value: 10_000n, owner: bob }]));
    await refused(t2, 404, 'CBDC_ERR_UNKNOWN_INPUT');
  });

  it('an input already spent', async () => {
    const t = json(transferTx(c.network, [spentCoin], [{ value: 20_000n, owner: carol }]));
    await refused(t, 409, 'CBDC_ERR_DOUBLE_SPEND');
  });

  it('an unbalanced transfer (more out than in, and less)', async () => {
    await refused(json(transferTx(c.network, [coin], [{ value: 10_001n, owner: bob }])), 400, 'CBDC_ERR_UNBALANCED');
    await refused(json(transferTx(c.network, [coin], [{ value: 9_999n, owner: bob }])), 400, 'CBDC_ERR_UNBALANCED');
  });

  it('a bad signature', async () => {
    const t = base();
    // A valid low-S signature by alice's key, but over another message.
    t.witness.sigs[0].sig = signHashNative(alice.sk, randomBytes(32)).toString('hex');
    await refused(t, 403, 'CBDC_ERR_BAD_SIGNATURE');
    // The signature of another transaction.
    const other = transferTx(c.network, [coin], [{ value: 10_000n, owner: carol }]);
    t.witness.sigs[0].sig = other.sigs[0]!.sig.toString('hex');
    await refused(t, 403, 'CBDC_ERR_BAD_SIGNATURE');
  });

  it('a witness by a key the lock does not name', async () => {
    const t = json(transferTx(c.network, [{ ...coin, owner: bob }], [{ value: 10_000n, owner: bob }]));
    await refused(t, 403, 'CBDC_ERR_LOCK_UNSATISFIED');
    const none = base();
    none.witness.sigs = [];
    await refused(none, 400, 'CBDC_ERR_WITNESS');
  });

  it('a high-S signature (the malleable twin of a valid one)', async () => {
    const t = base();
    const sig = Buffer.from(t.witness.sigs[0].sig, 'hex');
    const s = BigInt('0x' + sig.subarray(32).toString('hex'));
    const high = Buffer.concat([sig.subarray(0, 32), Buffer.from((CURVE_N - s).toString(16).padStart(64, '0'), 'hex')]);
    t.witness.sigs[0].sig = high.toString('hex');
    await refused(t, 400, 'CBDC_ERR_HIGH_S');
  });

  it('malformed hex and wrong lengths', async () => {
    const cases: [string, (t: any) => void][] = [
      ['uppercase id', (t) => { t.inputs[0].id = t.inputs[0].id.toUpperCase(); }],
      ['short id', (t) => { t.inputs[0].id = t.inputs[0].id.slice(2); }],
      ['long id', (t) => { t.inputs[0].id += '00'; }],
      ['odd id', (t) => { t.inputs[0].id = t.inputs[0].id.slice(1); }],
      ['non-hex id', (t) => { t.inputs[0].id = 'g' + t.inputs[0].id.slice(1); }],
      ['short signature', (t) => { t.witness.sigs[0].sig = t.witness.sigs[0].sig.slice(2); }],
      ['long signature', (t) => { t.witness.sigs[0].sig += '00'; }],
      ['short witness key', (t) => { t.witness.sigs[0].key = t.witness.sigs[0].key.slice(2); }],
      ['id as a number', (t) => { t.inputs[0].id = 12; }],
    ];
    for (const [what, mutate] of cases) {
      const t = base();
      mutate(t);
      await unchanged(async () => {
        const r = await bank.post('/v1/transactions', t);
        expect(r.body.code, what).toBe('CBDC_ERR_HEX_FORMAT');
        expectError(r, 400, 'CBDC_ERR_HEX_FORMAT');
      });
    }
    // A lock key of the wrong length is a malformed lock.
    const t = base();
    t.outputs[0].lock.key = t.outputs[0].lock.key.slice(2);
    await refused(t, 400, 'CBDC_ERR_LOCK_FORMAT');
  });

  it('too many inputs (65) or outputs (65), or none', async () => {
    const t = base();
    t.inputs = Array.from({ length: 65 }, (_, i) => ({ pos: String(i), id: coin.id.toString('hex') }));
    await refused(t, 400, 'CBDC_ERR_TOO_MANY_INPUTS');
    const t2 = base();
    t2.outputs = Array.from({ length: 65 }, () => ({ value: '1', lock: { key: bob.pk.toString('hex') } }));
    await refused(t2, 400, 'CBDC_ERR_TOO_MANY_OUTPUTS');
    const t3 = base();
    t3.inputs = [];
    await refused(t3, 400, 'CBDC_ERR_TOO_MANY_INPUTS');
    const t4 = base();
    t4.outputs = [];
    await refused(t4, 400, 'CBDC_ERR_TOO_MANY_OUTPUTS');
  });

  it('a body larger than 8 MiB (413)', async () => {
    const t = base();
    const pad = 'a'.repeat(8 * 1024 * 1024 + 16);
    const body = JSON.stringify({ ...t, pad });
    await unchanged(async () => {
      let res;
      try {
        res = await bank.request('POST', '/v1/transactions', body, { raw: true });
      } catch (e) {
        throw new Error(`the server should answer 413, not drop the connection: ${(e as Error).message}`);
      }
      expectError(res, 413, 'CBDC_ERR_BODY_TOO_LARGE');
    });
    // The node is still serving.
    expect((await rawRequest(c.url, 'GET', '/v1/health')).status).toBe(200);
  });

  it('another network id', async () => {
    const t = base();
    t.network = 'cbdc-mainnet';
    await refused(t, 400, 'CBDC_ERR_NETWORK_ID');
    // A transaction built and signed for another network fails the same way.
    const other = json(transferTx('cbdc-other', [coin], [{ value: 10_000n, owner: bob }]));
    await refused(other, 400, 'CBDC_ERR_NETWORK_ID');
  });

  it('an unknown field, anywhere', async () => {
    const top = { ...base(), memo: 'hi' };
    await refused(top, 400, 'CBDC_ERR_SCHEMA');
    const inp = base();
    inp.inputs[0].extra = '1';
    await refused(inp, 400, 'CBDC_ERR_SCHEMA');
    const out = base();
    out.outputs[0].note = 'x';
    await refused(out, 400, 'CBDC_ERR_SCHEMA');
    const wit = base();
    wit.witness.extra = [];
    await refused(wit, 400, 'CBDC_ERR_SCHEMA');
    const lock = base();
    lock.outputs[0].lock = { key: bob.pk.toString('hex'), also: 1 };
    await refused(lock, 400, 'CBDC_ERR_LOCK_FORMAT');
    const kind = base();
    kind.kind = 'mint';
    await refused(kind, 400, 'CBDC_ERR_TX_KIND');
  });

  it('no type coercion: "serial": 5, "pos": 3 and amount 100 are refused where strings belong', async () => {
    const info = await c.op.get('/v1/intermediaries/bank-a');
    const issue = json(issueTx(c.network, c.operator, 'bank-a', BigInt(info.body.next_serial), [{ value: 100n, owner: alice }]));
    const asNumber = { ...issue, serial: Number(issue.serial) };
    await unchanged(async () => {
      expectError(await c.op.post('/v1/transactions', asNumber), 400, 'CBDC_ERR_SCHEMA');
      const amountNumber = { ...issue, outputs: [{ ...issue.outputs[0]!, value: 100 }] };
      expectError(await c.op.post('/v1/transactions', amountNumber), 400, 'CBDC_ERR_AMOUNT_FORMAT');
    });
    const posNumber = base();
    posNumber.inputs[0].pos = Number(posNumber.inputs[0].pos);
    await refused(posNumber, 400, 'CBDC_ERR_SCHEMA');
    const kString = base();
    kString.outputs[0].lock = { multi: { k: '1', keys: [bob.pk.toString('hex')] } };
    await refused(kString, 400, 'CBDC_ERR_LOCK_FORMAT');
    const boolAmount = base();
    boolAmount.outputs[0].value = true;
    await refused(boolAmount, 400, 'CBDC_ERR_AMOUNT_FORMAT');
    // The same issuance with the string forms is accepted.
    const ok = await c.op.post('/v1/transactions', issue);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.status).toBe('settled');
  });

  it('invalid JSON, an empty body and a non-JSON content type', async () => {
    const text = JSON.stringify(base());
    await refused(text.slice(0, -1), 400, 'CBDC_ERR_SCHEMA', true);
    await refused(text + '}', 400, 'CBDC_ERR_SCHEMA', true);
    await refused("{'kind': 'transfer'}", 400, 'CBDC_ERR_SCHEMA', true);
    await refused('', 400, 'CBDC_ERR_SCHEMA', true);
    await refused('null', 400, 'CBDC_ERR_SCHEMA', true);
    await refused('[]', 400, 'CBDC_ERR_SCHEMA', true);
    await unchanged(async () => {
      const body = Buffer.from(text);
      const headers = bank.headersFor('POST', '/v1/transactions', body);
      expectError(await rawRequest(c.url, 'POST', '/v1/transactions', { headers, body, contentType: 'text/plain' }), 400, 'CBDC_ERR_SCHEMA');
    });
  });

  it('prototype pollution bodies are refused', async () => {
    const t = base();
    const text = JSON.stringify(t);
    await refused(`{"__proto__": {"polluted": "yes"}, ${text.slice(1)}`, 400, 'CBDC_ERR_SCHEMA', true);
    await refused(`{"constructor": {"prototype": {"polluted": "yes"}}, ${text.slice(1)}`, 400, 'CBDC_ERR_SCHEMA', true);
    // Nested inside a lock.
    const nested = text.replace('{"key":', '{"__proto__": {"polluted": "yes"}, "key":');
    expect(nested).not.toBe(text);
    await refused(nested, 400, 'CBDC_ERR_SCHEMA', true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    await refused(`{"__proto__": {"polluted": "yes"}}`, 400, 'CBDC_ERR_SCHEMA', true);
    const reg = `{"__proto__": {"polluted": "yes"}, "id": "proto", "public_key": "${keyPair('proto').pk.toString('hex')}", "quota_fen": "1", "reserve_fen": "1"}`;
    await unchanged(async () => {
      expectError(await c.op.request('POST', '/v1/intermediaries', reg, { raw: true }), 400, 'CBDC_ERR_SCHEMA');
    });
  });

  it('refusals by the router are coded too: unknown route, malformed URL, over-long parameter', async () => {
    expectError(await rawRequest(c.url, 'GET', '/v1/nothing-here'), 404, 'CBDC_ERR_NOT_FOUND');
    expectError(await bank.post('/v1/nothing-here', {}), 404, 'CBDC_ERR_NOT_FOUND');
    expectError(await bank.get('/v1/outputs/%E0%A4%A'), 400, 'CBDC_ERR_SCHEMA');
    expectError(await bank.get(`/v1/intermediaries/${'a'.repeat(200)}`), 400, 'CBDC_ERR_SCHEMA');
    expectError(await bank.get('/v1/outputs/99999999999999999999'), 400, 'CBDC_ERR_SCHEMA');
    expectError(await bank.get('/v1/outputs/18446744073709551615'), 404, 'CBDC_ERR_NOT_FOUND');
  });

  it('after all that, the base transaction itself is accepted (the refusals were about the changes)', async () => {
    const r = await bank.post('/v1/transactions', base());
    expect(r.status, r.text).toBe(200);
    expect(r.body.status).toBe('settled');
    expect((await outputStatus(bank, coin)).spent).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------

describe('the error registry over HTTP', () => {
  it('every error response seen in this file is {code, message} (+status, txid on tx rejections) with the registry status', async () => {
    // A few more, so the check covers every family of refusal.
    expectError(await rawRequest(c.url, 'POST', '/v1/transactions', { body: '{}' }), 401, 'CBDC_ERR_UNAUTHENTICATED');
    for (const e of seenErrors) checkErrorShape(e.status, e.body);
    const codes = new Set(seenErrors.map((e) => (e.body as { code: string }).code));
    const expected: ErrorCode[] = [
      'CBDC_ERR_AMOUNT_FORMAT', 'CBDC_ERR_AMOUNT_RANGE', 'CBDC_ERR_AMOUNT_OVERFLOW', 'CBDC_ERR_HEX_FORMAT', 'CBDC_ERR_SCHEMA',
      'CBDC_ERR_BODY_TOO_LARGE', 'CBDC_ERR_NETWORK_ID', 'CBDC_ERR_TX_KIND', 'CBDC_ERR_TOO_MANY_INPUTS', 'CBDC_ERR_TOO_MANY_OUTPUTS',
      'CBDC_ERR_DUPLICATE_INPUT', 'CBDC_ERR_UNKNOWN_INPUT', 'CBDC_ERR_DOUBLE_SPEND', 'CBDC_ERR_UNBALANCED', 'CBDC_ERR_LOCK_FORMAT',
      'CBDC_ERR_LOCK_UNSATISFIED', 'CBDC_ERR_BAD_SIGNATURE', 'CBDC_ERR_HIGH_S', 'CBDC_ERR_BAD_PUBLIC_KEY', 'CBDC_ERR_WITNESS',
      'CBDC_ERR_BATCH_TOO_LARGE', 'CBDC_ERR_OPERATOR_SIGNATURE', 'CBDC_ERR_QUOTA_EXCEEDED', 'CBDC_ERR_RESERVE_INSUFFICIENT',
      'CBDC_ERR_ISSUE_SERIAL', 'CBDC_ERR_UNAUTHENTICATED', 'CBDC_ERR_REQUEST_SIGNATURE', 'CBDC_ERR_REQUEST_STALE',
      'CBDC_ERR_REQUEST_REPLAY', 'CBDC_ERR_FORBIDDEN', 'CBDC_ERR_INTERMEDIARY_UNKNOWN', 'CBDC_ERR_INTERMEDIARY_EXISTS',
      'CBDC_ERR_INTERMEDIARY_ID', 'CBDC_ERR_NOT_FOUND',
    ];
    expect(expected.filter((code) => !codes.has(code))).toEqual([]);
    for (const code of codes) expect(Object.hasOwn(ERRORS, code)).toBe(true);
    // Transaction rejections carry status and txid; everything else exactly {code, message}.
    const withTxid = seenErrors.filter((e) => Object.hasOwn(e.body as object, 'txid'));
    expect(withTxid.length).toBeGreaterThan(0);
    for (const e of withTxid) expect((e.body as { txid: string }).txid).toMatch(/^[0-9a-f]{64}$/);
    // And the ledger survived it all.
    const a = await c.op.get('/v1/audit');
    expect(a.body.ok).toBe(true);
  });
});
