// The bank's offline routes, one fastify plugin: provisioning and loads for the account's own
// wallet, voucher uploads (a device's sync, or a payee's vouchers), the revocation list and
// the trust list devices need, and for bank staff the reserve-coverage check, the evidence
// of double spending, and revocation. Every route has TypeBox schemas; binary offline
// messages travel as lowercase hex.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError, type ErrorCode } from '../../protocol/errors.js';
import { parsePositiveAmountFen } from '../../protocol/amount.js';
import { AmountFen, ErrorSchema, PublicKeyHex, U64 } from '../../protocol/json_schemas.js';
import { isValidPublicKey } from '../../protocol/sig.js';
import type { Signer } from '../../platform/request_verify.js';
import { CERTIFICATE_BYTES_MAX } from '../../offline/certificate.js';
import { VOUCHER_BYTES_MAX } from '../../offline/voucher.js';
import type { PaymentRec } from '../store.js';
import type { AuthRec, DeviceRec, EvidenceRec } from './devices.js';
import { UPLOAD_VOUCHERS_MAX, deviceLiabilityFen } from './settle.js';
import type { OfflineService } from './reserve.js';

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface OfflineApiOptions {
  offline: OfflineService;
  customerOrStaff: Hook;
  staffOnly: Hook;
  paymentJson: (p: PaymentRec) => unknown;
}

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const Errors = { '4xx': Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }), '5xx': ErrorSchema };
const AccountId = Type.String({ pattern: '^[a-z0-9-]{1,32}\\.[0-9a-f]{12}$', 'x-cbdc-code': 'CBDC_ERR_ACCOUNT_UNKNOWN' });
const Serial = Type.String({ pattern: '^[1-9][0-9]{0,18}$', 'x-cbdc-code': 'CBDC_ERR_OFFLINE_DEVICE_UNKNOWN' });
const IdempotencyKey = Type.String({ pattern: '^[A-Za-z0-9_-]{8,40}$' });
const hexOf = (bytesMax: number) => Type.String({ pattern: '^([0-9a-f]{2})+$', maxLength: bytesMax * 2, 'x-cbdc-code': 'CBDC_ERR_OFFLINE_FORMAT' });
const CertHex = hexOf(CERTIFICATE_BYTES_MAX);
const VoucherHex = hexOf(VOUCHER_BYTES_MAX);

const DeviceView = Loose({
  serial: Type.String(), account: Type.String(), status: Type.String(), device_public_key: PublicKeyHex, certificate: Type.String(),
  balance_cap_fen: AmountFen, payment_cap_fen: AmountFen, payments_before_sync: Type.Integer(),
  loaded_fen: AmountFen, unloaded_fen: AmountFen, paid_fen: AmountFen, received_fen: AmountFen, held_fen: Type.String(),
  synced_counter: U64, synced_balance_fen: AmountFen, revoked_reason: Type.Union([Type.String(), Type.Null()]),
});
const AuthView = Loose({ authorisation: Type.String(), action: Type.String(), counter: U64, amount_fen: AmountFen, status: Type.String() });

export function deviceJson(d: DeviceRec): Static<typeof DeviceView> {
  return {
    serial: d.serial, account: d.account, status: d.status, device_public_key: d.devicePub, certificate: d.certHex,
    balance_cap_fen: d.caps.balanceCapFen, payment_cap_fen: d.caps.paymentCapFen, payments_before_sync: d.caps.paymentsBeforeSync,
    loaded_fen: d.loadedFen, unloaded_fen: d.unloadedFen, paid_fen: d.paidFen, received_fen: d.receivedFen, held_fen: deviceLiabilityFen(d).toString(),
    synced_counter: d.syncedCounter, synced_balance_fen: d.headBalanceFen, revoked_reason: d.revokedReason,
  };
}

function authJson(a: AuthRec): Static<typeof AuthView> {
  return { authorisation: a.hex, action: a.action, counter: a.counter, amount_fen: a.amountFen, status: a.status };
}

function evidenceJson(e: EvidenceRec): Record<string, unknown> {
  return { seq: e.seq, at_ms: e.atMs, serial: e.serial, kind: e.kind, counter: e.counter, detail: e.detail, vouchers: e.vouchers, certificate: e.certHex };
}

/** A customer may act only on its own account; staff on any. */
function self(signer: Signer, accountId: string): void {
  if (signer.role === 'customer' && signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'a wallet may act only on its own account');
}
function onlyCustomer(signer: Signer, accountId: string): void {
  if (signer.role !== 'customer' || signer.id !== accountId) throw new CbdcError('CBDC_ERR_FORBIDDEN', "only the account's own wallet may do this");
}

export async function offlineApi(app0: FastifyInstance, o: OfflineApiOptions): Promise<void> {
  const app = app0.withTypeProvider<TypeBoxTypeProvider>();
  const { offline } = o;
  const bank = offline.bank;
  const params = Obj({ id: AccountId });
  const dparams = Obj({ id: AccountId, serial: Serial });

  app.get('/v1/offline/trust', {
    schema: {
      description: "The keys an offline device of this bank trusts (this bank's key first: it signs certificates, authorisations and revocation lists; then each peer bank's, whose certificates and revocation lists the device checks) and the offline-reserve key loads pay.",
      response: { 200: Loose({ network: Type.String(), banks: Type.Array(Obj({ id: Type.String(), public_key: PublicKeyHex })), reserve_public_key: PublicKeyHex }), ...Errors },
    },
  }, async () => ({
    network: bank.network, banks: offline.trustedBanks().map((b) => ({ id: b.id, public_key: b.publicKey.toString('hex') })), reserve_public_key: offline.reservePublicKey.toString('hex'),
  }));

  app.get('/v1/offline/revocations', {
    schema: {
      description: "The bank's signed revocation list (its sequence only grows), and in `lists` every list its devices install: its own, then each peer bank's newest.",
      response: { 200: Loose({ sequence: U64, list: Type.String(), serials: Type.Array(U64), lists: Type.Array(Type.String()) }), ...Errors },
    },
  }, async () => {
    const r = offline.revocations();
    return { sequence: r.sequence.toString(), list: r.hex, serials: r.serials.map(String), lists: offline.revocationLists() };
  });

  app.post('/v1/accounts/:id/offline/devices', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "Register the account's secure element (its public key) and certify it with caps; the answer carries the certificate to install.",
      params, body: Obj({ device_public_key: PublicKeyHex, balance_cap_fen: Type.Optional(AmountFen), payment_cap_fen: Type.Optional(AmountFen) }),
      response: { 201: DeviceView, ...Errors },
    },
  }, async (req, reply) => {
    self(req.signer!, req.params.id);
    const pub = Buffer.from(req.body.device_public_key, 'hex');
    if (!isValidPublicKey(pub)) throw new CbdcError('CBDC_ERR_BAD_PUBLIC_KEY');
    const d = await offline.provision(req.params.id, pub, {
      ...(req.body.balance_cap_fen !== undefined ? { balanceCapFen: parsePositiveAmountFen(req.body.balance_cap_fen, 'balance_cap_fen') } : {}),
      ...(req.body.payment_cap_fen !== undefined ? { paymentCapFen: parsePositiveAmountFen(req.body.payment_cap_fen, 'payment_cap_fen') } : {}),
    });
    await bank.durable();
    return reply.code(201).send(deviceJson(d));
  });

  app.get('/v1/accounts/:id/offline/devices', {
    preValidation: o.customerOrStaff, schema: { params, response: { 200: Loose({ devices: Type.Array(DeviceView) }), ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    bank.account(req.params.id);
    return { devices: offline.store.devicesOf(req.params.id).map(deviceJson) };
  });

  app.get('/v1/accounts/:id/offline/devices/:serial', {
    preValidation: o.customerOrStaff, schema: { params: dparams, response: { 200: DeviceView, ...Errors } },
  }, async (req) => {
    self(req.signer!, req.params.id);
    return deviceJson(offline.ownDevice(req.params.id, req.params.serial));
  });

  app.post('/v1/accounts/:id/offline/devices/:serial/loads', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "Step 1 of a load: a payment from the wallet to the bank's offline reserve, returned for the wallet to sign (POST .../payments/:pid/sign). The same idempotency key returns the same payment.",
      params: dparams, body: Obj({ amount_fen: AmountFen, idempotency_key: IdempotencyKey }),
      response: { 200: Loose({ payment: Type.Unknown(), reserve_public_key: PublicKeyHex }), ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const p = await offline.prepareLoad(req.params.id, req.params.serial, parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'), req.body.idempotency_key);
    await bank.durable();
    return { payment: o.paymentJson(p), reserve_public_key: offline.reservePublicKey.toString('hex') };
  });

  app.post('/v1/accounts/:id/offline/devices/:serial/loads/:pid/authorisation', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "Step 2 of a load, once its payment settled: the bank's load authorisation for the device's current counter (which must be the last synced one).",
      params: Obj({ id: AccountId, serial: Serial, pid: Type.String({ pattern: '^pay-[0-9a-f]{16}$', 'x-cbdc-code': 'CBDC_ERR_NOT_FOUND' }) }),
      body: Obj({ device_counter: U64 }), response: { 200: AuthView, ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const r = await offline.loadAuthorisation(req.params.id, req.params.serial, req.params.pid, BigInt(req.body.device_counter));
    await bank.durable();
    return authJson(r.auth);
  });

  app.post('/v1/accounts/:id/offline/devices/:serial/unloads', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "An unload authorisation: the device takes the amount off its balance; upload its unload voucher (a sync) and the bank pays it to the account's wallet.",
      params: dparams, body: Obj({ amount_fen: AmountFen, device_counter: U64, idempotency_key: IdempotencyKey }), response: { 200: AuthView, ...Errors },
    },
  }, async (req) => {
    onlyCustomer(req.signer!, req.params.id);
    const a = await offline.unloadAuthorisation(req.params.id, req.params.serial, parsePositiveAmountFen(req.body.amount_fen, 'amount_fen'), BigInt(req.body.device_counter), req.body.idempotency_key);
    await bank.durable();
    return authJson(a);
  });

  app.post('/v1/offline/uploads', {
    preValidation: o.customerOrStaff,
    schema: {
      description: "Upload vouchers: a device's log since its last sync (with its certificate) and the payers' vouchers it took. Each voucher settles once whoever uploads it; double spending is kept as evidence and revokes the device. The answer carries the device's sync authorisation and the bank's revocation list.",
      body: Obj({
        certificate: Type.Optional(CertHex),
        log: Type.Array(VoucherHex, { maxItems: UPLOAD_VOUCHERS_MAX, 'x-cbdc-code': 'CBDC_ERR_BATCH_TOO_LARGE' }),
        received: Type.Array(Obj({ certificate: CertHex, voucher: VoucherHex }), { maxItems: UPLOAD_VOUCHERS_MAX, 'x-cbdc-code': 'CBDC_ERR_BATCH_TOO_LARGE' }),
      }),
      response: {
        200: Loose({ results: Type.Array(Loose({ status: Type.String() })), device: Type.Union([DeviceView, Type.Null()]), sync_authorisation: Type.Union([Type.String(), Type.Null()]), revocation_list: Type.String(), revocation_sequence: U64, revocation_lists: Type.Array(Type.String()) }),
        ...Errors,
      },
    },
  }, async (req, reply) => {
    const r = await offline.upload({ certificateHex: req.body.certificate ?? null, log: req.body.log, received: req.body.received.map((x) => ({ certificateHex: x.certificate, voucherHex: x.voucher })) });
    const body = {
      results: r.results.map((x) => ({ source: x.source, index: x.index, hash: x.hash, counter: x.counter, status: x.status, ...(x.code ? { code: x.code, message: x.message } : {}) })),
      findings: r.findings.map((f) => ({ serial: f.serial, kind: f.kind, counter: f.counter.toString(), detail: f.detail })),
      revoked: r.revoked,
      device: r.device === null ? null : deviceJson(r.device),
      sync_authorisation: r.syncAuthorisation, revocation_list: r.revocations.hex, revocation_sequence: r.revocations.sequence.toString(), revocation_lists: r.revocationLists,
    };
    // Nothing taken and something refused: answer with that refusal's code (the state is unchanged).
    const refused = r.results.find((x) => x.status === 'refused');
    if (refused !== undefined && !r.results.some((x) => x.status === 'accepted' || x.status === 'duplicate') && r.findings.length === 0) {
      const e = new CbdcError(refused.code as ErrorCode, refused.message);
      return reply.code(e.statusCode).send({ code: e.code, message: e.message });
    }
    if (r.findings.length > 0 && !r.results.some((x) => x.status === 'accepted' || x.status === 'duplicate')) {
      const e = new CbdcError('CBDC_ERR_OFFLINE_DOUBLE_SPEND', `${r.findings[0]!.detail}; device ${r.findings[0]!.serial} is revoked`);
      return reply.code(e.statusCode).send({ code: e.code, message: e.message });
    }
    return body;
  });

  // Bank staff.
  app.get('/v1/bank/offline/check', {
    preValidation: o.staffOnly,
    schema: {
      description: "The invariant: the offline reserve's outputs at central cover what every device still holds; each device's loss within its balance cap.",
      response: { 200: Loose({ ok: Type.Boolean(), reserve_fen: AmountFen, liabilities_fen: AmountFen, loss_fen: AmountFen, problems: Type.Array(Type.String()) }), ...Errors },
    },
  }, async () => offline.check());

  app.get('/v1/bank/offline/evidence', {
    preValidation: o.staffOnly,
    schema: { querystring: Obj({ from: Type.Optional(Type.String({ pattern: '^[0-9]{1,12}$' })) }), response: { 200: Loose({ evidence: Type.Array(Loose({})) }), ...Errors } },
  }, async (req) => ({ evidence: offline.evidence(Number(req.query.from ?? '0')).map(evidenceJson) }));

  app.get('/v1/bank/offline/devices/:serial', {
    preValidation: o.staffOnly, schema: { params: Obj({ serial: Serial }), response: { 200: DeviceView, ...Errors } },
  }, async (req) => {
    const d = offline.store.device(req.params.serial);
    if (d === undefined) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN');
    return deviceJson(d);
  });

  app.post('/v1/bank/offline/devices/:serial/revoke', {
    preValidation: o.staffOnly,
    schema: { params: Obj({ serial: Serial }), body: Obj({ reason: Type.String({ minLength: 1, maxLength: 200 }) }), response: { 200: DeviceView, ...Errors } },
  }, async (req) => {
    const d = await offline.revoke(req.params.serial, req.body.reason);
    await bank.durable();
    return deviceJson(d);
  });
}
