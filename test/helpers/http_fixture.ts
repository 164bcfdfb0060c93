// Shared helpers for tests that talk to a real central node over HTTP: deterministic keys,
// signed requests (libsecp256k1 signing, so tests can send thousands), raw requests with
// hand-made headers and bodies, transaction builders, and an in-process central node on a
// fresh temp data dir and a real port.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { ERRORS, type ErrorCode } from '../../protocol/errors.js';
import { sha256 } from '../../protocol/hash.js';
import type { Lock } from '../../protocol/lock.js';
import {
  HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNER, HEADER_TIME, NONCE_BYTES, requestMessage,
} from '../../protocol/request_auth.js';
import { isValidSecretKey, publicKeyOfNative, signHashNative } from '../../protocol/sig.js';
import { type OutPoint, type Tx, type TxJson, operatorMessage, txId, txToJson } from '../../protocol/tx.js';
import { keyLock, makeTx } from '../../protocol/tx_builder.js';
import { startCentral, type CentralConfig, type CentralNode } from '../../central/node.js';
import { freshDatabaseUrl, storeUnderTest } from './store_under_test.js';

export interface KeyPair {
  readonly sk: Buffer;
  readonly pk: Buffer;
}

const keys = new Map<string, KeyPair>();

/** A deterministic key pair per label. */
export function keyPair(label: string): KeyPair {
  let kp = keys.get(label);
  if (kp === undefined) {
    const sk = sha256(Buffer.from(`cbdc-http-test/${label}`, 'utf8'));
    if (!isValidSecretKey(sk)) throw new Error(`label ${label} gives an invalid key`);
    kp = { sk, pk: publicKeyOfNative(sk) };
    keys.set(label, kp);
  }
  return kp;
}

// ---------------------------------------------------------------------------------------
// Signed requests

export interface HeaderOptions {
  timeMs?: number;
  nonce?: Buffer;
  network?: string;
  /** Sign with this key instead of the signer's own (a wrong signature). */
  signWith?: Buffer;
}

/** The four authentication headers for one request (protocol/request_auth.ts), signed natively. */
export function signedHeaders(
  network: string, signer: string, sk: Buffer, method: string, pathWithQuery: string, body: Buffer, o: HeaderOptions = {},
): Record<string, string> {
  const timeMs = o.timeMs ?? Date.now();
  const nonce = o.nonce ?? randomBytes(NONCE_BYTES);
  const msg = requestMessage({ network: o.network ?? network, method, path: pathWithQuery, body, timeMs, nonce, signer });
  return {
    [HEADER_SIGNER]: signer,
    [HEADER_TIME]: String(timeMs),
    [HEADER_NONCE]: nonce.toString('hex'),
    [HEADER_SIGNATURE]: signHashNative(o.signWith ?? sk, msg).toString('hex'),
  };
}

export interface HttpResponse<T = any> {
  status: number;
  body: T;
  text: string;
}

/** Sends exactly these bytes with exactly these headers. */
export async function rawRequest<T = any>(
  baseUrl: string, method: string, pathWithQuery: string,
  o: { headers?: Record<string, string>; body?: Buffer | string; contentType?: string | null; timeoutMs?: number } = {},
): Promise<HttpResponse<T>> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.body !== undefined && o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
  const res = await fetch(baseUrl + pathWithQuery, {
    method, headers, body: o.body, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
  });
  const text = await res.text();
  let body: unknown = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: res.status, body: body as T, text };
}

/** A signing client (operator or intermediary) that can also misbehave on purpose. */
export class Client {
  constructor(readonly baseUrl: string, readonly network: string, readonly signer: string, readonly sk: Buffer, readonly timeoutMs = 30_000) {}

  headersFor(method: string, pathWithQuery: string, body: Buffer = Buffer.alloc(0), o: HeaderOptions = {}): Record<string, string> {
    return signedHeaders(this.network, this.signer, this.sk, method, pathWithQuery, body, o);
  }

  /** Sends `body` (a JSON value, or raw bytes/text) signed for `signPath` (default: the path sent). */
  async request<T = any>(
    method: string, pathWithQuery: string, body?: unknown,
    o: HeaderOptions & { raw?: boolean; signPath?: string; signBody?: Buffer; signMethod?: string; contentType?: string } = {},
  ): Promise<HttpResponse<T>> {
    const bytes = body === undefined ? Buffer.alloc(0)
      : o.raw ? Buffer.from(body as Buffer | string)
      : Buffer.from(JSON.stringify(body), 'utf8');
    const headers = this.headersFor(o.signMethod ?? method, o.signPath ?? pathWithQuery, o.signBody ?? bytes, o);
    return rawRequest<T>(this.baseUrl, method, pathWithQuery, {
      headers, timeoutMs: this.timeoutMs, ...(body === undefined ? {} : { body: bytes }), ...(o.contentType === undefined ? {} : { contentType: o.contentType }),
    });
  }

  get<T = any>(p: string): Promise<HttpResponse<T>> {
    return this.request<T>('GET', p);
  }

  post<T = any>(p: string, json: unknown): Promise<HttpResponse<T>> {
    return this.request<T>('POST', p, json);
  }
}

// ---------------------------------------------------------------------------------------
// Error responses

/** Every error response checked by expectError, so a test can pin the registry over all of them. */
export const seenErrors: { status: number; body: unknown }[] = [];

/**
 * Asserts an error response: the status, the exact code, the status the registry gives that
 * code, and the exact body shape {code, message} (plus status and txid on a tx rejection).
 */
export function expectError(res: HttpResponse, status: number, code: ErrorCode): void {
  expect({ status: res.status, code: res.body?.code }, res.text).toEqual({ status, code });
  checkErrorShape(res.status, res.body);
  seenErrors.push({ status: res.status, body: res.body });
}

export function checkErrorShape(status: number, body: unknown): void {
  expect(typeof body === 'object' && body !== null, 'error body is an object').toBe(true);
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b).sort();
  const plain = ['code', 'message'];
  const txRejection = ['code', 'message', 'status', 'txid'];
  if (keys.length === 2) expect(keys).toEqual(plain);
  else {
    expect(keys).toEqual(txRejection);
    expect(b.status).toBe('rejected');
    expect(b.txid === null || (typeof b.txid === 'string' && /^[0-9a-f]{64}$/.test(b.txid))).toBe(true);
  }
  expect(typeof b.code).toBe('string');
  expect(typeof b.message).toBe('string');
  expect((b.message as string).length).toBeGreaterThan(0);
  expect(Object.hasOwn(ERRORS, b.code as string), `${String(b.code)} is in the registry`).toBe(true);
  expect(status).toBe(ERRORS[b.code as ErrorCode][0]);
}

// ---------------------------------------------------------------------------------------
// Transactions

/** An output the ledger holds, with the key that can spend it. */
export interface Coin extends OutPoint {
  readonly value: bigint;
  readonly owner: KeyPair;
}

export function signTxNative(tx: Tx, owners: readonly KeyPair[]): Tx {
  const id = txId(tx);
  return { ...tx, sigs: owners.map((o) => ({ key: o.pk, sig: signHashNative(o.sk, id) })) };
}

export function operatorSignNative(tx: Tx, operator: KeyPair): Tx {
  return { ...tx, operatorSig: signHashNative(operator.sk, operatorMessage(txId(tx))) };
}

export function issueTx(network: string, operator: KeyPair, intermediary: string, serial: bigint, outputs: { value: bigint; owner: KeyPair }[]): Tx {
  return operatorSignNative(makeTx({
    kind: 'issue', network, intermediary, serial, inputs: [],
    outputs: outputs.map((o) => ({ value: o.value, lock: keyLock(o.owner.pk) as Lock })),
  }), operator);
}

export function transferTx(network: string, inputs: readonly Coin[], outputs: { value: bigint; owner: KeyPair }[]): Tx {
  const tx = makeTx({
    network, inputs: inputs.map((c) => ({ pos: c.pos, id: c.id })),
    outputs: outputs.map((o) => ({ value: o.value, lock: keyLock(o.owner.pk) })),
  });
  const owners: KeyPair[] = [];
  for (const c of inputs) if (!owners.some((k) => k.pk.equals(c.owner.pk))) owners.push(c.owner);
  return signTxNative(tx, owners);
}

export interface SettledJson {
  status: 'settled';
  txid: string;
  batch: string;
  outputs: { pos: string; id: string }[];
  durable: boolean;
}

/** The coins a settled result created. */
export function coinsFrom(result: SettledJson, outputs: { value: bigint; owner: KeyPair }[]): Coin[] {
  return result.outputs.map((o, i) => ({ pos: BigInt(o.pos), id: Buffer.from(o.id, 'hex'), value: outputs[i]!.value, owner: outputs[i]!.owner }));
}

export function json(tx: Tx): TxJson {
  return txToJson(tx);
}

// ---------------------------------------------------------------------------------------
// An in-process central node on a real port

export interface InProcessCentral {
  node: CentralNode;
  dir: string;
  network: string;
  operator: KeyPair;
  op: Client;
  url: string;
  /** Closes the node (keeps the data dir). */
  stop(): Promise<void>;
  /** Starts the node again on the same data dir (a new port), with `patch` over its configuration. */
  restart(patch?: Partial<CentralConfig>): Promise<void>;
  /** Closes the node and removes its data dir. */
  dispose(): Promise<void>;
}

export async function startInProcess(o: Partial<Omit<CentralConfig, 'operatorPublicKey' | 'dataDir'>> & { dir?: string } = {}): Promise<InProcessCentral> {
  const dir = o.dir ?? await mkdtemp(path.join(tmpdir(), 'cbdc-central-'));
  const network = o.network ?? 'cbdc-httptest';
  const operator = keyPair('operator');
  const store = o.store ?? (storeUnderTest() === 'postgres' ? await freshDatabaseUrl() : undefined);
  const config: CentralConfig = {
    host: '127.0.0.1', port: 0, dataDir: dir, network, operatorPublicKey: operator.pk, ...(store !== undefined ? { store } : {}),
    durability: o.durability ?? 'sync', verification: o.verification ?? 'full', verifyBackend: o.verifyBackend ?? 'native',
    verifyThreads: o.verifyThreads ?? 1,
    ...(o.batchTxMax !== undefined ? { batchTxMax: o.batchTxMax } : {}),
    ...(o.limits ? { limits: o.limits } : {}), ...(o.mapSizeBytes ? { mapSizeBytes: o.mapSizeBytes } : {}), ...(o.tls ? { tls: o.tls } : {}),
    ...(o.operatorSecretKey ? { operatorSecretKey: o.operatorSecretKey } : {}),
  };
  let node: CentralNode | null = await startCentral(config);
  const c: InProcessCentral = {
    get node() {
      if (node === null) throw new Error('central is stopped');
      return node;
    },
    dir, network, operator,
    get url() {
      return c.node.url;
    },
    get op() {
      return new Client(c.node.url, network, 'operator', operator.sk);
    },
    async stop() {
      if (node !== null) {
        const n = node;
        node = null;
        await n.close();
      }
    },
    async restart(patch: Partial<CentralConfig> = {}) {
      await c.stop();
      Object.assign(config, patch);
      node = await startCentral(config);
    },
    async dispose() {
      await c.stop();
      await rm(dir, { recursive: true, force: true });
    },
  } as InProcessCentral;
  return c;
}

/** Registers an intermediary through the API (operator-signed); returns its client. */
export async function registerBank(
  central: { url: string; network: string; op: Client }, id: string, key: KeyPair, quotaFen = 10n ** 15n, reserveFen = 10n ** 15n,
): Promise<Client> {
  const r = await central.op.post('/v1/intermediaries', {
    id, public_key: key.pk.toString('hex'), quota_fen: quotaFen.toString(), reserve_fen: reserveFen.toString(),
  });
  if (r.status !== 201) throw new Error(`register ${id}: ${r.status} ${r.text}`);
  return new Client(central.url, central.network, id, key.sk);
}
