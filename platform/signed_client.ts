// A small HTTP client whose every request is signed (protocol/request_auth.ts).
import { signRequestHeaders } from '../protocol/request_auth.js';

export interface SignedResponse<T = unknown> {
  status: number;
  body: T;
}

export class SignedClient {
  constructor(
    readonly baseUrl: string,
    private readonly network: string,
    private readonly signer: string,
    private readonly secretKey: Uint8Array,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Headers for a request, for callers that send it themselves (for example a ws upgrade). */
  headersFor(method: string, pathWithQuery: string, body: Buffer = Buffer.alloc(0)): Record<string, string> {
    return signRequestHeaders(this.secretKey, { network: this.network, method, path: pathWithQuery, body, signer: this.signer });
  }

  async request<T = unknown>(method: string, pathWithQuery: string, json?: unknown): Promise<SignedResponse<T>> {
    const body = json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(json), 'utf8');
    const headers: Record<string, string> = this.headersFor(method, pathWithQuery, body);
    if (json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.baseUrl + pathWithQuery, {
      method, headers, body: json === undefined ? undefined : body, signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, body: (text.length > 0 ? JSON.parse(text) : null) as T };
  }

  get<T = unknown>(p: string): Promise<SignedResponse<T>> {
    return this.request<T>('GET', p);
  }

  post<T = unknown>(p: string, json: unknown): Promise<SignedResponse<T>> {
    return this.request<T>('POST', p, json);
  }
}
