#!/usr/bin/env node
// npm run bench:floor: the floor of one payment on this machine (loadtest/floor.ts): what the
// signatures of `full` mode (and of `attested` mode) and one HTTP request cost here, and the
// payments per second that allows at the most, with the e2e targets as the payments/s they
// ask for at that floor. --json prints one JSON object.
import { Command } from 'commander';
import { FLOOR_CONNECTIONS_DEFAULT, measureFloor } from './floor.js';
import { TARGETS } from './targets.js';
import { positiveInt, share } from '../platform/cli_args.js';

const o = new Command('bench:floor')
  .description("The CPU one payment must spend on this machine in full mode (signatures and one HTTP request), and the payments per second that allows.")
  .option('--signatures <n>', 'signatures made and checked to time them (in 5 rounds; the least cost of a round counts)', positiveInt, 20_000)
  .option('--duration <s>', "seconds of autocannon against fastify's empty route", positiveInt, 10)
  .option('--connections <n>', 'autocannon connections', positiveInt, FLOOR_CONNECTIONS_DEFAULT)
  .option('--cross-bank <share>', 'share of payments across banks, for the protocol as built (a quote each)', share, 0.5)
  .option('--json', 'print exactly one JSON object on stdout', false)
  .showHelpAfterError()
  .parse(process.argv)
  .opts<{ signatures: number; duration: number; connections: number; crossBank: number; json: boolean }>();

const f = await measureFloor({ signatures: o.signatures, durationS: o.duration, connections: o.connections, crossBankShare: o.crossBank });
const out = {
  ...f,
  // What the targets (a share of each floor) come to here and now.
  target_payments_per_s: Math.ceil(TARGETS.e2e_to_floor_min * f.min_payments_per_s),
  target_attested_payments_per_s: Math.ceil(TARGETS.e2e_attested_to_floor_min * f.attested_payments_per_s),
};
if (o.json) {
  process.stdout.write(JSON.stringify(out) + '\n');
} else {
  const ops = (x: typeof f.min_ops): string => `${x.sign} signature${x.sign === 1 ? '' : 's'} made, ${x.verify} checked, ${x.requests} HTTP request${x.requests === 1 ? '' : 's'}`;
  process.stdout.write([
    `bench:floor, ${f.cores} cores`,
    `  sign (native libsecp256k1)           ${f.costs.sign_us} us`,
    `  verify                               ${f.costs.verify_us} us`,
    `  one HTTP request                     ${f.costs.request_us} us (fastify ${f.empty_route.server_us_per_request} + autocannon ${f.empty_route.client_us_per_request}; ${f.empty_route.req_per_s} req/s, other processes ${f.empty_route.other_cores} cores)`,
    `  full mode, the least                 ${ops(f.min_ops)}: ${f.min_cpu_us} us per payment -> at most ${f.min_payments_per_s} payments/s`,
    `  attested mode, the least             ${ops(f.attested_ops)}: ${f.attested_cpu_us} us per payment -> at most ${f.attested_payments_per_s} payments/s`,
    `  relaxed: pre-signed                  ${ops(f.variants.presigned.ops)}: ${f.variants.presigned.cpu_us} us -> ${f.variants.presigned.payments_per_s} payments/s`,
    `  relaxed: bank trusts the connection  ${ops(f.variants.bank_trusts_connection.ops)}: ${f.variants.bank_trusts_connection.cpu_us} us -> ${f.variants.bank_trusts_connection.payments_per_s} payments/s`,
    `  relaxed: both                        ${ops(f.variants.both.ops)}: ${f.variants.both.cpu_us} us -> ${f.variants.both.payments_per_s} payments/s`,
    `  the protocol as built                ${ops(f.protocol_ops)}: ${f.protocol_cpu_us} us per payment -> at most ${f.protocol_payments_per_s} payments/s`,
    `  e2e targets: full >= ${TARGETS.e2e_to_floor_min} x its floor = ${out.target_payments_per_s} payments/s here; attested >= ${TARGETS.e2e_attested_to_floor_min} x its floor = ${out.target_attested_payments_per_s} payments/s`,
    '',
  ].join('\n'));
}
