// One place for the limits every server tier applies to its clients, and for TLS between the
// tiers. A node builds its fastify instance with serverOptions(...) and registers
// serverLimits(...) once, so body sizes, header sizes, timeouts, requests per socket,
// connections, websocket payloads and per-client request rates are configured the same way on
// central and on every bank, and every refusal is a coded error from the one registry.
//
// Rate limits (@fastify/rate-limit) run after authentication (preHandler), keyed by the
// authenticated signer (or the client address on routes anyone may call): a client cannot spend
// another's budget by naming it, and roles that carry the system's own load (intermediaries at
// central, staff and peer banks at a bank) may be exempted. Requests that fail authentication
// never reach that hook, so they are counted per client address separately and refused before
// any signature is checked once a client sends too many.
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { CbdcError } from '../protocol/errors.js';

export interface ServerLimits {
  /** Bytes of one request body. */
  bodyBytesMax: number;
  /** Characters of one path parameter. */
  paramLengthMax: number;
  /** Bytes of all request headers together (node's --max-http-header-size, per server). */
  headerBytesMax: number;
  /** A client must finish sending the request headers within this. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** An idle socket is closed after this. */
  connectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Requests served on one keep-alive socket before it is closed. */
  requestsPerSocketMax: number;
  /** Open TCP connections at once; the kernel's backlog holds the rest, then refuses. */
  connectionsMax: number;
  /** Open websocket connections at once; past it an upgrade is refused with CBDC_ERR_OVERLOADED. */
  wsConnectionsMax: number;
  /** Bytes of one websocket message from a client. */
  wsPayloadBytesMax: number;
  /** Requests per client per window (0: no limit). */
  rateMax: number;
  rateWindowMs: number;
  /** Requests that fail authentication, per client address per window, before all its requests are refused. */
  authFailuresMax: number;
}

export const SERVER_LIMITS_DEFAULT: ServerLimits = {
  bodyBytesMax: 256 * 1024,
  paramLengthMax: 128,
  headerBytesMax: 16 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  requestsPerSocketMax: 100_000,
  // File descriptors are capped at 20,000 per process here: leave room for LMDB, workers and logs.
  connectionsMax: 16_000,
  wsConnectionsMax: 10_000,
  wsPayloadBytesMax: 16 * 1024,
  rateMax: 6_000,
  rateWindowMs: 60_000,
  authFailuresMax: 600,
};

/** Clients whose failed-authentication counts are remembered at once (oldest forgotten first). */
const AUTH_FAILURE_CLIENTS_MAX = 100_000;
/** Clients whose request rates are remembered at once (the rate limiter's LRU). */
const RATE_CLIENTS_MAX = 100_000;
/** How long a websocket peer has to answer the close frame at shutdown before its socket is cut. */
const UPGRADED_CLOSE_GRACE_MS = 2_000;

export interface TlsConfig {
  certFile: string;
  keyFile: string;
}

/** The TLS files a node's --tls-cert and --tls-key options name (both or neither). */
export function tlsFromCli(o: { tlsCert?: string; tlsKey?: string }): TlsConfig | undefined {
  if (!o.tlsCert && !o.tlsKey) return undefined;
  if (!o.tlsCert || !o.tlsKey) throw new Error('--tls-cert and --tls-key go together');
  return { certFile: o.tlsCert, keyFile: o.tlsKey };
}

/** Reads a PEM file named by a --tls-ca option (a CA the client trusts for the other tier). */
export function readCa(file: string | undefined): Buffer | undefined {
  return file === undefined || file === '' ? undefined : readFileSync(file);
}

/** Fastify constructor options for these limits (and HTTPS when `tls` is given). */
export function serverOptions(l: ServerLimits, tls?: TlsConfig): FastifyServerOptions & { https?: { key: Buffer; cert: Buffer } | null } {
  const common = {
    clientErrorHandler,
    bodyLimit: l.bodyBytesMax,
    connectionTimeout: l.connectionTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    maxRequestsPerSocket: l.requestsPerSocketMax,
    routerOptions: { maxParamLength: l.paramLengthMax },
  };
  if (tls !== undefined) {
    return { ...common, https: { key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), ...httpOptions(l) } as { key: Buffer; cert: Buffer } };
  }
  return { ...common, http: httpOptions(l) } as FastifyServerOptions;
}

function httpOptions(l: ServerLimits): { maxHeaderSize: number; connectionsCheckingInterval: number } {
  // Node checks header and request timeouts on this interval (30 s by default): a fraction of
  // the shortest timeout keeps the limit close to what it says.
  return { maxHeaderSize: l.headerBytesMax, connectionsCheckingInterval: Math.max(100, Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 4) };
}

/**
 * Errors node's HTTP parser raises before any request exists (headers too large, a client too
 * slow, bytes that are not HTTP) still get the one error shape, then the connection closes.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  const e = err.code === 'HPE_HEADER_OVERFLOW' ? new CbdcError('CBDC_ERR_HEADERS_TOO_LARGE')
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? new CbdcError('CBDC_ERR_REQUEST_TIMEOUT')
      : new CbdcError('CBDC_ERR_SCHEMA', 'the request is not well-formed HTTP');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(e.toJSON());
  socket.end(`HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export interface ServerLimitsPluginOptions {
  limits: ServerLimits;
  /** Signer roles the per-client rate limit does not apply to. */
  exemptRoles: readonly string[];
}

/** Limits that need the running server: socket timeouts, connection caps, rate limits. Register before the routes. */
export const serverLimits = fp(async (app: FastifyInstance, o: ServerLimitsPluginOptions) => {
  const l = o.limits;
  app.server.headersTimeout = l.headersTimeoutMs;
  app.server.maxConnections = l.connectionsMax;

  // Failed authentication per client address, in fixed windows.
  const failures = new Map<string, { count: number; windowStartMs: number }>();
  const failuresOf = (ip: string, now: number): { count: number; windowStartMs: number } => {
    let f = failures.get(ip);
    if (f === undefined || now - f.windowStartMs >= l.rateWindowMs) {
      failures.delete(ip);
      if (failures.size >= AUTH_FAILURE_CLIENTS_MAX) failures.delete(failures.keys().next().value!);
      f = { count: 0, windowStartMs: now };
      failures.set(ip, f);
    }
    return f;
  };

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const f = failures.get(req.ip);
    if (l.authFailuresMax > 0 && f !== undefined && f.count >= l.authFailuresMax && Date.now() - f.windowStartMs < l.rateWindowMs) {
      throw new CbdcError('CBDC_ERR_RATE_LIMITED', 'too many requests from this client failed authentication; wait and retry');
    }
    if (req.headers.upgrade !== undefined && app.websocketServer !== undefined && app.websocketServer.clients.size >= l.wsConnectionsMax) {
      throw new CbdcError('CBDC_ERR_OVERLOADED', 'too many websocket connections; retry later');
    }
  });
  // A route without a body schema takes no body: whatever is sent is refused, not ignored.
  app.addHook('preValidation', async (req: FastifyRequest) => {
    if (!req.is404 && req.rawBody !== undefined && req.rawBody.length > 0 && req.routeOptions.schema?.body === undefined) {
      throw new CbdcError('CBDC_ERR_SCHEMA', 'this route takes no body');
    }
  });
  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    if (reply.statusCode === 401 && l.authFailuresMax > 0) failuresOf(req.ip, Date.now()).count++;
    // An upgrade request answered over HTTP (refused: 401, 429, 503...) leaves a socket node's
    // HTTP server no longer tracks: neither keep-alive nor close() would ever end it, so a
    // client that keeps it open would hold a descriptor and stall shutdown. End it here.
    if (req.headers.upgrade !== undefined) req.raw.socket.destroy();
  });

  // Upgraded sockets are outside node's connection tracking too: at shutdown the websocket
  // plugin sends each a close frame, and a peer that never answers would hold close() open
  // (the ws close timeout is 30 s per socket). Give the handshake a short grace, then cut.
  const upgraded = new Set<Duplex>();
  app.server.on('upgrade', (_req: unknown, socket: Duplex) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
  });
  app.addHook('preClose', async () => {
    if (upgraded.size === 0) return;
    setTimeout(() => { for (const s of upgraded) s.destroy(); }, UPGRADED_CLOSE_GRACE_MS).unref();
  });

  if (l.rateMax > 0) {
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: l.rateMax,
      timeWindow: l.rateWindowMs,
      cache: RATE_CLIENTS_MAX,
      keyGenerator: (req) => (req.signer !== undefined ? `signer:${req.signer.id}` : `ip:${req.ip}`),
      allowList: (req) => req.signer !== undefined && o.exemptRoles.includes(req.signer.role),
      errorResponseBuilder: (_req, ctx) => new CbdcError('CBDC_ERR_RATE_LIMITED', `more than ${ctx.max} requests in ${ctx.after}; retry later`),
    });
  }
});

/** A whole number from a command-line option (at most nine digits), or an error naming the option. */
export function wholeNumberFromCli(v: string, name: string): number {
  if (!/^[0-9]{1,9}$/.test(v)) throw new Error(`${name} must be a whole number, got "${v}"`);
  return Number(v);
}

/** Parses the limit options a node's command line takes (strings from commander) over the defaults. */
export function limitsFromCli(o: { rateLimit?: string; rateWindowMs?: string; wsMax?: string; connectionsMax?: string }, base: ServerLimits = SERVER_LIMITS_DEFAULT): ServerLimits {
  const n = (v: string | undefined, name: string, dflt: number): number => (v === undefined ? dflt : wholeNumberFromCli(v, name));
  return {
    ...base,
    rateMax: n(o.rateLimit, '--rate-limit', base.rateMax),
    rateWindowMs: n(o.rateWindowMs, '--rate-window-ms', base.rateWindowMs),
    wsConnectionsMax: n(o.wsMax, '--ws-max', base.wsConnectionsMax),
    connectionsMax: n(o.connectionsMax, '--connections-max', base.connectionsMax),
  };
}
