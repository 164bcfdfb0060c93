// The floor of one payment on this machine: the CPU that the signatures of `full` mode and one
// HTTP request cost, measured here, before any ledger, account, batch or event-stream work.
// No implementation of the two-tier path can settle more payments per second than the cores
// divided by that floor, so it says how far a figure is from what the machine allows.
//
// What a payment in `full` mode must spend at the least (DESIGN.md, "An online payment"):
//   - the wallet signs the transaction (1 signature);
//   - its bank checks that signature (the customer's consent) and co-signs (1 check, 1 signature);
//   - central checks both witnesses (2 checks), with one bank key over all the inputs;
//   - the payment reaches the bank in one HTTP request, with autocannon on the same machine
//     (the load generator the issue names), client and server CPU both counted.
// The batch to central, its signature and central's answer are shared by up to 1,000 payments
// and left out, as is building the transaction: the floor only ever understates the cost.
//
// Two relaxations would cost less, and the figures carry them too (`FLOOR_VARIANTS`): a wallet
// that signs its payment before the clock starts (a generator pre-signing every payment, one
// signature fewer in the run), and a bank that knows its customer from the connection and leaves
// the wallet's signature to central alone (one check fewer; central refuses a bad one, after the
// bank counted the payment against the customer's limits).
//
// The payment protocol as built spends more of the same operations (`protocolOps`, again at the
// least): two wallet requests (prepare, sign), each signed by the wallet and checked by the bank,
// and a quote between the banks for a payment across banks (one more signed request). A payment
// that spends a coin paid to a fresh lock beside one on the standard lock carries a second bank
// signature, left out here.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { measureSignatures } from '../platform/signature_costs.js';
import { NodeProcess, REPO_ROOT, ProcSampler } from './processes.js';

export { measureSignatures };

/** Operations one payment costs: signatures made, signatures checked, HTTP requests. */
export interface PaymentOps {
  sign: number;
  verify: number;
  requests: number;
}

/** The least any `full`-mode payment spends (see the head of this file). */
export const FULL_MODE_MIN_OPS: PaymentOps = { sign: 2, verify: 3, requests: 1 };

/**
 * The least an `attested`-mode payment spends: the wallet signs, its bank checks that and
 * co-signs, and central checks one bank signature per batch instead of each witness (shared
 * by the batch, so left out like the batch itself): 2 signatures made, 1 checked, 1 request.
 */
export const ATTESTED_MODE_MIN_OPS: PaymentOps = { sign: 2, verify: 1, requests: 1 };

/** The same, relaxed (see the head of this file). */
export const FLOOR_VARIANTS = {
  presigned: { sign: 1, verify: 3, requests: 1 },
  bank_trusts_connection: { sign: 2, verify: 2, requests: 1 },
  both: { sign: 1, verify: 2, requests: 1 },
} as const satisfies Record<string, PaymentOps>;

/**
 * The least the protocol as built spends per payment, on average, when `crossBankShare` of the
 * payments need a quote from the payee's bank.
 */
export function protocolOps(crossBankShare: number): PaymentOps {
  if (!(crossBankShare >= 0 && crossBankShare <= 1)) throw new RangeError('crossBankShare is a share, 0 to 1');
  return {
    // wallet: 2 request signatures + the transaction; bank: its co-signature; payer's bank: the quote request
    sign: 3 + 1 + crossBankShare,
    // bank: 2 request signatures + the wallet's; central: wallet + bank; payee's bank: the quote request
    verify: 3 + 2 + crossBankShare,
    requests: 2 + crossBankShare,
  };
}

/**
 * Connections of the empty route's run by default: its best here. Over 256 each request cost
 * 43.5-51.8 us of CPU against 40.6-41.2 over 64 (`node dist/loadtest/bench_floor.js --connections N`),
 * and the floor takes the cheapest request.
 */
export const FLOOR_CONNECTIONS_DEFAULT = 64;

/** CPU time of one operation on this machine, in microseconds. */
export interface OpCosts {
  sign_us: number;
  verify_us: number;
  request_us: number;
}

/** CPU microseconds one payment spends on `ops` at `costs`. */
export function paymentCpuUs(ops: PaymentOps, costs: OpCosts): number {
  return ops.sign * costs.sign_us + ops.verify * costs.verify_us + ops.requests * costs.request_us;
}

/** The most payments per second `cores` can settle when each costs `cpuUs` of CPU. */
export function ceilingPerS(cpuUs: number, cores: number): number {
  if (!(cpuUs > 0) || !(cores > 0)) throw new RangeError('cpuUs and cores must be positive');
  return Math.floor((cores * 1e6) / cpuUs);
}


export interface EmptyRouteFigures {
  req_per_s: number;
  p99_ms: number;
  /** CPU of the fastify process and of autocannon (this process), per request. */
  request_us: number;
  server_us_per_request: number;
  client_us_per_request: number;
  cpu_cores: number;
  other_cores: number;
}

/**
 * autocannon against fastify's empty route (its own process, like the nodes): requests per
 * second, and the CPU a request costs its server and its client together.
 */
export async function measureEmptyRoute(o: { connections: number; durationS: number }): Promise<EmptyRouteFigures> {
  const server = new NodeProcess('fastify-empty', [path.join(REPO_ROOT, 'dist', 'loadtest', 'empty_server.js')]);
  await server.start();
  const sampler = new ProcSampler(() => new Map([['fastify-empty', server.pid], ['loadgen', process.pid]]));
  try {
    sampler.start();
    const r = await autocannon({ url: server.url, connections: o.connections, duration: o.durationS });
    sampler.stop();
    const requests = r.requests.total;
    if (requests < 1) throw new Error('floor: the empty-route run answered no requests');
    // CPU between the sampler's first and last readings of each process, the run between them.
    const serverUs = sampler.cpuSeconds('fastify-empty') * 1e6;
    const clientUs = sampler.cpuSeconds('loadgen') * 1e6;
    const l = r.latency as unknown as Record<string, number>;
    return {
      req_per_s: Math.round(r.requests.average),
      p99_ms: l.p99 ?? 0,
      request_us: round1((serverUs + clientUs) / requests),
      server_us_per_request: round1(serverUs / requests),
      client_us_per_request: round1(clientUs / requests),
      cpu_cores: sampler.summary()['fastify-empty']?.cpu_cores_mean ?? 0,
      other_cores: sampler.othersMean(),
    };
  } finally {
    await server.stop();
  }
}

export interface FloorFigures {
  cores: number;
  costs: OpCosts;
  min_ops: PaymentOps;
  /** CPU per payment and the payments per second it allows, for the least `full` mode spends. */
  min_cpu_us: number;
  min_payments_per_s: number;
  /** The same for the least an `attested`-mode payment spends. */
  attested_ops: PaymentOps;
  attested_cpu_us: number;
  attested_payments_per_s: number;
  /** The relaxed floors: CPU per payment and the payments per second each allows. */
  variants: Record<keyof typeof FLOOR_VARIANTS, { ops: PaymentOps; cpu_us: number; payments_per_s: number }>;
  protocol_ops: PaymentOps;
  protocol_cpu_us: number;
  protocol_payments_per_s: number;
  empty_route: EmptyRouteFigures;
  settings: { signatures: number; duration_s: number; connections: number; cross_bank_share: number };
}

/** Measures the costs and works out both ceilings. */
export async function measureFloor(o: { signatures: number; durationS: number; connections: number; crossBankShare: number }): Promise<FloorFigures> {
  const sigs = measureSignatures(o.signatures);
  const empty = await measureEmptyRoute({ connections: o.connections, durationS: o.durationS });
  const costs: OpCosts = { ...sigs, request_us: empty.request_us };
  const cores = availableParallelism();
  const protocol = protocolOps(o.crossBankShare);
  const minUs = paymentCpuUs(FULL_MODE_MIN_OPS, costs);
  const attestedUs = paymentCpuUs(ATTESTED_MODE_MIN_OPS, costs);
  const protocolUs = paymentCpuUs(protocol, costs);
  return {
    cores, costs,
    min_ops: FULL_MODE_MIN_OPS, min_cpu_us: round1(minUs), min_payments_per_s: ceilingPerS(minUs, cores),
    attested_ops: ATTESTED_MODE_MIN_OPS, attested_cpu_us: round1(attestedUs), attested_payments_per_s: ceilingPerS(attestedUs, cores),
    variants: Object.fromEntries(Object.entries(FLOOR_VARIANTS).map(([name, ops]) => {
      const us = paymentCpuUs(ops, costs);
      return [name, { ops, cpu_us: round1(us), payments_per_s: ceilingPerS(us, cores) }];
    })) as FloorFigures['variants'],
    protocol_ops: protocol, protocol_cpu_us: round1(protocolUs), protocol_payments_per_s: ceilingPerS(protocolUs, cores),
    empty_route: empty,
    settings: { signatures: o.signatures, duration_s: o.durationS, connections: o.connections, cross_bank_share: o.crossBankShare },
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
