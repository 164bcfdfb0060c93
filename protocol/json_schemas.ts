// JSON Schemas (TypeBox) for the wire forms every tier shares. Each node that can fail names
// the error code its failure stands for (x-cbdc-code), so a JSON number where an amount string
// belongs is CBDC_ERR_AMOUNT_FORMAT, not a generic schema error. parseTx re-checks all of it.
import { Type, type Static } from 'typebox';
import { TX_CERTS_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_PREIMAGES_MAX, TX_SIGNATURES_MAX, BATCH_TX_MAX } from './limits.js';

const code = (c: string) => ({ 'x-cbdc-code': c });

export const AmountFen = Type.String({ pattern: '^(0|[1-9][0-9]*)$', maxLength: 40, description: 'Amount in fen as a decimal string', ...code('CBDC_ERR_AMOUNT_FORMAT') });
export const U64 = Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$', description: 'Unsigned 64-bit integer as a decimal string' });
export const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$', ...code('CBDC_ERR_HEX_FORMAT') });
export const PublicKeyHex = Type.String({ pattern: '^[0-9a-f]{66}$', description: 'SEC1 compressed secp256k1 public key', ...code('CBDC_ERR_HEX_FORMAT') });
export const SignatureHex = Type.String({ pattern: '^[0-9a-f]{128}$', description: 'Compact r||s ECDSA signature, low-S', ...code('CBDC_ERR_HEX_FORMAT') });
export const IntermediaryId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$', ...code('CBDC_ERR_INTERMEDIARY_ID') });

/**
 * A lock policy: one operator per object, nested. Its grammar and limits are checked by
 * protocol/lock.ts (parseLock), with a code for each failure; docs/LOCKS.md is the specification.
 */
export const LockSchema = Type.Object({}, {
  additionalProperties: true, minProperties: 1, maxProperties: 1,
  description: 'Lock policy (docs/LOCKS.md): {"key": pk} | {"multi": {"k", "keys"}} | {"after": ms} | {"before": ms} | {"hash": sha256hex} | ' +
    '{"and": [lock...]} | {"or": [lock...]} | {"thresh": {"k", "locks"}} | {"purpose": {"mccs": ["4111", ...]}}',
  ...code('CBDC_ERR_LOCK_FORMAT'),
});

/** A merchant certificate attached to a transaction's witness (protocol/merchant_cert.ts). */
export const WitnessCertSchema = Type.Object({
  output: Type.Integer({ minimum: 0, maximum: TX_OUTPUTS_MAX - 1, description: 'Index of the output whose lock is certified' }),
  intermediary: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$', description: 'The certifying intermediary', ...code('CBDC_ERR_WITNESS') }),
  mcc: Type.String({ pattern: '^[0-9]{4}$', description: 'Merchant category code (ISO 18245)', ...code('CBDC_ERR_WITNESS') }),
  expires_ms: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Valid while the ledger batch time is before this' }),
  sig: SignatureHex,
}, { additionalProperties: false, ...code('CBDC_ERR_WITNESS') });

export const OutPointSchema = Type.Object({ pos: U64, id: Hex32 }, { additionalProperties: false });
export const OutputSchema = Type.Object({ value: AmountFen, lock: LockSchema }, { additionalProperties: false });

export const TxSchema = Type.Object({
  kind: Type.Union([Type.Literal('transfer'), Type.Literal('issue'), Type.Literal('redeem')], code('CBDC_ERR_TX_KIND')),
  network: Type.String({ maxLength: 64 }),
  intermediary: Type.Optional(IntermediaryId),
  serial: Type.Optional(U64),
  inputs: Type.Array(OutPointSchema, { maxItems: TX_INPUTS_MAX, ...code('CBDC_ERR_TOO_MANY_INPUTS') }),
  outputs: Type.Array(OutputSchema, { maxItems: TX_OUTPUTS_MAX, ...code('CBDC_ERR_TOO_MANY_OUTPUTS') }),
  witness: Type.Object({
    sigs: Type.Optional(Type.Array(Type.Object({ key: PublicKeyHex, sig: SignatureHex }, { additionalProperties: false }), { maxItems: TX_SIGNATURES_MAX, ...code('CBDC_ERR_WITNESS') })),
    operator: Type.Optional(SignatureHex),
    preimages: Type.Optional(Type.Array(Hex32, { minItems: 1, maxItems: TX_PREIMAGES_MAX, description: 'Hash-lock preimages (32 bytes each), ascending', ...code('CBDC_ERR_WITNESS') })),
    certs: Type.Optional(Type.Array(WitnessCertSchema, { minItems: 1, maxItems: TX_CERTS_MAX, description: 'Merchant certificates, ascending by output', ...code('CBDC_ERR_WITNESS') })),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
export type TxBody = Static<typeof TxSchema>;

export const BatchSchema = Type.Object({
  transactions: Type.Array(TxSchema, { minItems: 1, maxItems: BATCH_TX_MAX, ...code('CBDC_ERR_BATCH_TOO_LARGE') }),
  attestation: Type.Optional(SignatureHex),
}, { additionalProperties: false });
export type BatchBody = Static<typeof BatchSchema>;

export const ErrorSchema = Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true });
