// The bank node's OpenAPI document (GET /docs/json): OpenAPI 3, a response schema on every
// route's success, a request body schema wherever a route takes a body, and every error code
// it names — or the API answers with — in the one registry (protocol/errors.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../protocol/errors.js';
import { checkErrorShape, keyPair, rawRequest, type HttpResponse } from '../test/helpers/http_fixture.js';
import { type TestBank, type TestNetwork, type Wallet, applicantClient, idemKey, openWallet, startNetwork } from '../test/helpers/bank_fixture.js';
import { DEFAULT_TIER_LIMITS, TIERS } from './tiers.js';
import { BANK_TIME_ZONE } from '../platform/clock.js';

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { requestBody?: any; responses?: Record<string, any>; parameters?: any[] }>>;
};

let net: TestNetwork;
let A: TestBank;
let w: Wallet;
let doc: Doc;

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }]);
  A = net.bank('bank-a');
  w = await openWallet(A, { tier: 4 });
  const r = await rawRequest(A.url, 'GET', '/docs/json');
  expect(r.status, r.text).toBe(200);
  doc = r.body;
});

afterAll(async () => {
  await net?.close();
});

const WS_ROUTES = new Set(['GET /v1/accounts/{id}/events']);
/** POST routes whose handler takes no body. */
const NO_BODY = new Set(['POST /v1/accounts/{id}/close']);
const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

function operations(): { key: string; method: string; path: string; op: Doc['paths'][string][string] }[] {
  const out = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!METHODS.has(method)) continue;
      out.push({ key: `${method.toUpperCase()} ${path}`, method, path, op });
    }
  }
  return out;
}

/** Every string value anywhere below `v` (and the keys it sits under). */
function* strings(v: unknown, key = ''): Generator<[string, string]> {
  if (typeof v === 'string') yield [key, v];
  else if (Array.isArray(v)) for (const x of v) yield* strings(x, key);
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* strings(x, k);
}

describe('GET /docs/json', () => {
  it('is an OpenAPI 3 document naming this bank', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.title).toContain('bank-a');
    expect(typeof doc.info.version).toBe('string');
  });

  it('lists the wallet, staff, compliance and interbank routes', () => {
    const keys = new Set(operations().map((o) => o.key));
    for (const k of [
      'GET /v1/health', 'GET /v1/limits', 'POST /v1/accounts', 'GET /v1/accounts/{id}', 'POST /v1/accounts/{id}/kyc', 'POST /v1/accounts/{id}/aliases',
      'POST /v1/accounts/{id}/freeze', 'POST /v1/accounts/{id}/unfreeze', 'POST /v1/accounts/{id}/close', 'POST /v1/accounts/{id}/deposit',
      'POST /v1/accounts/{id}/cash-out', 'POST /v1/accounts/{id}/exchange', 'POST /v1/accounts/{id}/payments', 'POST /v1/accounts/{id}/payments/{pid}/sign',
      'GET /v1/accounts/{id}/payments/{pid}', 'GET /v1/accounts/{id}/history', 'GET /v1/accounts/{id}/statements/{day}', 'GET /v1/accounts/{id}/events',
      'POST /v1/interbank/quote', 'GET /v1/bank/totals', 'GET /v1/bank/reconcile', 'POST /v1/bank/issuance', 'POST /v1/bank/redemption', 'GET /v1/compliance/aml',
    ]) expect(keys.has(k), k).toBe(true);
    // The document itself is hidden.
    expect(keys.has('GET /docs/json')).toBe(false);
  });

  it('every route but the websocket has a JSON response schema for its success (200 or 201)', () => {
    const ops = operations().filter((o) => !WS_ROUTES.has(o.key));
    expect(ops.length).toBeGreaterThan(20);
    for (const { key, op } of ops) {
      const ok = op.responses?.['200'] ?? op.responses?.['201'];
      expect(ok, `${key} documents a success response`).toBeDefined();
      const schema = ok.content?.['application/json']?.schema;
      expect(schema, `${key} has a success response schema`).toBeDefined();
      expect(schema.type, `${key} success schema is an object`).toBe('object');
    }
  });

  it('every route that takes a body has a JSON requestBody schema; GET routes and body-less POSTs have none', () => {
    for (const { key, method, op } of operations()) {
      const takesBody = method !== 'get' && !NO_BODY.has(key);
      if (takesBody) {
        const schema = op.requestBody?.content?.['application/json']?.schema;
        expect(schema, `${key} documents its request body`).toBeDefined();
        expect(schema.type, key).toBe('object');
        expect(schema.additionalProperties, `${key} refuses unknown fields`).toBe(false);
      } else {
        expect(op.requestBody, `${key} takes no body`).toBeUndefined();
      }
    }
  });

  it('every route behind a signature documents its error responses as {code, message}', () => {
    for (const { key, op } of operations()) {
      if (WS_ROUTES.has(key) || key === 'GET /v1/health' || key === 'GET /v1/limits') continue;
      const e4 = op.responses?.['4XX'] ?? op.responses?.['4xx'];
      expect(e4, `${key} documents 4xx`).toBeDefined();
      const s = e4.content['application/json'].schema;
      expect(s.required, key).toEqual(expect.arrayContaining(['code', 'message']));
    }
  });

  it('every error code the document names (schema codes, examples) is in the registry', () => {
    const named = new Set<string>();
    for (const [key, v] of strings(doc)) {
      for (const m of v.matchAll(/CBDC_ERR_[A-Z0-9_]+/g)) named.add(m[0]);
      if (key === 'x-cbdc-code') expect(Object.hasOwn(ERRORS, v), `x-cbdc-code ${v}`).toBe(true);
    }
    expect(named.size).toBeGreaterThan(0);
    for (const c of named) expect(Object.hasOwn(ERRORS, c), `${c} is in protocol/errors.ts`).toBe(true);
  });
});

describe('error answers use registry codes with the registry status', () => {
  const seen: string[] = [];
  const check = (r: HttpResponse, code: string): void => {
    expect(r.body?.code, r.text).toBe(code);
    checkErrorShape(r.status, r.body);
    seen.push(r.body.code);
  };

  it('across framework, schema, auth and domain refusals', async () => {
    check(await rawRequest(A.url, 'GET', '/v1/no-such-route'), 'CBDC_ERR_NOT_FOUND');
    check(await rawRequest(A.url, 'GET', `/v1/accounts/${w.id}`), 'CBDC_ERR_UNAUTHENTICATED');
    check(await rawRequest(A.url, 'POST', `/v1/accounts/${w.id}/payments`, { body: '{"a":', headers: w.client.headersFor('POST', `/v1/accounts/${w.id}/payments`, Buffer.from('{"a":')) }), 'CBDC_ERR_SCHEMA');
    check(await rawRequest(A.url, 'POST', `/v1/accounts/${w.id}/payments`, { body: 'x'.repeat(300 * 1024) }), 'CBDC_ERR_BODY_TOO_LARGE');
    check(await rawRequest(A.url, 'POST', '/v1/accounts', { body: 'hello', contentType: 'text/plain' }), 'CBDC_ERR_SCHEMA');
    check(await w.client.post(`/v1/accounts/${w.id}/payments`, { idempotency_key: idemKey(), payee: { account: w.id }, amount_fen: 5 }), 'CBDC_ERR_AMOUNT_FORMAT');
    check(await w.client.post(`/v1/accounts/${w.id}/payments`, { idempotency_key: idemKey(), payee: { alias: '+8612345678', bank: 'Bank_A' }, amount_fen: '5' }), 'CBDC_ERR_INTERMEDIARY_ID');
    check(await w.client.post(`/v1/accounts/${w.id}/payments/pay-1/sign`, { sig: '00'.repeat(64) }), 'CBDC_ERR_NOT_FOUND');
    check(await w.client.post(`/v1/accounts/${w.id}/payments/pay-0123456789abcdef/sign`, { sig: 'zz' }), 'CBDC_ERR_HEX_FORMAT');
    check(await w.client.post(`/v1/accounts/${w.id}/kyc`, { tier: 9, evidence: {} }), 'CBDC_ERR_KYC_TIER');
    check(await w.client.get('/v1/accounts/nope'), 'CBDC_ERR_ACCOUNT_UNKNOWN');
    check(await w.client.get('/v1/bank/totals'), 'CBDC_ERR_FORBIDDEN');
    check(await w.client.request('GET', `/v1/accounts/${w.id}`, undefined, { timeMs: Date.now() - 60_000 }), 'CBDC_ERR_REQUEST_STALE');
    check(await w.client.request('GET', `/v1/accounts/${w.id}`, undefined, { signWith: keyPair('someone-else').sk }), 'CBDC_ERR_REQUEST_SIGNATURE');
    check(await applicantClient(A, w.key).post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: '+8600000000000' } }), 'CBDC_ERR_ACCOUNT_EXISTS');
    check(await applicantClient(A, keyPair(`oa-${Date.now()}`)).post('/v1/accounts', { kind: 'merchant', tier: 4, evidence: { phone: '+8600000000001' } }), 'CBDC_ERR_MERCHANT_CATEGORY');
    check(await w.client.post(`/v1/accounts/${w.id}/aliases`, { alias: 'nope' }), 'CBDC_ERR_ALIAS_FORMAT');
    check(await w.client.post(`/v1/accounts/${w.id}/payments`, { idempotency_key: idemKey(), payee: { alias: '+8699999999999' }, amount_fen: '5' }), 'CBDC_ERR_INSUFFICIENT_FUNDS');
    check(await w.client.post(`/v1/accounts/${w.id}/payments`, { idempotency_key: idemKey(), payee: {}, amount_fen: '5' }), 'CBDC_ERR_PAYEE_UNKNOWN');
    check(await w.client.post(`/v1/accounts/${w.id}/payments`, { idempotency_key: idemKey(), payee: { alias: '+8699999999999' }, amount_fen: '200001' }), 'CBDC_ERR_LIMIT_SINGLE');
    check(await A.staff.post(`/v1/accounts/${w.id}/cash-out`, { amount_fen: '1' }), 'CBDC_ERR_INSUFFICIENT_FUNDS');
    check(await A.self.post('/v1/interbank/quote', { account: w.id, amount_fen: '1' }), 'CBDC_ERR_UNAUTHENTICATED');
    for (const c of seen) expect(Object.hasOwn(ERRORS, c)).toBe(true);
    expect(new Set(seen).size).toBeGreaterThanOrEqual(15);
  });
});

describe('GET /v1/limits', () => {
  it("reports the bank's time zone, Asia/Shanghai, and the tier table in fen", async () => {
    const r = await rawRequest(A.url, 'GET', '/v1/limits');
    expect(r.status, r.text).toBe(200);
    expect(r.body.time_zone).toBe('Asia/Shanghai');
    expect(r.body.time_zone).toBe(BANK_TIME_ZONE);
    const f = (v: bigint | null) => (v === null ? null : v.toString());
    for (const t of TIERS) {
      const l = DEFAULT_TIER_LIMITS[t];
      expect(r.body.tiers[String(t)], `class ${t}`).toEqual({
        balance_cap_fen: f(l.balanceCapFen), single_payment_fen: f(l.singlePaymentFen), daily_fen: f(l.dailyFen), annual_fen: f(l.annualFen),
      });
    }
    expect(r.body.tiers['4']).toEqual({ balance_cap_fen: '1000000', single_payment_fen: '200000', daily_fen: '500000', annual_fen: '5000000' });
  });
});
