// Central's HTTP API for intermediaries and the operator (fastify). Every route has a
// schema; every intermediary request is signed; every refusal is {code, message} from the
// one registry and changes nothing.
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError } from '../protocol/errors.js';
import { formatAmountFen, parseAmountFen, parsePositiveAmountFen } from '../protocol/amount.js';
import { BODY_BYTES_MAX } from '../protocol/limits.js';
import { decodeLockTrusted, lockToJson, parseLock } from '../protocol/lock.js';
import { keyLock, makeTx, operatorSignTx } from '../protocol/tx_builder.js';
import { parsePublicKey, parseSignature, type SignatureVerifier } from '../protocol/sig.js';
import { type Tx, parseIntermediaryId, parseTx, parseU64 } from '../protocol/tx.js';
import {
  AmountFen, BatchSchema, ErrorSchema, Hex32, IntermediaryId, LockSchema, PublicKeyHex, TxSchema, U64,
} from '../protocol/json_schemas.js';
import { AJV_OPTIONS, bodiesAsBytes, frameworkErrors, httpErrors, sendError } from '../platform/http_errors.js';
import { type BatchFormat, decodeParsedBatch, parseBatchBody } from './batch_parse.js';
import { BATCH_WIRE_MEDIA_TYPE } from '../protocol/batch_wire.js';
import type { Admitted } from './intake.js';
import { RequestVerifier, type Signer } from '../platform/request_verify.js';
import { SERVER_LIMITS_DEFAULT, type ServerLimits, type TlsConfig, serverLimits, serverOptions } from '../platform/server_limits.js';
import type { Ledger, TxResult, VerificationMode } from './ledger.js';
import type { LedgerStore, Intermediary, StoredOutput } from './store.js';
import { registerEventStream } from './events.js';
import { metricsPlugin } from '../platform/metrics.js';
import { dashboardPlugin, type DashboardOptions } from './dashboard/plugin.js';
import type { Registry } from 'prom-client';
import { REGULATOR_SIGNER, centralAnalyticsApi, type CentralAnalytics } from './analytics.js';

export interface CentralApiOptions {
  ledger: Ledger;
  store: LedgerStore;
  network: string;
  operatorPublicKey: Buffer;
  verifier: SignatureVerifier;
  verification: VerificationMode;
  /** When this node holds the operator key, intermediaries may request issuance and redemption. */
  operatorSecretKey?: Buffer;
  logLevel?: string;
  /** Serve GET /metrics from this registry. */
  metrics?: Registry;
  /** Serve the live dashboard at /dashboard. */
  dashboard?: DashboardOptions;
  /** Client limits (default: SERVER_LIMITS_DEFAULT with central's body size). */
  limits?: ServerLimits;
  tls?: TlsConfig;
  /** Private analytics for central's regulator and the combined statistic across banks (central/analytics.ts). */
  analytics?: CentralAnalytics;
}

/** Batch bodies from this size up are parsed on a worker thread (below it, the hop costs more than it saves). */
export const BATCH_PARSE_WORKER_BYTES_MIN = 64 * 1024;

/** Central's limits: batches of signed transactions are larger than a wallet's requests. */
export const CENTRAL_LIMITS: ServerLimits = { ...SERVER_LIMITS_DEFAULT, bodyBytesMax: BODY_BYTES_MAX, wsPayloadBytesMax: 64 * 1024 };

export const OPERATOR_SIGNER = 'operator';

export function txResultJson(r: TxResult): { status: string; txid: string | null; [k: string]: unknown } {
  if (!r.ok) return { status: 'rejected', txid: r.txid, code: r.code, message: r.message };
  return {
    status: 'settled',
    txid: r.txid,
    batch: r.batch.toString(),
    outputs: r.outputIds.map((id, i) => ({ pos: (r.firstPos + BigInt(i)).toString(), id: id.toString('hex') })),
    durable: r.durable,
  };
}

/**
 * The answer to POST /v1/batches, written straight as JSON text: exactly
 * JSON.stringify({ accepted, rejected, results: results.map(txResultJson) }) (a test pins
 * it), without an object per transaction and output on the way.
 */
export function batchReplyJson(results: readonly TxResult[]): string {
  let accepted = 0;
  const parts = new Array<string>(results.length);
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (!r.ok) {
      parts[i] = JSON.stringify(txResultJson(r));
      continue;
    }
    accepted++;
    let outputs = '';
    for (let k = 0; k < r.outputIds.length; k++) {
      outputs += `${k === 0 ? '' : ','}{"pos":"${r.firstPos + BigInt(k)}","id":"${r.outputIds[k]!.toString('hex')}"}`;
    }
    // txid is hex and batch and positions are decimal: nothing in them needs escaping.
    parts[i] = `{"status":"settled","txid":"${r.txid}","batch":"${r.batch}","outputs":[${outputs}],"durable":${r.durable}}`;
  }
  return `{"accepted":${accepted},"rejected":${results.length - accepted},"results":[${parts.join(',')}]}`;
}

/**
 * The answer to a batch in the binary form (protocol/batch_wire.ts CompactBatchAnswer): per
 * transaction [batch, first_pos] when settled, { txid, code, message } when refused.
 */
export function compactBatchReplyJson(results: readonly TxResult[]): string {
  let accepted = 0;
  let durable = true;
  const parts = new Array<string>(results.length);
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (!r.ok) {
      parts[i] = JSON.stringify({ txid: r.txid, code: r.code, message: r.message });
      continue;
    }
    accepted++;
    durable &&= r.durable;
    parts[i] = `["${r.batch}","${r.firstPos}"]`;
  }
  return `{"accepted":${accepted},"rejected":${results.length - accepted},"durable":${durable},"results":[${parts.join(',')}]}`;
}

export function intermediaryJson(i: Intermediary): Record<string, unknown> {
  return {
    id: i.id, public_key: i.publicKey, quota_fen: formatAmountFen(i.quotaFen), reserve_fen: formatAmountFen(i.reserveFen),
    issued_fen: formatAmountFen(i.issuedFen), redeemed_fen: formatAmountFen(i.redeemedFen),
    outstanding_fen: (i.issuedFen - i.redeemedFen).toString(), next_serial: i.nextSerial.toString(), registered_at_ms: i.registeredAtMs,
  };
}

export function outputJson(o: StoredOutput, spent: boolean): Record<string, unknown> {
  return {
    pos: o.pos.toString(), id: o.id.toString('hex'), value: formatAmountFen(o.value), lock: lockToJson(decodeLockTrusted(o.lockBytes)),
    txid: o.txid.toString('hex'), index: o.index, batch: o.batch.toString(), spent,
  };
}

const TxResultSchema = Type.Object({ status: Type.String(), txid: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: true });

export async function buildCentralApi(o: CentralApiOptions): Promise<FastifyInstance> {
  const limits = o.limits ?? CENTRAL_LIMITS;
  const app = Fastify({
    logger: o.logLevel ? { level: o.logLevel } : false,
    ajv: AJV_OPTIONS,
    // Limits on every connection: slow or idle clients cannot hold the server.
    ...serverOptions(limits, o.tls),
    return503OnClosing: true,
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.removeContentTypeParser('application/json');
  await app.register(httpErrors, { bodyLimitBytes: limits.bodyBytesMax });
  // Intermediaries and the operator carry the system's load: no per-client rate limit for them.
  await app.register(serverLimits, { limits, exemptRoles: ['intermediary', 'operator'] });
  if (o.metrics) await app.register(metricsPlugin, { registry: o.metrics });
  await app.register(websocket, { options: { maxPayload: limits.wsPayloadBytesMax } });

  const lookup = (id: string): Signer | undefined => {
    if (id === OPERATOR_SIGNER) return { id, publicKey: o.operatorPublicKey, role: 'operator' };
    if (id === REGULATOR_SIGNER && o.analytics) return { id, publicKey: o.analytics.regulatorPublicKey, role: 'regulator' };
    const i = o.store.getIntermediary(id);
    return i === undefined ? undefined : { id, publicKey: Buffer.from(i.publicKey, 'hex'), role: 'intermediary' };
  };
  const auth = new RequestVerifier(o.network, lookup, o.verifier);
  const operatorOnly = auth.hook(['operator']);
  const anySigner = auth.hook(['operator', 'intermediary']);
  const intermediaryOnly = auth.hook(['intermediary']);

  app.get('/v1/health', { schema: { response: { 200: Type.Object({ status: Type.String(), network: Type.String() }) } } }, async () => ({ status: 'ok', network: o.network }));

  app.get('/v1/supply', {
    schema: { response: { 200: Type.Object({ issued_fen: AmountFen, redeemed_fen: AmountFen, unspent_fen: AmountFen, outputs: U64, spent: U64, batches: U64 }) } },
  }, async () => {
    const s = o.store.supply();
    return {
      issued_fen: formatAmountFen(s.issuedFen), redeemed_fen: formatAmountFen(s.redeemedFen), unspent_fen: formatAmountFen(s.unspentFen),
      outputs: s.outputCount.toString(), spent: s.spentCount.toString(), batches: s.batchCount.toString(),
    };
  });

  app.post('/v1/intermediaries', {
    preValidation: operatorOnly,
    schema: {
      body: Type.Object({ id: IntermediaryId, public_key: PublicKeyHex, quota_fen: AmountFen, reserve_fen: AmountFen }, { additionalProperties: false }),
      response: { 201: Type.Object({}, { additionalProperties: true }), '4xx': ErrorSchema },
    },
  }, async (req, reply) => {
    const b = req.body;
    const rec: Intermediary = {
      id: parseIntermediaryId(b.id), publicKey: parsePublicKey(b.public_key).toString('hex'),
      quotaFen: parseAmountFen(b.quota_fen, 'quota_fen'), reserveFen: parseAmountFen(b.reserve_fen, 'reserve_fen'),
      issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n, registeredAtMs: Date.now(),
    };
    if (rec.publicKey === o.operatorPublicKey.toString('hex')) throw new CbdcError('CBDC_ERR_INTERMEDIARY_EXISTS', 'that is the operator key');
    await o.store.registerIntermediary(rec);
    return reply.code(201).send(intermediaryJson(rec));
  });

  app.get('/v1/intermediaries', { preValidation: operatorOnly }, async () => ({ intermediaries: o.store.listIntermediaries().map(intermediaryJson) }));

  // The directory: every intermediary's id and public key, so banks can check each other's
  // signed requests (payee resolution across banks).
  app.get('/v1/directory', {
    preValidation: anySigner,
    schema: { response: { 200: Type.Object({ intermediaries: Type.Array(Type.Object({ id: IntermediaryId, public_key: PublicKeyHex })) }) } },
  }, async () => ({ intermediaries: o.store.listIntermediaries().map((i) => ({ id: i.id, public_key: i.publicKey })) }));

  app.get('/v1/intermediaries/:id', {
    preValidation: anySigner,
    schema: { params: Type.Object({ id: IntermediaryId }) },
  }, async (req) => {
    if (req.signer!.role !== 'operator' && req.signer!.id !== req.params.id) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'an intermediary may read only its own record');
    const i = o.store.getIntermediary(req.params.id);
    if (i === undefined) throw new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN');
    return intermediaryJson(i);
  });

  app.post('/v1/intermediaries/:id/reserve', {
    preValidation: operatorOnly,
    schema: {
      params: Type.Object({ id: IntermediaryId }),
      body: Type.Object({
        deposit_fen: Type.Optional(AmountFen), withdraw_fen: Type.Optional(AmountFen), quota_fen: Type.Optional(AmountFen),
      }, { additionalProperties: false, minProperties: 1 }),
    },
  }, async (req) => {
    const b = req.body;
    const deposit = b.deposit_fen === undefined ? 0n : parseAmountFen(b.deposit_fen, 'deposit_fen');
    const withdraw = b.withdraw_fen === undefined ? 0n : parseAmountFen(b.withdraw_fen, 'withdraw_fen');
    const change: { reserveDeltaFen: bigint; quotaFen?: bigint } = { reserveDeltaFen: deposit - withdraw };
    if (b.quota_fen !== undefined) change.quotaFen = parseAmountFen(b.quota_fen, 'quota_fen');
    return intermediaryJson(await o.store.adjustIntermediary(req.params.id, change));
  });

  // Submission is idempotent by txid: a transaction sent again after a lost answer gets its
  // earlier settlement (see Ledger.settledBefore), never a second one.
  const settle = async (txs: Tx[], attestationHex: string | undefined, signer: Signer, admitted?: Admitted[]): Promise<TxResult[]> => {
    const attestation = attestationHex !== undefined && o.verification === 'attested'
      ? { key: signer.publicKey, sig: parseSignature(attestationHex, 'attestation') }
      : undefined;
    const results = admitted === undefined ? await o.ledger.submit(txs, attestation) : await o.ledger.submitAdmitted(txs, admitted, attestation);
    return results.map((r, i) => o.ledger.settledBefore(txs[i]!, r));
  };

  app.post('/v1/transactions', {
    preValidation: anySigner,
    schema: { body: TxSchema, response: { '2xx': TxResultSchema } },
  }, async (req, reply) => {
    const tx = parseTx(req.body, o.network);
    const [r] = await settle([tx], undefined, req.signer!);
    if (!r!.ok) return sendError(reply, new CbdcError(r!.code, r!.message), { status: 'rejected', txid: r!.txid });
    return txResultJson(r!);
  });

  // Batches carry the load: a large one is parsed, checked and hashed on a worker thread
  // (batch_parse.ts), with the same checks, codes and messages as a small one parsed here.
  // The body reaches the route as bytes; the schema stays on the route for the docs.
  await app.register(async (batches) => {
    bodiesAsBytes(batches, limits.bodyBytesMax, ['application/json', BATCH_WIRE_MEDIA_TYPE]);
    batches.post('/v1/batches', {
      preValidation: anySigner,
      schema: {
        description: `A batch of transactions, settled atomically per ledger batch. As JSON (this schema; answered with every result in full) or in the binary form, content type ${BATCH_WIRE_MEDIA_TYPE} (protocol/batch_wire.ts; answered compactly: [batch, first_pos] per settled transaction, the refusal otherwise).`,
        body: BatchSchema,
      },
      validatorCompiler: () => () => true,
    }, async (req, reply) => {
      const raw = req.rawBody ?? Buffer.alloc(0);
      const format: BatchFormat = req.headers['content-type']?.startsWith(BATCH_WIRE_MEDIA_TYPE) === true ? 'wire' : 'json';
      const pool = o.ledger.workerPool;
      let results: TxResult[];
      if (pool === null || pool.threads === 0 || raw.length < BATCH_PARSE_WORKER_BYTES_MIN) {
        const { txs, attestationHex } = parseBatchBody(raw, format, o.network);
        results = await settle(txs, attestationHex, req.signer!);
      } else {
        const body = new Uint8Array(raw.length);
        body.set(raw);
        const parsed = decodeParsedBatch(await pool.parseBatch({ body, format, network: o.network, lmdbPath: o.store.path ?? null }), o.network);
        results = await settle(parsed.txs, parsed.attestationHex, req.signer!, parsed.admitted);
      }
      return reply.type('application/json; charset=utf-8').send(format === 'wire' ? compactBatchReplyJson(results) : batchReplyJson(results));
    });
  });

  // Issuance and redemption on an intermediary's request, authorized by the operator key this
  // node holds: issuance within the intermediary's quota and reserve; redemption of outputs
  // the intermediary can spend. One at a time, so issuance serials never collide.
  let operatorQueue: Promise<unknown> = Promise.resolve();
  const asOperator = <T>(work: (sk: Buffer) => Promise<T>): Promise<T> => {
    const sk = o.operatorSecretKey;
    if (sk === undefined) return Promise.reject(new CbdcError('CBDC_ERR_FORBIDDEN', 'this node does not hold the operator key'));
    const run = operatorQueue.then(() => work(sk));
    operatorQueue = run.catch(() => undefined);
    return run;
  };
  const settledOrThrow = (r: TxResult): ReturnType<typeof txResultJson> => {
    if (!r.ok) throw new CbdcError(r.code, r.message);
    return txResultJson(r);
  };

  app.post('/v1/issuance', {
    preValidation: intermediaryOnly,
    schema: { body: Type.Object({ amount_fen: AmountFen, lock: Type.Optional(LockSchema) }, { additionalProperties: false }) },
  }, async (req) => {
    const signer = req.signer!;
    const value = parsePositiveAmountFen(req.body.amount_fen, 'amount_fen');
    const lock = req.body.lock === undefined ? keyLock(signer.publicKey) : parseLock(req.body.lock);
    return asOperator(async (sk) => {
      const inter = o.store.getIntermediary(signer.id);
      if (inter === undefined) throw new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN');
      const tx = operatorSignTx(makeTx({ kind: 'issue', network: o.network, intermediary: signer.id, serial: inter.nextSerial, inputs: [], outputs: [{ value, lock }] }), sk);
      const [r] = await o.ledger.submit([tx]);
      return settledOrThrow(r!);
    });
  });

  app.post('/v1/redemptions', {
    preValidation: intermediaryOnly,
    schema: { body: TxSchema },
  }, async (req) => {
    const tx = parseTx(req.body, o.network, { operatorSignsLater: true });
    if (tx.kind !== 'redeem') throw new CbdcError('CBDC_ERR_TX_KIND', 'this route takes redemptions');
    if (tx.intermediary !== req.signer!.id) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'an intermediary may redeem only for itself');
    return asOperator(async (sk) => {
      const [r] = await o.ledger.submit([operatorSignTx(tx, sk)]);
      return settledOrThrow(r!);
    });
  });

  app.get('/v1/outputs/:pos', {
    preValidation: anySigner,
    schema: { params: Type.Object({ pos: U64 }), querystring: Type.Object({ id: Type.Optional(Hex32) }, { additionalProperties: false }) },
  }, async (req) => {
    const pos = parseU64(req.params.pos, 'pos');
    const out = o.store.getOutput(pos);
    if (out === undefined || (req.query.id !== undefined && out.id.toString('hex') !== req.query.id)) {
      throw new CbdcError('CBDC_ERR_NOT_FOUND', `no output at position ${pos}${req.query.id ? ' with that id' : ''}`);
    }
    return outputJson(out, o.store.isSpent(pos));
  });

  app.get('/v1/audit', { preValidation: operatorOnly }, async () => {
    const a = o.store.audit();
    return {
      ok: a.ok, issued_fen: a.issuedFen.toString(), redeemed_fen: a.redeemedFen.toString(),
      unspent_recomputed_fen: a.unspentRecomputedFen.toString(), unspent_recorded_fen: a.unspentRecordedFen.toString(),
      unspent_count: a.unspentCount.toString(), output_count: a.outputCount.toString(), problems: a.problems,
    };
  });

  registerEventStream(app, { ledger: o.ledger, store: o.store, preValidation: anySigner });
  if (o.dashboard) await app.register(dashboardPlugin, o.dashboard);
  if (o.analytics) await app.register(centralAnalyticsApi, { analytics: o.analytics, regulatorOnly: auth.hook(['regulator']), anySigner: auth.hook(['operator', 'intermediary', 'regulator']) });
  return app;
}
