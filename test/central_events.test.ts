// The settled-output event stream (ws, GET /v1/events?from=N) against a real central node
// on a real port: signed upgrades only; every settled batch, in order, with its outputs and
// spent positions; resume after a disconnect with nothing missed or repeated; late replay
// from 0; and resume across a restart of central on the same data dir.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import net from 'node:net';
import { CENTRAL_LIMITS } from '../central/api.js';
import type { Tx } from '../protocol/tx.js';
import { txId } from '../protocol/tx.js';
import {
  Client, type Coin, type InProcessCentral, type KeyPair, type SettledJson, coinsFrom, issueTx, json, keyPair, registerBank,
  startInProcess, transferTx,
} from './helpers/http_fixture.js';

const alice = keyPair('ev-alice');
const bob = keyPair('ev-bob');
const carol = keyPair('ev-carol');
const bankKey = keyPair('ev-bank');

interface EventOutput { pos: string; id: string; value: string; lock: { key: string }; lock_hex: string }
interface EventTx { txid: string; kind: string; intermediary?: string; spent: string[]; outputs: EventOutput[] }
interface BatchEvent { type: 'batch'; seq: string; time_ms: number; txs: EventTx[] }
interface HelloEvent { type: 'hello'; from: string; head: string }

/** What the test expects each settled transaction to look like on the stream. */
interface Expected { batch: bigint; tx: EventTx }

let c: InProcessCentral;
let bank: Client;
const expected = new Map<string, Expected>();
const subscribers: Subscriber[] = [];

beforeAll(async () => {
  c = await startInProcess({ durability: 'sync' });
  bank = await registerBank(c, 'ev-bank', bankKey);
});

afterAll(async () => {
  for (const s of subscribers) s.close();
  await c?.dispose();
});

// ---------------------------------------------------------------------------------------

class Subscriber {
  readonly batches: BatchEvent[] = [];
  hello: HelloEvent | null = null;
  readonly others: unknown[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as BatchEvent | HelloEvent;
      if (m.type === 'hello') this.hello = m;
      else if (m.type === 'batch') this.batches.push(m);
      else this.others.push(m);
      this.wake();
    });
    ws.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Opens a stream signed by `client`; rejects with the HTTP status when the upgrade is refused. */
  static open(client: Client, from?: bigint, headers?: Record<string, string>): Promise<Subscriber> {
    const p = from === undefined ? '/v1/events' : `/v1/events?from=${from}`;
    const ws = new WebSocket(client.baseUrl.replace(/^http/, 'ws') + p, { headers: headers ?? client.headersFor('GET', p) });
    const s = new Subscriber(ws);
    subscribers.push(s);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(s));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  get lastSeq(): bigint {
    const b = this.batches[this.batches.length - 1];
    return b === undefined ? -1n : BigInt(b.seq);
  }

  /** Waits until the subscriber has seen batch `seq` (or later). */
  async until(seq: bigint, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lastSeq < seq) {
      if (this.closed) throw new Error(`stream closed at seq ${this.lastSeq}, waiting for ${seq}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out at seq ${this.lastSeq}, waiting for ${seq}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  async waitHello(timeoutMs = 5_000): Promise<HelloEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.hello === null) {
      if (Date.now() > deadline) throw new Error('no hello');
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.hello;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  async closeAndWait(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((r) => this.ws.once('close', () => r()));
    this.close();
    await done;
  }
}

function record(tx: Tx, res: SettledJson): void {
  expected.set(res.txid, {
    batch: BigInt(res.batch),
    tx: {
      txid: txId(tx).toString('hex'),
      kind: tx.kind,
      ...(tx.kind !== 'transfer' ? { intermediary: tx.intermediary } : {}),
      spent: tx.inputs.map((i) => i.pos.toString()),
      outputs: tx.outputs.map((o, i) => ({
        pos: res.outputs[i]!.pos, id: res.outputs[i]!.id, value: o.value.toString(),
        lock: { key: (o.lock as { key: Buffer }).key.toString('hex') }, lock_hex: o.lockBytes.toString('hex'),
      })),
    },
  });
}

async function issue(values: bigint[], owner: KeyPair): Promise<Coin[]> {
  const info = await c.op.get<{ next_serial: string }>('/v1/intermediaries/ev-bank');
  const outs = values.map((value) => ({ value, owner }));
  const tx = issueTx(c.network, c.operator, 'ev-bank', BigInt(info.body.next_serial), outs);
  const r = await c.op.post<SettledJson>('/v1/transactions', json(tx));
  expect(r.status, r.text).toBe(200);
  record(tx, r.body);
  return coinsFrom(r.body, outs);
}

/** Settles a batch of transfers (each coin to `to`, split in two when it can be); returns the new coins. */
async function transferAll(coins: Coin[], to: KeyPair, via: Client = bank): Promise<Coin[]> {
  const plans = coins.map((coin) => coin.value > 1n
    ? [{ value: coin.value / 2n, owner: to }, { value: coin.value - coin.value / 2n, owner: to }]
    : [{ value: coin.value, owner: to }]);
  const txs = coins.map((coin, i) => transferTx(c.network, [coin], plans[i]!));
  const r = await via.post<{ results: SettledJson[] }>('/v1/batches', { transactions: txs.map(json) });
  expect(r.status, r.text).toBe(200);
  const out: Coin[] = [];
  r.body.results.forEach((res, i) => {
    expect(res.status).toBe('settled');
    record(txs[i]!, res);
    out.push(...coinsFrom(res, plans[i]!));
  });
  return out;
}

/** Settles concurrently submitted single transfers (so the ledger groups several into one batch). */
async function transferConcurrently(coins: Coin[], to: KeyPair): Promise<Coin[]> {
  const results = await Promise.all(coins.map(async (coin) => {
    const outs = [{ value: coin.value, owner: to }];
    const tx = transferTx(c.network, [coin], outs);
    const r = await bank.post<SettledJson>('/v1/transactions', json(tx));
    expect(r.status, r.text).toBe(200);
    record(tx, r.body);
    return coinsFrom(r.body, outs);
  }));
  return results.flat();
}

function headSeq(): bigint {
  let max = -1n;
  for (const e of expected.values()) if (e.batch > max) max = e.batch;
  return max;
}

/** Checks a run of batch events: consecutive from `from`, strictly increasing time, and exactly the expected txs. */
function checkBatches(batches: BatchEvent[], from: bigint, to: bigint): void {
  expect(batches.map((b) => BigInt(b.seq))).toEqual(Array.from({ length: Number(to - from + 1n) }, (_, i) => from + BigInt(i)));
  for (let i = 1; i < batches.length; i++) expect(batches[i]!.time_ms).toBeGreaterThan(batches[i - 1]!.time_ms);
  const seen = new Set<string>();
  for (const b of batches) {
    expect(b.type).toBe('batch');
    expect(b.txs.length).toBeGreaterThan(0);
    for (const t of b.txs) {
      expect(seen.has(t.txid), `tx ${t.txid} appears once`).toBe(false);
      seen.add(t.txid);
      const e = expected.get(t.txid);
      expect(e, `tx ${t.txid} was acknowledged`).toBeDefined();
      expect(BigInt(b.seq)).toBe(e!.batch);
      expect(t).toEqual(e!.tx);
    }
  }
  // Every acknowledged transaction of those batches is on the stream.
  for (const [txid, e] of expected) if (e.batch >= from && e.batch <= to) expect(seen.has(txid), `tx ${txid} on the stream`).toBe(true);
  // Output positions run on without gaps across the batches shown.
  const positions = batches.flatMap((b) => b.txs.flatMap((t) => t.outputs.map((o) => BigInt(o.pos))));
  for (let i = 1; i < positions.length; i++) expect(positions[i]).toBe(positions[i - 1]! + 1n);
}

// ---------------------------------------------------------------------------------------

describe('event stream', () => {
  let live: Subscriber;
  let wallet: Coin[] = [];

  it('refuses unsigned, badly signed and replayed upgrades with 401', async () => {
    const anon = new Client(c.url, c.network, 'nobody', keyPair('nobody').sk);
    const refused = async (p: Promise<Subscriber>): Promise<{ status: number; body: string }> => {
      const e = await p.then(() => null, (err: { status?: number; body?: string }) => err);
      expect(e).not.toBeNull();
      return { status: e!.status ?? 0, body: e!.body ?? '' };
    };
    const r1 = await refused(Subscriber.open(bank, 0n, {}));
    expect(r1.status).toBe(401);
    expect(JSON.parse(r1.body)).toMatchObject({ code: 'CBDC_ERR_UNAUTHENTICATED' });
    const r2 = await refused(Subscriber.open(anon, 0n));
    expect(r2.status).toBe(401);
    expect(JSON.parse(r2.body).code).toBe('CBDC_ERR_UNAUTHENTICATED');
    // Signed for another starting point than the one asked for.
    const r3 = await refused(Subscriber.open(bank, 0n, bank.headersFor('GET', '/v1/events?from=5')));
    expect(r3.status).toBe(401);
    expect(JSON.parse(r3.body).code).toBe('CBDC_ERR_REQUEST_SIGNATURE');
    // The same upgrade headers twice.
    const h = bank.headersFor('GET', '/v1/events?from=0');
    const ok = await Subscriber.open(bank, 0n, h);
    await ok.closeAndWait();
    const r4 = await refused(Subscriber.open(bank, 0n, h));
    expect(r4.status).toBe(401);
    expect(JSON.parse(r4.body).code).toBe('CBDC_ERR_REQUEST_REPLAY');
    // A malformed starting point is a schema error.
    // A plain GET without the upgrade gets a coded answer, not an empty one.
    const plain = await bank.get('/v1/events?from=0');
    expect(plain.status).toBe(404);
    expect(plain.body).toEqual({ code: 'CBDC_ERR_NOT_FOUND', message: expect.any(String) });
    const r5 = await refused(Subscriber.open(bank, -1n));
    expect(r5.status).toBe(400);
    expect(JSON.parse(r5.body).code).toBe('CBDC_ERR_SCHEMA');
  });

  it('a refused upgrade is answered and its socket closed by the node, even if the client keeps it open', async () => {
    // Node's HTTP server stops tracking a socket once it asks for an upgrade; a refused one left
    // open would hold a descriptor for good and stall the node's shutdown.
    const refusedUpgrade = async (url: string): Promise<{ status: string; code: string }> => {
      const { hostname, port } = new URL(url);
      const sock = net.connect(Number(port), hostname);
      let answer = '';
      sock.on('data', (d) => { answer += String(d); });
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      sock.write('GET /v1/events?from=0 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
        + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      await closed;
      return { status: answer.split('\r\n')[0]!, code: (JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string }).code };
    };
    // Refused by authentication, and refused before any route runs (no room for another stream).
    expect(await refusedUpgrade(c.url)).toEqual({ status: 'HTTP/1.1 401 Unauthorized', code: 'CBDC_ERR_UNAUTHENTICATED' });
    const full = await startInProcess({ limits: { ...CENTRAL_LIMITS, wsConnectionsMax: 0 } });
    expect(await refusedUpgrade(full.url)).toEqual({ status: 'HTTP/1.1 503 Service Unavailable', code: 'CBDC_ERR_OVERLOADED' });
    await full.stop();
  });

  it('a live subscriber sees every settled batch in order, with outputs and spent positions', async () => {
    live = await Subscriber.open(bank, 0n);
    const hello = await live.waitHello();
    expect(hello).toEqual({ type: 'hello', from: '0', head: '0' });
    wallet = await issue([1000n, 2000n, 3000n, 4000n], alice);
    wallet = await transferAll(wallet, bob);
    wallet = await transferConcurrently(wallet, carol);
    wallet.push(...await issue([5n], alice));
    // The operator's submissions are on the stream too.
    wallet = await transferAll(wallet, alice, c.op);
    await live.until(headSeq());
    checkBatches(live.batches, 0n, headSeq());
    expect(live.others).toEqual([]);
  });

  it('after a disconnect, resuming from the last seq + 1 misses nothing and repeats nothing', async () => {
    const first = await Subscriber.open(bank, 0n);
    await first.until(headSeq());
    const seen = [...first.batches];
    await first.closeAndWait();
    // Settle more while nobody from this client is listening.
    wallet = await transferAll(wallet, bob);
    wallet = await transferConcurrently(wallet.slice(0, 6), carol);
    wallet.push(...await issue([77n, 88n], bob));
    const resumeFrom = BigInt(seen[seen.length - 1]!.seq) + 1n;
    const again = await Subscriber.open(bank, resumeFrom);
    expect((await again.waitHello()).from).toBe(resumeFrom.toString());
    await again.until(headSeq());
    checkBatches([...seen, ...again.batches], 0n, headSeq());
    // And the live subscriber, which never disconnected, agrees byte for byte.
    await live.until(headSeq());
    expect(live.batches).toEqual([...seen, ...again.batches]);
    await again.closeAndWait();
  });

  it('a late subscriber with from=0 replays the whole history; from=head waits for new batches', async () => {
    const late = await Subscriber.open(c.op, 0n);
    await late.until(headSeq());
    expect(late.batches).toEqual(live.batches);
    const head = headSeq() + 1n;
    const tail = await Subscriber.open(bank, head);
    expect(await tail.waitHello()).toEqual({ type: 'hello', from: head.toString(), head: head.toString() });
    wallet.push(...await issue([9n], carol));
    await tail.until(head);
    expect(tail.batches).toHaveLength(1);
    checkBatches(tail.batches, head, head);
    // A starting point past the head shows nothing until the ledger gets there.
    const ahead = await Subscriber.open(bank, head + 2n);
    wallet.push(...await issue([10n], carol));
    wallet.push(...await issue([11n], carol));
    await ahead.until(head + 2n);
    expect(ahead.batches.map((b) => b.seq)).toEqual([(head + 2n).toString()]);
    await live.until(headSeq());
    checkBatches(live.batches, 0n, headSeq());
    for (const s of [late, tail, ahead]) await s.closeAndWait();
  });

  it('resumes across a restart of central on the same data dir', async () => {
    await live.until(headSeq());
    const before = [...live.batches];
    const last = BigInt(before[before.length - 1]!.seq);
    await c.restart();
    // The old connection ended with the old node.
    await new Promise<void>((r) => { if (live.closed) r(); else live.ws.once('close', () => r()); });
    const b2 = new Client(c.url, c.network, 'ev-bank', bankKey.sk);
    bank = b2;
    const resumed = await Subscriber.open(b2, last + 1n);
    expect(await resumed.waitHello()).toEqual({ type: 'hello', from: (last + 1n).toString(), head: (last + 1n).toString() });
    wallet = await transferAll(wallet, alice, b2);
    wallet.push(...await issue([12n, 13n], bob));
    await resumed.until(headSeq());
    checkBatches([...before, ...resumed.batches], 0n, headSeq());
    // History from before the restart replays identically.
    const replay = await Subscriber.open(b2, 0n);
    await replay.until(headSeq());
    expect(replay.batches).toEqual([...before, ...resumed.batches]);
    for (const s of [resumed, replay]) await s.closeAndWait();
    const a = await c.op.get('/v1/audit');
    expect(a.body.ok).toBe(true);
  });
});
