// The account's notification stream: GET /v1/accounts/:id/events?from=N over a websocket,
// the upgrade request signed like any other (headers from SignedClient.headersFor). The bank
// sends {"type":"hello"} and then every history entry from N in order, then live ones.
//
// The subscription delivers each entry exactly once and in order: it remembers the next seq it
// expects, drops anything below it (a duplicate after a reconnect), and treats anything above it
// as a gap (it drops the connection and resumes from the seq it expects, so the bank re-sends
// what was skipped). When the connection drops, or goes silent (pings unanswered), it
// reconnects with backoff and resumes from the last seq seen + 1. A refusal of the upgrade
// itself (401/403/404: bad signature, not this wallet's account) ends it with that error.
import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import type { HistoryEntry } from './client.js';
import { BankRefusal } from './client.js';

export interface SubscriptionOptions {
  /** The bank's base URL (http:// or https://). */
  url: string;
  accountId: string;
  /** The first seq wanted (0 = the whole history). */
  from: number;
  /** Signed headers for GET <pathWithQuery>. */
  headersFor: (method: string, pathWithQuery: string) => Record<string, string>;
  onEntry: (e: HistoryEntry) => void;
  /** Connection state, for a person watching ("reconnecting…"). */
  onState?: (s: { state: 'connected' | 'disconnected'; from: number; reason?: string; attempt?: number }) => void;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** A ping every this many ms; no pong by the next ping drops the connection. */
  pingIntervalMs?: number;
  /** PEM CA certificates trusted for a wss:// bank (instead of the system's). */
  ca?: Buffer;
}

export class AccountSubscription {
  /** The next seq expected: every entry below it has been delivered. */
  next: number;
  private socket: WebSocket | null = null;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private pinger: NodeJS.Timeout | null = null;
  private resolveDone!: () => void;
  private rejectDone!: (e: Error) => void;
  /** Settles when close() is called (resolves) or the bank refuses the subscription (rejects). */
  readonly done: Promise<void>;
  /** Connections made so far (for tests and diagnostics). */
  connections = 0;

  constructor(private readonly o: SubscriptionOptions) {
    this.next = o.from;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // The caller may only await `done` when it cares about refusals.
    this.done.catch(() => undefined);
  }

  start(): this {
    this.connect();
    return this;
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.terminate();
    }
    this.resolveDone();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.pinger) clearInterval(this.pinger);
    this.timer = null;
    this.pinger = null;
  }

  private fail(e: Error): void {
    if (this.stopped) return;
    // Settle `done` as a refusal first; close() then only tears down.
    this.rejectDone(e);
    this.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const pathWithQuery = `/v1/accounts/${this.o.accountId}/events?from=${this.next}`;
    const wsUrl = this.o.url.replace(/\/+$/, '').replace(/^http/, 'ws') + pathWithQuery;
    const from = this.next;
    const s = new WebSocket(wsUrl, { headers: this.o.headersFor('GET', pathWithQuery), handshakeTimeout: 10_000, ...(this.o.ca ? { ca: this.o.ca } : {}) });
    this.socket = s;
    this.connections++;
    let alive = true;
    let dropped = false;
    const drop = (reason: string): void => {
      if (dropped || this.stopped) return;
      dropped = true;
      if (this.pinger) clearInterval(this.pinger);
      this.pinger = null;
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.terminate();
      this.socket = null;
      this.attempt++;
      this.o.onState?.({ state: 'disconnected', from: this.next, reason, attempt: this.attempt });
      const base = this.o.reconnectBaseMs ?? 250;
      const delay = Math.min(base * 2 ** Math.min(this.attempt - 1, 10), this.o.reconnectMaxMs ?? 5_000);
      this.timer = setTimeout(() => this.connect(), delay);
    };
    s.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          // not JSON
        }
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          this.fail(new BankRefusal(typeof body.code === 'string' ? body.code : `HTTP_${status}`, typeof body.message === 'string' ? body.message : `HTTP ${status}`, status, body));
        } else {
          drop(`HTTP ${status}`);
        }
      });
      res.on('error', () => drop(`HTTP ${res.statusCode ?? 0}`));
    });
    s.on('open', () => {
      this.attempt = 0;
      this.o.onState?.({ state: 'connected', from });
      const every = this.o.pingIntervalMs ?? 15_000;
      this.pinger = setInterval(() => {
        if (!alive) return drop('no answer to ping');
        alive = false;
        try {
          s.ping();
        } catch {
          drop('ping failed');
        }
      }, every);
      this.pinger.unref?.();
    });
    s.on('pong', () => {
      alive = true;
    });
    s.on('message', (data) => {
      alive = true;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(data.toString()) as Record<string, unknown>;
      } catch {
        return drop('a message that is not JSON');
      }
      if (m.type !== 'history') return;
      const seq = m.seq;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) return drop('an entry without a seq');
      if (seq < this.next) return; // already delivered (a replay after reconnecting)
      if (seq > this.next) return drop(`a gap: expected entry ${this.next}, got ${seq}`);
      const { type: _t, account: _a, ...entry } = m;
      this.next = seq + 1;
      this.o.onEntry(entry as unknown as HistoryEntry);
    });
    s.on('close', (code, reason) => {
      const why = reason.toString();
      // 1008: the bank refused this subscription after the upgrade (not this wallet's account).
      if (code === 1008) return this.fail(new BankRefusal('CBDC_ERR_FORBIDDEN', why || 'the bank refused the subscription', 403, {}));
      drop(`closed (${code}${why ? `: ${why}` : ''})`);
    });
    s.on('error', (e) => drop(e.message));
  }
}

/** Subscribes and starts at once. */
export function subscribe(o: SubscriptionOptions): AccountSubscription {
  return new AccountSubscription(o).start();
}
