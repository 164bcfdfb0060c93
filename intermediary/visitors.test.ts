// Visitor (tier 5) wallets through the bank's API, on a real central and two real banks (LMDB
// on disk, fastify on ports): opening with a passport (hashed, one open wallet per passport),
// top-ups from a foreign card (rate, fee, rounding, the cap checked before any charge, the
// acquirer's declines), the FX ledger, peer-to-peer payments, the conversion back, and the
// validity end (bank-a's clock moved past it). Every refusal has its own code and leaves the
// accounts, histories, totals, central's supply, the FX ledger and the acquirer's log as they
// were. Neither the passport number nor the canonical passport string is in any LMDB file or
// any answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ERRORS } from '../protocol/errors.js';
import { signHashNative } from '../protocol/sig.js';
import { Client, type HttpResponse, keyPair, rawRequest } from '../test/helpers/http_fixture.js';
import {
  type TestBank, type TestNetwork, type Wallet, account, applicantClient, fundHoldings, fundWallet, idemKey, nextPhone, openWallet, pay, quiesce, snapshot, startNetwork,
} from '../test/helpers/bank_fixture.js';

const DAY_MS = 86_400_000;
let offsetMs = 0;
let net: TestNetwork;
let A: TestBank;
let B: TestBank;
let resident: Wallet;
let remote: Wallet;
let visitor: Wallet;
const PASSPORT = '12ab34567';
const answers: string[] = [];

function check(r: HttpResponse, status: number, code?: string): HttpResponse {
  answers.push(r.text);
  expect(r.status, r.text).toBe(status);
  if (code !== undefined) {
    expect(r.body.code, r.text).toBe(code);
    expect(ERRORS[code as keyof typeof ERRORS][0]).toBe(status);
  }
  return r;
}

async function openVisitor(passport: string, o: { nationality?: string; validUntilMs?: number; phone?: string; region?: string } = {}): Promise<Wallet> {
  const key = keyPair(`visitor-${passport}-${Date.now()}-${Math.random()}`);
  const phone = o.phone ?? nextPhone();
  const r = check(await applicantClient(A, key).post('/v1/accounts', {
    kind: 'personal', tier: 5, evidence: { phone, passport_number: passport, nationality: o.nationality ?? 'FRA' }, valid_until_ms: o.validUntilMs ?? A.node.bank.now() + 30 * DAY_MS,
    ...(o.region !== undefined ? { region: o.region } : {}),
  }), 201);
  A.accounts.push(r.body.id);
  return { bank: A, key, id: r.body.id, client: new Client(A.url, 'cbdc-local', r.body.id, key.sk), phone };
}

const card = { number: '4111111111111111', expiry: '12/28' };
const topUp = (w: Wallet, body: Record<string, unknown>) => w.client.post(`/v1/accounts/${w.id}/visitor/top-up`, { card, currency: 'USD', amount_minor: '10000', idempotency_key: idemKey(), ...body });
const convertBack = (w: Wallet, body: Record<string, unknown>) => w.client.post(`/v1/accounts/${w.id}/visitor/convert-back`, { amount_fen: '5000', currency: 'USD', idempotency_key: idemKey(), ...body });
const ledger = async () => (await A.staff.get('/v1/bank/visitors/fx-ledger?limit=500')).body;

/** Runs `refuse`, then checks every figure is as it was (and nothing was charged or refunded). */
async function unchanged(refuse: () => Promise<void>): Promise<void> {
  const wallets = [resident, visitor, remote].filter((w) => w !== undefined);
  const before = await snapshot(net, wallets);
  const fxBefore = await ledger();
  const acquirerBefore = A.node.visitors.acquirer.log.length;
  const passportsBefore = [...A.node.bank.store.visitorPassports.getRange({})].length;
  await refuse();
  expect(await snapshot(net, wallets)).toEqual(before);
  expect(await ledger()).toEqual(fxBefore);
  expect(A.node.visitors.acquirer.log.length).toBe(acquirerBefore);
  expect([...A.node.bank.store.visitorPassports.getRange({})].length).toBe(passportsBefore);
}

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a', opts: { clock: () => Date.now() + offsetMs } }, { id: 'bank-b' }]);
  A = net.bank('bank-a');
  B = net.bank('bank-b');
  await fundHoldings(net, A);
  await fundHoldings(net, B);
  resident = await openWallet(A, { tier: 3 });
  remote = await openWallet(B, { tier: 3 });
  await fundWallet(resident, 100_000n);
  await fundWallet(remote, 100_000n);
}, 60_000);

afterAll(async () => {
  await net?.close();
});

describe('the FX table and the tier', () => {
  it('GET /v1/visitors/fx shows the rates, the fee and the declining test cards, unsigned', async () => {
    const r = check(await rawRequest(A.url, 'GET', '/v1/visitors/fx'), 200);
    expect(r.body.fee_bps).toBe(150);
    expect(r.body.currencies).toContainEqual({ currency: 'USD', exponent: 2, rate: '710/100', rate_fen: '710', rate_minor: '100' });
    expect(r.body.currencies).toContainEqual({ currency: 'JPY', exponent: 0, rate: '47/10', rate_fen: '47', rate_minor: '10' });
    expect(r.body.declining_test_cards.map((c: { number: string }) => c.number)).toContain('4000000000009995');
  });
  it('GET /v1/limits lists tier 5', async () => {
    const r = check(await rawRequest(A.url, 'GET', '/v1/limits'), 200);
    expect(r.body.tiers['5']).toEqual({ balance_cap_fen: '1000000', single_payment_fen: '500000', daily_fen: '1000000', annual_fen: '5000000' });
  });
});

describe('opening a visitor wallet', () => {
  it('opens with phone, passport, nationality and a validity end; answers no passport', async () => {
    const validUntil = A.node.bank.now() + 30 * DAY_MS;
    visitor = await openVisitor(PASSPORT, { validUntilMs: validUntil, region: 'CN-SH' });
    const a = await account(visitor);
    expect(a.tier).toBe(5);
    expect(a.region).toBe('CN-SH'); // where the visitor stays: the analytics group it by region like any account
    expect((a as any).visitor).toEqual({ valid_until_ms: validUntil, expired: false });
    expect(a.aliases).toEqual([visitor.phone]);
    const rec = A.node.bank.store.accounts.get(visitor.id)!;
    expect(rec.evidence).toEqual({ phone: visitor.phone });
    expect(Object.keys(rec.visitor!).sort()).toEqual(['passportHash', 'validUntilMs']);
    expect(rec.visitor!.passportHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refusals, each with its own code, opening nothing', async () => {
    const now = A.node.bank.now();
    const ev = { phone: nextPhone(), passport_number: 'ZZ9988776', nationality: 'DEU' };
    await unchanged(async () => {
      const c = applicantClient(A, keyPair(`refused-${Date.now()}`));
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: ev }), 400, 'CBDC_ERR_VISITOR_VALIDITY');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: ev, valid_until_ms: now + 3_000_000 }), 400, 'CBDC_ERR_VISITOR_VALIDITY');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: ev, valid_until_ms: now + 181 * DAY_MS }), 400, 'CBDC_ERR_VISITOR_VALIDITY');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: ev, valid_until_ms: String(now + DAY_MS) }), 400, 'CBDC_ERR_VISITOR_VALIDITY');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: ev, valid_until_ms: now + DAY_MS + 0.5 }), 400, 'CBDC_ERR_VISITOR_VALIDITY');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: ev.phone }, valid_until_ms: now + DAY_MS }), 400, 'CBDC_ERR_VISITOR_VALIDITY');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: ev.phone, passport_number: 'ZZ9988776' } }), 400, 'CBDC_ERR_KYC_EVIDENCE');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: { phone: ev.phone, nationality: 'DEU' }, valid_until_ms: now + DAY_MS }), 400, 'CBDC_ERR_KYC_EVIDENCE');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: { ...ev, nationality: 'de' }, valid_until_ms: now + DAY_MS }), 400, 'CBDC_ERR_KYC_EVIDENCE');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: { ...ev, nationality: 'CHN' }, valid_until_ms: now + DAY_MS }), 400, 'CBDC_ERR_KYC_EVIDENCE');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: { ...ev, name: 'Hans Meier' }, valid_until_ms: now + DAY_MS }), 400, 'CBDC_ERR_KYC_EVIDENCE');
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 6, evidence: ev, valid_until_ms: now + DAY_MS }), 400, 'CBDC_ERR_KYC_TIER');
      // The same passport (its number in another case) at the same bank: one open visitor wallet.
      check(await c.post('/v1/accounts', { kind: 'personal', tier: 5, evidence: { ...ev, passport_number: PASSPORT.toUpperCase(), nationality: 'FRA' }, valid_until_ms: now + DAY_MS }), 409, 'CBDC_ERR_VISITOR_EXISTS');
    });
  });

  it('the same number from another state is another passport; a closed visitor wallet frees its passport', async () => {
    const other = await openVisitor(PASSPORT, { nationality: 'BEL' });
    check(await other.client.post(`/v1/accounts/${other.id}/close`, undefined), 200);
    const again = await openVisitor(PASSPORT, { nationality: 'BEL' });
    expect(again.id).not.toBe(other.id);
  });

  it('no tier change to or from 5 (CBDC_ERR_VISITOR_TIER_CHANGE), nothing changed', async () => {
    await unchanged(async () => {
      check(await visitor.client.post(`/v1/accounts/${visitor.id}/kyc`, { tier: 4, evidence: { phone: visitor.phone } }), 409, 'CBDC_ERR_VISITOR_TIER_CHANGE');
      check(await A.staff.post(`/v1/accounts/${visitor.id}/kyc`, { tier: 3, evidence: { phone: visitor.phone, name: 'Jean Dupont', id_number: 'ID12345678' } }), 409, 'CBDC_ERR_VISITOR_TIER_CHANGE');
      check(await resident.client.post(`/v1/accounts/${resident.id}/kyc`, { tier: 5, evidence: { phone: resident.phone, passport_number: 'AB123456', nationality: 'FRA' } }), 409, 'CBDC_ERR_VISITOR_TIER_CHANGE');
    });
  });
});

describe('top-up from a foreign card', () => {
  it('USD 100.00 at 710/100 less 1.5%: 699.35 yuan from the holdings into the wallet, one FX line, one charge', async () => {
    const before = await snapshot(net, [visitor]);
    const key = idemKey();
    const r = check(await topUp(visitor, { idempotency_key: key }), 200);
    expect(r.body.status).toBe('settled');
    expect(r.body.replayed).toBe(false);
    const l = r.body.fx_line;
    expect(l).toMatchObject({ account: visitor.id, direction: 'in', kind: 'top-up', currency: 'USD', amount_minor: '10000', rate: '710/100', fee_bps: 150, fee_fen: '1065', amount_fen: '69935', card_last4: '1111' });
    expect(l.txid).toMatch(/^[0-9a-f]{64}$/);
    expect(l.acquirer_ref).toMatch(/^acq-[0-9a-f]{16}$/);
    expect(r.body.account.balance_fen).toBe('69935');
    await quiesce(net);
    const after = await snapshot(net, [visitor]);
    expect(BigInt(after.totals['bank-a']!.holdings_fen)).toBe(BigInt(before.totals['bank-a']!.holdings_fen) - 69_935n);
    expect((after.accounts[visitor.id] as any).deposit_fen).toBe('0');
    const h = (after.histories[visitor.id] as any).entries;
    expect(h.at(-1)).toMatchObject({ direction: 'in', kind: 'exchange', amount_fen: '69935', txid: l.txid });
    const acq = A.node.visitors.acquirer.log.at(-1)!;
    expect(acq).toMatchObject({ kind: 'charge', reference: l.acquirer_ref, currency: 'USD', amountMinor: 10_000n, last4: '1111' });
    // The same key: the same answer, no second charge; the same key for another amount is a conflict.
    await unchanged(async () => {
      const again = check(await topUp(visitor, { idempotency_key: key }), 200);
      expect(again.body.replayed).toBe(true);
      expect(again.body.fx_line).toEqual(l);
      check(await topUp(visitor, { idempotency_key: key, amount_minor: '10001' }), 409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT');
    });
    // The customer reads its own lines; staff every line.
    const own = check(await visitor.client.get(`/v1/accounts/${visitor.id}/visitor/fx-ledger`), 200);
    expect(own.body.lines).toEqual([l]);
    expect((await ledger()).lines).toContainEqual(l);
  });

  it('JPY 5000 at 47/10 less 1.5%: 231.47 yuan (23147.5 rounded down to the fen)', async () => {
    const r = check(await topUp(visitor, { currency: 'JPY', amount_minor: '5000' }), 200);
    expect(r.body.fx_line).toMatchObject({ amount_fen: '23147', fee_fen: '353', rate: '47/10' });
    expect(r.body.account.balance_fen).toBe(String(69_935 + 23_147));
  });

  it('refusals before any charge, each with its own code, nothing changed', async () => {
    await unchanged(async () => {
      check(await topUp(visitor, { card: { number: '4000000000009995', expiry: '12/28' } }), 402, 'CBDC_ERR_CARD_DECLINED');
      check(await topUp(visitor, { card: { number: '4000000000000002', expiry: '12/28' } }), 402, 'CBDC_ERR_CARD_DECLINED');
      check(await topUp(visitor, { card: { number: '4111111111111112', expiry: '12/28' } }), 400, 'CBDC_ERR_CARD_FORMAT');
      check(await topUp(visitor, { card: { number: '4111111111111111111111', expiry: '12/28' } }), 400, 'CBDC_ERR_CARD_FORMAT');
      check(await topUp(visitor, { card: { number: '4111111111111111', expiry: '2028-12' } }), 400, 'CBDC_ERR_CARD_FORMAT');
      check(await topUp(visitor, { card: { number: '4111111111111111', expiry: '01/20' } }), 402, 'CBDC_ERR_CARD_EXPIRED');
      check(await topUp(visitor, { currency: 'XXX' }), 400, 'CBDC_ERR_FX_CURRENCY');
      check(await topUp(visitor, { currency: 'usd' }), 400, 'CBDC_ERR_FX_CURRENCY');
      check(await topUp(visitor, { currency: 'HKD', amount_minor: '1' }), 400, 'CBDC_ERR_FX_AMOUNT');
      check(await topUp(visitor, { amount_minor: 10000 }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
      check(await topUp(visitor, { amount_minor: '100.5' }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
      check(await topUp(visitor, { amount_minor: '-1' }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
      check(await topUp(visitor, { amount_minor: '0' }), 400, 'CBDC_ERR_AMOUNT_RANGE');
      check(await topUp(visitor, { amount_minor: '99999999999999999999' }), 400);
      // Over the cap: USD 1,300.00 brings 9,091.55 yuan onto 930.82: refused before the card is charged.
      check(await topUp(visitor, { amount_minor: '130000' }), 409, 'CBDC_ERR_BALANCE_CAP');
      // A resident account, another wallet, staff.
      check(await topUp(resident, {}), 409, 'CBDC_ERR_VISITOR_ONLY');
      check(await resident.client.post(`/v1/accounts/${visitor.id}/visitor/top-up`, { card, currency: 'USD', amount_minor: '100', idempotency_key: idemKey() }), 403, 'CBDC_ERR_FORBIDDEN');
      check(await A.staff.post(`/v1/accounts/${visitor.id}/visitor/top-up`, { card, currency: 'USD', amount_minor: '100', idempotency_key: idemKey() }), 403, 'CBDC_ERR_FORBIDDEN');
      check(await rawRequest(A.url, 'POST', `/v1/accounts/${visitor.id}/visitor/top-up`, { body: JSON.stringify({ card, currency: 'USD', amount_minor: '100', idempotency_key: idemKey() }) }), 401, 'CBDC_ERR_UNAUTHENTICATED');
      check(await resident.client.get(`/v1/accounts/${visitor.id}/visitor/fx-ledger`), 403, 'CBDC_ERR_FORBIDDEN');
      check(await resident.client.get(`/v1/accounts/${resident.id}/visitor/fx-ledger`), 409, 'CBDC_ERR_VISITOR_ONLY');
      check(await resident.client.get('/v1/bank/visitors/fx-ledger'), 403, 'CBDC_ERR_FORBIDDEN');
    });
  });
});

describe('paying peer to peer', () => {
  it('a resident pays the visitor and the visitor pays a resident at another bank', async () => {
    await pay(resident, { alias: visitor.phone }, 1_000n);
    await pay(visitor, { account: remote.id }, 2_000n);
    await quiesce(net);
    expect((await account(visitor)).balance_fen).toBe(String(69_935 + 23_147 + 1_000 - 2_000));
  });
});

describe('converting back', () => {
  it('the wallet moves 50.00 to its deposit (signed, outside the payer limits), then 6.93 USD go back to the card for 49.95', async () => {
    const x = check(await visitor.client.post(`/v1/accounts/${visitor.id}/exchange`, { direction: 'to_deposit', amount_fen: '5000', idempotency_key: idemKey() }), 200);
    const s = check(await visitor.client.post(`/v1/accounts/${visitor.id}/payments/${x.body.id}/sign`, { sig: signHashNative(visitor.key.sk, Buffer.from(x.body.txid, 'hex')).toString('hex') }), 200);
    expect(s.body.status).toBe('settled');
    const usedBefore = (await account(visitor)).used_today_fen;
    expect((await account(visitor)).deposit_fen).toBe('5000');
    const key = idemKey();
    const r = check(await convertBack(visitor, { idempotency_key: key }), 200);
    expect(r.body.fx_line).toMatchObject({ direction: 'out', kind: 'convert-back', currency: 'USD', amount_minor: '693', amount_fen: '4995', fee_fen: '74', txid: null, card_last4: '1111' });
    expect(r.body.account.deposit_fen).toBe('5');
    expect((await account(visitor)).used_today_fen).toBe(usedBefore);
    expect(A.node.visitors.acquirer.log.at(-1)).toMatchObject({ kind: 'refund', reference: r.body.fx_line.acquirer_ref, amountMinor: 693n, currency: 'USD' });
    await unchanged(async () => {
      const again = check(await convertBack(visitor, { idempotency_key: key }), 200);
      expect(again.body.replayed).toBe(true);
      expect(again.body.fx_line).toEqual(r.body.fx_line);
      check(await convertBack(visitor, { idempotency_key: key, amount_fen: '5001' }), 409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT');
    });
  });

  it('refusals, each with its own code, nothing changed', async () => {
    const never = await openVisitor('NT5566778', { nationality: 'ITA' });
    await A.staff.post(`/v1/accounts/${never.id}/deposit`, { amount_fen: '1000' });
    await unchanged(async () => {
      check(await convertBack(visitor, { amount_fen: '100000' }), 409, 'CBDC_ERR_INSUFFICIENT_FUNDS');
      check(await convertBack(visitor, { amount_fen: '5' }), 400, 'CBDC_ERR_FX_AMOUNT');
      check(await convertBack(visitor, { currency: 'XXX' }), 400, 'CBDC_ERR_FX_CURRENCY');
      check(await convertBack(visitor, { amount_fen: 5000 }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
      check(await convertBack(never, { amount_fen: '1000' }), 409, 'CBDC_ERR_VISITOR_NO_CARD');
      check(await convertBack(resident, {}), 409, 'CBDC_ERR_VISITOR_ONLY');
      check(await resident.client.post(`/v1/accounts/${visitor.id}/visitor/convert-back`, { amount_fen: '5000', currency: 'USD', idempotency_key: idemKey() }), 403, 'CBDC_ERR_FORBIDDEN');
    });
  });
});

describe('after the validity end (bank-a clock moved past it)', () => {
  it('refuses money in with CBDC_ERR_VISITOR_EXPIRED, changing nothing', async () => {
    offsetMs = 31 * DAY_MS;
    expect((await account(visitor) as any).visitor.expired).toBe(true);
    await unchanged(async () => {
      check(await topUp(visitor, { amount_minor: '100' }), 403, 'CBDC_ERR_VISITOR_EXPIRED');
      check(await visitor.client.post(`/v1/accounts/${visitor.id}/exchange`, { direction: 'to_wallet', amount_fen: '5', idempotency_key: idemKey() }), 403, 'CBDC_ERR_VISITOR_EXPIRED');
      // A payer at the same bank (two-step: the quote; one request: the payee's terms).
      check(await resident.client.post(`/v1/accounts/${resident.id}/payments`, { idempotency_key: idemKey(), payee: { alias: visitor.phone }, amount_fen: '100' }), 403, 'CBDC_ERR_VISITOR_EXPIRED');
      check(await resident.client.get(`/v1/accounts/${resident.id}/payees?alias=${encodeURIComponent(visitor.phone)}&amount_fen=100`), 403, 'CBDC_ERR_VISITOR_EXPIRED');
      // A payer at another bank.
      check(await remote.client.post(`/v1/accounts/${remote.id}/payments`, { idempotency_key: idemKey(), payee: { account: visitor.id }, amount_fen: '100' }), 403, 'CBDC_ERR_VISITOR_EXPIRED');
      const asBankB = new Client(A.url, 'cbdc-local', 'bank-b', B.self.sk);
      check(await asBankB.post('/v1/interbank/receive-terms', { account: visitor.id, room_fen: '100' }), 403, 'CBDC_ERR_VISITOR_EXPIRED');
      check(await asBankB.post('/v1/interbank/quote', { account: visitor.id, amount_fen: '100' }), 403, 'CBDC_ERR_VISITOR_EXPIRED');
    });
  });

  it('still pays out and converts back', async () => {
    const before = BigInt((await account(visitor)).balance_fen);
    await pay(visitor, { account: resident.id }, 1_000n);
    const x = check(await visitor.client.post(`/v1/accounts/${visitor.id}/exchange`, { direction: 'to_deposit', amount_fen: '10000', idempotency_key: idemKey() }), 200);
    check(await visitor.client.post(`/v1/accounts/${visitor.id}/payments/${x.body.id}/sign`, { sig: signHashNative(visitor.key.sk, Buffer.from(x.body.txid, 'hex')).toString('hex') }), 200);
    const r = check(await convertBack(visitor, { amount_fen: '10000', currency: 'EUR' }), 200);
    // 10000 fen at 780/100 plus 1.5%: 12.63 EUR (12.6310…), costing 99.99171 -> 100.00 yuan.
    expect(r.body.fx_line).toMatchObject({ currency: 'EUR', amount_minor: '1263', amount_fen: '10000' });
    expect(BigInt(r.body.account.balance_fen)).toBe(before - 11_000n);
    offsetMs = 0;
  });
});

describe('privacy', () => {
  it('neither the passport number nor the passport string is in any LMDB file of the banks or central, nor in any answer; the card number neither', async () => {
    await A.node.bank.durable();
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const f of readdirSync(d)) {
        const p = path.join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (f.endsWith('.mdb')) files.push(p);
      }
    };
    walk(net.dir);
    expect(files.some((f) => f.startsWith(A.dir))).toBe(true);
    const needles = [PASSPORT, PASSPORT.toUpperCase(), `FRA:${PASSPORT.toUpperCase()}`, card.number];
    let phoneSeen = false;
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const n of needles) expect(bytes.includes(Buffer.from(n)), `${n} in ${f}`).toBe(false);
      if (bytes.includes(Buffer.from(visitor.phone))) phoneSeen = true;
    }
    // The scan finds what is stored in the clear (the phone, the wallet's alias).
    expect(phoneSeen).toBe(true);
    const all = answers.join('\n');
    for (const n of needles) expect(all.includes(n), n).toBe(false);
  });
});
