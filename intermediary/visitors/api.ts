// The visitor wallets' HTTP routes, one fastify plugin registered from intermediary/api.ts:
// the FX table (public), top-ups from a foreign card and conversions back (the wallet's own
// signature), the FX ledger (the customer's own, or staff's view of every line). Opening a
// visitor wallet is POST /v1/accounts with tier 5 (api.ts hands it to VisitorService.open).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../../protocol/errors.js';
import { parsePositiveAmountFen } from '../../protocol/amount.js';
import { AmountFen } from '../../protocol/json_schemas.js';
import type { Signer } from '../../platform/request_verify.js';
import type { Bank } from '../bank.js';
import { accountJson } from '../api.js';
import type { VisitorService } from './service.js';
import { FX_LINES_LISTED_MAX, fxLineJson } from './fx_ledger.js';

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface VisitorsApiOptions {
  bank: Bank;
  visitors: VisitorService;
  customerOrStaff: Hook;
  staffOnly: Hook;
}

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const IdempotencyKey = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'Client-chosen key; the same key gives the same result' });
const AccountId = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}$', 'x-cbdc-code': 'CBDC_ERR_ACCOUNT_UNKNOWN' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code of a currency in the FX table', 'x-cbdc-code': 'CBDC_ERR_FX_CURRENCY' });
const CardSchema = Obj({
  number: Type.String({ maxLength: 19, description: '12 to 19 digits, Luhn-checked; never stored (only its last four and a keyed hash)', 'x-cbdc-code': 'CBDC_ERR_CARD_FORMAT' }),
  expiry: Type.String({ maxLength: 5, description: 'MM/YY', 'x-cbdc-code': 'CBDC_ERR_CARD_FORMAT' }),
});
const Errors = { '4xx': Loose({ code: Type.String(), message: Type.String() }), '5xx': Loose({ code: Type.String(), message: Type.String() }) };
const FxLineView = Obj({
  seq: Type.Integer(), at_ms: Type.Integer(), account: Type.String(), direction: Type.String(), kind: Type.String(), currency: Type.String(),
  amount_minor: AmountFen, rate: Type.String(), fee_bps: Type.Integer(), fee_fen: Type.String(), amount_fen: AmountFen,
  txid: Type.Union([Type.String(), Type.Null()]), acquirer_ref: Type.String(), card_last4: Type.String(),
});
const LedgerQuery = Obj({ from_seq: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$' })), limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })) });
const LedgerView = Obj({ lines: Type.Array(FxLineView), next_seq: Type.Union([Type.Integer(), Type.Null()]) });

function onlyCustomer(signer: Signer, accountId: string): void {
  if (signer.role !== 'customer' || signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', "only the account's own wallet may do this");
}

function self(signer: Signer, accountId: string): void {
  if (signer.role === 'customer' && signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'a wallet may act only on its own account');
}

function page(q: { from_seq?: string; limit?: string }): { from: number; limit: number } {
  return { from: Number(q.from_seq ?? '0'), limit: Math.max(1, Math.min(Number(q.limit ?? '100'), FX_LINES_LISTED_MAX)) };
}

export async function visitorsApi(root: FastifyInstance, o: VisitorsApiOptions): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { bank, visitors } = o;
  const params = Obj({ id: AccountId });

  app.get('/v1/visitors/fx', {
    schema: {
      description: "The visitor wallets' exchange table: each currency's rate (fen per minor units, before the fee), its minor-unit exponent, the bank's fee in basis points, the validity a visitor wallet may ask for, and the test card numbers the simulated acquirer declines.",
      response: { 200: Loose({ fee_bps: Type.Integer(), currencies: Type.Array(Loose({ currency: Type.String(), exponent: Type.Integer(), rate: Type.String() })) }), ...Errors },
    },
  }, async () => visitors.info() as { fee_bps: number; currencies: { currency: string; exponent: number; rate: string }[] });

  app.post('/v1/accounts/:id/visitor/top-up', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "A visitor wallet's top-up from a foreign card: the acquirer charges amount_minor of currency, and the bank pays the CNY (at the rate, less its fee, rounded down to the fen) from its holdings into the wallet. Refused before any charge past the validity end, over the balance cap, or for a bad card or currency. Writes an FX line. The same idempotency key never charges twice.",
      params, body: Obj({ card: CardSchema, currency: Currency, amount_minor: AmountFen, idempotency_key: IdempotencyKey }),
      response: { 200: Loose({ status: Type.String(), replayed: Type.Boolean(), fx_line: FxLineView }), ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const b = req.body;
    const r = await visitors.topUp(req.params.id, { card: b.card, currency: b.currency, amountMinor: parsePositiveAmountFen(b.amount_minor, 'amount_minor'), idempotencyKey: b.idempotency_key });
    return { status: r.status, replayed: r.replayed, fx_line: fxLineJson(r.line), account: accountJson(bank, r.account) };
  });

  app.post('/v1/accounts/:id/visitor/convert-back', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "A visitor wallet's conversion back on exit: takes from the deposit (the wallet moves the CNY there first: POST /v1/accounts/:id/exchange to_deposit, signed) what the refund costs, at most amount_fen, and refunds the card last topped up from in currency, at the rate plus the fee, rounded down to the minor unit. Before and after the validity end. Writes an FX line. The same idempotency key never refunds twice.",
      params, body: Obj({ amount_fen: AmountFen, currency: Currency, idempotency_key: IdempotencyKey }),
      response: { 200: Loose({ status: Type.String(), replayed: Type.Boolean(), fx_line: FxLineView }), ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const b = req.body;
    const r = await visitors.convertBack(req.params.id, { amountFen: parsePositiveAmountFen(b.amount_fen, 'amount_fen'), currency: b.currency, idempotencyKey: b.idempotency_key });
    return { status: r.status, replayed: r.replayed, fx_line: fxLineJson(r.line), account: accountJson(bank, r.account) };
  });

  app.get('/v1/accounts/:id/visitor/fx-ledger', {
    preValidation: o.customerOrStaff,
    schema: { description: "A visitor wallet's FX ledger lines, oldest first.", params, querystring: LedgerQuery, response: { 200: LedgerView, ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    visitors.visitorAccount(req.params.id);
    const { from, limit } = page(req.query);
    const lines = visitors.ledger.ofAccount(req.params.id, from, limit);
    return { lines: lines.map(fxLineJson), next_seq: lines.length === limit ? lines[lines.length - 1]!.seq + 1 : null };
  });

  app.get('/v1/bank/visitors/fx-ledger', {
    preValidation: o.staffOnly,
    schema: { description: 'Staff: every FX ledger line of every visitor wallet, oldest first.', querystring: LedgerQuery, response: { 200: LedgerView, ...Errors } },
  }, async (req) => {
    const { from, limit } = page(req.query);
    const lines = visitors.ledger.all(from, limit);
    return { lines: lines.map(fxLineJson), next_seq: lines.length === limit ? lines[lines.length - 1]!.seq + 1 : null };
  });
}
