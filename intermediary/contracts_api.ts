// The contract services' HTTP routes, one fastify plugin: scheduled and recurring payments,
// and the lock-based contracts. Wallets sign as their account (as in api.ts); staff see every
// schedule and contract. Every route has request and response schemas (in /docs/json).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../protocol/errors.js';
import { parsePositiveAmountFen } from '../protocol/amount.js';
import { AmountFen, IntermediaryId } from '../protocol/json_schemas.js';
import type { Signer } from '../platform/request_verify.js';
import type { Bank } from './bank.js';
import { paymentJson } from './api.js';
import type { ContractServices } from './contracts/services.js';
import { scheduleJson, slotJson } from './scheduler.js';

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ContractsApiOptions {
  bank: Bank;
  services: ContractServices;
  customerOrStaff: Hook;
  staffOnly: Hook;
}

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const IdempotencyKey = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'Client-chosen key; the same key gives the same result' });
const AccountId = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}$', 'x-cbdc-code': 'CBDC_ERR_ACCOUNT_UNKNOWN' });
const PayeeSchema = Obj({ alias: Type.Optional(Type.String({ maxLength: 40 })), account: Type.Optional(AccountId), bank: Type.Optional(IntermediaryId) });
const TimeMs = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000, 'x-cbdc-code': 'CBDC_ERR_CONTRACT_TERMS' });
const ScheduleId = Type.String({ pattern: '^sch-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_CONTRACT_UNKNOWN' });
const Errors = { '4xx': Loose({ code: Type.String(), message: Type.String() }), '5xx': Loose({ code: Type.String(), message: Type.String() }) };
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
}
