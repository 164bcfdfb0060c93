// The contract services' HTTP routes, one fastify plugin: scheduled and recurring payments,
// and the lock-based contracts. Wallets sign as their account (as in api.ts); staff see every
// schedule and contract. Every route has request and response schemas (in /docs/json).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../protocol/errors.js';
import { parsePositiveAmountFen } from '../protocol/amount.js';
import { AmountFen, IntermediaryId, SignatureHex } from '../protocol/json_schemas.js';
import type { Signer } from '../platform/request_verify.js';
import type { Bank } from './bank.js';
import { paymentJson } from './api.js';
import type { ContractServices } from './contracts/services.js';
import { scheduleJson, slotJson } from './scheduler.js';
import { type Actor, contractJson, spendJson } from './contracts/engine.js';
import type { ContractKind } from './contracts/store.js';

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ContractsApiOptions {
  bank: Bank;
  services: ContractServices;
  customerOrStaff: Hook;
  staffOnly: Hook;
  /** Accounts, staff, and bare keys (signer "key:<hex>": a prepaid contract's delegate). */
  anySigner: Hook;
}

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const IdempotencyKey = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'Client-chosen key; the same key gives the same result' });
const AccountId = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}$', 'x-cbdc-code': 'CBDC_ERR_ACCOUNT_UNKNOWN' });
const PayeeSchema = Obj({ alias: Type.Optional(Type.String({ maxLength: 40 })), account: Type.Optional(AccountId), bank: Type.Optional(IntermediaryId) });
const TimeMs = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' });
const ScheduleId = Type.String({ pattern: '^sch-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_CONTRACT_UNKNOWN' });
const Errors = { '4xx': Loose({ code: Type.String(), message: Type.String() }), '5xx': Loose({ code: Type.String(), message: Type.String() }) };
const ContractId = Type.String({ pattern: '^ctr-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_CONTRACT_UNKNOWN' });
const SpendId = Type.String({ pattern: '^sp-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_NOT_FOUND' });
const Mcc = Type.String({ pattern: '^[0-9]{4}$', 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' });
const ContractView = Loose({ id: ContractId, kind: Type.String(), status: Type.String(), amount_fen: AmountFen, held_fen: AmountFen });
const SpendView = Loose({ id: SpendId, status: Type.String(), txid: Type.String(), action: Type.String() });
const ScheduleView = Loose({ id: ScheduleId, status: Type.String(), amount_fen: AmountFen, pot_fen: AmountFen, next_slot: Type.Integer() });

/** A customer may act only on its own account; staff on any. */
function self(signer: Signer, accountId: string): void {
  if (signer.role === 'customer' && signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'a wallet may act only on its own account');
}

function onlyCustomer(signer: Signer, accountId: string): void {
  if (signer.role !== 'customer' || signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', "only the account's own wallet may do this");
}

export async function contractsApi(root: FastifyInstance, o: ContractsApiOptions): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { services } = o;
  const scheduler = services.scheduler;
  const params = Obj({ id: AccountId });
  const sparams = Obj({ id: AccountId, sid: ScheduleId });
  const view = (s: Parameters<typeof scheduleJson>[0]) => scheduleJson(s, services.heldFen(s.potOwner));

  // ---------------------------------------------------------------- schedules

  app.post('/v1/accounts/:id/schedules', {
    preValidation: o.customerOrStaff,
    schema: {
      description: 'Schedule a payment (count 1, interval_ms 0) or a recurring one. Returns the schedule and its funding payment, which the wallet signs like any payment (POST /v1/accounts/:id/payments/:pid/sign); slots run once it settles. The same idempotency key returns the same schedule.',
      params,
      body: Obj({
        idempotency_key: IdempotencyKey, payee: PayeeSchema, amount_fen: AmountFen, first_at_ms: TimeMs,
        interval_ms: Type.Integer({ minimum: 0, maximum: 366 * 86_400_000, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' }),
        count: Type.Integer({ minimum: 1, maximum: 1_000, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' }),
        fund_fen: Type.Optional(AmountFen),
      }),
      response: { 200: Loose({ schedule: ScheduleView, payment: Loose({ id: Type.String(), txid: Type.String() }) }), ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const b = req.body;
    if ((b.payee.alias === undefined) === (b.payee.account === undefined)) throw new CbdcError('CBDC_ERR_PAYEE_UNKNOWN', 'name the payee by alias or by account id');
    const r = await scheduler.create(req.params.id, {
      idempotencyKey: b.idempotency_key, payee: b.payee, amountFen: parsePositiveAmountFen(b.amount_fen, 'amount_fen'),
      firstAtMs: b.first_at_ms, intervalMs: b.interval_ms, count: b.count,
      ...(b.fund_fen !== undefined ? { fundFen: parsePositiveAmountFen(b.fund_fen, 'fund_fen') } : {}),
    });
    return { schedule: view(r.schedule), payment: paymentJson(r.payment) };
  });

  app.get('/v1/accounts/:id/schedules', {
    preValidation: o.customerOrStaff,
    schema: { params, response: { 200: Loose({ schedules: Type.Array(ScheduleView) }), ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    o.bank.account(req.params.id);
    return { schedules: scheduler.schedulesOf(req.params.id).map(view) };
  });

  app.get('/v1/accounts/:id/schedules/:sid', {
    preValidation: o.customerOrStaff,
    schema: {
      params: sparams, querystring: Obj({ from_slot: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) }),
      response: { 200: Loose({ schedule: ScheduleView, slots: Type.Array(Loose({ slot: Type.Integer(), status: Type.String() })) }), ...Errors },
    },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const s = scheduler.schedule(req.params.id, req.params.sid);
    return { schedule: view(s), slots: scheduler.slotsOf(s.id, Number(req.query.from_slot ?? '0')).map(slotJson) };
  });

  app.post('/v1/accounts/:id/schedules/:sid/cancel', {
    preValidation: o.customerOrStaff,
    schema: { description: 'No slot starts after this; what is left of the money set aside goes back to the wallet.', params: sparams, body: Type.Optional(Obj({ reason: Type.Optional(Type.String({ maxLength: 200 })) })), response: { 200: Loose({ schedule: ScheduleView }), ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    return { schedule: view(await scheduler.cancel(req.params.id, req.params.sid)) };
  });

  app.get('/v1/bank/schedules', {
    preValidation: o.staffOnly,
    schema: {
      querystring: Obj({ status: Type.Optional(Type.Union(['awaiting_funding', 'active', 'cancelled', 'finished', 'void'].map((s) => Type.Literal(s)))) }),
      response: { 200: Loose({ schedules: Type.Array(ScheduleView) }), ...Errors },
    },
  }, async (req) => ({ schedules: scheduler.allSchedules(req.query.status ?? null).map(view) }));

  // ---------------------------------------------------------------- lock-based contracts

  const engine = services.engine;
  const actorOf = (signer: Signer): Actor => ({
    account: signer.role === 'customer' ? signer.id : null, staff: signer.role === 'staff', key: signer.publicKey,
  });
  const created = (r: { contract: Parameters<typeof contractJson>[1]; payment: Parameters<typeof paymentJson>[0] }) => ({ contract: contractJson(engine, r.contract), payment: paymentJson(r.payment) });
  const CreateResponse = { 200: Loose({ contract: ContractView, payment: Loose({ id: Type.String(), txid: Type.String() }) }), ...Errors };
  const Key = Type.String({ pattern: '^[0-9a-f]{66}$', 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' });
  const kinds: [ContractKind, string, ReturnType<typeof Obj>][] = [
    ['prepaid', "Prepaid funds for a merchant of this bank, released per delivered unit on the payer's (or its delegate key's) signature; refunded after the deadline, or earlier while the merchant is frozen.",
      Obj({ idempotency_key: IdempotencyKey, merchant: AccountId, unit_fen: AmountFen, units: Type.Integer({ minimum: 1, maximum: 10_000, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' }), deadline_ms: TimeMs, delegate_key: Type.Optional(Key) })],
    ['escrow', 'Escrow: released to the seller or refunded to the buyer once two of buyer, seller and arbiter sign the outcome.',
      Obj({ idempotency_key: IdempotencyKey, seller: AccountId, arbiter: AccountId, amount_fen: AmountFen })],
    ['hashlock', 'Hash-locked payment: the payee claims it with the preimage of `hash` (sha256, 32-byte preimage) before timeout_ms; after it the payer is refunded.',
      Obj({ idempotency_key: IdempotencyKey, payee: AccountId, amount_fen: AmountFen, hash: Type.String({ pattern: '^[0-9a-f]{64}$', 'x-cbdc-code': 'CBDC_ERR_HEX_FORMAT' }), timeout_ms: TimeMs })],
    ['subsidy', 'Purpose-bound subsidy to many recipients at once, spendable only at merchants of the listed categories until expires_at_ms, then reverting to the issuer.',
      Obj({ idempotency_key: IdempotencyKey, recipients: Type.Array(Obj({ account: AccountId, amount_fen: AmountFen }), { minItems: 1, maxItems: 60, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' }), mccs: Type.Array(Mcc, { minItems: 1, maxItems: 32, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' }), expires_at_ms: TimeMs })],
  ];
  for (const [kind, description, body] of kinds) {
    app.post(`/v1/accounts/:id/contracts/${kind}`, {
      preValidation: o.customerOrStaff,
      schema: { description: `${description} Returns the contract and its funding payment, which the wallet signs like any payment.`, params, body, response: CreateResponse },
    }, async (req) => {
      onlyCustomer(req.signer!, req.params.id);
      const { idempotency_key: key, ...rest } = req.body as Record<string, unknown> & { idempotency_key: string };
      return created(await engine.create(kind, req.params.id, key, rest));
    });
  }

  app.get('/v1/accounts/:id/contracts', {
    preValidation: o.customerOrStaff,
    schema: { description: 'The contracts the account is a party to.', params, response: { 200: Loose({ contracts: Type.Array(ContractView) }), ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    o.bank.account(req.params.id);
    return { contracts: engine.contractsOf(req.params.id).map((c) => contractJson(engine, c)) };
  });

  const cparams = Obj({ cid: ContractId });
  app.get('/v1/contracts/:cid', {
    preValidation: o.anySigner,
    schema: { description: 'A contract, for its parties, its delegate key and staff, with its proposals.', params: cparams, response: { 200: Loose({ contract: ContractView, spends: Type.Array(SpendView) }), ...Errors } },
  }, async (req) => {
    const c = engine.contractFor(actorOf(req.signer!), req.params.cid);
    return { contract: contractJson(engine, c), spends: engine.spendsOf(c.id).map(spendJson) };
  });

  app.post('/v1/contracts/:cid/:action', {
    preValidation: o.anySigner,
    schema: {
      description: 'An action on a contract: release {units} or refund (prepaid), resolve {outcome} (escrow), claim {preimage} or refund (hash lock), spend {merchant, amount_fen} (subsidy). Returns the proposal for its parties to sign, or (the bank alone, past a deadline) the settled spend.',
      params: Obj({ cid: ContractId, action: Type.Union(['release', 'refund', 'resolve', 'claim', 'spend'].map((a) => Type.Literal(a)), { 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' }) }),
      body: Obj({
        units: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' })),
        outcome: Type.Optional(Type.Union([Type.Literal('release'), Type.Literal('refund')], { 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' })),
        preimage: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', 'x-cbdc-code': 'CBDC_ERR_HEX_FORMAT' })),
        merchant: Type.Optional(AccountId), amount_fen: Type.Optional(AmountFen),
      }),
      response: { 200: Loose({ spend: SpendView }), ...Errors },
    },
  }, async (req) => ({ spend: spendJson(await engine.act(actorOf(req.signer!), req.params.cid, req.params.action, req.body as Record<string, unknown>)) }));

  const spparams = Obj({ cid: ContractId, spid: SpendId });
  app.get('/v1/contracts/:cid/spends/:spid', {
    preValidation: o.anySigner,
    schema: { params: spparams, response: { 200: Loose({ spend: SpendView }), ...Errors } },
  }, async (req) => {
    engine.contractFor(actorOf(req.signer!), req.params.cid);
    return { spend: spendJson(engine.spend(req.params.cid, req.params.spid)) };
  });

  app.post('/v1/contracts/:cid/spends/:spid/sign', {
    preValidation: o.anySigner,
    schema: {
      description: "A party's signature over the proposal's txid (its consent to exactly that transaction). Once enough have signed, the bank co-signs and settles it.",
      params: spparams, body: Obj({ sig: SignatureHex }), response: { 200: Loose({ spend: SpendView, contract: ContractView }), ...Errors },
    },
  }, async (req) => {
    const actor = actorOf(req.signer!);
    const s = await engine.sign(actor, req.params.cid, req.params.spid, req.body.sig);
    return { spend: spendJson(s), contract: contractJson(engine, engine.contract(req.params.cid)) };
  });

  app.get('/v1/bank/contracts', {
    preValidation: o.staffOnly,
    schema: { querystring: Obj({ kind: Type.Optional(Type.String({ maxLength: 16 })), status: Type.Optional(Type.String({ maxLength: 24 })) }), response: { 200: Loose({ contracts: Type.Array(ContractView) }), ...Errors } },
  }, async (req) => {
    const out = [];
    for (const { value } of services.store.contracts.getRange({})) {
      if ((req.query.kind === undefined || value.kind === req.query.kind) && (req.query.status === undefined || value.status === req.query.status)) out.push(contractJson(engine, value));
      if (out.length >= 500) break;
    }
    return { contracts: out };
  });
}
