// The bank's analytics routes, one fastify plugin: the regulator's queries and budget, and the
// two rounds of central's combined statistic (signed by central's analytics coordinator key,
// as central publishes it). Every answer holds aggregates only: no account id, key, alias or
// phone, no per-customer row.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../../protocol/errors.js';
import { nativeVerifier } from '../../protocol/sig.js';
import { IntermediaryId, SignatureHex } from '../../protocol/json_schemas.js';
import { HEADER_SIGNER } from '../../protocol/request_auth.js';
import { SHARE_PARTIES_MAX, SHARE_VECTOR_MAX } from '../../protocol/secret_share.js';
import { RequestVerifier } from '../../platform/request_verify.js';
import { DAY_PATTERN, EPSILON_PATTERN } from '../../platform/analytics.js';
import { BANK_GROUPINGS, BANK_METRICS } from './facts.js';
import { COORDINATOR_SIGNER, QUERY_ID_PATTERN, type BankAnalytics, type QueryBody, type SharesBody } from './service.js';

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface AnalyticsApiOptions {
  analytics: BankAnalytics;
  /** The bank's regulator key (api.ts StaffKeys, role 'regulator'). */
  regulatorOnly: Hook;
}

const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const q = { 'x-cbdc-code': 'CBDC_ERR_ANALYTICS_QUERY' };
const Errors = { '4xx': Loose({ code: Type.String(), message: Type.String() }), '5xx': Loose({ code: Type.String(), message: Type.String() }) };
const Lit = <T extends readonly string[]>(xs: T) => Type.Union(xs.map((x) => Type.Literal(x)), q);
export const Day = Type.String({ pattern: DAY_PATTERN, ...q });
export const Epsilon = Type.String({ pattern: EPSILON_PATTERN, maxLength: 6, description: 'Decimal string, e.g. "0.5"', ...q });
const QueryId = Type.String({ pattern: QUERY_ID_PATTERN, 'x-cbdc-code': 'CBDC_ERR_ANALYTICS_PARTY' });
const Hex = (min: number, max: number) => Type.String({ pattern: `^[0-9a-f]{${min},${max}}$`, 'x-cbdc-code': 'CBDC_ERR_ANALYTICS_SHARE' });
export const SealedSchema = Obj({ from: IntermediaryId, to: IntermediaryId, iv: Hex(24, 24), ct: Hex(2, 8192), tag: Hex(32, 32) });
const ShareVector = Type.Array(Type.String({ pattern: '^(0|[1-9][0-9]{0,18})$', 'x-cbdc-code': 'CBDC_ERR_ANALYTICS_SHARE' }), { maxItems: SHARE_VECTOR_MAX });
const Cell = Loose({ group: Type.String(), bucket: Type.Optional(Type.String()), suppressed: Type.Boolean(), value: Type.Union([Type.String(), Type.Null()]) });
const Budget = Obj({ signer: Type.String(), total_epsilon: Type.String(), spent_epsilon: Type.String(), remaining_epsilon: Type.String(), queries: Type.Integer() });

export async function analyticsApi(app: FastifyInstance, o: AnalyticsApiOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const a = o.analytics;
  // Central's coordinator: its own verifier, whose one signer is central's published key.
  const coordinatorAuth = new RequestVerifier(a.bank.network, (id) => {
    const k = id === COORDINATOR_SIGNER ? a.cachedCoordinatorKey() : undefined;
    return k === undefined ? undefined : { id, publicKey: k, role: 'coordinator' };
  }, nativeVerifier);
  const coordinatorHook = coordinatorAuth.hook(['coordinator']);
  const fromCentral: Hook = async (req, reply) => {
    if (req.headers[HEADER_SIGNER] === COORDINATOR_SIGNER) await a.coordinatorPublicKey();
    return coordinatorHook(req, reply);
  };

  r.post('/v1/analytics/query', {
    preValidation: o.regulatorOnly,
    schema: {
      description: "Regulator: a differentially private aggregate of the bank's settled customer payments (docs/ANALYTICS.md). Spends epsilon from the signer's budget; groups whose noisy count is under the minimum group size are suppressed.",
      body: Obj({ metric: Lit(BANK_METRICS), group_by: Lit(BANK_GROUPINGS), from_day: Day, to_day: Day, epsilon: Epsilon }),
      response: { 200: Loose({ bank: Type.String(), metric: Type.String(), group_by: Type.String(), epsilon: Type.String(), remaining_epsilon: Type.String(), mechanism: Loose({}), groups: Type.Array(Cell) }), ...Errors },
    },
  }, async (req) => (await a.query(req.signer!.id, req.body as QueryBody)) as never);

  r.get('/v1/analytics/budget', {
    preValidation: o.regulatorOnly,
    schema: { description: "Regulator: the signer's privacy budget, and central's at this bank (the combined statistic spends it).", response: { 200: Obj({ budgets: Type.Array(Budget) }), ...Errors } },
  }, async (req) => ({ budgets: [a.budget.json(req.signer!.id), a.budget.json(COORDINATOR_SIGNER)] }));

  r.post('/v1/analytics/shares', {
    preValidation: fromCentral,
    schema: {
      description: "Central's coordinator, round 1 of a combined statistic: the bank's bounded, noised vector split into additive shares mod 2^61-1, one per party; central's share in clear, each other bank's sealed to it. Signed by the bank's key. Spends epsilon from central's budget at this bank.",
      body: Obj({
        query_id: QueryId, metric: Lit(['payments_count', 'payments_value_fen'] as const), group_by: Lit(['day', 'tier', 'region', 'none'] as const),
        from_day: Day, to_day: Day, epsilon: Epsilon,
        parties: Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$', 'x-cbdc-code': 'CBDC_ERR_ANALYTICS_PARTY' }), { minItems: 3, maxItems: SHARE_PARTIES_MAX, ...q }),
      }),
      response: { 200: Obj({ query_id: Type.String(), bank: Type.String(), length: Type.Integer(), central_share: ShareVector, sealed: Type.Array(SealedSchema), sig: SignatureHex }), ...Errors },
    },
  }, async (req) => a.shares(req.body as SharesBody));

  r.post('/v1/analytics/partial', {
    preValidation: fromCentral,
    schema: {
      description: "Central's coordinator, round 2: the shares the other banks sealed to this bank; it opens them, adds its kept share and answers the partial sum (signed). A kept share is summed once.",
      body: Obj({ query_id: QueryId, sealed: Type.Array(SealedSchema, { maxItems: SHARE_PARTIES_MAX }) }),
      response: { 200: Obj({ query_id: Type.String(), bank: Type.String(), partial: ShareVector, sig: SignatureHex }), ...Errors },
    },
  }, async (req) => {
    if (req.body.sealed.length === 0) throw new CbdcError('CBDC_ERR_ANALYTICS_PARTY', 'no shares');
    return a.partial(req.body);
  });
}
