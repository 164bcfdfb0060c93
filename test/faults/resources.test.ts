// Resource exhaustion: a full ledger store, a full disk, oversized bodies, batches and
// headers, slow and garbage-speaking clients, request floods, and thousands of idle websocket
// connections. Each time the node refuses with a coded error from the registry, changes nothing
// (state digest or supply unchanged), keeps serving, recovers once the pressure is gone, and
// loses nothing it committed.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { CENTRAL_LIMITS } from '../../central/api.js';
import {
  Client, type Coin, type InProcessCentral, type KeyPair, type SettledJson, coinsFrom, issueTx, json, keyPair, rawRequest, registerBank, startInProcess,
} from '../helpers/http_fixture.js';
import { CentralProcess, killAllCentralProcesses } from '../helpers/central_process.js';

const dirs: string[] = [];
const nodes: InProcessCentral[] = [];
const mounts: string[] = [];
afterAll(async () => {
  for (const n of nodes) await n.stop().catch(() => undefined);
  await killAllCentralProcesses();
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {
      /* already gone */
    }
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const alice = keyPair('faults-alice');

/** Issues `count` issuances of 64 outputs each to bank-f, `perBatch` to a POST /v1/batches; stops at the first refusal. */
async function fill(op: Client, network: string, operator: KeyPair, startSerial: bigint, batches: number, perBatch: number) {
  const acked: Coin[] = [];
  let serial = startSerial;
  for (let b = 0; b < batches; b++) {
    const outs = Array.from({ length: 64 }, (_, i) => ({ value: BigInt(1 + i), owner: alice }));
    const txs = Array.from({ length: perBatch }, (_, i) => issueTx(network, operator, 'bank-f', serial + BigInt(i), outs));
    const r = await op.post<{ results: (SettledJson | { status: 'rejected'; code: string })[] }>('/v1/batches', { transactions: txs.map(json) });
    expect(r.status, r.text).toBe(200);
    const refused = r.body.results.filter((x) => x.status !== 'settled') as { code: string }[];
    r.body.results.forEach((x) => { if (x.status === 'settled') acked.push(...coinsFrom(x as SettledJson, outs)); });
    serial += BigInt(r.body.results.length - refused.length);
    if (refused.length > 0) return { acked, serial, refusal: refused[0]!.code };
  }
  return { acked, serial, refusal: null };
}

async function expectAllPresent(op: Client, coins: readonly Coin[]): Promise<void> {
  // Every committed output, by position and id (a sample of each batch's first and last, and all when few).
  const sample = coins.length <= 400 ? coins : coins.filter((_, i) => i % 64 === 0 || i % 64 === 63);
  for (const c of sample) {
    const r = await op.get(`/v1/outputs/${c.pos}?id=${c.id.toString('hex')}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body.value).toBe(c.value.toString());
  }
}

describe('resource exhaustion', () => {
  it('a full ledger store refuses with CBDC_ERR_STORAGE, commits nothing, and recovers with a larger bound', async () => {
    const c = await startInProcess({ network: 'cbdc-faults-res', mapSizeBytes: 1024 * 1024 });
    nodes.push(c);
    dirs.push(c.dir);
    await registerBank(c, 'bank-f', keyPair('faults-bank-f'));
    const first = await fill(c.op, c.network, c.operator, 0n, 200, 10);
    expect(first.refusal).toBe('CBDC_ERR_STORAGE');
    expect(first.acked.length).toBeGreaterThan(0);
    // The refusal changed nothing: the whole state, byte for byte.
    const digest = c.node.store.digest();
    const again = await fill(c.op, c.network, c.operator, first.serial, 1, 10);
    expect(again.refusal).toBe('CBDC_ERR_STORAGE');
    expect(again.acked).toEqual([]);
    expect(c.node.store.digest()).toBe(digest);
    // The node still answers reads and its audit holds.
    expect((await c.op.get('/v1/audit')).body.ok).toBe(true);
    await c.restart({ mapSizeBytes: 64 * 1024 * 1024 });
    await expectAllPresent(c.op, first.acked);
    const after = await fill(c.op, c.network, c.operator, first.serial, 2, 10);
    expect(after.refusal).toBeNull();
    const audit = await c.op.get('/v1/audit');
    expect(audit.body.problems).toEqual([]);
    process.stdout.write(`faults/store-full ${JSON.stringify({ committed_outputs: first.acked.length, refused_batches: 2, after_restart_outputs: after.acked.length })}\n`);
  }, 300_000);

  it('a full disk (a 2 MiB tmpfs) refuses with CBDC_ERR_STORAGE and loses nothing once space returns', async (ctx) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-disk-'));
    dirs.push(dir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'ignore' });
    } catch {
      process.stdout.write('faults/disk-full skipped: this machine does not let the test mount a small tmpfs\n');
      ctx.skip();
      return;
    }
    mounts.push(dir);
    const dataDir = path.join(dir, 'central');
    mkdirSync(dataDir);
    const central = new CentralProcess({ dataDir, network: 'cbdc-faults-disk', durability: 'sync', verifyThreads: 1, startTimeoutMs: 90_000 });
    await central.start();
    const operator = { sk: central.operatorKey().sk, pk: central.operatorKey().pk };
    const op = new Client(central.url, 'cbdc-faults-disk', 'operator', operator.sk);
    await registerBank({ url: central.url, network: 'cbdc-faults-disk', op }, 'bank-f', keyPair('faults-bank-f'));
    let res: Awaited<ReturnType<typeof fill>> | null = null;
    let crashed = false;
    try {
      res = await fill(op, 'cbdc-faults-disk', operator, 0n, 400, 5);
    } catch {
      crashed = true; // the node gave up its environment; a restart recovers it
    }
    const refusal = res?.refusal ?? null;
    if (!crashed) expect(refusal).toBe('CBDC_ERR_STORAGE');
    execFileSync('mount', ['-o', 'remount,size=128m', dir]);
    await central.restart();
    const op2 = new Client(central.url, 'cbdc-faults-disk', 'operator', operator.sk);
    if (res !== null) await expectAllPresent(op2, res.acked);
    const audit = await op2.get('/v1/audit');
    expect(audit.body.problems).toEqual([]);
    expect(audit.body.ok).toBe(true);
    const supply = await op2.get<{ batches: string }>('/v1/supply');
    const serial = BigInt((await op2.get<{ next_serial: string }>('/v1/intermediaries/bank-f')).body.next_serial);
    const after = await fill(op2, 'cbdc-faults-disk', operator, serial, 2, 5);
    expect(after.refusal).toBeNull();
    await central.kill('SIGTERM');
    process.stdout.write(`faults/disk-full ${JSON.stringify({ committed_outputs: res?.acked.length ?? 0, refusal, crashed, batches_before_restart: supply.body.batches })}\n`);
  }, 300_000);

  it('oversized bodies, batches and headers, slow and garbage clients: coded refusals, nothing changed, still serving', async () => {
    const c = await startInProcess({ network: 'cbdc-faults-lim', limits: { ...CENTRAL_LIMITS, headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 } });
    nodes.push(c);
    dirs.push(c.dir);
    await registerBank(c, 'bank-f', keyPair('faults-bank-f'));
    await fill(c.op, c.network, c.operator, 0n, 1, 2);
    const digest = c.node.store.digest();
    const u = new URL(c.url);
    const counts: Record<string, number> = {};
    const seen = (code: string) => { counts[code] = (counts[code] ?? 0) + 1; };

    // A body over 8 MiB.
    const big = await rawRequest(c.url, 'POST', '/v1/batches', { body: Buffer.alloc(9 * 1024 * 1024, 0x20) });
    expect([big.status, big.body.code]).toEqual([413, 'CBDC_ERR_BODY_TOO_LARGE']);
    seen(big.body.code);
    // A batch over BATCH_TX_MAX (signed, so it reaches the schema).
    const tx = json(issueTx(c.network, c.operator, 'bank-f', 99n, [{ value: 1n, owner: alice }]));
    const over = await c.op.post('/v1/batches', { transactions: Array.from({ length: 10_001 }, () => tx) });
    expect([over.status, over.body.code]).toEqual([413, 'CBDC_ERR_BATCH_TOO_LARGE']);
    seen(over.body.code);
    // Raw sockets: headers over 16 KiB, a client that stops mid-headers, bytes that are not HTTP.
    const raw = (bytes: string): Promise<string> => new Promise((resolve, reject) => {
      const s = net.connect(Number(u.port), u.hostname, () => s.write(bytes));
      let got = '';
      s.on('data', (d) => { got += String(d); });
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.setTimeout(30_000, () => s.destroy());
    });
    const codeOf = (answer: string): [number, string] => [Number(answer.split(' ')[1]), (JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string }).code];
    for (let i = 0; i < 5; i++) {
      const huge = await raw(`GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
      expect(codeOf(huge)).toEqual([431, 'CBDC_ERR_HEADERS_TOO_LARGE']);
      seen('CBDC_ERR_HEADERS_TOO_LARGE');
      const slow = await raw('GET /v1/health HTTP/1.1\r\nHost: x\r\n');
      expect(codeOf(slow)).toEqual([408, 'CBDC_ERR_REQUEST_TIMEOUT']);
      seen('CBDC_ERR_REQUEST_TIMEOUT');
      const garbage = await raw('\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n');
      expect(codeOf(garbage)).toEqual([400, 'CBDC_ERR_SCHEMA']);
      seen('CBDC_ERR_SCHEMA');
    }
    // Still serving, and nothing changed.
    expect((await rawRequest(c.url, 'GET', '/v1/health')).status).toBe(200);
    expect(c.node.store.digest()).toBe(digest);
    process.stdout.write(`faults/limits ${JSON.stringify(counts)}\n`);
  }, 300_000);

  it('request floods: a coded 429 per client, intermediaries exempt, failed-authentication floods cut off, recovery after the window', async () => {
    const windowMs = 4_000;
    const c = await startInProcess({ network: 'cbdc-faults-rate', limits: { ...CENTRAL_LIMITS, rateMax: 50, rateWindowMs: windowMs, authFailuresMax: 100 } });
    nodes.push(c);
    dirs.push(c.dir);
    const bank = await registerBank(c, 'bank-f', keyPair('faults-bank-f'));
    const digest = c.node.store.digest();
    const tally = (rs: { status: number; body: { code?: string } }[]) => {
      const t: Record<string, number> = {};
      for (const r of rs) t[r.body?.code ?? String(r.status)] = (t[r.body?.code ?? String(r.status)] ?? 0) + 1;
      return t;
    };
    // Anyone's reads: 50 per window per client address, then CBDC_ERR_RATE_LIMITED.
    const anon = await Promise.all(Array.from({ length: 80 }, () => rawRequest(c.url, 'GET', '/v1/supply')));
    expect(anon.filter((r) => r.status === 200)).toHaveLength(50);
    for (const r of anon.filter((x) => x.status !== 200)) expect([r.status, r.body.code]).toEqual([429, 'CBDC_ERR_RATE_LIMITED']);
    // A registered intermediary carries the system's load: not limited.
    const signed = await Promise.all(Array.from({ length: 150 }, () => bank.get('/v1/directory')));
    expect(signed.every((r) => r.status === 200)).toBe(true);
    // Bad signatures: 100 refusals per window, then the address is refused before any check.
    const forged = new Client(c.url, c.network, 'bank-f', keyPair('faults-mallory').sk);
    const bad = [];
    for (let i = 0; i < 130; i++) bad.push(await forged.get('/v1/directory'));
    expect(bad.slice(0, 100).every((r) => r.status === 401 && r.body.code === 'CBDC_ERR_REQUEST_SIGNATURE')).toBe(true);
    expect(bad.slice(100).every((r) => r.status === 429 && r.body.code === 'CBDC_ERR_RATE_LIMITED')).toBe(true);
    expect(c.node.store.digest()).toBe(digest);
    // After the window everyone is served again.
    await new Promise((r) => setTimeout(r, windowMs + 500));
    expect((await rawRequest(c.url, 'GET', '/v1/supply')).status).toBe(200);
    expect((await bank.get('/v1/directory')).status).toBe(200);
    process.stdout.write(`faults/floods ${JSON.stringify({ anonymous: tally(anon), intermediary: tally(signed), forged: tally(bad) })}\n`);
  }, 120_000);

  it('5,000 idle websocket subscribers: all served, the next refused with a coded 503, room again once some leave', async () => {
    const t0 = Date.now();
    const SUBSCRIBERS = Number(process.env.FAULTS_WS ?? 5_000);
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-ws-'));
    dirs.push(dir);
    const central = new CentralProcess({ dataDir: dir, network: 'cbdc-faults-ws', verifyThreads: 1, extraArgs: ['--ws-max', String(SUBSCRIBERS)], startTimeoutMs: 90_000 });
    await central.start();
    const operator = { sk: central.operatorKey().sk, pk: central.operatorKey().pk };
    const op = new Client(central.url, 'cbdc-faults-ws', 'operator', operator.sk);
    await registerBank({ url: central.url, network: 'cbdc-faults-ws', op }, 'bank-f', keyPair('faults-bank-f'));
    const head = (await op.get<{ batches: string }>('/v1/supply')).body.batches;
    const pathQ = `/v1/events?from=${head}`;
    const wsUrl = central.url.replace(/^http/, 'ws') + pathQ;
    const connect = (): Promise<{ ws: WebSocket; got: unknown[] } | { refused: number; code: string }> => new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: op.headersFor('GET', pathQ), handshakeTimeout: 60_000 });
      const got: unknown[] = [];
      ws.on('message', (d) => got.push(JSON.parse(String(d))));
      ws.once('open', () => resolve({ ws, got }));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d) => { text += String(d); });
        res.on('end', () => resolve({ refused: res.statusCode ?? 0, code: (JSON.parse(text) as { code: string }).code }));
      });
      ws.once('error', reject);
    });
    const open: { ws: WebSocket; got: unknown[] }[] = [];
    while (open.length < SUBSCRIBERS) {
      const chunk = await Promise.all(Array.from({ length: Math.min(250, SUBSCRIBERS - open.length) }, connect));
      for (const r of chunk) {
        expect('ws' in r, JSON.stringify(r)).toBe(true);
        open.push(r as { ws: WebSocket; got: unknown[] });
      }
    }
    const extra = await connect();
    expect(extra).toEqual({ refused: 503, code: 'CBDC_ERR_OVERLOADED' });
    // The node still settles, and every idle subscriber hears of it.
    await fill(op, 'cbdc-faults-ws', operator, 0n, 1, 1);
    const until = Date.now() + 120_000;
    while (open.some((o) => !o.got.some((m) => (m as { type: string }).type === 'batch')) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(open.filter((o) => o.got.some((m) => (m as { type: string }).type === 'batch'))).toHaveLength(SUBSCRIBERS);
    // Some leave: there is room again.
    for (const o of open.splice(0, 100)) o.ws.terminate();
    let again: Awaited<ReturnType<typeof connect>> = { refused: 0, code: '' };
    for (let i = 0; i < 50; i++) {
      again = await connect();
      if ('ws' in again) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect('ws' in again).toBe(true);
    if ('ws' in again) again.ws.terminate();
    for (const o of open) o.ws.terminate();
    await central.kill('SIGTERM');
    process.stdout.write(`faults/ws ${JSON.stringify({ subscribers: SUBSCRIBERS, refused_over_limit: 1, all_notified: true, ms: Date.now() - t0 })}\n`);
  }, 1_200_000);
});
