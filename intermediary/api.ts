// The bank's HTTP API: for wallets (signed by the wallet's key), for bank staff (teller,
// compliance, regulator keys), and for other banks (payee quotes, signed by the bank's key as
// registered at central). Every route has request and response schemas; the OpenAPI document
// is generated from them and served at /docs/json.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import type { WebSocket } from 'ws';
import { Type, type Static, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../protocol/errors.js';
import { parsePositiveAmountFen } from '../protocol/amount.js';
import { isValidPublicKey, nativeVerifier } from '../protocol/sig.js';
import { lockToJson } from '../protocol/lock.js';
import { parseTx, type Tx } from '../protocol/tx.js';
import { PaymentOutputsRefusal, termsToJson } from './payee_terms.js';
import { sendError } from '../platform/http_errors.js';
import { AmountFen, ErrorSchema, Hex32, IntermediaryId, PublicKeyHex, SignatureHex, TxSchema, U64 } from '../protocol/json_schemas.js';
import { AJV_OPTIONS, frameworkErrors, httpErrors } from '../platform/http_errors.js';
import { metricsPlugin } from '../platform/metrics.js';
import type { Registry } from 'prom-client';
import { RequestVerifier, type Signer } from '../platform/request_verify.js';
import { SERVER_LIMITS_DEFAULT, type ServerLimits, type TlsConfig, serverLimits, serverOptions } from '../platform/server_limits.js';
import { type Bank } from './bank.js';
import { type AccountRec, type HistoryRec, type PaymentRec, posKey } from './store.js';
import { dayStartMs } from '../platform/clock.js';
import { parseTier, type Tier } from './tiers.js';
import type { OfflineService } from './offline/reserve.js';
import { offlineApi } from './offline/api.js';
import { contractsApi } from './contracts_api.js';
import type { ReceiptService } from './receipts/service.js';
import { ReceiptDraftSchema, receiptsApi } from './receipts/api.js';
import type { ContractServices } from './contracts/services.js';
import type { VisitorService } from './visitors/service.js';
import { visitorsApi } from './visitors/api.js';
import type { BankAnalytics } from './analytics/service.js';
import { analyticsApi } from './analytics/api.js';
import { REGION_PATTERN, parseRegion, regionOf } from '../protocol/regions.js';
import { visitorExpired } from './visitors/rules.js';

export interface StaffKeys {
  /** signer id -> [public key, role] (roles: staff, compliance, regulator) */
  [signer: string]: { publicKey: Buffer; role: 'staff' | 'compliance' | 'regulator' | 'tax' };
}

export interface BankApiOptions {
  bank: Bank;
  staff: StaffKeys;
  /** Other banks' public keys (from central's directory); refreshed on an unknown bank signer. */
  bankKeys: () => Map<string, Buffer>;
  refreshBankKeys: () => Promise<void>;
  logLevel?: string;
  /** Offline devices: provisioning, loads, uploads, the reserve check (intermediary/offline/api.ts). */
  offline?: OfflineService;
  /** Serve GET /metrics from this registry. */
  metrics?: Registry;
  /** The contract services (schedules and lock-based contracts), when the node runs them. */
  contracts?: ContractServices;
  /** Electronic receipts (intermediary/receipts/). */
  receipts?: ReceiptService;
  /** Visitor (tier 5) wallets: passport opening, card top-ups, conversion back (intermediary/visitors/). */
  visitors?: VisitorService;
  /** Private analytics: the regulator's queries, and the bank's part in central's combined statistic (intermediary/analytics/). */
  analytics?: BankAnalytics;
  /** Client limits (default: SERVER_LIMITS_DEFAULT). */
  limits?: ServerLimits;
  tls?: TlsConfig;
}

/** Wallet notification subscribers at once. */
export const NOTIFY_SUBSCRIBERS_MAX = 10_000;

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const IdempotencyKey = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'Client-chosen key; the same key gives the same result' });
const AccountId = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}$', 'x-cbdc-code': 'CBDC_ERR_ACCOUNT_UNKNOWN' });
const EvidenceSchema = Obj({
  phone: Type.Optional(Type.String({ maxLength: 16 })), name: Type.Optional(Type.String({ maxLength: 64 })),
  id_number: Type.Optional(Type.String({ maxLength: 32 })), linked_account: Type.Optional(Type.String({ maxLength: 34 })),
  verified_in_person_by: Type.Optional(Type.String({ maxLength: 64 })),
  // Tier 5 only: hashed at once, never stored or answered.
  passport_number: Type.Optional(Type.String({ maxLength: 20 })), nationality: Type.Optional(Type.String({ maxLength: 3 })),
});
const TierSchema = Type.Integer({ minimum: 1, maximum: 5, 'x-cbdc-code': 'CBDC_ERR_KYC_TIER' });
const PayeeSchema = Obj({ alias: Type.Optional(Type.String({ maxLength: 40 })), account: Type.Optional(AccountId), bank: Type.Optional(IntermediaryId) });
const Limits = Loose({ balance_cap_fen: Type.Union([AmountFen, Type.Null()]), single_payment_fen: Type.Union([AmountFen, Type.Null()]), daily_fen: Type.Union([AmountFen, Type.Null()]), annual_fen: Type.Union([AmountFen, Type.Null()]) });
const AccountView = Loose({
  id: Type.String(), kind: Type.String(), mcc: Type.Union([Type.String(), Type.Null()]), tier: Type.Integer(), status: Type.String(),
  wallet_key: PublicKeyHex, aliases: Type.Array(Type.String()), balance_fen: AmountFen, deposit_fen: AmountFen,
  limits: Limits, used_today_fen: AmountFen, used_this_year_fen: AmountFen, lock: Type.Unknown(),
  region: Type.Optional(Type.String()),
});
const PaymentView = Loose({
  id: Type.String(), status: Type.String(), amount_fen: AmountFen, txid: Hex32, tx: Type.Unknown(), idempotency_key: Type.String(),
  payee: Type.Unknown(), wallet_fen: AmountFen, excess_fen: AmountFen, change_fen: AmountFen, expires_at_ms: Type.Integer(), result: Type.Unknown(),
});
const HistoryView = Loose({
  seq: Type.Integer(), at_ms: Type.Integer(), direction: Type.String(), kind: Type.String(), amount_fen: AmountFen,
  counterparty: Type.String(), txid: Hex32, balance_after_fen: AmountFen, deposit_after_fen: AmountFen, payment_id: Type.Union([Type.String(), Type.Null()]),
});
const Errors = { '4xx': Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }), '5xx': ErrorSchema };

function limitsJson(bank: Bank, tier: Tier): Static<typeof Limits> {
  const l = bank.tierLimits(tier);
  const f = (v: bigint | null) => (v === null ? null : v.toString());
  return { balance_cap_fen: f(l.balanceCapFen), single_payment_fen: f(l.singlePaymentFen), daily_fen: f(l.dailyFen), annual_fen: f(l.annualFen) };
}

export function accountJson(bank: Bank, a: AccountRec): Static<typeof AccountView> {
  const u = bank.usageOf(a.id);
  return {
    id: a.id, kind: a.kind, mcc: a.mcc, tier: a.tier, status: a.status, wallet_key: a.walletKey, aliases: a.aliases,
    balance_fen: a.balanceFen, deposit_fen: a.depositFen, limits: limitsJson(bank, a.tier),
    used_today_fen: u.dayFen.toString(), used_this_year_fen: u.yearFen.toString(), lock: bank.lockJsonOf(a),
    ...(a.taxId !== undefined ? { tax_id: a.taxId } : {}),
    region: regionOf(a),
    ...(a.visitor !== undefined ? { visitor: { valid_until_ms: a.visitor.validUntilMs, expired: visitorExpired(a, bank.now()) } } : {}),
  };
}

export function paymentJson(p: PaymentRec): Static<typeof PaymentView> {
  return {
    id: p.id, status: p.status, amount_fen: p.amountFen, txid: p.txid, tx: p.tx, idempotency_key: p.idempotencyKey,
    payee: p.payee, wallet_fen: p.walletFen, excess_fen: p.excessFen, change_fen: p.changeFen,
    expires_at_ms: p.expiresAtMs, result: p.result,
  };
}

export function historyJson(h: HistoryRec): Static<typeof HistoryView> {
  return {
    seq: h.seq, at_ms: h.atMs, direction: h.direction, kind: h.kind, amount_fen: h.amountFen, counterparty: h.counterparty,
    txid: h.txid, balance_after_fen: h.balanceAfterFen, deposit_after_fen: h.depositAfterFen, payment_id: h.paymentId,
  };
}

export async function buildBankApi(o: BankApiOptions): Promise<FastifyInstance> {
  const { bank } = o;
  const limits = o.limits ?? SERVER_LIMITS_DEFAULT;
  const app = Fastify({
    logger: o.logLevel ? { level: o.logLevel } : false,
    ajv: AJV_OPTIONS,
    ...serverOptions(limits, o.tls),
    frameworkErrors,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, {
    openapi: {
      info: { title: `CBDC intermediary bank node (${bank.id})`, version: '1.0.0', description: 'Accounts with tiered KYC, payments, notifications, history. Every error is {code, message} with a CBDC_ERR_ code.' },
    },
  });
  await app.register(httpErrors, { bodyLimitBytes: limits.bodyBytesMax });
  // Staff and peer banks carry the bank's own work: no per-client rate limit for them.
  await app.register(serverLimits, { limits, exemptRoles: ['staff', 'compliance', 'regulator', 'bank'] });
  if (o.metrics) await app.register(metricsPlugin, { registry: o.metrics });
  await app.register(websocket, { options: { maxPayload: limits.wsPayloadBytesMax } });

  const lookup = (id: string): Signer | undefined => {
    if (id.startsWith('key:')) {
      const hex = id.slice(4);
      if (!/^[0-9a-f]{66}$/.test(hex) || !isValidPublicKey(Buffer.from(hex, 'hex'))) return undefined;
      return { id, publicKey: Buffer.from(hex, 'hex'), role: 'applicant' };
    }
    const staff = o.staff[id];
    if (staff) return { id, publicKey: staff.publicKey, role: staff.role };
    const a = bank.store.accounts.get(id);
    if (a) return { id, publicKey: Buffer.from(a.walletKey, 'hex'), role: 'customer' };
    const bk = o.bankKeys().get(id);
    if (bk) return { id, publicKey: bk, role: 'bank' };
    return undefined;
  };
  const auth = new RequestVerifier(bank.network, lookup, nativeVerifier);
  const applicant = auth.hook(['applicant']);
  const customerOrStaff = auth.hook(['customer', 'staff']);
  const staffOnly = auth.hook(['staff']);
  const peerBank = auth.hook(['bank']);
  const compliance = auth.hook(['compliance', 'regulator']);
  // The tax authority only reads: whatever a route's own rules, a request naming a tax signer
  // that would change something is refused before anything else (the one-request payment
  // route, authenticated by its transaction, included).
  const taxSigners = new Set(Object.entries(o.staff).filter(([, s]) => s.role === 'tax').map(([id]) => id));
  app.addHook('onRequest', async (req) => {
    if (req.method === 'GET' || req.method === 'HEAD' || taxSigners.size === 0) return;
    const signer = req.headers['x-cbdc-signer'];
    if (typeof signer === 'string' && taxSigners.has(signer)) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'the tax authority may only read');
  });
  /** A customer may act only on its own account; staff on any. */
  const self = (signer: Signer, accountId: string): void => {
    if (signer.role === 'customer' && signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'a wallet may act only on its own account');
  };
  const onlyCustomer = (signer: Signer, accountId: string): void => {
    if (signer.role !== 'customer' || signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', "only the account's own wallet may do this");
  };
  const params = Obj({ id: AccountId });
  if (o.offline) await app.register(offlineApi, { offline: o.offline, customerOrStaff, staffOnly, paymentJson });

  app.get('/v1/health', { schema: { response: { 200: Obj({ status: Type.String(), bank: Type.String(), network: Type.String() }) } } }, async () => ({ status: 'ok', bank: bank.id, network: bank.network }));

  app.get('/v1/limits', { schema: { response: { 200: Loose({ time_zone: Type.String(), tiers: Type.Unknown() }) } } }, async () => ({
    time_zone: 'Asia/Shanghai', tiers: Object.fromEntries(([1, 2, 3, 4, 5] as Tier[]).map((t) => [t, limitsJson(bank, t)])),
  }));

  app.post('/v1/accounts', {
    preValidation: applicant,
    schema: {
      description: 'Open an account. Signed by the new wallet key itself (signer "key:<hex>"), proving possession.',
      body: Obj({
        kind: Type.Union([Type.Literal('personal'), Type.Literal('merchant')]), mcc: Type.Optional(Type.String({ maxLength: 4 })), tier: TierSchema, evidence: EvidenceSchema,
        valid_until_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000, description: 'Tier 5 (visitor) only, and required there: when the wallet stops receiving', 'x-cbdc-code': 'CBDC_ERR_VISITOR_VALIDITY' })),
        tax_id: Type.Optional(Type.String({ pattern: '^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$', description: "A merchant's unified social credit code (GB 32100-2015): merchants with one issue receipts", 'x-cbdc-code': 'CBDC_ERR_TAX_ID' })),
        region: Type.Optional(Type.String({ pattern: REGION_PATTERN, maxLength: 7, description: 'ISO 3166-2:CN subdivision code (CN-GD, CN-BJ, ...); default "unknown"', 'x-cbdc-code': 'CBDC_ERR_REGION' })),
      }),
      response: { 201: AccountView, ...Errors },
    },
  }, async (req, reply) => {
    const walletKey = req.signer!.publicKey;
    const tier = parseTier(req.body.tier);
    if (tier !== 5 && req.body.valid_until_ms !== undefined) throw new CbdcError('CBDC_ERR_VISITOR_VALIDITY', 'only a visitor (tier 5) wallet has a validity end');
    if (tier === 5 && o.visitors === undefined) throw new CbdcError('CBDC_ERR_KYC_TIER', 'this bank opens no visitor wallets');
    const common = { walletKey, kind: req.body.kind, mcc: req.body.mcc ?? null, evidence: req.body.evidence, taxId: req.body.tax_id ?? null, region: parseRegion(req.body.region) };
    const a = tier === 5
      ? await o.visitors!.open({ ...common, validUntilMs: req.body.valid_until_ms })
      : await bank.openAccount({ ...common, tier, staff: null });
    await bank.durable();
    return reply.code(201).send(accountJson(bank, a));
  });

  app.get('/v1/accounts/:id', { preValidation: customerOrStaff, schema: { params, response: { 200: AccountView, ...Errors } } }, async (req) => {
    self(req.signer!, req.params.id);
    return accountJson(bank, bank.account(req.params.id));
  });

  app.post('/v1/accounts/:id/kyc', {
    preValidation: customerOrStaff,
    schema: { description: 'Upgrade or downgrade the KYC tier with the evidence it needs (class 1 by staff only).', params, body: Obj({ tier: TierSchema, evidence: EvidenceSchema }), response: { 200: AccountView, ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const a = await bank.changeTier(req.params.id, parseTier(req.body.tier), req.body.evidence, req.signer!.id, req.signer!.role === 'staff');
    await bank.durable();
    return accountJson(bank, a);
  });

  app.post('/v1/accounts/:id/aliases', {
    preValidation: customerOrStaff,
    schema: { params, body: Obj({ alias: Type.String({ maxLength: 40 }) }), response: { 200: AccountView, ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const a = await bank.addAlias(req.params.id, req.body.alias);
    await bank.durable();
    return accountJson(bank, a);
  });

  for (const [path, status] of [['freeze', 'frozen'], ['unfreeze', 'active']] as const) {
    app.post(`/v1/accounts/:id/${path}`, { preValidation: staffOnly, schema: { params, body: Type.Optional(Obj({ reason: Type.Optional(Type.String({ maxLength: 200 })) })), response: { 200: AccountView, ...Errors } } }, async (req) => {
      const a = await bank.setStatus(req.params.id, status);
      await bank.durable();
      return accountJson(bank, a);
    });
  }

  app.post('/v1/accounts/:id/close', { preValidation: customerOrStaff, schema: { params, response: { 200: AccountView, ...Errors } } }, async (req) => {
    self(req.signer!, req.params.id);
    const a = await bank.close(req.params.id);
    await bank.durable();
    return accountJson(bank, a);
  });

  app.post('/v1/accounts/:id/deposit', {
    preValidation: staffOnly,
    schema: { description: "Teller: credit the customer's bank deposit (cash in).", params, body: Obj({ amount_fen: AmountFen }), response: { 200: AccountView, ...Errors } },
  }, async (req) => {
    const a = await bank.creditDeposit(req.params.id, parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'));
    await bank.durable();
    return accountJson(bank, a);
  });

  app.post('/v1/accounts/:id/cash-out', {
    preValidation: staffOnly,
    schema: { description: "Teller: debit the customer's bank deposit (cash out).", params, body: Obj({ amount_fen: AmountFen }), response: { 200: AccountView, ...Errors } },
  }, async (req) => {
    const a = await bank.debitDeposit(req.params.id, parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'));
    await bank.durable();
    return accountJson(bank, a);
  });

  app.post('/v1/accounts/:id/exchange', {
    preValidation: customerOrStaff,
    schema: {
      description: 'Deposit to wallet (settles at once), or wallet to deposit (a payment to the bank: sign it like any payment). The same idempotency key never exchanges twice.',
      params, body: Obj({ direction: Type.Union([Type.Literal('to_wallet'), Type.Literal('to_deposit')]), amount_fen: AmountFen, idempotency_key: IdempotencyKey }),
      response: { 200: Loose({ status: Type.String() }), ...Errors },
    },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const amount = parsePositiveAmountFen(req.body.amount_fen, 'amount_fen');
    if (req.body.direction === 'to_deposit') {
      return paymentJson(await bank.preparePayment(req.params.id, { idempotencyKey: req.body.idempotency_key, payee: 'deposit', amountFen: amount }));
    }
    const r = await bank.exchangeToWallet(req.params.id, amount, req.body.idempotency_key);
    await bank.durable();
    return r as { status: string };
  });

  app.get('/v1/accounts/by-key', {
    preValidation: applicant,
    schema: {
      description: 'The account the signing wallet key opened (signer "key:<hex>"): recovers an account id whose opening answer was lost.',
      response: { 200: AccountView, ...Errors },
    },
  }, async (req) => accountJson(bank, bank.accountOfWalletKey(req.signer!.publicKey.toString('hex'))));

  app.post('/v1/accounts/:id/payments', {
    preValidation: customerOrStaff,
    schema: {
      description: 'Step 1 of a payment: the bank resolves the payee, checks every limit, reserves outputs and returns the transaction for the wallet to sign. The same idempotency key returns the same payment.',
      params, body: Obj({ idempotency_key: IdempotencyKey, payee: PayeeSchema, amount_fen: AmountFen, receipt: Type.Optional(ReceiptDraftSchema) }),
      response: { 200: PaymentView, ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const payee = req.body.payee;
    if ((payee.alias === undefined) === (payee.account === undefined)) throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', 'name the payee by alias or by account id');
    const p = await bank.preparePayment(req.params.id, {
      idempotencyKey: req.body.idempotency_key, payee, amountFen: parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'),
      ...(req.body.receipt !== undefined ? { receiptDraft: req.body.receipt } : {}),
    });
    await bank.durable();
    return paymentJson(p);
  });

  // One request per payment: the wallet's signature over the transaction is the request's
  // authentication (no request signature beside it), checked before anything else is done.
  const PaymentBody = Obj({ idempotency_key: IdempotencyKey, payee: PayeeSchema, amount_fen: AmountFen, tx: TxSchema, receipt: Type.Optional(ReceiptDraftSchema) });
  const walletTx = new WeakMap<object, Tx>();
  app.post('/v1/accounts/:id/pay', {
    preValidation: async (req) => {
      const { id } = req.params as { id: string };
      const a = typeof id === 'string' ? bank.store.accounts.get(id) : undefined;
      if (a === undefined) throw new CbdcError('CBDC_ERR_ACCOUNT_UNKNOWN');
      const body = req.body as { tx?: unknown } | null;
      const tx = parseTx(body !== null && typeof body === 'object' ? body.tx : undefined, bank.network);
      bank.checkWalletSignature(a, tx);
      req.signer = { id: a.id, publicKey: Buffer.from(a.walletKey, 'hex'), role: 'customer' };
      walletTx.set(req, tx);
    },
    schema: {
      description: "A payment in one request: the transaction the wallet built (its coins, the payee's outputs from GET /v1/accounts/:id/payees, its change) with its one signature over the txid, which also authenticates the request. The bank checks it is exactly this payment, checks every limit, co-signs, settles through central and answers the settled (or refused) payment. The same idempotency key or transaction answers the same payment; CBDC_ERR_PAYMENT_OUTPUTS answers the outputs to sign instead.",
      params, body: PaymentBody, response: { 200: PaymentView, ...Errors },
    },
  }, async (req, reply) => {
    const payee = req.body.payee;
    if ((payee.alias === undefined) === (payee.account === undefined)) throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', 'name the payee by alias or by account id');
    let p: PaymentRec;
    try {
      p = await bank.pay(req.params.id, {
        idempotencyKey: req.body.idempotency_key, payee, amountFen: parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'), tx: walletTx.get(req)!, signatureChecked: true,
        ...(req.body.receipt !== undefined ? { receiptDraft: req.body.receipt } : {}),
      });
    } catch (e) {
      if (e instanceof PaymentOutputsRefusal) return sendError(reply, e, { outputs: e.outputs }) as never;
      throw e;
    }
    if (p.status === 'rejected') {
      const r = p.result as { code: ConstructorParameters<typeof CbdcError>[0]; message: string };
      const e = new CbdcError(r.code, r.message);
      return reply.code(e.statusCode).send({ code: e.code, message: e.message, payment: paymentJson(p) } as { code: string; message: string });
    }
    return paymentJson(p);
  });

  app.get('/v1/accounts/:id/payees', {
    preValidation: customerOrStaff,
    schema: {
      description: "What a wallet needs to build a payment to a payee itself: the payee's bank, account, wallet key, receive key and bank key (each payment's lock derives from them; protocol/receive_key.ts).",
      params, querystring: Obj({ alias: Type.Optional(Type.String({ maxLength: 40 })), account: Type.Optional(AccountId), bank: Type.Optional(IntermediaryId), amount_fen: Type.Optional(AmountFen) }),
      response: { 200: Obj({ bank: Type.String(), account: Type.String(), wallet_key: PublicKeyHex, receive_key: PublicKeyHex, bank_key: PublicKeyHex }), ...Errors },
    },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const q = req.query;
    if ((q.alias === undefined) === (q.account === undefined)) throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', 'name the payee by alias or by account id');
    // The amount, where the wallet names it, lets the bank fetch the room the payment will use in the same ask.
    const amountFen = q.amount_fen === undefined ? 1n : parsePositiveAmountFen(q.amount_fen, 'amount_fen');
    const t = await bank.payeeTerms({ ...(q.alias ? { alias: q.alias } : {}), ...(q.account ? { account: q.account } : {}), ...(q.bank ? { bank: q.bank } : {}) }, amountFen);
    // Room under the payee's cap is not shown: it would tell the payer the payee's balance.
    return { bank: t.bank, account: t.account, wallet_key: t.walletKey.toString('hex'), receive_key: t.receiveKey.toString('hex'), bank_key: t.bankKey.toString('hex') };
  });

  /** Coins a wallet lists at most in one answer (its transactions take at most TX_INPUTS_MAX). */
  const COINS_LISTED_MAX = 500;
  app.get('/v1/accounts/:id/coins', {
    preValidation: customerOrStaff,
    schema: {
      description: `The wallet's unspent outputs, oldest first (at most ${COINS_LISTED_MAX}); reserved ones are being spent by a payment in flight.`,
      params, response: { 200: Obj({ coins: Type.Array(Obj({ pos: U64, id: Hex32, value: AmountFen, reserved: Type.Boolean() })), lock: Type.Unknown() }), ...Errors },
    },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const a = bank.account(req.params.id);
    const coins: { pos: string; id: string; value: string; reserved: boolean }[] = [];
    for (const { key } of bank.store.coinsByOwner.getRange({ start: [a.id, ''], end: [a.id, '~'], limit: COINS_LISTED_MAX })) {
      const c = bank.store.coins.get(key[1]);
      if (c !== undefined) coins.push({ pos: c.pos, id: c.id, value: c.value, reserved: bank.store.reserved.holder(posKey(c.pos)) !== undefined });
    }
    return { coins, lock: bank.lockJsonOf(a) };
  });

  const pparams = Obj({ id: AccountId, pid: Type.String({ pattern: '^pay-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_NOT_FOUND' }) });
  app.post('/v1/accounts/:id/payments/:pid/sign', {
    preValidation: customerOrStaff,
    schema: {
      description: "Step 2: the wallet's signature over the txid. The bank co-signs, settles through central, and answers with the settled (or refused) payment.",
      params: pparams, body: Obj({ sig: SignatureHex }), response: { 200: PaymentView, ...Errors },
    },
  }, async (req, reply) => {
    onlyCustomer(req.signer!, req.params.id);
    const p = await bank.signPayment(req.params.id, req.params.pid, req.body.sig);
    if (p.status === 'rejected') {
      const r = p.result as { code: ConstructorParameters<typeof CbdcError>[0]; message: string };
      const e = new CbdcError(r.code, r.message);
      return reply.code(e.statusCode).send({ code: e.code, message: e.message, payment: paymentJson(p) } as { code: string; message: string });
    }
    return paymentJson(p);
  });

  app.get('/v1/accounts/:id/payments/:pid', { preValidation: customerOrStaff, schema: { params: pparams, response: { 200: PaymentView, ...Errors } } }, async (req) => {
    self(req.signer!, req.params.id);
    return paymentJson(bank.payment(req.params.id, req.params.pid));
  });

  app.get('/v1/accounts/:id/history', {
    preValidation: customerOrStaff,
    schema: {
      params,
      querystring: Obj({
        from_seq: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$' })), limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })),
        direction: Type.Optional(Type.Union([Type.Literal('in'), Type.Literal('out')])),
        from_ms: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })), to_ms: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
      }),
      response: { 200: Loose({ entries: Type.Array(HistoryView), next_seq: Type.Union([Type.Integer(), Type.Null()]) }), ...Errors },
    },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const q = req.query;
    const limit = Math.max(1, Math.min(Number(q.limit ?? 50), 500));
    const entries = bank.history(req.params.id, {
      limit, ...(q.from_seq ? { fromSeq: Number(q.from_seq) } : {}), ...(q.direction ? { direction: q.direction } : {}),
      ...(q.from_ms ? { fromMs: Number(q.from_ms) } : {}), ...(q.to_ms ? { toMs: Number(q.to_ms) } : {}),
    });
    return { entries: entries.map(historyJson), next_seq: entries.length === limit ? entries[entries.length - 1]!.seq + 1 : null };
  });

  app.get('/v1/accounts/:id/statements/:day', {
    preValidation: customerOrStaff,
    schema: { params: Obj({ id: AccountId, day: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }) }), response: { 200: Loose({ day: Type.String(), time_zone: Type.String(), opening_fen: AmountFen, closing_fen: AmountFen, in_fen: AmountFen, out_fen: AmountFen, entries: Type.Array(HistoryView) }), ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    bank.account(req.params.id);
    const s = bank.statement(req.params.id, req.params.day, dayStartMs(req.params.day));
    return { day: s.day, time_zone: 'Asia/Shanghai', opening_fen: s.openingFen, closing_fen: s.closingFen, in_fen: s.inFen, out_fen: s.outFen, entries: s.entries.map(historyJson) };
  });

  // Wallet notifications: every history entry of the account from ?from=N, then live.
  let subscribers = 0;
  app.route({
    method: 'GET',
    url: '/v1/accounts/:id/events',
    preValidation: customerOrStaff,
    schema: { params, querystring: Obj({ from: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$' })) }) },
    handler: async () => { throw new CbdcError('CBDC_ERR_NOT_FOUND', 'this route is a websocket'); },
    wsHandler: (socket: WebSocket, req) => {
      const { id } = req.params as { id: string };
      try {
        self(req.signer!, id);
        bank.account(id);
      } catch (e) {
        socket.close(1008, (e as Error).message.slice(0, 100));
        return;
      }
      if (subscribers >= NOTIFY_SUBSCRIBERS_MAX) {
        socket.close(1013, 'too many subscribers');
        return;
      }
      subscribers++;
      let next = Number((req.query as { from?: string }).from ?? '0');
      const pump = (): void => {
        while (socket.readyState === socket.OPEN) {
          const entries = bank.history(id, { fromSeq: next, limit: 100 });
          if (entries.length === 0) return;
          for (const e of entries) {
            socket.send(JSON.stringify({ type: 'history', account: id, ...historyJson(e) }));
            next = e.seq + 1;
          }
        }
      };
      const onHistory = (acc: string) => { if (acc === id) pump(); };
      bank.on('history', onHistory);
      socket.on('close', () => { subscribers--; bank.off('history', onHistory); });
      socket.send(JSON.stringify({ type: 'hello', account: id, from: next }));
      pump();
    },
  });

  /** Another bank's request; a bank that registered after our last look at central's directory makes us look again once. */
  const newPeerBank = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const signer = req.headers['x-cbdc-signer'];
    if (typeof signer === 'string' && /^[a-z0-9][a-z0-9-]{0,31}$/.test(signer) && !o.bankKeys().has(signer) && !o.staff[signer]) {
      await o.refreshBankKeys().catch(() => undefined);
    }
    return peerBank(req, reply);
  };

  // Other banks: the receive terms of one of our customers (payments derive their locks from them).
  app.post('/v1/interbank/receive-terms', {
    preValidation: newPeerBank,
    schema: {
      description: "Another bank asks how to pay one of this bank's customers without a quote per payment: the account's wallet key and receive key, and for a capped tier room under the cap (up to room_fen) set aside for that bank while the terms hold (and a payment's lifetime after). unused_fen hands back the room the bank's earlier terms for this payee did not use.",
      body: Obj({ alias: Type.Optional(Type.String({ maxLength: 40 })), account: Type.Optional(AccountId), room_fen: AmountFen, unused_fen: Type.Optional(AmountFen) }),
      response: { 200: Obj({ bank: Type.String(), account: Type.String(), wallet_key: PublicKeyHex, receive_key: PublicKeyHex, bank_key: PublicKeyHex, room_fen: Type.Union([AmountFen, Type.Null()]), sweeps: Type.Boolean(), until_ms: Type.Integer() }), ...Errors },
    },
  }, async (req) => {
    const b = req.body;
    if ((b.alias === undefined) === (b.account === undefined)) throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', 'name the payee by alias or by account id');
    return termsToJson(bank.receiveTerms({ ...(b.alias ? { alias: b.alias } : {}), ...(b.account ? { account: b.account } : {}) }, req.signer!.id, parsePositiveAmountFen(b.room_fen, 'room_fen'),
      b.unused_fen === undefined ? 0n : parsePositiveAmountFen(b.unused_fen, 'unused_fen')));
  });

  // Other banks: a quote for paying one of our customers.
  app.post('/v1/interbank/quote', {
    preValidation: newPeerBank,
    schema: {
      description: "Another bank asks how to pay one of this bank's customers: the outputs to pay (wallet lock up to its cap, the excess to its sweep lock).",
      body: Obj({ alias: Type.Optional(Type.String({ maxLength: 40 })), account: Type.Optional(AccountId), amount_fen: AmountFen }),
      response: { 200: Loose({ bank: Type.String(), account: Type.String(), wallet_fen: AmountFen, excess_fen: AmountFen, outputs: Type.Array(Loose({ value: AmountFen, lock: Type.Unknown() })) }), ...Errors },
    },
  }, async (req) => {
    const b = req.body;
    if ((b.alias === undefined) === (b.account === undefined)) throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', 'name the payee by alias or by account id');
    const q = await bank.quote({ ...(b.alias ? { alias: b.alias } : {}), ...(b.account ? { account: b.account } : {}) }, parsePositiveAmountFen(b.amount_fen, 'amount_fen'), req.signer!.id);
    // The fresh lock is handed out only once its mapping to the account is on disk: the payer's
    // bank settles money to it at central, and after a crash this bank must still know whose it is.
    await bank.durable();
    return { bank: q.bank, account: q.account, wallet_fen: q.walletFen.toString(), excess_fen: q.excessFen.toString(), outputs: q.outputs.map((x) => ({ value: x.value.toString(), lock: lockToJson(x.lock) })) };
  });

  // Bank staff.
  app.get('/v1/bank/totals', { preValidation: staffOnly, schema: { response: { 200: Loose({ customers_wallet_fen: AmountFen, customers_deposit_fen: AmountFen, holdings_fen: AmountFen }), ...Errors } } }, async () => {
    const t = bank.totals();
    return {
      customers_wallet_fen: t.customersWalletFen.toString(), customers_deposit_fen: t.customersDepositFen.toString(), holdings_fen: t.holdingsFen.toString(),
      offline_reserve_fen: t.offlineReserveFen.toString(), contracts_fen: t.contractsFen.toString(), accounts: t.accounts, coins: t.coins,
    };
  });
  app.get('/v1/bank/reconcile', { preValidation: staffOnly, schema: { response: { 200: Loose({ ok: Type.Boolean(), problems: Type.Array(Type.String()) }), ...Errors } } }, async () => {
    const r = await bank.reconcile();
    return { ok: r.ok, customers_wallet_fen: r.customersWalletFen, holdings_fen: r.holdingsFen, coins_checked: r.coinsChecked, problems: r.problems };
  });
  app.post('/v1/bank/issuance', { preValidation: staffOnly, schema: { body: Obj({ amount_fen: AmountFen }), response: { 200: Loose({}), ...Errors } } }, async (req) => {
    return (await bank.requestIssuance(parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'))) as Record<string, unknown>;
  });
  app.post('/v1/bank/redemption', { preValidation: staffOnly, schema: { body: Obj({ amount_fen: AmountFen }), response: { 200: Loose({}), ...Errors } } }, async (req) => {
    return (await bank.redeemHoldings(parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'))) as Record<string, unknown>;
  });

  // Compliance officer and regulator.
  app.get('/v1/compliance/aml', {
    preValidation: compliance,
    schema: { querystring: Obj({ from: Type.Optional(U64) }), response: { 200: Loose({ reports: Type.Array(Loose({})) }), ...Errors } },
  }, async (req) => ({
    reports: bank.amlReports(Number(req.query.from ?? '0')).map((r) => ({
      seq: r.seq, at_ms: r.atMs, reason: r.reason, account: r.account, identity: r.identity, amount_fen: r.amountFen,
      payment_id: r.paymentId, counterparty: r.counterparty, detail: r.detail,
    })),
  }));

  if (o.receipts) await app.register(receiptsApi, { bank, service: o.receipts, customerOrStaff, staffOnly, taxOnly: auth.hook(['tax']), peerBank: newPeerBank, bankKeys: o.bankKeys });
  if (o.contracts) await app.register(contractsApi, { bank, services: o.contracts, customerOrStaff, staffOnly, anySigner: auth.hook(['customer', 'staff', 'applicant']) });
  if (o.visitors) await app.register(visitorsApi, { bank, visitors: o.visitors, customerOrStaff, staffOnly });
  if (o.analytics) await app.register(analyticsApi, { analytics: o.analytics, regulatorOnly: auth.hook(['regulator']) });

  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
  void TxSchema;
  return app;
}
