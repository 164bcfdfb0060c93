// A small HTTP client whose every request is signed (protocol/request_auth.ts). Over HTTPS with
// a private CA (TLS between the tiers), `ca` names the certificates this client trusts.
import http from 'node:http';
import https from 'node:https';
import { signRequestHeaders } from '../protocol/request_auth.js';

export interface SignedResponse<T = unknown> {
  status: number;
  body: T;
}

/** Bytes of one response body this client reads at most. */
const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

export class SignedClient {
  constructor(
    readonly baseUrl: string,
    private readonly network: string,
    private readonly signer: string,
    private readonly secretKey: Uint8Array,
    private readonly timeoutMs = 30_000,
    /** PEM certificates to trust for an https URL (instead of the system's). */
    readonly ca?: Buffer,
  ) {}

  /** Headers for a request, for callers that send it themselves (for example a ws upgrade). */
  headersFor(method: string, pathWithQuery: string, body: Buffer = Buffer.alloc(0)): Record<string, string> {
    return signRequestHeaders(this.secretKey, { network: this.network, method, path: pathWithQuery, body, signer: this.signer });
  }

  async request<T = unknown>(method: string, pathWithQuery: string, json?: unknown): Promise<SignedResponse<T>> {
    return this.send<T>(method, pathWithQuery, json === undefined ? null : Buffer.from(JSON.stringify(json), 'utf8'), 'application/json');
  }

  /** POSTs `body` as it is, with its content type (a batch in its binary form, for one). */
  postBytes<T = unknown>(pathWithQuery: string, body: Buffer, contentType: string): Promise<SignedResponse<T>> {
    return this.send<T>('POST', pathWithQuery, body, contentType);
  }

  /** A request whose body authenticates itself (a one-request payment: the wallet's signature over its transaction): no request signature. */
  requestUnsigned<T = unknown>(method: string, pathWithQuery: string, json: unknown): Promise<SignedResponse<T>> {
    return this.send<T>(method, pathWithQuery, Buffer.from(JSON.stringify(json), 'utf8'), 'application/json', false);
  }

  private async send<T>(method: string, pathWithQuery: string, body: Buffer | null, contentType: string, signed = true): Promise<SignedResponse<T>> {
    const headers: Record<string, string> = signed ? this.headersFor(method, pathWithQuery, body ?? Buffer.alloc(0)) : {};
    if (body !== null) headers['content-type'] = contentType;
    const r = await httpRequest(this.baseUrl + pathWithQuery, {
      method, headers, body, timeoutMs: this.timeoutMs,
      ...(this.ca !== undefined && this.baseUrl.startsWith('https:') ? { ca: this.ca } : {}),
    });
    return { status: r.status, body: (r.text.length > 0 ? JSON.parse(r.text) : null) as T };
  }

  get<T = unknown>(p: string): Promise<SignedResponse<T>> {
    return this.request<T>('GET', p);
  }

  post<T = unknown>(p: string, json: unknown): Promise<SignedResponse<T>> {
    return this.request<T>('POST', p, json);
  }
}

/**
 * One HTTP(S) request over node's keep-alive agents (`ca`: the certificates an https URL is
 * trusted by, instead of the system's). Errors (refused, reset, timed out) reject. Node's own
 * client costs a fraction of fetch's CPU per request, and a bank sends one per batch to
 * central and one per quote to another bank.
 */
export function httpRequest(
  url: string,
  o: { method: string; headers: Record<string, string>; body: Buffer | null; ca?: Buffer; timeoutMs: number },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = o.body === null ? o.headers : { ...o.headers, 'content-length': String(o.body.length) };
    const options = { method: o.method, headers, timeout: o.timeoutMs, ...(o.ca !== undefined ? { ca: o.ca } : {}) };
    const req = (url.startsWith('https:') ? https.request : http.request)(url, options, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > RESPONSE_BYTES_MAX) req.destroy(new Error('response too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(o.body ?? undefined);
  });
}
