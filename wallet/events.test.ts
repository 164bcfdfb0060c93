// The notification subscription against a stand-in bank whose websocket drops the connection,
// replays old entries and skips some: the wallet must see every entry once, in order.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { nobleVerifier } from '../protocol/sig.js';
import { newKeyPair } from '../platform/key_file.js';
import { RequestVerifier } from '../platform/request_verify.js';
import { SignedClient } from '../platform/signed_client.js';
import type { HistoryEntry } from './client.js';
import { BankRefusal } from './client.js';
import { AccountSubscription } from './events.js';

const NETWORK = 'cbdc-test';
const ACCOUNT = 'bank-a.0123456789ab';
const kp = newKeyPair();
const signed = new SignedClient('http://unused', NETWORK, ACCOUNT, kp.secretKey);
const verifier = new RequestVerifier(NETWORK, (id) => (id === ACCOUNT ? { id, publicKey: kp.publicKey, role: 'customer' } : undefined), nobleVerifier);

const entry = (seq: number) => ({
  type: 'history', account: ACCOUNT, seq, at_ms: 1_700_000_000_000 + seq, direction: 'in', kind: 'payment', amount_fen: String(100 + seq),
  counterparty: 'another bank', txid: seq.toString(16).padStart(64, '0'), balance_after_fen: '0', deposit_after_fen: '0', payment_id: null,
});

/** What the stand-in does on each connection: given the `from` asked for and the connection number. */
type Script = (ws: WebSocket, from: number, n: number) => void;

let http: Server;
let wss: WebSocketServer;
let url: string;
let script: Script = () => undefined;
let froms: number[] = [];
let refuse: number | null = null;

beforeAll(async () => {
  http = createServer();
  wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    try {
      verifier.check('GET', req.url!, req.headers, undefined);
    } catch (e) {
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ code: (e as { code: string }).code, message: 'bad signature' })}`);
      return;
    }
    if (refuse !== null) {
      const body = JSON.stringify({ code: 'CBDC_ERR_FORBIDDEN', message: 'a wallet may act only on its own account' });
      socket.end(`HTTP/1.1 ${refuse} Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const from = Number(new URL(req.url!, 'http://x').searchParams.get('from'));
      froms.push(from);
      ws.send(JSON.stringify({ type: 'hello', account: ACCOUNT, from }));
      script(ws, from, froms.length);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((r) => http.close(() => r()));
});
afterEach(() => {
  froms = [];
  refuse = null;
  script = () => undefined;
});

function run(from: number, until: number): Promise<{ got: number[]; sub: AccountSubscription }> {
  return new Promise((resolve, reject) => {
    const got: number[] = [];
    const sub = new AccountSubscription({
      url, accountId: ACCOUNT, from, reconnectBaseMs: 5, reconnectMaxMs: 20,
      headersFor: (m, p) => signed.headersFor(m, p),
      onEntry: (e: HistoryEntry) => {
        got.push(e.seq);
        expect(e.amount_fen).toBe(String(100 + e.seq));
        expect((e as unknown as Record<string, unknown>).type).toBeUndefined();
        if (got.length === until) {
          sub.close();
          resolve({ got, sub });
        }
      },
    });
    sub.done.catch(reject);
    sub.start();
    setTimeout(() => reject(new Error(`timed out with ${JSON.stringify(got)} after connections from ${JSON.stringify(froms)}`)), 10_000).unref();
  });
}

describe('account notifications', () => {
  it('reconnects after drops and resumes from the last seq seen + 1: no gap, no duplicate', async () => {
    // Each connection sends three entries from where it is asked, then drops (no close frame).
    script = (ws, from) => {
      for (let s = from; s < from + 3; s++) ws.send(JSON.stringify(entry(s)));
      setTimeout(() => ws.terminate(), 5);
    };
    const { got, sub } = await run(4, 10);
    expect(got).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(froms.slice(0, 4)).toEqual([4, 7, 10, 13]);
    expect(sub.next).toBe(14);
  });

  it('drops replays of entries already seen, and re-asks when entries are skipped', async () => {
    script = (ws, from, n) => {
      if (n === 1) {
        // Old entries first (a server that ignores `from`), then a gap: 0..2, then 5.
        for (const s of [0, 1, 2, 0, 1, 5, 6]) ws.send(JSON.stringify(entry(s)));
        return;
      }
      for (let s = from; s < 8; s++) ws.send(JSON.stringify(entry(s)));
    };
    const { got } = await run(0, 8);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(froms).toEqual([0, 3]);
  });

  it('a close by the bank (not a refusal) is followed by a reconnect', async () => {
    script = (ws, from, n) => {
      ws.send(JSON.stringify(entry(from)));
      if (n === 1) ws.close(1001, 'going away');
      else ws.send(JSON.stringify(entry(from + 1)));
    };
    const { got } = await run(2, 3);
    expect(got).toEqual([2, 3, 4]);
    expect(froms).toEqual([2, 3]);
  });

  it('a refused upgrade ends the subscription with the bank\'s code (no reconnect loop)', async () => {
    refuse = 403;
    const sub = new AccountSubscription({ url, accountId: ACCOUNT, from: 0, reconnectBaseMs: 5, headersFor: (m, p) => signed.headersFor(m, p), onEntry: () => undefined }).start();
    const e = await sub.done.then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(BankRefusal);
    expect((e as BankRefusal).code).toBe('CBDC_ERR_FORBIDDEN');
    expect(sub.connections).toBe(1);
  });

  it('an unsigned upgrade is refused with the bank\'s code', async () => {
    const sub = new AccountSubscription({ url, accountId: ACCOUNT, from: 0, headersFor: () => ({}), onEntry: () => undefined }).start();
    const e = await sub.done.then(() => null, (x: unknown) => x);
    expect((e as BankRefusal).code).toBe('CBDC_ERR_UNAUTHENTICATED');
  });
});
