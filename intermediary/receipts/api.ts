// The receipt routes, one fastify plugin (docs/RECEIPTS.md): an account's receipts (as payer
// and as merchant), the bank's public key for verifying them offline, staff setting a
// merchant's tax id, the tax authority's read-only view per merchant, and the interbank route
// on which a payer's bank hands a merchant's draft to the merchant's bank.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../../protocol/errors.js';
import { Hex32, IntermediaryId, PublicKeyHex } from '../../protocol/json_schemas.js';
import { RECEIPT_DRAFT_CHARS_MAX, RECEIPT_LINES_MAX } from '../../protocol/receipt.js';
import type { Signer } from '../../platform/request_verify.js';
import type { Bank } from '../bank.js';
import { RECEIPTS_LISTED_MAX, type ReceiptService } from './service.js';

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface ReceiptsApiOptions {
  bank: Bank;
  service: ReceiptService;
  customerOrStaff: Hook;
  staffOnly: Hook;
  taxOnly: Hook;
  peerBank: Hook;
  /** Other banks' public keys (central's directory). */
  bankKeys: () => Map<string, Buffer>;
}

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const AccountId = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}$', 'x-cbdc-code': 'CBDC_ERR_ACCOUNT_UNKNOWN' });
const ReceiptId = Type.String({ pattern: '^rct-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_RECEIPT_UNKNOWN' });
const TaxId = Type.String({ pattern: '^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$', 'x-cbdc-code': 'CBDC_ERR_TAX_ID' });
const Day = Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$', description: 'A day in the bank time zone (Asia/Shanghai)' });
const Limit = Type.String({ pattern: '^[0-9]{1,3}$', description: `At most ${RECEIPTS_LISTED_MAX}` });
const Cursor = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}/[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9a-f]{64}$', description: 'The `next` of the page before' });
/** A merchant-signed draft: base64url of its canonical bytes and the signature (protocol/receipt.ts). */
export const ReceiptDraftSchema = Type.String({ pattern: '^[A-Za-z0-9_-]+$', minLength: 88, maxLength: RECEIPT_DRAFT_CHARS_MAX, 'x-cbdc-code': 'CBDC_ERR_RECEIPT_FORMAT', description: "The merchant's signed receipt draft, from its payment request" });
const Amount = Type.String({ pattern: '^(0|[1-9][0-9]*)$', maxLength: 40 });
const LineView = Obj({ description: Type.String(), quantity: Type.Integer(), unit_price_fen: Amount, tax_rate_bp: Type.Integer(), amount_fen: Amount, tax_fen: Amount });
export const ReceiptView = Obj({
  version: Type.Integer(), network: Type.String(), bank: Type.String(), receipt_id: Type.String(), merchant_account: Type.String(),
  merchant_name: Type.Union([Type.String(), Type.Null()]), tax_id: Type.String(), mcc: Type.String(), lines: Type.Array(LineView, { maxItems: RECEIPT_LINES_MAX }),
  subtotal_fen: Amount, tax_fen: Amount, total_fen: Amount, txid: Type.String(), issued_at_ms: Type.Integer(), signature: Type.String(),
});
const Entry = Obj({ role: Type.Union([Type.Literal('payer'), Type.Literal('merchant')]), receipt: ReceiptView });
const Page = Obj({ entries: Type.Array(Entry), next: Type.Union([Type.String(), Type.Null()]) });
const Errors = { '4xx': Loose({ code: Type.String(), message: Type.String() }), '5xx': Loose({ code: Type.String(), message: Type.String() }) };

function self(signer: Signer, accountId: string): void {
  if (signer.role === 'customer' && signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'a wallet may act only on its own account');
}

function limitOf(text: string | undefined): number {
  return Math.max(1, Math.min(Number(text ?? '50'), RECEIPTS_LISTED_MAX));
}

export async function receiptsApi(root: FastifyInstance, o: ReceiptsApiOptions): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { bank, service } = o;
  const params = Obj({ id: AccountId });

  app.get('/v1/accounts/:id/receipts', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "The account's receipts: received as payer, issued as merchant, oldest day first. day filters by issue day (bank time zone); role by the account's part in it.",
      params, querystring: Obj({ day: Type.Optional(Day), role: Type.Optional(Type.Union([Type.Literal('payer'), Type.Literal('merchant')])), limit: Type.Optional(Limit), after: Type.Optional(Cursor) }),
      response: { 200: Page, ...Errors },
    },
  }, async (req) => {
    self(req.signer!, req.params.id);
    const q = req.query;
    return service.list(req.params.id, { limit: limitOf(q.limit), ...(q.day ? { day: q.day } : {}), ...(q.role ? { role: q.role } : {}), ...(q.after ? { after: q.after } : {}) });
  });

  app.get('/v1/accounts/:id/receipts/:rid', {
    preValidation: o.customerOrStaff,
    schema: { params: Obj({ id: AccountId, rid: ReceiptId }), response: { 200: Entry, ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    return service.get(req.params.id, req.params.rid);
  });

  app.post('/v1/accounts/:id/tax-id', {
    preValidation: o.staffOnly,
    schema: {
      description: "Staff: record a merchant account's tax id (unified social credit code, GB 32100-2015); only merchants with one issue receipts.",
      params, body: Obj({ tax_id: TaxId }), response: { 200: Obj({ account: Type.String(), tax_id: Type.String() }), ...Errors },
    },
  }, async (req) => {
    await service.setTaxId(req.params.id, req.body.tax_id);
    await bank.durable();
    return { account: req.params.id, tax_id: req.body.tax_id };
  });

  app.get('/v1/bank/key', {
    schema: {
      description: "The public key receipts of a bank are signed with: this bank's (no bank named), or another bank's as central's directory has it. Unsigned: public keys are public.",
      querystring: Obj({ bank: Type.Optional(IntermediaryId) }),
      response: { 200: Obj({ bank: Type.String(), network: Type.String(), public_key: PublicKeyHex }), ...Errors },
    },
  }, async (req) => {
    const id = req.query.bank ?? bank.id;
    const key = id === bank.id ? bank.publicKey : o.bankKeys().get(id);
    if (key === undefined) throw new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN');
    return { bank: id, network: bank.network, public_key: key.toString('hex') };
  });

  app.get('/v1/tax/receipts', {
    preValidation: o.taxOnly,
    schema: {
      description: 'The tax authority (signer role tax, read only): the receipts this bank issued for a merchant, named by account id or by tax id (every account with it).',
      querystring: Obj({ merchant: Type.Union([AccountId, TaxId], { 'x-cbdc-code': 'CBDC_ERR_RECEIPT_UNKNOWN' }), day: Type.Optional(Day), limit: Type.Optional(Limit), after: Type.Optional(Cursor) }),
      response: { 200: Obj({ merchants: Type.Array(Type.String()), entries: Type.Array(Entry), next: Type.Union([Type.String(), Type.Null()]) }), ...Errors },
    },
  }, async (req) => {
    const q = req.query;
    return service.taxList(q.merchant, { limit: limitOf(q.limit), ...(q.day ? { day: q.day } : {}), ...(q.after ? { after: q.after } : {}) });
  });

  app.post('/v1/interbank/receipts', {
    preValidation: o.peerBank,
    schema: {
      description: "A payer's bank hands over the merchant's signed draft of a settled payment (its txid). This bank checks the draft, that the txid credited exactly that merchant with exactly its total, and answers the receipt it signs (the same for the same draft again).",
      body: Obj({ txid: Hex32, draft: ReceiptDraftSchema }),
      response: { 200: ReceiptView, ...Errors },
    },
  }, async (req) => service.issue(req.body.txid, req.body.draft));
}
