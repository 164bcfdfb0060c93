// HTTP plumbing every server tier shares: strict JSON bodies (raw bytes kept for request
// signatures), one error shape {code, message} from the one registry, no type coercion.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import AjvCompiler from '@fastify/ajv-compiler';
import { CbdcError, ERRORS, type ErrorCode, isCbdcError } from '../protocol/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

/** The schema keyword that names the error code a failing schema node stands for. */
export const CODE_KEYWORD = 'x-cbdc-code';

/** Ajv options for every server: no coercion ("100" stays a string), no silent stripping. */
export const AJV_OPTIONS: FastifyServerOptions['ajv'] = {
  customOptions: {
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    verbose: true,
    keywords: [CODE_KEYWORD],
  },
};

export function sendError(reply: FastifyReply, e: CbdcError, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(e.statusCode).send({ code: e.code, message: e.message, ...extra });
}

interface AjvErrorLike {
  instancePath?: string;
  message?: string;
  parentSchema?: Record<string, unknown>;
}

/** Maps a schema failure to the code its schema node declares (or CBDC_ERR_SCHEMA). */
function schemaFailureToCbdc(errors: readonly AjvErrorLike[], context: string): CbdcError {
  // Ajv stops at the first failure, except that a failing anyOf (e.g. the tx kind union)
  // first lists each branch's failure and then its own: prefer the last error that
  // declares a code, so the union's code is not hidden behind a branch's plain `const`.
  const first = [...errors].reverse().find((e) => typeof e.parentSchema?.[CODE_KEYWORD] === 'string') ?? errors[0] ?? {};
  const declared = first.parentSchema?.[CODE_KEYWORD];
  const code: ErrorCode = typeof declared === 'string' && declared in ERRORS ? (declared as ErrorCode) : 'CBDC_ERR_SCHEMA';
  return new CbdcError(code, `${context}${first.instancePath ?? ''} ${first.message ?? 'is invalid'}`);
}

function validationToCbdc(err: FastifyError): CbdcError {
  return schemaFailureToCbdc((err.validation ?? []) as AjvErrorLike[], err.validationContext ?? 'body');
}

/** A JSON body as every route reads it (secure-json-parse); refused with CBDC_ERR_SCHEMA. An empty body is undefined. */
export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return sjson.parse(raw.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new CbdcError('CBDC_ERR_SCHEMA', 'the body is not valid JSON');
  }
}

/**
 * A body schema's check outside a route (a worker thread reading a body the route handed over
 * as bytes): the validator fastify would compile for the route, with the same Ajv options, and
 * the same refusal, thrown as a CbdcError.
 */
export function compileBodyValidator(schema: object): (value: unknown) => void {
  const compile = AjvCompiler()({}, { customOptions: AJV_OPTIONS!.customOptions! });
  const validate = compile({ schema, method: 'POST', url: '', httpPart: 'body' }) as ((v: unknown) => boolean) & { errors?: AjvErrorLike[] | null };
  return (value) => {
    if (!validate(value)) throw schemaFailureToCbdc(validate.errors ?? [], 'body');
  };
}

/**
 * In this plugin context, bodies of `mediaTypes` reach the route as their bytes (also in
 * rawBody), for a route that parses them elsewhere (compileBodyValidator, or a binary form);
 * the route keeps its schema for the docs and turns off fastify's validation of it.
 */
export function bodiesAsBytes(app: FastifyInstance, bodyLimitBytes: number, mediaTypes: readonly string[] = ['application/json']): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...mediaTypes], { parseAs: 'buffer', bodyLimit: bodyLimitBytes }, (req, body, done) => {
    (req as FastifyRequest).rawBody = body as Buffer;
    done(null, body);
  });
}

/**
 * For Fastify's `frameworkErrors` option: errors the router raises before any hook or error
 * handler runs (a malformed percent-encoding, a path parameter over maxParamLength) would
 * otherwise answer in Fastify's own shape; they get the one error shape too.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, new CbdcError('CBDC_ERR_SCHEMA', err.message));
}

export const httpErrors = fp(async (app: FastifyInstance, opts: { bodyLimitBytes: number }) => {
  // JSON only: fastify's default text/plain parser would hand a body to the route without
  // rawBody, so the request signature would be checked against an empty body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: opts.bodyLimitBytes }, (req, body, done) => {
    const raw = body as Buffer;
    (req as FastifyRequest).rawBody = raw;
    let value: unknown;
    try {
      value = parseJsonBody(raw);
    } catch (e) {
      return done(e as FastifyError, undefined);
    }
    done(null, value);
  });

  app.setErrorHandler((err: FastifyError | CbdcError, req, reply) => {
    if (isCbdcError(err)) return sendError(reply, err);
    if (err.validation) return sendError(reply, validationToCbdc(err));
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, new CbdcError('CBDC_ERR_BODY_TOO_LARGE'));
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return sendError(reply, new CbdcError('CBDC_ERR_SCHEMA', err.message));
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, new CbdcError('CBDC_ERR_SCHEMA', err.message));
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ code: 'CBDC_ERR_INTERNAL', message: 'internal error' });
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, new CbdcError('CBDC_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
});
