// The timed phase: autocannon against the real HTTP APIs with pre-built request bodies
// (`requests` with `setupRequest`, each request signed as it leaves), a progress bar, and a
// recorder of what happened to every transaction or payment, second by second.
import { createHash } from 'node:crypto';
import autocannon from 'autocannon';
import { SingleBar } from 'cli-progress';
import { type Tx, txId, txToJson } from '../protocol/tx.js';
import { BODY_BYTES_MAX } from '../protocol/limits.js';
import { assert } from '../protocol/errors.js';
import { signHashNative } from '../protocol/sig.js';
import { batchMessage } from '../central/ledger.js';
import { signedHeaders } from './setup.js';
import { BATCH_WIRE_MEDIA_TYPE, encodeBatchWire } from '../protocol/batch_wire.js';
import { runPaced } from './pacer.js';
import type { PaymentRequest } from './payment_requests.js';
import { type ContractKind, type ContractPlan, type Encoding, KIND_BAD_SIGNATURE, KIND_DOUBLE_SPEND, KnobError, PREPAID_UNITS, type PaymentPlan, wrongHash } from './workload.js';

/** Per-request timeout: a request unanswered this long counts as an error. */
const REQUEST_TIMEOUT_S = 30;
/** After the timed window, how long requests in flight may take to finish. */
const DRAIN_S_MAX = 30;

/** What became of one transaction (or payment). */
export const OUTCOME_UNSENT = 0;
export const OUTCOME_SETTLED = 1;
export const OUTCOME_REJECTED = 2;
/** Sent, but no answer that says which (timeout, transport error, run stopped): settled later from central's state. */
export const OUTCOME_UNKNOWN = 3;

export interface SecondFigures {
  t: number;
  accepted: number;
  rejected: number;
  errors: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  p999_ms: number | null;
}

export interface LatencyFigures {
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  p999_ms: number | null;
  max_ms: number | null;
  mean_ms: number | null;
}

/** Weighted latency samples: each answered request counts once per transaction it carried. */
class Samples {
  lat: number[] = [];
  w: number[] = [];
  add(ms: number, weight: number): void {
    if (weight <= 0) return;
    this.lat.push(ms);
    this.w.push(weight);
  }
  figures(): LatencyFigures {
    const n = this.lat.length;
    if (n === 0) return { p50_ms: null, p90_ms: null, p99_ms: null, p999_ms: null, max_ms: null, mean_ms: null };
    const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => this.lat[a]! - this.lat[b]!);
    const total = this.w.reduce((s, x) => s + x, 0);
    const at = (q: number): number => {
      const want = q * total;
      let acc = 0;
      for (const i of idx) {
        acc += this.w[i]!;
        if (acc >= want) return round2(this.lat[i]!);
      }
      return round2(this.lat[idx[n - 1]!]!);
    };
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.lat[i]! * this.w[i]!;
    return { p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), p999_ms: at(0.999), max_ms: round2(this.lat[idx[n - 1]!]!), mean_ms: round2(sum / total) };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Counts and latencies per second of the run, and in total. The first `warmupS` seconds are a
 * warm-up: their answers count in the totals and the timeline, not in the window's rate or its
 * latency figures (`all`).
 */
export class Recorder {
  constructor(readonly warmupS = 0) {}
  private t0 = 0;
  private readonly seconds = new Map<number, { accepted: number; rejected: number; errors: number; samples: Samples }>();
  readonly all = new Samples();
  accepted = 0;
  rejected = 0;
  errors = 0;
  readonly codes = new Map<string, number>();

  start(): void {
    this.t0 = performance.now();
  }

  elapsedS(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** The figures of second `s` of the run (now's, by default). */
  private bucket(s = Math.floor(this.elapsedS())): { accepted: number; rejected: number; errors: number; samples: Samples } {
    let b = this.seconds.get(s);
    if (b === undefined) {
      b = { accepted: 0, rejected: 0, errors: 0, samples: new Samples() };
      this.seconds.set(s, b);
    }
    return b;
  }

  /** An answered request: `accepted` and `rejected` transactions, answered after latencyMs. */
  record(accepted: number, rejected: number, latencyMs: number): void {
    const elapsedS = this.elapsedS();
    const b = this.bucket(Math.floor(elapsedS));
    b.accepted += accepted;
    b.rejected += rejected;
    this.accepted += accepted;
    this.rejected += rejected;
    b.samples.add(latencyMs, accepted + rejected);
    if (elapsedS >= this.warmupS) this.all.add(latencyMs, accepted + rejected);
  }

  code(code: string, n = 1): void {
    this.codes.set(code, (this.codes.get(code) ?? 0) + n);
  }

  error(n = 1): void {
    this.bucket().errors += n;
    this.errors += n;
  }

  /** Adds another recorder's figures (a run side by side with this one, started together). */
  merge(other: Recorder): void {
    assert(other.warmupS === this.warmupS, 'runs merged side by side share their warm-up');
    for (const [s, b] of other.seconds) {
      const mine = this.seconds.get(s) ?? { accepted: 0, rejected: 0, errors: 0, samples: new Samples() };
      mine.accepted += b.accepted;
      mine.rejected += b.rejected;
      mine.errors += b.errors;
      for (let i = 0; i < b.samples.lat.length; i++) mine.samples.add(b.samples.lat[i]!, b.samples.w[i]!);
      this.seconds.set(s, mine);
    }
    for (let i = 0; i < other.all.lat.length; i++) this.all.add(other.all.lat[i]!, other.all.w[i]!);
    for (const [c, v] of other.codes) this.code(c, v);
    this.accepted += other.accepted;
    this.rejected += other.rejected;
    this.errors += other.errors;
  }

  /** Accepted and rejected in the first `seconds` seconds of the window (after the warm-up). */
  inWindow(seconds: number): { accepted: number; rejected: number } {
    let accepted = 0;
    let rejected = 0;
    for (const [s, b] of this.seconds) {
      if (s < this.warmupS || s >= this.warmupS + seconds) continue;
      accepted += b.accepted;
      rejected += b.rejected;
    }
    return { accepted, rejected };
  }

  perSecond(): SecondFigures[] {
    const last = Math.max(-1, ...this.seconds.keys());
    const out: SecondFigures[] = [];
    for (let s = 0; s <= last; s++) {
      const b = this.seconds.get(s);
      const f = b?.samples.figures();
      out.push({
        t: s + 1, accepted: b?.accepted ?? 0, rejected: b?.rejected ?? 0, errors: b?.errors ?? 0,
        p50_ms: f?.p50_ms ?? null, p90_ms: f?.p90_ms ?? null, p99_ms: f?.p99_ms ?? null, p999_ms: f?.p999_ms ?? null,
      });
    }
    return out;
  }
}

export interface AutocannonFigures {
  requests_sent: number;
  responses: number;
  non_2xx: number;
  errors: number;
  timeouts: number;
  req_per_s_mean: number;
  request_latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number };
}

export interface RunResult {
  recorder: Recorder;
  /** The timed window: the run's length, or less when the workload ran out first. */
  seconds: number;
  outcome: Uint8Array;
  sent: number;
  /** When the pre-built workload ran out (seconds into the run), or null. */
  exhaustedAtS: number | null;
  autocannon: AutocannonFigures;
  /** Central: the code each refused transaction was answered with, by index. */
  codes?: Map<number, string>;
}

interface RunOptions {
  url: string;
  connections: number;
  pipelining: number;
  durationS: number;
  /** Seconds of load before the timed window (see Recorder); paced, the rate rises evenly from 0 over them. */
  warmupS: number;
  /** Items (payments, contract payments, batches) started per second, evenly spaced (loadtest/pacer.ts); null: autocannon, as fast as the system answers. */
  itemRate: number | null;
  progress: boolean;
  /** Items (transactions or payments) the progress bar counts. */
  label: string;
}

/**
 * Runs autocannon with `requests` for the timed window, then drains: `flow.draining` turns true,
 * no new transaction is started, and autocannon stops once `flow.inflight` reaches 0 (or after
 * DRAIN_S_MAX). Answers that arrive while draining count in the totals and the conservation
 * check, not in the window's rate.
 */
async function runAutocannon(o: RunOptions, requests: autocannon.Request[], rec: Recorder, flow: Flow): Promise<{ seconds: number; result: autocannon.Result }> {
  assert(rec.warmupS === o.warmupS, "the recorder knows the run's warm-up");
  const runS = o.warmupS + o.durationS;
  const bar = o.progress ? new SingleBar({
    format: `{bar} {value}/{total} s | {rate} ${o.label}/s | accepted {accepted} | rejected {rejected} | errors {errors}`,
    stream: process.stderr, hideCursor: true, barsize: 30,
  }) : null;
  let lastAccepted = 0;
  let lastRejected = 0;
  let ticks = 0;
  const tick = (): void => {
    ticks++;
    const done = rec.accepted + rec.rejected - lastAccepted - lastRejected;
    lastAccepted = rec.accepted;
    lastRejected = rec.rejected;
    bar?.update(Math.min(ticks, Math.round(runS)), { rate: done, accepted: rec.accepted, rejected: rec.rejected, errors: rec.errors });
  };
  // A request that got no answer ends its item (paced: one per item) or its connection's pipeline (autocannon).
  const onError = (): void => {
    rec.error();
    flow.inflight = Math.max(0, flow.inflight - (o.itemRate !== null ? 1 : o.pipelining));
  };
  rec.start();
  const t0 = performance.now();
  bar?.start(Math.round(runS), 0, { rate: 0, accepted: 0, rejected: 0, errors: 0 });
  const windowEnd = setTimeout(() => {
    flow.draining = true;
    flow.windowEndS = rec.elapsedS();
  }, runS * 1000);

  if (o.itemRate !== null) {
    const ticker = setInterval(tick, 1000);
    flow.stop = () => {
      if (flow.stoppedAtS === null) flow.stoppedAtS = rec.elapsedS();
      flow.draining = true;
    };
    // Stop starting items once the window is over (or the workload is used up); the run ends when every started item has.
    const drainCap = setTimeout(() => flow.stop(), (runS + DRAIN_S_MAX) * 1000);
    const result = await runPaced({ url: o.url, connections: o.connections, itemRate: o.itemRate, rampS: o.warmupS, timeoutS: REQUEST_TIMEOUT_S }, requests, { stopped: () => flow.draining, onError });
    clearInterval(ticker);
    clearTimeout(drainCap);
    clearTimeout(windowEnd);
    if (flow.stoppedAtS === null) flow.stoppedAtS = rec.elapsedS();
    bar?.stop();
    return { seconds: (performance.now() - t0) / 1000, result: result as unknown as autocannon.Result };
  }

  return new Promise((resolve, reject) => {
    const opts: autocannon.Options = {
      url: o.url, connections: o.connections, pipelining: o.pipelining, duration: runS + DRAIN_S_MAX, timeout: REQUEST_TIMEOUT_S, requests,
    };
    const instance = autocannon(opts, (err, result) => {
      bar?.stop();
      if (err) reject(err);
      else resolve({ seconds: (performance.now() - t0) / 1000, result });
    });
    instance.on('tick', tick);
    instance.on('reqError', onError);
    let stopped = false;
    flow.stop = () => {
      if (stopped) return;
      stopped = true;
      flow.stoppedAtS = rec.elapsedS();
      clearInterval(watch);
      clearTimeout(windowEnd);
      flow.draining = true;
      instance.stop();
    };
    const watch = setInterval(() => { if (flow.draining && flow.inflight === 0) flow.stop(); }, 20);
  });
}

/**
 * The timed window, after the warm-up: the run's duration; or, when the pre-built workload ran
 * out first, until its last answer came back (every answer then counts). Zero when it ran out
 * within the warm-up.
 */
function windowOf(flow: Flow, exhaustedAtS: number | null, o: Pick<RunOptions, 'durationS' | 'warmupS'>): number {
  const endS = exhaustedAtS !== null && flow.windowEndS === null ? flow.stoppedAtS ?? exhaustedAtS : flow.windowEndS ?? o.warmupS + o.durationS;
  return Math.max(0, endS - o.warmupS);
}

/** The shared state of one run: work in flight, whether the window is over, how to stop. */
interface Flow {
  inflight: number;
  draining: boolean;
  windowEndS: number | null;
  stoppedAtS: number | null;
  stop: () => void;
}

function newFlow(): Flow {
  return { inflight: 0, draining: false, windowEndS: null, stoppedAtS: null, stop: () => {} };
}

function autocannonFigures(r: autocannon.Result, sent: number): AutocannonFigures {
  const l = r.latency as unknown as Record<string, number>;
  return {
    requests_sent: sent, responses: r.requests.total, non_2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
    req_per_s_mean: round2(r.requests.average),
    request_latency_ms: { p50: l.p50 ?? 0, p90: l.p90 ?? 0, p99: l.p99 ?? 0, p999: l.p99_9 ?? 0, max: l.max ?? 0 },
  };
}

/** A cheap request autocannon sends once the workload is used up, until it stops. */
function filler(): autocannon.Request {
  return { method: 'GET', path: '/v1/health', headers: {}, body: '' } as unknown as autocannon.Request;
}

// -------------------------------------------------------------------------------------------
// Central target

export interface CentralRequest {
  path: string;
  body: Buffer;
  contentType: string;
  signer: string;
  /** Transaction indexes [from, to) in the workload... or an explicit list. */
  txs: number[];
}

/**
 * The requests of a central run, bodies serialized now: --batch 1 posts each transfer to
 * /v1/transactions; larger batches go to /v1/batches (in `encoding`'s form), attested in
 * `attested` mode by the signing bank except bad-signature transfers, which travel in batches
 * the bank does not vouch for.
 */
export function centralRequests(network: string, txs: readonly Tx[], kinds: Uint8Array, batch: number, attested: boolean, banks: { id: string; sk: Buffer }[], encoding: Encoding = 'wire'): CentralRequest[] {
  const out: CentralRequest[] = [];
  let bankTurn = 0;
  const emit = (idx: number[], attest: boolean): void => {
    if (idx.length === 0) return;
    const bank = banks[bankTurn++ % banks.length]!;
    let body: Buffer;
    let p: string;
    let contentType = 'application/json';
    if (batch === 1) {
      p = '/v1/transactions';
      body = Buffer.from(JSON.stringify(txToJson(txs[idx[0]!]!)));
    } else {
      p = '/v1/batches';
      const list = idx.map((i) => txs[i]!);
      const attestation = attest ? signHashNative(bank.sk, batchMessage(network, list.map((t) => txIdOf(t)))) : undefined;
      if (encoding === 'wire') {
        body = encodeBatchWire(list, attestation);
        contentType = BATCH_WIRE_MEDIA_TYPE;
      } else {
        const j: { transactions: unknown[]; attestation?: string } = { transactions: list.map(txToJson) };
        if (attestation !== undefined) j.attestation = attestation.toString('hex');
        body = Buffer.from(JSON.stringify(j));
      }
    }
    if (body.length > BODY_BYTES_MAX) throw new KnobError(`--batch ${batch}: a request body of ${body.length} bytes is above central's ${BODY_BYTES_MAX}; lower --batch`);
    out.push({ path: p, body, contentType, signer: bank.id, txs: idx });
  };
  let vouched: number[] = [];
  let unvouched: number[] = [];
  for (let i = 0; i < txs.length; i++) {
    const toUnvouched = attested && kinds[i] === KIND_BAD_SIGNATURE;
    const list = toUnvouched ? unvouched : vouched;
    list.push(i);
    if (list.length >= batch) {
      emit(list, !toUnvouched && attested);
      if (toUnvouched) unvouched = [];
      else vouched = [];
    }
  }
  emit(vouched, attested);
  emit(unvouched, false);
  return out;
}

const txidCache = new WeakMap<Tx, Buffer>();
/** txId, remembered per transaction object (the runner and the conservation check both ask). */
export function txIdOf(tx: Tx): Buffer {
  let id = txidCache.get(tx);
  if (id === undefined) {
    id = txId(tx);
    txidCache.set(tx, id);
  }
  return id;
}

export async function runCentral(o: RunOptions & { network: string; bankKeys: Map<string, Buffer> }, reqs: readonly CentralRequest[], txCount: number, txIndexByTxid: Map<string, number>): Promise<RunResult> {
  const rec = new Recorder(o.warmupS);
  const outcome = new Uint8Array(txCount);
  const codes = new Map<number, string>();
  let next = 0;
  let sent = 0;
  let exhaustedAtS: number | null = null;
  const flow = newFlow();
  const request: autocannon.Request = {
    method: 'POST',
    setupRequest: (req, ctx) => {
      const c = ctx as { r?: number; t0?: number; arrivalMs?: number };
      if (next >= reqs.length || flow.draining) {
        if (next >= reqs.length && exhaustedAtS === null) exhaustedAtS = rec.elapsedS();
        flow.draining = true;
        c.r = -1;
        return filler();
      }
      const r = reqs[next++]!;
      sent++;
      flow.inflight++;
      c.r = next - 1;
      c.t0 = c.arrivalMs ?? performance.now();
      for (const i of r.txs) outcome[i] = OUTCOME_UNKNOWN;
      const headers = signedHeaders(o.bankKeys.get(r.signer)!, o.network, 'POST', r.path, r.body, r.signer);
      return { ...req, method: 'POST', path: r.path, headers: { ...headers, 'content-type': r.contentType }, body: r.body } as autocannon.Request;
    },
    onResponse: (status, body, ctx) => {
      const c = ctx as { r?: number; t0?: number; arrivalMs?: number };
      if (c.r === undefined || c.r < 0) return;
      flow.inflight--;
      const latency = performance.now() - (c.t0 ?? performance.now());
      let accepted = 0;
      let rejected = 0;
      const mark = (txid: string | null, settled: boolean, code?: string, index?: number): void => {
        if (settled) accepted++;
        else {
          rejected++;
          rec.code(code ?? 'unknown');
        }
        const i = index ?? (txid === null ? undefined : txIndexByTxid.get(txid));
        if (i !== undefined) {
          outcome[i] = settled ? OUTCOME_SETTLED : OUTCOME_REJECTED;
          if (!settled) codes.set(i, code ?? 'unknown');
        }
      };
      try {
        const j = JSON.parse(body) as { status?: string; txid?: string | null; code?: string; results?: ({ status: string; txid: string | null; code?: string } | [string, string])[] };
        if (Array.isArray(j.results)) {
          const sent = reqs[c.r]!.txs;
          // A compact answer (the binary form) has one entry per transaction sent, in order: [batch, first_pos] when settled.
          const compact = reqs[c.r]!.contentType === BATCH_WIRE_MEDIA_TYPE && j.results.length === sent.length;
          j.results.forEach((res, k) => {
            if (Array.isArray(res)) mark(null, true, undefined, compact ? sent[k] : undefined);
            else mark(res.txid, !compact && res.status === 'settled', res.code, compact ? sent[k] : undefined);
          });
        } else if (j.status === 'settled' || j.status === 'rejected') {
          mark(j.txid ?? null, j.status === 'settled', j.code);
        } else {
          // The whole request was refused (e.g. overloaded): its transactions stay unknown.
          rec.code(j.code ?? `http_${status}`, reqs[c.r]!.txs.length);
          rec.error();
        }
      } catch {
        rec.code(`http_${status}`, reqs[c.r]!.txs.length);
        rec.error();
      }
      if (accepted + rejected > 0) rec.record(accepted, rejected, latency);
    },
  } as autocannon.Request;
  const { result } = await runAutocannon(o, [request], rec, flow);
  return { recorder: rec, seconds: windowOf(flow, exhaustedAtS, o), outcome, sent: Math.min(txCount, sentTxCount(reqs, sent)), exhaustedAtS, autocannon: autocannonFigures(result, sent), codes };
}

function sentTxCount(reqs: readonly CentralRequest[], sentRequests: number): number {
  let n = 0;
  for (let i = 0; i < sentRequests; i++) n += reqs[i]!.txs.length;
  return n;
}

// -------------------------------------------------------------------------------------------
// e2e target

export interface PaymentAccount {
  accountId: string;
  sk: Buffer;
}

export interface PaymentRecord {
  pid: string | null;
  /** The settled transaction's outputs at central (from the bank's answer). */
  outputs: { pos: string; id: string }[] | null;
  txid: string | null;
  code: string | null;
  /** The request left (before the run stopped): its fate is the bank's to tell. */
  signSent: boolean;
  /** double_spend: the replayed request's answer named the same settled payment (null: not replayed). */
  replaySame: boolean | null;
  /** The request as sent, for asking its fate again after the run (the same body answers the same payment). */
  request: { path: string; body: Buffer } | null;
}

/**
 * Each payment is one request, POST /v1/accounts/:id/pay, carrying the transaction the wallet
 * built with its one signature (made as the request leaves); double_spend sends the same
 * request again, which must answer the same payment. One connection runs one payment at a time
 * (pipelining 1), so autocannon's per-connection context carries it to its replay.
 */
export async function runPayments(o: RunOptions & { network: string }, plans: readonly PaymentPlan[], accounts: readonly PaymentAccount[], requests: readonly PaymentRequest[]): Promise<RunResult & { records: PaymentRecord[] }> {
  const rec = new Recorder(o.warmupS);
  const n = plans.length;
  if (requests.length !== n) throw new Error('one request per payment');
  const outcome = new Uint8Array(n);
  const records: PaymentRecord[] = Array.from({ length: n }, () => ({ pid: null, outputs: null, txid: null, code: null, replaySame: null, signSent: false, request: null }));
  let next = 0;
  let sent = 0;
  let requestsSent = 0;
  let exhaustedAtS: number | null = null;
  const flow = newFlow();
  const headers = { 'content-type': 'application/json' };
  type Ctx = { i?: number; t0?: number; arrivalMs?: number; pid?: string };
  const pay: autocannon.Request = {
    method: 'POST',
    setupRequest: (req, ctx) => {
      const c = ctx as Ctx;
      if (next >= n || flow.draining) {
        if (next >= n && exhaustedAtS === null) exhaustedAtS = rec.elapsedS();
        flow.draining = true;
        c.i = -1;
        return filler();
      }
      const i = next++;
      sent++;
      flow.inflight++;
      requestsSent++;
      c.i = i;
      c.pid = undefined;
      c.t0 = c.arrivalMs ?? performance.now();
      outcome[i] = OUTCOME_UNKNOWN;
      const plan = plans[i]!;
      const r = requests[i]!;
      const sig = signHashNative(accounts[plan.payer]!.sk, plan.kind === KIND_BAD_SIGNATURE ? wrongHash(r.txid) : r.txid).toString('hex');
      const body = Buffer.from(r.bodyHead + sig + r.bodyTail);
      records[i]!.signSent = true;
      records[i]!.request = { path: r.path, body };
      return { ...req, method: 'POST', path: r.path, headers, body } as autocannon.Request;
    },
    onResponse: (status, body, ctx) => {
      const c = ctx as Ctx;
      if (c.i === undefined || c.i < 0) return;
      const latency = performance.now() - c.t0!;
      const r = records[c.i]!;
      let settled = false;
      let code: string | undefined;
      try {
        const j = JSON.parse(body) as { id?: string; txid?: string; status?: string; code?: string; payment?: { id?: string }; result?: { outputs?: { pos: string; id: string }[] } };
        settled = status === 200 && j.status === 'settled';
        if (status === 200 && j.id) {
          r.pid = j.id;
          r.txid = j.txid ?? null;
        } else if (j.payment?.id) r.pid = j.payment.id;
        if (settled) r.outputs = j.result?.outputs ?? null;
        code = j.code ?? (settled ? undefined : `status_${j.status ?? status}`);
      } catch {
        code = `http_${status}`;
      }
      if (settled) {
        outcome[c.i] = OUTCOME_SETTLED;
        rec.record(1, 0, latency);
      } else if (status >= 400 && status < 500) {
        outcome[c.i] = OUTCOME_REJECTED;
        r.code = code ?? null;
        rec.code(code ?? 'unknown');
        rec.record(0, 1, latency);
      } else {
        // 5xx or a payment still pending: its fate is read back from the bank after the run.
        rec.code(code ?? 'unknown');
        rec.error();
      }
      if (settled && plans[c.i]!.kind === KIND_DOUBLE_SPEND) c.pid = r.pid!;
      else flow.inflight--;
    },
  } as autocannon.Request;
  const replay: autocannon.Request = {
    method: 'POST',
    setupRequest: (req, ctx) => {
      const c = ctx as Ctx;
      if (c.i === undefined || c.i < 0 || c.pid === undefined) return undefined as unknown as autocannon.Request;
      const r = records[c.i]!.request!;
      requestsSent++;
      return { ...req, method: 'POST', path: r.path, headers, body: r.body } as autocannon.Request;
    },
    onResponse: (status, body, ctx) => {
      const c = ctx as Ctx;
      if (c.i === undefined || c.i < 0 || c.pid === undefined) return;
      const r = records[c.i]!;
      try {
        const j = JSON.parse(body) as { id?: string; txid?: string; status?: string };
        r.replaySame = status === 200 && j.id === c.pid && j.txid === r.txid && j.status === 'settled';
      } catch {
        r.replaySame = false;
      }
      c.pid = undefined;
      flow.inflight--;
    },
  } as autocannon.Request;
  const { result } = await runAutocannon(o, [pay, replay], rec, flow);
  return { recorder: rec, seconds: windowOf(flow, exhaustedAtS, o), outcome, sent, exhaustedAtS, autocannon: autocannonFigures(result, requestsSent), records };
}

// -------------------------------------------------------------------------------------------
// e2e: contract payments (hash-locked payments, escrows, prepaid funds)

export interface ContractRecord {
  cid: string | null;
  /** The funding payment settled: the amount sits under the contract's lock. */
  funded: boolean;
  /** Its end settled (hash lock: claimed by the payee; escrow: released to the seller or refunded to the buyer, as planned; prepaid: every unit released). */
  ended: boolean;
  /** prepaid: units released to the merchant so far (0 for the other kinds). */
  released: number;
  code: string | null;
}

/** Escrow: who proposes the outcome and signs first, who signs second, and the outcome. */
export function escrowSigners(p: ContractPlan): { proposer: number; second: number; outcome: 'release' | 'refund' } {
  switch (p.end) {
    case 'agreed_release': return { proposer: p.payer, second: p.payee, outcome: 'release' };
    case 'arbiter_release': return { proposer: p.arbiter, second: p.payee, outcome: 'release' };
    case 'arbiter_refund': return { proposer: p.arbiter, second: p.payer, outcome: 'refund' };
    default: throw new Error(`not an escrow: ${p.kind}`);
  }
}

/** The bodies that create each contract, built before the clock. */
function contractBodies(plans: readonly ContractPlan[], accounts: readonly PaymentAccount[], idemPrefix: string, timeoutMs: number): Buffer[] {
  return plans.map((p, i) => {
    const idempotency_key = `${idemPrefix}-c${i}`;
    switch (p.kind) {
      case 'hashlock': return Buffer.from(JSON.stringify({
        idempotency_key, payee: accounts[p.payee]!.accountId, amount_fen: p.amountFen.toString(), hash: createHash('sha256').update(p.preimage).digest('hex'), timeout_ms: timeoutMs,
      }));
      case 'escrow': return Buffer.from(JSON.stringify({
        idempotency_key, seller: accounts[p.payee]!.accountId, arbiter: accounts[p.arbiter]!.accountId, amount_fen: p.amountFen.toString(),
      }));
      case 'prepaid': return Buffer.from(JSON.stringify({
        idempotency_key, merchant: accounts[p.payee]!.accountId, unit_fen: (p.amountFen / BigInt(PREPAID_UNITS)).toString(), units: PREPAID_UNITS, deadline_ms: timeoutMs,
      }));
    }
  });
}

/**
 * Each contract payment runs on one connection, one request after the other:
 *   hashlock  the payer creates it (POST /v1/accounts/:id/contracts/hashlock), signs its funding
 *             payment (.../payments/:pid/sign), the payee claims it with the preimage
 *             (POST /v1/contracts/:cid/claim) and signs the claim (.../spends/:spid/sign).
 *   escrow    the buyer creates it (.../contracts/escrow, seller and arbiter accounts of its
 *             bank) and signs its funding; the proposer (buyer or arbiter) proposes the outcome
 *             (POST /v1/contracts/:cid/resolve) and signs it; the second party (seller, or the
 *             buyer for a refund) signs it, and the bank co-signs and settles it.
 *   prepaid   the payer creates it (.../contracts/prepaid, its merchant an account of its bank)
 *             and signs its funding; then, for each unit, the payer proposes its release
 *             (POST /v1/contracts/:cid/release, one unit) and signs it: the merchant is paid the
 *             unit and the change goes back into the contract.
 * A step refused ends the contract payment there (the next request starts another); a kind
 * with fewer requests than the longest ends its cycle early, and autocannon starts the next
 * contract payment in its place.
 */
export async function runContracts(o: RunOptions & { network: string }, plans: readonly ContractPlan[], accounts: readonly PaymentAccount[], idemPrefix: string): Promise<RunResult & { records: ContractRecord[] }> {
  const rec = new Recorder(o.warmupS);
  const n = plans.length;
  const outcome = new Uint8Array(n);
  const records: ContractRecord[] = Array.from({ length: n }, () => ({ cid: null, funded: false, ended: false, released: 0, code: null }));
  const bodies = contractBodies(plans, accounts, idemPrefix, Date.now() + 86_400_000);
  let next = 0;
  let sent = 0;
  let requestsSent = 0;
  let exhaustedAtS: number | null = null;
  const flow = newFlow();
  type Ctx = { i?: number; t0?: number; arrivalMs?: number; cid?: string; pid?: string; txid?: string; spid?: string; spTxid?: string };
  const signed = (who: PaymentAccount, path: string, body: Buffer): Record<string, string> =>
    ({ ...signedHeaders(who.sk, o.network, 'POST', path, body, who.accountId), 'content-type': 'application/json' });
  const sigBody = (who: PaymentAccount, txid: string): Buffer => Buffer.from(JSON.stringify({ sig: signHashNative(who.sk, Buffer.from(txid, 'hex')).toString('hex') }));
  const fail = (c: Ctx, status: number, body: string): void => {
    let code = `http_${status}`;
    try {
      code = (JSON.parse(body) as { code?: string }).code ?? code;
    } catch { /* not JSON */ }
    records[c.i!]!.code = code;
    rec.code(code);
    if (status >= 400 && status < 500) {
      outcome[c.i!] = OUTCOME_REJECTED;
      rec.record(0, 1, performance.now() - c.t0!);
    } else rec.error();
    c.cid = undefined;
    flow.inflight--;
  };
  // The contract's end settled: counted when that answer arrives, with the whole flow's latency.
  const ended = (c: Ctx): boolean => {
    records[c.i!]!.ended = true;
    outcome[c.i!] = OUTCOME_SETTLED;
    rec.record(1, 0, performance.now() - c.t0!);
    c.cid = undefined;
    flow.inflight--;
    return true;
  };
  type Make = (c: Ctx, plan: ContractPlan) => { path: string; who: PaymentAccount; body: Buffer } | null;
  const step = (make: Make, onOk: (c: Ctx, j: Record<string, unknown>) => boolean, first = false): autocannon.Request => ({
    method: 'POST',
    setupRequest: (req, ctx) => {
      const c = ctx as Ctx;
      if (first) {
        if (next >= n || flow.draining) {
          if (next >= n && exhaustedAtS === null) exhaustedAtS = rec.elapsedS();
          flow.draining = true;
          c.i = -1;
          return filler();
        }
        const i = next++;
        sent++;
        flow.inflight++;
        c.i = i;
        c.t0 = c.arrivalMs ?? performance.now();
        c.cid = 'pending';
        outcome[i] = OUTCOME_UNKNOWN;
      } else if (c.i === undefined || c.i < 0 || c.cid === undefined) return undefined as unknown as autocannon.Request;
      const r = make(c, plans[c.i]!);
      if (r === null) return undefined as unknown as autocannon.Request;
      requestsSent++;
      return { ...req, method: 'POST', path: r.path, headers: signed(r.who, r.path, r.body), body: r.body } as autocannon.Request;
    },
    onResponse: (status, body, ctx) => {
      const c = ctx as Ctx;
      if (c.i === undefined || c.i < 0 || c.cid === undefined) return;
      if (status !== 200) return fail(c, status, body);
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return fail(c, 502, body);
      }
      if (!onOk(c, j)) return fail(c, 502, body);
    },
  } as autocannon.Request);
  const create = step((c, p) => ({ path: `/v1/accounts/${accounts[p.payer]!.accountId}/contracts/${p.kind}`, who: accounts[p.payer]!, body: bodies[c.i!]! }), (c, j) => {
    const x = j as { contract?: { id?: string }; payment?: { id?: string; txid?: string } };
    if (!x.contract?.id || !x.payment?.id || !x.payment.txid) return false;
    c.cid = x.contract.id;
    c.pid = x.payment.id;
    c.txid = x.payment.txid;
    records[c.i!]!.cid = c.cid;
    return true;
  }, true);
  const fund = step((c, p) => {
    const a = accounts[p.payer]!;
    return { path: `/v1/accounts/${a.accountId}/payments/${c.pid}/sign`, who: a, body: sigBody(a, c.txid!) };
  }, (c, j) => {
    if (j.status !== 'settled') return false;
    records[c.i!]!.funded = true;
    return true;
  });
  const tookProposal = (c: Ctx, _p: ContractPlan, j: Record<string, unknown>): boolean => {
    const s = (j as { spend?: { id?: string; txid?: string } }).spend;
    if (!s?.id || !s.txid) return false;
    c.spid = s.id;
    c.spTxid = s.txid;
    return true;
  };
  // After funding, each kind's requests in turn: a proposal, then the signatures it needs.
  type Act = { make: Make; ok: (c: Ctx, p: ContractPlan, j: Record<string, unknown>) => boolean };
  const propose = (action: string, who: (p: ContractPlan) => PaymentAccount, body: (p: ContractPlan) => unknown): Act => ({
    make: (c, p) => ({ path: `/v1/contracts/${c.cid}/${action}`, who: who(p), body: Buffer.from(JSON.stringify(body(p))) }),
    ok: tookProposal,
  });
  const signBy = (who: (p: ContractPlan) => PaymentAccount, then: (c: Ctx, status: string | undefined) => boolean): Act => ({
    make: (c, p) => ({ path: `/v1/contracts/${c.cid}/spends/${c.spid}/sign`, who: who(p), body: sigBody(who(p), c.spTxid!) }),
    ok: (c, _p, j) => then(c, (j as { spend?: { status?: string } }).spend?.status),
  });
  const payer = (p: ContractPlan) => accounts[p.payer]!;
  const payee = (p: ContractPlan) => accounts[p.payee]!;
  // One unit of a prepaid contract released (its spend settled); the last one ends it.
  const releaseUnit = propose('release', payer, () => ({ units: 1 }));
  const unitReleased = signBy(payer, (c, status) => {
    if (status !== 'settled') return false;
    const r = records[c.i!]!;
    r.released++;
    return r.released < PREPAID_UNITS || ended(c);
  });
  const ACTS: Record<ContractKind, Act[]> = {
    // The payee's claim with the preimage, and its signature (settles it).
    hashlock: [propose('claim', payee, (p) => ({ preimage: p.preimage.toString('hex') })), signBy(payee, (c, status) => status === 'settled' && ended(c))],
    // The proposer's outcome, its signature (one of two), the second party's (settles it).
    escrow: [
      propose('resolve', (p) => accounts[escrowSigners(p).proposer]!, (p) => ({ outcome: escrowSigners(p).outcome })),
      signBy((p) => accounts[escrowSigners(p).proposer]!, (_c, status) => status === 'awaiting_signatures'),
      signBy((p) => accounts[escrowSigners(p).second]!, (c, status) => status === 'settled' && ended(c)),
    ],
    prepaid: Array.from({ length: PREPAID_UNITS }, () => [releaseUnit, unitReleased]).flat(),
  };
  const longest = Math.max(...Object.values(ACTS).map((a) => a.length));
  const acts = Array.from({ length: longest }, (_, k) => step((c, p) => ACTS[p.kind][k]?.make(c, p) ?? null, (c, j) => {
    const p = plans[c.i!]!;
    return ACTS[p.kind][k]!.ok(c, p, j);
  }));
  const { result } = await runAutocannon(o, [create, fund, ...acts], rec, flow);
  return { recorder: rec, seconds: windowOf(flow, exhaustedAtS, o), outcome, sent, exhaustedAtS, autocannon: autocannonFigures(result, requestsSent), records };
}
