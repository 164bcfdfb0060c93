// A typed client for a bank node's wallet API (intermediary/api.ts). Every request is signed
// (platform/signed_client.ts): by "key:<public key hex>" to open an account, by the account id
// afterwards. Transport failures are retried with backoff; each attempt is signed afresh (new
// time and nonce) but carries the SAME body, so a payment or an exchange retried after a lost
// answer reuses its idempotency key and happens once.
//
// What is retried:
//   - a request that never reached the bank (connection refused, name not resolved): always;
//   - a request that may have reached it (connection reset, timeout): only when repeating it
//     is harmless (reads, and writes the bank deduplicates: payments and exchanges by their
//     idempotency key, signatures by payment id, KYC changes and aliases by their content);
//   - a 503 answer (overloaded, central unreachable, shutting down) to a request the bank
//     deduplicates durably (not an exchange to the wallet: see RequestOptions.retryOn503).
import { CbdcError } from '../protocol/errors.js';
import { SignedClient, httpRequest } from '../platform/signed_client.js';
import type { LockJson } from '../protocol/lock.js';
import type { TxJson } from '../protocol/tx.js';
import type { FxLineJson } from '../protocol/fx_line.js';
import type { Payee } from './payment_request.js';

export interface Limits {
  balance_cap_fen: string | null;
  single_payment_fen: string | null;
  daily_fen: string | null;
  annual_fen: string | null;
}

export interface AccountJson {
  id: string;
  kind: 'personal' | 'merchant';
  mcc: string | null;
  tier: number;
  status: 'active' | 'frozen' | 'closed';
  wallet_key: string;
  aliases: string[];
  balance_fen: string;
  deposit_fen: string;
  limits: Limits;
  used_today_fen: string;
  used_this_year_fen: string;
  lock: LockJson;
  /** Tier 5 only. */
  visitor?: { valid_until_ms: number; expired: boolean };
  /** ISO 3166-2:CN subdivision code given at opening, or "unknown". */
  region?: string;
}

export interface PaymentJson {
  id: string;
  status: 'awaiting_signature' | 'submitted' | 'settled' | 'rejected' | 'expired';
  amount_fen: string;
  txid: string;
  tx: TxJson;
  idempotency_key: string;
  payee: { bank: string; account: string | null; alias: string | null; kind: 'customer' | 'deposit' };
  wallet_fen: string;
  excess_fen: string;
  change_fen: string;
  expires_at_ms: number;
  result: { status?: string; code?: string; message?: string; txid?: string } | null;
}

export interface HistoryEntry {
  seq: number;
  at_ms: number;
  direction: 'in' | 'out';
  kind: 'payment' | 'exchange' | 'sweep';
  amount_fen: string;
  counterparty: string;
  txid: string;
  balance_after_fen: string;
  deposit_after_fen: string;
  payment_id: string | null;
}

export interface ExchangeToWalletJson {
  status: string;
  txid: string;
  amount_fen: string;
  balance_fen: string;
  deposit_fen: string;
}

export interface Evidence {
  phone?: string;
  name?: string;
  id_number?: string;
  linked_account?: string;
  /** Tier 5 (visitor) only: the bank hashes them and keeps nothing raw. */
  passport_number?: string;
  nationality?: string;
}

/** GET /v1/visitors/fx */
export interface VisitorFxJson {
  fee_bps: number;
  currencies: { currency: string; exponent: number; rate: string; rate_fen: string; rate_minor: string }[];
  validity_min_ms: number;
  validity_max_ms: number;
  declining_test_cards: { number: string; answer: string }[];
}

export type { FxLineJson };

/** A visitor top-up's or conversion's answer. */
export interface VisitorFxAnswer {
  status: string;
  replayed: boolean;
  fx_line: FxLineJson;
  account: AccountJson;
}

export interface HealthJson {
  status: string;
  bank: string;
  network: string;
}

/** The bank (or central behind it) refused: it answered with a CBDC_ERR code. */
export class BankRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'BankRefusal';
  }
}

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  /** Delay before the first retry; doubled each time up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2_000 };

type Delivery = 'not-sent' | 'maybe-sent';

/** Tells a transport failure (and whether the request can have reached the bank) from anything else. */
export function classifyTransportError(e: unknown): { delivery: Delivery; reason: string } | null {
  if (!(e instanceof Error)) return null;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return { delivery: 'maybe-sent', reason: 'timed out' };
  if (e instanceof TypeError && e.message === 'fetch failed') {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? '';
    const reason = code || cause?.message || 'fetch failed';
    if (NOT_SENT_CODES.includes(code)) {
      return { delivery: 'not-sent', reason };
    }
    return { delivery: 'maybe-sent', reason };
  }
  // Node's own client (platform/signed_client.ts): system and TLS errors carry a string code.
  const code = (e as Error & { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NOT_SENT_CODES.includes(code)) return { delivery: 'not-sent', reason: code };
    // The handshake failed, so nothing was sent: the bank's certificate is not one this wallet trusts.
    if (TLS_CERT_CODES.includes(code) || code.startsWith('ERR_TLS_')) return { delivery: 'not-sent', reason: `${e.message} (${code}); a bank with a private CA needs --tls-ca` };
    if (/^E[A-Z]+$/.test(code) || code.startsWith('ERR_STREAM')) return { delivery: 'maybe-sent', reason: code };
  }
  return null;
}

/** Connection errors that mean the request never left. */
const NOT_SENT_CODES: readonly string[] = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT'];
/** OpenSSL's certificate verification failures as node names them. */
const TLS_CERT_CODES: readonly string[] = [
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE', 'HOSTNAME_MISMATCH',
];

export interface RequestOptions {
  /** Whether sending it twice is harmless (see the header). */
  idempotent: boolean;
  /**
   * Whether a 503 answer may be retried (default: when idempotent). Not for an exchange to the
   * wallet: the bank answers 503 while it is pending at central, and records its idempotency
   * key only once it settles, so a retry would start a second exchange.
   */
  retryOn503?: boolean;
  /** Sent without a request signature: its body authenticates itself (a one-request payment). */
  unsigned?: boolean;
}

export interface CoinsJson {
  coins: { pos: string; id: string; value: string; reserved: boolean }[];
  lock: LockJson;
}

export interface PayeeJson {
  bank: string;
  account: string;
  wallet_key: string;
  receive_key: string;
  bank_key: string;
}

export interface BankClientOptions {
  url: string;
  network: string;
  /** "key:<public key hex>" to open an account; the account id afterwards. */
  signer: string;
  secretKey: Uint8Array;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Told of each retry (the CLI prints nothing; tests count them). */
  onRetry?: (info: { attempt: number; method: string; path: string; reason: string }) => void;
  /** PEM CA certificates trusted for an https bank URL (instead of the system's). */
  ca?: Buffer;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function unreachable(url: string, reason: string, maybeSent: boolean): CbdcError {
  const e = new CbdcError('CBDC_ERR_BANK_UNREACHABLE', `cannot reach the bank at ${url} (${reason})${maybeSent ? '; the bank may or may not have received the request' : ''}`);
  return Object.assign(e, { maybeSent });
}

/** GET /v1/health: which bank and network a URL is (no signature needed). */
export async function bankHealth(url: string, o: { timeoutMs?: number; retry?: Partial<RetryPolicy>; ca?: Buffer } = {}): Promise<HealthJson> {
  const policy = { ...DEFAULT_RETRY, ...o.retry };
  const base = url.replace(/\/+$/, '');
  let last = 'no attempt';
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (attempt > 1) await sleep(Math.min(policy.baseDelayMs * 2 ** (attempt - 2), policy.maxDelayMs));
    try {
      const res = o.ca !== undefined && base.startsWith('https:')
        ? await httpRequest(`${base}/v1/health`, { method: 'GET', headers: {}, body: null, ca: o.ca, timeoutMs: o.timeoutMs ?? 10_000 })
        : await fetch(`${base}/v1/health`, { signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) }).then(async (r) => ({ status: r.status, text: await r.text() }));
      const text = res.text;
      let body: Partial<HealthJson>;
      try {
        body = JSON.parse(text) as Partial<HealthJson>;
      } catch {
        throw new CbdcError('CBDC_ERR_BANK_RESPONSE', `${base} did not answer like a bank node (no JSON at /v1/health)`);
      }
      if (res.status === 503) {
        last = 'the bank answered 503';
        continue;
      }
      if (res.status !== 200 || typeof body.bank !== 'string' || typeof body.network !== 'string') {
        throw new CbdcError('CBDC_ERR_BANK_RESPONSE', `${base} did not answer like a bank node (HTTP ${res.status} at /v1/health)`);
      }
      return body as HealthJson;
    } catch (e) {
      const t = classifyTransportError(e);
      if (t === null) throw e;
      last = t.reason;
    }
  }
  throw unreachable(base, last, false);
}

export class BankClient {
  readonly url: string;
  private readonly http: SignedClient;
  private readonly policy: RetryPolicy;

  constructor(private readonly o: BankClientOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.http = new SignedClient(this.url, o.network, o.signer, o.secretKey, o.timeoutMs ?? 30_000, o.ca);
    this.policy = { ...DEFAULT_RETRY, ...o.retry };
  }

  get signer(): string {
    return this.o.signer;
  }

  /** Signed headers for a request sent some other way (the notification websocket). */
  headersFor(method: string, pathWithQuery: string): Record<string, string> {
    return this.http.headersFor(method, pathWithQuery);
  }

  /** One API call with retries; a non-2xx answer is a BankRefusal carrying the bank's code. */
  async call<T>(method: 'GET' | 'POST', pathWithQuery: string, body: unknown, ro: RequestOptions): Promise<T> {
    let last: { reason: string; maybeSent: boolean } = { reason: 'no attempt', maybeSent: false };
    for (let attempt = 1; attempt <= this.policy.attempts; attempt++) {
      if (attempt > 1) {
        this.o.onRetry?.({ attempt, method, path: pathWithQuery, reason: last.reason });
        await sleep(Math.min(this.policy.baseDelayMs * 2 ** (attempt - 2), this.policy.maxDelayMs));
      }
      let res: { status: number; body: unknown };
      try {
        res = ro.unsigned === true ? await this.http.requestUnsigned(method, pathWithQuery, body) : await this.http.request(method, pathWithQuery, body);
      } catch (e) {
        const t = classifyTransportError(e);
        if (t === null) {
          if (e instanceof SyntaxError) throw new CbdcError('CBDC_ERR_BANK_RESPONSE', `the bank's answer to ${method} ${pathWithQuery.split('?')[0]} is not JSON`);
          throw e;
        }
        last = { reason: t.reason, maybeSent: last.maybeSent || t.delivery === 'maybe-sent' };
        if (t.delivery === 'maybe-sent' && !ro.idempotent) break;
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res.body as T;
      const b = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as Record<string, unknown>;
      const code = typeof b.code === 'string' ? b.code : `HTTP_${res.status}`;
      const message = typeof b.message === 'string' ? b.message : `HTTP ${res.status}`;
      if (res.status === 503 && (ro.retryOn503 ?? ro.idempotent) && attempt < this.policy.attempts) {
        last = { reason: `${code}: ${message}`, maybeSent: last.maybeSent };
        continue;
      }
      throw new BankRefusal(code, message, res.status, b);
    }
    throw unreachable(this.url, last.reason, last.maybeSent);
  }

  openAccount(body: { kind: 'personal' | 'merchant'; mcc?: string; tier: number; evidence: Evidence; valid_until_ms?: number; tax_id?: string; region?: string }): Promise<AccountJson> {
    // Not deduplicated by the bank: a second attempt after a lost answer would be refused
    // with CBDC_ERR_ACCOUNT_EXISTS, so only attempts that surely never arrived are repeated.
    return this.call<AccountJson>('POST', '/v1/accounts', body, { idempotent: false, retryOn503: false });
  }

  account(id: string): Promise<AccountJson> {
    return this.call<AccountJson>('GET', `/v1/accounts/${id}`, undefined, { idempotent: true });
  }

  changeTier(id: string, tier: number, evidence: Evidence): Promise<AccountJson> {
    return this.call<AccountJson>('POST', `/v1/accounts/${id}/kyc`, { tier, evidence }, { idempotent: true });
  }

  addAlias(id: string, alias: string): Promise<AccountJson> {
    return this.call<AccountJson>('POST', `/v1/accounts/${id}/aliases`, { alias }, { idempotent: true });
  }

  exchangeToWallet(id: string, amountFen: bigint, idempotencyKey: string): Promise<ExchangeToWalletJson> {
    return this.call<ExchangeToWalletJson>('POST', `/v1/accounts/${id}/exchange`, { direction: 'to_wallet', amount_fen: amountFen.toString(), idempotency_key: idempotencyKey }, { idempotent: true, retryOn503: false });
  }

  /** Wallet to deposit: a payment to the bank, returned for signing like any payment. */
  prepareToDeposit(id: string, amountFen: bigint, idempotencyKey: string): Promise<PaymentJson> {
    return this.call<PaymentJson>('POST', `/v1/accounts/${id}/exchange`, { direction: 'to_deposit', amount_fen: amountFen.toString(), idempotency_key: idempotencyKey }, { idempotent: true });
  }

  /** The wallet's unspent outputs at its bank, oldest first, and its own lock. */
  coins(id: string): Promise<CoinsJson> {
    return this.call<CoinsJson>('GET', `/v1/accounts/${id}/coins`, undefined, { idempotent: true });
  }

  /** What the wallet needs to build a payment to `payee` itself. */
  payee(id: string, payee: Payee, amountFen?: bigint): Promise<PayeeJson> {
    const q = new URLSearchParams();
    if (amountFen !== undefined) q.set('amount_fen', amountFen.toString());
    if ('alias' in payee) q.set('alias', payee.alias);
    else q.set('account', payee.account);
    if (payee.bank !== undefined) q.set('bank', payee.bank);
    return this.call<PayeeJson>('GET', `/v1/accounts/${id}/payees?${q.toString()}`, undefined, { idempotent: true });
  }

  /** A payment in one request: the transaction the wallet built and signed (that signature authenticates it). */
  pay(id: string, r: { payee: Payee; amountFen: bigint; idempotencyKey: string; tx: TxJson; receipt?: string }): Promise<PaymentJson> {
    return this.call<PaymentJson>('POST', `/v1/accounts/${id}/pay`, { idempotency_key: r.idempotencyKey, payee: r.payee, amount_fen: r.amountFen.toString(), tx: r.tx, ...(r.receipt !== undefined ? { receipt: r.receipt } : {}) }, { idempotent: true, unsigned: true });
  }

  preparePayment(id: string, r: { payee: Payee; amountFen: bigint; idempotencyKey: string; receipt?: string }): Promise<PaymentJson> {
    return this.call<PaymentJson>('POST', `/v1/accounts/${id}/payments`, { idempotency_key: r.idempotencyKey, payee: r.payee, amount_fen: r.amountFen.toString(), ...(r.receipt !== undefined ? { receipt: r.receipt } : {}) }, { idempotent: true });
  }

  signPayment(id: string, paymentId: string, sigHex: string): Promise<PaymentJson> {
    return this.call<PaymentJson>('POST', `/v1/accounts/${id}/payments/${paymentId}/sign`, { sig: sigHex }, { idempotent: true });
  }

  payment(id: string, paymentId: string): Promise<PaymentJson> {
    return this.call<PaymentJson>('GET', `/v1/accounts/${id}/payments/${paymentId}`, undefined, { idempotent: true });
  }

  history(id: string, q: { fromSeq?: number; limit?: number; direction?: 'in' | 'out' } = {}): Promise<{ entries: HistoryEntry[]; next_seq: number | null }> {
    const params = new URLSearchParams();
    if (q.fromSeq !== undefined) params.set('from_seq', String(q.fromSeq));
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    if (q.direction !== undefined) params.set('direction', q.direction);
    const qs = params.toString();
    return this.call('GET', `/v1/accounts/${id}/history${qs ? `?${qs}` : ''}`, undefined, { idempotent: true });
  }

  /** The visitor wallets' FX table (public). */
  visitorFx(): Promise<VisitorFxJson> {
    return this.call<VisitorFxJson>('GET', '/v1/visitors/fx', undefined, { idempotent: true });
  }

  /** Card -> wallet; the bank never charges twice for one idempotency key. Not retried on 503 (pending at central, like an exchange to the wallet). */
  visitorTopUp(id: string, r: { card: { number: string; expiry: string }; currency: string; amountMinor: bigint; idempotencyKey: string }): Promise<VisitorFxAnswer> {
    return this.call<VisitorFxAnswer>('POST', `/v1/accounts/${id}/visitor/top-up`, { card: r.card, currency: r.currency, amount_minor: r.amountMinor.toString(), idempotency_key: r.idempotencyKey }, { idempotent: true, retryOn503: false });
  }

  /** Deposit -> the card, in `currency`; the bank never refunds twice for one idempotency key. */
  visitorConvertBack(id: string, r: { amountFen: bigint; currency: string; idempotencyKey: string }): Promise<VisitorFxAnswer> {
    return this.call<VisitorFxAnswer>('POST', `/v1/accounts/${id}/visitor/convert-back`, { amount_fen: r.amountFen.toString(), currency: r.currency, idempotency_key: r.idempotencyKey }, { idempotent: true });
  }

  visitorFxLedger(id: string, fromSeq = 0): Promise<{ lines: FxLineJson[]; next_seq: number | null }> {
    return this.call('GET', `/v1/accounts/${id}/visitor/fx-ledger?from_seq=${fromSeq}&limit=500`, undefined, { idempotent: true });
  }

  /** Every history entry from `fromSeq` on, page by page (oldest first). */
  async *historyAll(id: string, q: { fromSeq?: number; direction?: 'in' | 'out' } = {}): AsyncGenerator<HistoryEntry> {
    let from: number | null = q.fromSeq ?? 0;
    while (from !== null) {
      const page = await this.history(id, { fromSeq: from, limit: 500, ...(q.direction ? { direction: q.direction } : {}) });
      for (const e of page.entries) yield e;
      from = page.next_seq;
    }
  }
}
