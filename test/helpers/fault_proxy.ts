// A fault-injecting TCP proxy on loopback, put between two tiers (a bank and central). Each
// accepted connection gets one fault, drawn from a seeded PRNG with the configured weights, so a
// failing schedule can be named by its seed:
//   pass     bytes flow both ways untouched;
//   delay    every chunk, both ways, waits delayMs before it is forwarded (order kept);
//   drop     the request reaches the server but the answer is thrown away, and the client's
//            connection is destroyed once the server starts answering (a lost answer: the
//            server did the work, the client cannot know);
//   cut      the answer is forwarded up to a random byte count, then both sides are destroyed
//            (a connection cut mid-response, or mid-stream for a websocket);
//   reorder  the client's bytes are held and its connection destroyed at once (so it retries on
//            a new connection that overtakes), and the held copy is delivered to the server
//            later, its answer discarded (a stale duplicate arriving after the retry).
// Counts of each fault are kept for the report.
import net from 'node:net';
import { mulberry32 } from '../../platform/mulberry32.js';

export type Fault = 'pass' | 'delay' | 'drop' | 'cut' | 'reorder';
export const FAULTS: readonly Fault[] = ['pass', 'delay', 'drop', 'cut', 'reorder'];

export interface FaultProxyOptions {
  targetHost: string;
  targetPort: number;
  seed: number;
  /** Relative weight of each fault (missing: 0). */
  weights: Partial<Record<Fault, number>>;
  delayMs?: number;
  /** The held copy of a reordered request is delivered after this long. */
  reorderHoldMs?: number;
  /** A cut happens after at most this many answer bytes. */
  cutBytesMax?: number;
  /** Faults for the first connections, in order; the weights decide after that. */
  schedule?: Fault[];
}

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

export class FaultProxy {
  readonly counts: Record<Fault, number> = { pass: 0, delay: 0, drop: 0, cut: 0, reorder: 0 };
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly rand: () => number;
  private timers = new Set<NodeJS.Timeout>();
  weights: Partial<Record<Fault, number>>;
  port = 0;

  constructor(readonly o: FaultProxyOptions) {
    this.rand = prng(o.seed);
    this.weights = o.weights;
    this.server = net.createServer((client) => this.accept(client));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    return this.url;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Partitions: every open connection destroyed at once (clients must reconnect). */
  partitions = 0;

  /** Destroys every open connection (a brief partition: clients must reconnect, through new faults). */
  cutAll(): void {
    this.partitions++;
    for (const s of this.sockets) s.destroy();
  }

  private later(ms: number, f: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      f();
    }, ms);
    this.timers.add(t);
  }

  private pick(): Fault {
    const next = this.o.schedule?.shift();
    if (next !== undefined) return next;
    const total = FAULTS.reduce((s, f) => s + (this.weights[f] ?? 0), 0);
    if (total <= 0) return 'pass';
    let x = this.rand() * total;
    for (const f of FAULTS) {
      x -= this.weights[f] ?? 0;
      if (x < 0) return f;
    }
    return 'pass';
  }

  private track(s: net.Socket): net.Socket {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    return s;
  }

  private accept(client: net.Socket): void {
    this.track(client);
    const fault = this.pick();
    this.counts[fault]++;
    if (fault === 'reorder') {
      const held: Buffer[] = [];
      client.on('data', (d: Buffer) => held.push(d));
      // Long enough for the request to arrive whole; then the client sees its connection die.
      this.later(30, () => {
        client.destroy();
        this.later(this.o.reorderHoldMs ?? 300, () => {
          if (held.length === 0) return;
          const up = this.track(net.connect(this.o.targetPort, this.o.targetHost));
          up.on('connect', () => up.write(Buffer.concat(held)));
          up.on('data', () => undefined);
          this.later(5_000, () => up.destroy());
        });
      });
      return;
    }
    const up = this.track(net.connect(this.o.targetPort, this.o.targetHost));
    const closeBoth = () => {
      client.destroy();
      up.destroy();
    };
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    if (fault === 'delay') {
      const ms = this.o.delayMs ?? 100;
      // One queue per direction keeps the byte order.
      const relay = (from: net.Socket, to: net.Socket) => {
        let tail = Promise.resolve();
        from.on('data', (d: Buffer) => {
          tail = tail.then(() => new Promise<void>((r) => this.later(ms, () => {
            if (!to.destroyed) to.write(d);
            r();
          })));
        });
      };
      relay(client, up);
      relay(up, client);
      return;
    }
    client.on('data', (d: Buffer) => up.write(d));
    if (fault === 'pass') {
      up.on('data', (d: Buffer) => client.write(d));
    } else if (fault === 'drop') {
      up.on('data', () => closeBoth());
    } else {
      let left = 1 + Math.floor(this.rand() * (this.o.cutBytesMax ?? 400));
      up.on('data', (d: Buffer) => {
        if (left === 0) return;
        if (d.length < left) {
          left -= d.length;
          client.write(d);
          return;
        }
        client.write(d.subarray(0, left), () => closeBoth());
        left = 0;
      });
    }
  }
}
