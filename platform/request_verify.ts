// Checks signed requests (see protocol/request_auth.ts): a known signer, a signature over
// exactly this request, a time inside the window and not before this process started
// (the nonce memory does not survive a restart, so nothing signed before it is accepted),
// and a nonce never seen before within the window.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CbdcError } from '../protocol/errors.js';
import { REQUEST_SKEW_MS_MAX } from '../protocol/limits.js';
import {
  HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNER, HEADER_TIME, NONCE_BYTES, requestMessage,
} from '../protocol/request_auth.js';
import type { SignatureVerifier } from '../protocol/sig.js';

/** Nonces remembered at once; past this, signed requests are refused until old ones expire. */
export const NONCES_MAX = 1_000_000;

export interface Signer {
  id: string;
  publicKey: Buffer;
  role: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    signer?: Signer;
  }
}

export class RequestVerifier {
  private readonly nonces = new Map<string, number>();
  private readonly startedAtMs: number;
  private lastPruneMs = 0;

  constructor(
    private readonly network: string,
    private readonly lookup: (signerId: string) => Signer | undefined,
    private readonly verifier: SignatureVerifier,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAtMs = now();
  }

  /** Returns the authenticated signer or throws a coded error. Records the nonce on success. */
  check(method: string, url: string, headers: Record<string, string | string[] | undefined>, body: Buffer | undefined): Signer {
    const h = (name: string): string | undefined => {
      const v = headers[name];
      return Array.isArray(v) ? undefined : v;
    };
    const signerId = h(HEADER_SIGNER);
    const timeText = h(HEADER_TIME);
    const nonceHex = h(HEADER_NONCE);
    const sigHex = h(HEADER_SIGNATURE);
    if (!signerId || !timeText || !nonceHex || !sigHex) throw new CbdcError('CBDC_ERR_UNAUTHENTICATED', 'the request is not signed');
    const signer = this.lookup(signerId);
    if (signer === undefined) throw new CbdcError('CBDC_ERR_UNAUTHENTICATED', `unknown signer "${signerId.slice(0, 40)}"`);
    if (!/^[0-9]{1,15}$/.test(timeText)) throw new CbdcError('CBDC_ERR_REQUEST_STALE', 'bad request time');
    const timeMs = Number(timeText);
    const now = this.now();
    if (Math.abs(now - timeMs) > REQUEST_SKEW_MS_MAX || timeMs < this.startedAtMs) {
      throw new CbdcError('CBDC_ERR_REQUEST_STALE', 'the request time is outside the allowed window');
    }
    if (!/^[0-9a-f]+$/.test(nonceHex) || nonceHex.length !== NONCE_BYTES * 2 || !/^[0-9a-f]{128}$/.test(sigHex)) {
      throw new CbdcError('CBDC_ERR_REQUEST_SIGNATURE', 'malformed nonce or signature header');
    }
    const msg = requestMessage({
      network: this.network, method, path: url, body: body ?? Buffer.alloc(0), timeMs,
      nonce: Buffer.from(nonceHex, 'hex'), signer: signerId,
    });
    if (!this.verifier.verify(Buffer.from(sigHex, 'hex'), msg, signer.publicKey)) {
      throw new CbdcError('CBDC_ERR_REQUEST_SIGNATURE');
    }
    const nonceKey = `${signerId}/${nonceHex}`;
    if (this.nonces.has(nonceKey)) throw new CbdcError('CBDC_ERR_REQUEST_REPLAY');
    this.prune(now);
    if (this.nonces.size >= NONCES_MAX) throw new CbdcError('CBDC_ERR_OVERLOADED', 'too many recent requests');
    this.nonces.set(nonceKey, timeMs);
    return signer;
  }

  private prune(now: number): void {
    if (now - this.lastPruneMs < 1_000 && this.nonces.size < NONCES_MAX) return;
    this.lastPruneMs = now;
    const oldest = now - REQUEST_SKEW_MS_MAX;
    for (const [k, t] of this.nonces) if (t < oldest) this.nonces.delete(k);
  }

  /** A fastify hook (run before schema validation) that authenticates, then checks the signer's role. */
  hook(roles: readonly string[]) {
    return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
      const signer = this.check(req.method, req.url, req.headers, req.rawBody);
      if (!roles.includes(signer.role)) throw new CbdcError('CBDC_ERR_FORBIDDEN', `a ${signer.role} may not do this`);
      req.signer = signer;
    };
  }
}
