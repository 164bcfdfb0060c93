// The bank client's retries, against a stand-in bank (a plain HTTP server) that verifies each
// request's signature like the real one and can drop connections on cue.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isCbdcError } from '../protocol/errors.js';
import { nobleVerifier } from '../protocol/sig.js';
import { newKeyPair } from '../platform/key_file.js';
import { RequestVerifier } from '../platform/request_verify.js';
import { BankClient, BankRefusal, bankHealth, classifyTransportError } from './client.js';

const NETWORK = 'cbdc-test';
const ACCOUNT = 'bank-a.0123456789ab';
const kp = newKeyPair();

interface Seen {
  method: string;
  url: string;
  body: string;
  nonce: string;
  signer: string;
}

type Behaviour = (req: Seen, n: number, res: ServerResponse, sock: IncomingMessage['socket']) => void;

let server: Server;
let url: string;
let seen: Seen[] = [];
let behaviour: Behaviour = () => undefined;
const verifier = new RequestVerifier(NETWORK, (id) => (id === ACCOUNT || id === `key:${kp.publicKey.toString('hex')}` ? { id, publicKey: kp.publicKey, role: 'customer' } : undefined), nobleVerifier);

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      // Every attempt must be a validly signed request with its own nonce.
      const signer = verifier.check(req.method!, req.url!, req.headers, raw);
      const s: Seen = { method: req.method!, url: req.url!, body: raw.toString('utf8'), nonce: String(req.headers['x-cbdc-nonce']), signer: signer.id };
      seen.push(s);
      behaviour(s, seen.length, res, req.socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => {
  seen = [];
  behaviour = () => undefined;
});

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify(body));
};
const drop = (sock: IncomingMessage['socket']) => sock.destroy();

const client = (signer = ACCOUNT, retries: string[] = []) => new BankClient({
  url, network: NETWORK, signer, secretKey: kp.secretKey, retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
  onRetry: (i) => retries.push(i.reason),
});

const payment = { id: 'pay-0123456789abcdef', status: 'awaiting_signature', amount_fen: '1234' };

describe('bank client retries', () => {
  it('a payment request whose answer is lost is sent again with the SAME idempotency key (fresh signature)', async () => {
    behaviour = (_s, n, res, sock) => (n < 3 ? drop(sock) : json(res, 200, payment));
    const retries: string[] = [];
    const p = await client(ACCOUNT, retries).preparePayment(ACCOUNT, { payee: { alias: '+8613900000002' }, amountFen: 1234n, idempotencyKey: 'key-abcdef-123' });
    expect(p.id).toBe(payment.id);
    expect(seen).toHaveLength(3);
    expect(retries).toHaveLength(2);
    expect(new Set(seen.map((s) => s.body)).size).toBe(1);
    expect(JSON.parse(seen[0]!.body)).toEqual({ idempotency_key: 'key-abcdef-123', payee: { alias: '+8613900000002' }, amount_fen: '1234' });
    expect(new Set(seen.map((s) => s.nonce)).size).toBe(3);
  });

  it('signatures and exchanges are retried the same way', async () => {
    behaviour = (_s, n, res, sock) => (n % 2 === 1 ? drop(sock) : json(res, 200, { ...payment, status: 'settled' }));
    const c = client();
    await c.signPayment(ACCOUNT, payment.id, 'ab'.repeat(64));
    await c.exchangeToWallet(ACCOUNT, 500n, 'exch-key-0001');
    expect(seen.map((s) => s.url)).toEqual([
      `/v1/accounts/${ACCOUNT}/payments/${payment.id}/sign`, `/v1/accounts/${ACCOUNT}/payments/${payment.id}/sign`,
      `/v1/accounts/${ACCOUNT}/exchange`, `/v1/accounts/${ACCOUNT}/exchange`,
    ]);
    expect(seen[2]!.body).toBe(seen[3]!.body);
  });

  it('opening an account is not repeated once it may have arrived (the bank does not deduplicate it)', async () => {
    behaviour = (_s, _n, _res, sock) => drop(sock);
    const c = client(`key:${kp.publicKey.toString('hex')}`);
    const e = await c.openAccount({ kind: 'personal', tier: 4, evidence: { phone: '+8613800000001' } }).catch((x: unknown) => x);
    expect(isCbdcError(e) && e.code).toBe('CBDC_ERR_BANK_UNREACHABLE');
    expect((e as { maybeSent?: boolean }).maybeSent).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('a refusal is not retried: it is a BankRefusal with the bank\'s code', async () => {
    behaviour = (_s, _n, res) => json(res, 409, { code: 'CBDC_ERR_LIMIT_DAILY', message: 'over the daily limit' });
    const e = await client().preparePayment(ACCOUNT, { payee: { alias: '@bob_1' }, amountFen: 1n, idempotencyKey: 'key-abcdef-124' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BankRefusal);
    expect((e as BankRefusal).code).toBe('CBDC_ERR_LIMIT_DAILY');
    expect((e as BankRefusal).status).toBe(409);
    expect(seen).toHaveLength(1);
  });

  it('a 503 is retried where the bank deduplicates durably, but never for an exchange to the wallet', async () => {
    behaviour = (_s, n, res) => (n === 1 ? json(res, 503, { code: 'CBDC_ERR_OVERLOADED', message: 'busy' }) : json(res, 200, payment));
    await client().preparePayment(ACCOUNT, { payee: { alias: '@bob_1' }, amountFen: 1n, idempotencyKey: 'key-abcdef-125' });
    expect(seen).toHaveLength(2);
    seen = [];
    behaviour = (_s, _n, res) => json(res, 503, { code: 'CBDC_ERR_CENTRAL_UNAVAILABLE', message: 'pending' });
    const e = await client().exchangeToWallet(ACCOUNT, 1n, 'exch-key-0002').catch((x: unknown) => x);
    expect((e as BankRefusal).code).toBe('CBDC_ERR_CENTRAL_UNAVAILABLE');
    expect(seen).toHaveLength(1);
  });

  it('a bank that is not there: every attempt, then CBDC_ERR_BANK_UNREACHABLE', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const retries: string[] = [];
    const c = new BankClient({ url: `http://127.0.0.1:${port}`, network: NETWORK, signer: ACCOUNT, secretKey: kp.secretKey, retry: { attempts: 3, baseDelayMs: 5 }, onRetry: (i) => retries.push(i.reason) });
    const e = await c.account(ACCOUNT).catch((x: unknown) => x);
    expect(isCbdcError(e) && e.code).toBe('CBDC_ERR_BANK_UNREACHABLE');
    expect(retries).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    const h = await bankHealth(`http://127.0.0.1:${port}`, { retry: { attempts: 2, baseDelayMs: 5 } }).catch((x: unknown) => x);
    expect(isCbdcError(h) && h.code).toBe('CBDC_ERR_BANK_UNREACHABLE');
  });

  it('tells transport failures from other errors', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const reset = Object.assign(new TypeError('fetch failed'), { cause: { code: 'UND_ERR_SOCKET' } });
    const timeout = Object.assign(new Error('t'), { name: 'TimeoutError' });
    expect(classifyTransportError(refused)).toEqual({ delivery: 'not-sent', reason: 'ECONNREFUSED' });
    expect(classifyTransportError(reset)?.delivery).toBe('maybe-sent');
    expect(classifyTransportError(timeout)?.delivery).toBe('maybe-sent');
    // Node's own client: system and TLS errors with their codes.
    expect(classifyTransportError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toEqual({ delivery: 'not-sent', reason: 'ECONNREFUSED' });
    expect(classifyTransportError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))?.delivery).toBe('maybe-sent');
    const untrusted = classifyTransportError(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }));
    expect(untrusted?.delivery).toBe('not-sent');
    expect(untrusted?.reason).toContain('--tls-ca');
    expect(classifyTransportError(Object.assign(new Error('x'), { code: 'CBDC_ERR_SCHEMA' }))).toBeNull();
    expect(classifyTransportError(new SyntaxError('x'))).toBeNull();
    expect(classifyTransportError('nope')).toBeNull();
  });
});
