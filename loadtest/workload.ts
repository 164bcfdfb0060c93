// The workload of a load test: its knobs (validated, with clear errors), and the seeded plan
// of what each transaction or payment is, built and signed before the clock starts.
//
// Two targets:
//   central  signed transfers posted straight to central (POST /v1/transactions, or
//            POST /v1/batches with --batch > 1; attested batches signed by the bank in
//            `attested` mode). Inputs are outputs issued during setup; --inputs and
//            --outputs shape every transfer; --mix chooses the lock policy of the inputs
//            (key(pk) per input, one multi(2, [a, b]) contract lock for the whole transfer, or
//            one lock policy: the bench policy or(and(multi2, before), and(after, key)) spent by
//            either branch, or and(key, hash) spent with its preimage in the witness).
//   e2e      payments through the banks' wallet API: the wallet asks its bank for a payment
//            (POST /v1/accounts/:id/payments), signs the txid the bank returns, and sends the
//            signature (.../sign); the bank co-signs and settles it at central in a batch.
//            Wallets hold coins of one value (COIN_VALUE_FEN) and each amount is chosen so
//            the bank's coin selection takes exactly --inputs coins (with change when
//            --outputs is 2). --mix contract=x makes a share of the items contract payments
//            through the banks' contract API, each a hash-locked payment (create, fund, claim
//            with the preimage) or an escrow (create, fund, resolve, two of buyer, seller and
//            arbiter sign), by --contract-kinds; --mix offline=x makes a share of them offline vouchers:
//            card-to-card payments made in setup on emulated devices the banks provisioned
//            and loaded, uploaded to the banks' voucher route during the run.
//
// Invalid transactions (an exact share, --invalid, at seeded positions):
//   double_spend   central: spends outputs already spent during setup (refused, DOUBLE_SPEND).
//                  e2e: the wallet sends the signature of a settled payment again; its bank
//                  must answer with the same payment and never settle it twice.
//   bad_signature  central: one witness signature is over another hash (refused, BAD_SIGNATURE;
//                  in attested mode such transfers travel in batches the bank does not attest).
//                  e2e: the wallet signs another hash; its bank refuses (BAD_SIGNATURE).
//   timelock       central: a policy transfer whose owner spends its key branch before the
//                  branch's after(t) (refused, LOCK_TIMELOCK).
//   wrong_preimage central: a hash-locked policy transfer whose witness carries another
//                  preimage (refused, WITNESS: it opens no hash lock of any input).
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { TX_INPUTS_MAX, TX_OUTPUTS_MAX, BATCH_TX_MAX } from '../protocol/limits.js';
import { type Lock, andLock, hashLock } from '../protocol/lock.js';
import { type Tx, operatorMessage, txId } from '../protocol/tx.js';
import { keyLock, makeTx, multiLock, withPreimages } from '../protocol/tx_builder.js';
import { signHashNative } from '../protocol/sig.js';
import { BATCH_INTERVAL_MS_MAX } from '../intermediary/central_link.js';
import { type KeyPool, below, benchPolicy, makeKeyPool, makeRng, signInWorkers } from '../central/bench/workload_gen.js';

export const TARGETS = ['e2e', 'central'] as const;
export type Target = (typeof TARGETS)[number];
export const INVALID_KINDS = ['double_spend', 'bad_signature', 'timelock', 'wrong_preimage'] as const;
export type InvalidKind = (typeof INVALID_KINDS)[number];
/** Invalid kinds that only a policy-locked central transfer can be. */
export const POLICY_INVALID_KINDS: readonly InvalidKind[] = ['timelock', 'wrong_preimage'];
/**
 * The mix: central transfers by the lock policy of their inputs (key, multi, policy); e2e
 * items are wallet payments (key), contract payments (contract: hash locks and escrows) or offline
 * vouchers (offline).
 */
export const MIX_KINDS = ['key', 'multi', 'policy', 'contract', 'offline'] as const;
export type MixKind = (typeof MIX_KINDS)[number];
/** Contract payments of the e2e mix, by the bank's contract service they use. */
export const CONTRACT_KINDS = ['hashlock', 'escrow', 'prepaid'] as const;
export type ContractKind = (typeof CONTRACT_KINDS)[number];
export const VERIFICATIONS = ['full', 'attested'] as const;
export type Verification = (typeof VERIFICATIONS)[number];
/** How batches to central are written: protocol/batch_wire.ts's binary form, or JSON. */
export const ENCODINGS = ['wire', 'json'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Per transaction: what it is (index into KIND_NAMES). */
export const KIND_VALID = 0;
export const KIND_DOUBLE_SPEND = 1;
export const KIND_BAD_SIGNATURE = 2;
export const KIND_TIMELOCK = 3;
export const KIND_WRONG_PREIMAGE = 4;
export const KIND_NAMES = ['valid', 'double_spend', 'bad_signature', 'timelock', 'wrong_preimage'] as const;
/** The code central answers each invalid kind with (null: valid). */
export const KIND_CODES = [null, 'CBDC_ERR_DOUBLE_SPEND', 'CBDC_ERR_BAD_SIGNATURE', 'CBDC_ERR_LOCK_TIMELOCK', 'CBDC_ERR_WITNESS'] as const;
/** Central transfers: lock policy per transfer (index into LOCK_NAMES). */
export const LOCK_KEY = 0;
export const LOCK_MULTI = 1;
export const LOCK_POLICY = 2;
export const LOCK_NAMES = ['key', 'multi', 'policy'] as const;

export const WALLETS_MAX = 100_000;
export const BANKS_MAX = 16;
export const TRANSACTIONS_MAX = 3_000_000;
export const CONNECTIONS_MAX = 1_000;
export const PIPELINING_MAX = 100;
export const DURATION_S_MAX = 3_600;
/** A warm-up before the timed window, at most. */
export const WARMUP_S_MAX = 300;
export const RATE_MAX = 1_000_000;
/** Every e2e funding coin is worth this (100.00 yuan). */
export const COIN_VALUE_FEN = 10_000n;
/** Central workload: each funding output is worth 1.00 to 1,000.99 yuan. */
const FUNDING_VALUE_MIN_FEN = 100;
const FUNDING_VALUE_SPAN_FEN = 100_000;
/** Issuance transactions per funding request (64 outputs each; ~1 MB of JSON). */
export const FUNDING_TXS_PER_REQUEST = 150;
/** Inputs per setup transfer that spends the outputs double spends will reuse. */
const BURN_INPUTS_PER_TX = 32;

export interface Knobs {
  target: Target;
  /** Wallet keys (central) or wallet accounts spread over the banks (e2e). */
  wallets: number;
  banks: number;
  inputs: number;
  outputs: number;
  /** Share of invalid transactions, 0 to 1; their kinds cycle through invalidKinds. */
  invalid: number;
  invalidKinds: InvalidKind[];
  /** Transactions (or payments) per second to offer; null: as fast as the system answers. */
  rate: number | null;
  durationS: number;
  /** Seconds of load before the timed window (paced: the rate rising evenly from 0 to `rate`): answered then, an item counts in the totals and the conservation check, not in the window's rate or latency. */
  warmupS: number;
  connections: number;
  pipelining: number;
  /** Transactions per request to central (1: POST /v1/transactions). */
  batch: number;
  verification: Verification;
  /** central, --batch above 1: the form of each batch's body. */
  encoding: Encoding;
  /** e2e: share of payments to another bank's customer. */
  crossBank: number;
  /** central: share of transfers per lock policy of their inputs; e2e: share of payments and offline vouchers. */
  mix: Record<MixKind, number>;
  /** e2e: share of the contract payments per contract service (exact counts, seeded positions). */
  contractKinds: Record<ContractKind, number>;
  /** Transactions (payments) to pre-build; null: enough for rate x duration (or a ceiling guess). */
  transactions: number | null;
  seed: string;
  /** e2e: the banks' least time between two batches to central (ms); null: the bank's default. */
  bankBatchIntervalMs: number | null;
}

export class KnobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KnobError';
  }
}

/**
 * Connections (items in flight) by default. An e2e run over 64 reached less than the system
 * can settle: each connection carries one payment at a time, so 64 over a ~65 ms round trip
 * cap it near 1,000 payments/s, and batches to central stay small. Over 256 the same build
 * settled 1,155-1,309 payments/s against 905-952 over 64, at 1.60-1.92 ms of CPU per payment
 * against 2.23-2.26 (BENCHMARKS.md, "Enough connections to reach capacity").
 */
export const CONNECTIONS_DEFAULT = 256;

/** Transactions a `--target central` run keeps in flight by default, over all its connections. */
export const CENTRAL_INFLIGHT_TX_DEFAULT = 4_000;
/** Connections of a `--target central` run at most by default (one transaction per request). */
export const CENTRAL_CONNECTIONS_MAX_DEFAULT = 64;

/**
 * Connections by default for a target and batch size. e2e: CONNECTIONS_DEFAULT. central: each
 * request carries `batch` transactions, so 256 connections of 1,000 queue 256,000 at central and
 * the run measures its queue: 4,000 in flight (4 connections of 1,000, 40 of 100, at most 64 of
 * 1). Measured here, attested, `--duration 10`: batches of 1,000 over 4 connections 49,500 tx/s,
 * p99 262 ms, against 24,750 and 5,540 ms over 256; of 100 over 40, 29,700 tx/s, p99 475 ms,
 * against 19,800 and 1,316 ms; of 1 over 64, 2,771 tx/s, p99 54 ms, against 2,941 and 180 ms
 * (BENCHMARKS.md, "Connections of a central run").
 */
export function connectionsDefault(target: Knobs['target'], batch: number): number {
  if (target === 'e2e') return CONNECTIONS_DEFAULT;
  return Math.max(1, Math.min(CENTRAL_CONNECTIONS_MAX_DEFAULT, Math.ceil(CENTRAL_INFLIGHT_TX_DEFAULT / Math.max(1, batch))));
}

export function defaultKnobs(): Knobs {
  return {
    target: 'e2e', wallets: 1000, banks: 2, inputs: 2, outputs: 2, invalid: 0.01, invalidKinds: ['double_spend', 'bad_signature'],
    rate: null, durationS: 30, warmupS: 0, connections: CONNECTIONS_DEFAULT, pipelining: 1, batch: 1, verification: 'full', encoding: 'wire', crossBank: 0.5,
    mix: { key: 1, multi: 0, policy: 0, contract: 0, offline: 0 }, contractKinds: { hashlock: 0.5, escrow: 0.5, prepaid: 0 }, transactions: null, seed: 'cbdc-loadtest',
    bankBatchIntervalMs: null,
  };
}

/** "key=0.9,multi=0.1" -> shares that add up to 1. */
export function parseMix(text: string): Record<MixKind, number> {
  const mix: Record<MixKind, number> = { key: 0, multi: 0, policy: 0, contract: 0, offline: 0 };
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const [name, value] = part.split('=');
    if (!(MIX_KINDS as readonly string[]).includes(name ?? '')) throw new KnobError(`--mix: unknown kind "${name}" (kinds: ${MIX_KINDS.join(', ')})`);
    const v = Number(value);
    if (value === undefined || !Number.isFinite(v) || v < 0) throw new KnobError(`--mix: "${part}" needs a share >= 0, e.g. ${name}=0.5`);
    mix[name as MixKind] = v;
  }
  const total = mix.key + mix.multi + mix.policy + mix.contract + mix.offline;
  if (!(total > 0)) throw new KnobError('--mix: the shares add up to 0');
  return { key: mix.key / total, multi: mix.multi / total, policy: mix.policy / total, contract: mix.contract / total, offline: mix.offline / total };
}

/** "hashlock=1,escrow=3" -> shares that add up to 1. */
export function parseContractKinds(text: string): Record<ContractKind, number> {
  const out: Record<ContractKind, number> = { hashlock: 0, escrow: 0, prepaid: 0 };
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const [name, value] = part.split('=');
    if (!(CONTRACT_KINDS as readonly string[]).includes(name ?? '')) throw new KnobError(`--contract-kinds: unknown kind "${name}" (kinds: ${CONTRACT_KINDS.join(', ')})`);
    const v = Number(value);
    if (value === undefined || !Number.isFinite(v) || v < 0) throw new KnobError(`--contract-kinds: "${part}" needs a share >= 0, e.g. ${name}=0.5`);
    out[name as ContractKind] = v;
  }
  const total = out.hashlock + out.escrow + out.prepaid;
  if (!(total > 0)) throw new KnobError('--contract-kinds: the shares add up to 0');
  return { hashlock: out.hashlock / total, escrow: out.escrow / total, prepaid: out.prepaid / total };
}

function intIn(name: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new KnobError(`--${name} must be an integer from ${min} to ${max} (got ${v})`);
}

function shareIn(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new KnobError(`--${name} must be a share from 0 to 1 (got ${v})`);
}

/** Checks every knob and how they combine; throws a KnobError naming the knob. */
export function validateKnobs(k: Knobs): Knobs {
  if (!(TARGETS as readonly string[]).includes(k.target)) throw new KnobError(`--target must be one of ${TARGETS.join(', ')} (got ${k.target})`);
  if (!(VERIFICATIONS as readonly string[]).includes(k.verification)) throw new KnobError(`--verification must be one of ${VERIFICATIONS.join(', ')} (got ${k.verification})`);
  if (!(ENCODINGS as readonly string[]).includes(k.encoding)) throw new KnobError(`--encoding must be one of ${ENCODINGS.join(', ')} (got ${k.encoding})`);
  intIn('wallets', k.wallets, 2, WALLETS_MAX);
  intIn('banks', k.banks, 1, BANKS_MAX);
  intIn('inputs', k.inputs, 1, TX_INPUTS_MAX);
  intIn('outputs', k.outputs, 1, TX_OUTPUTS_MAX);
  shareIn('invalid', k.invalid);
  shareIn('cross-bank', k.crossBank);
  if (k.invalid > 0 && k.invalidKinds.length === 0) throw new KnobError('--invalid-kinds must name at least one kind when --invalid > 0');
  for (const kind of k.invalidKinds) {
    if (!(INVALID_KINDS as readonly string[]).includes(kind)) throw new KnobError(`--invalid-kinds: unknown kind "${kind}" (kinds: ${INVALID_KINDS.join(', ')})`);
  }
  if (k.rate !== null) {
    if (!Number.isFinite(k.rate) || k.rate <= 0 || k.rate > RATE_MAX) throw new KnobError(`--rate must be a number of transactions per second from 1 to ${RATE_MAX} (got ${k.rate})`);
  }
  if (!Number.isFinite(k.durationS) || k.durationS < 1 || k.durationS > DURATION_S_MAX) throw new KnobError(`--duration must be 1 to ${DURATION_S_MAX} seconds (got ${k.durationS})`);
  intIn('warmup', k.warmupS, 0, WARMUP_S_MAX);
  intIn('connections', k.connections, 1, CONNECTIONS_MAX);
  intIn('pipelining', k.pipelining, 1, PIPELINING_MAX);
  intIn('batch', k.batch, 1, BATCH_TX_MAX);
  if (k.transactions !== null) intIn('transactions', k.transactions, 1, TRANSACTIONS_MAX);
  if (k.seed.length === 0 || k.seed.length > 200) throw new KnobError('--seed must be 1 to 200 characters');
  if (MIX_KINDS.some((m) => !Number.isFinite(k.mix[m]) || k.mix[m] < 0)) throw new KnobError('--mix shares must be >= 0');
  if (Math.abs(MIX_KINDS.reduce((s, m) => s + k.mix[m], 0) - 1) > 1e-9) throw new KnobError('--mix shares must add up to 1');

  if (k.target === 'e2e') {
    if (k.pipelining !== 1) throw new KnobError('--pipelining must be 1 for --target e2e: a payment\'s second request needs the answer to its first');
    if (k.batch !== 1) throw new KnobError('--batch must be 1 for --target e2e: wallets pay one payment at a time; the bank batches to central');
    if (k.outputs > 2) throw new KnobError('--outputs must be 1 or 2 for --target e2e: a payment pays the payee and, with --outputs 2, change');
    if (k.mix.multi > 0 || k.mix.policy > 0) throw new KnobError('--mix multi and policy apply to --target central (every e2e payment already spends multi(2, [wallet, bank]) locks); e2e mixes key (payments), contract (hash locks and escrows) and offline (vouchers)');
    if (!(k.mix.key > 0)) throw new KnobError('--mix: e2e needs a share of key (wallet payments) above 0');
    if (k.invalidKinds.some((x) => POLICY_INVALID_KINDS.includes(x)) && k.invalid > 0) throw new KnobError(`--invalid-kinds ${POLICY_INVALID_KINDS.join(', ')} apply to --target central`);
    if (k.mix.offline > 0) {
      const v = offlineVoucherCount(k);
      if (v > OFFLINE_VOUCHERS_MAX) throw new KnobError(`--mix offline: ${v} vouchers, above ${OFFLINE_VOUCHERS_MAX}; lower the share, --rate or --duration, or set --transactions`);
      const pairs = Math.ceil(v / OFFLINE_PAYMENTS_PER_PAIR);
      const perBank = Math.floor(k.wallets / k.banks);
      if (pairs > Math.ceil(k.banks * perBank * OFFLINE_DEVICES_PER_ACCOUNT / 2)) throw new KnobError(`--mix offline: ${pairs} pairs of devices need more --wallets (${OFFLINE_DEVICES_PER_ACCOUNT} devices per account)`);
    }
    if (CONTRACT_KINDS.some((c) => !Number.isFinite(k.contractKinds[c]) || k.contractKinds[c] < 0) || Math.abs(CONTRACT_KINDS.reduce((s, c) => s + k.contractKinds[c], 0) - 1) > 1e-9) {
      throw new KnobError('--contract-kinds shares must be >= 0 and add up to 1');
    }
    if (k.mix.contract > 0 && k.contractKinds.escrow > 0 && Math.floor(k.wallets / k.banks) < 3) {
      throw new KnobError('--contract-kinds escrow needs at least 3 wallets per bank (--wallets): buyer, seller and arbiter are three accounts of one bank');
    }
    if (k.warmupS > 0 && (k.mix.contract > 0 || k.mix.offline > 0)) throw new KnobError('--warmup applies to runs of key payments: contract payments and offline uploads are counted over the whole run');
    if (k.bankBatchIntervalMs !== null) intIn('bank-batch-interval-ms', k.bankBatchIntervalMs, 0, BATCH_INTERVAL_MS_MAX);
    if (k.crossBank > 0 && k.banks < 2) throw new KnobError('--cross-bank > 0 needs --banks 2 or more');
    if (Math.floor(k.wallets / k.banks) < 2) throw new KnobError('--wallets must give every bank at least 2 wallets (a payer and a payee)');
  } else {
    if (k.bankBatchIntervalMs !== null) throw new KnobError('--bank-batch-interval-ms applies to --target e2e: the central target has no banks running');
    if (k.mix.key > 0 && k.wallets < k.inputs) throw new KnobError('--wallets must be at least --inputs: each input of a key-locked transfer has its own key');
    if (k.mix.offline > 0) throw new KnobError('--mix offline applies to --target e2e: vouchers settle at the banks');
    if (k.mix.contract > 0) throw new KnobError('--mix contract applies to --target e2e: contract payments go through the banks\' contract API (central transfers under lock policies: --mix policy)');
    if (k.invalid > 0 && k.mix.policy === 0 && k.invalidKinds.some((x) => POLICY_INVALID_KINDS.includes(x))) {
      throw new KnobError(`--invalid-kinds ${POLICY_INVALID_KINDS.join(', ')} need policy transfers: add policy to --mix`);
    }
    if (k.outputs > TX_OUTPUTS_MAX) throw new KnobError(`--outputs at most ${TX_OUTPUTS_MAX}`);
  }
  const n = plannedCount(k);
  if (n > TRANSACTIONS_MAX) throw new KnobError(`the run needs ${n} transactions, above ${TRANSACTIONS_MAX}; lower --rate or --duration, or set --transactions`);
  return k;
}

/**
 * How many transactions (payments) to pre-build: --transactions, or rate x duration with 5%
 * to spare, or (as fast as possible) a generous guess of what this target can settle; a run
 * that uses them all up stops early and says so.
 */
export function plannedCount(k: Knobs): number {
  if (k.transactions !== null) return k.transactions;
  const perS = k.rate ?? (k.target === 'e2e' ? 2_500 : k.batch === 1 ? 5_000 : k.verification === 'attested' ? 30_000 : 10_000);
  return Math.max(100, Math.ceil(perS * (k.warmupS + k.durationS) * 1.05));
}

/** Items per second each kind of an e2e run is offered at. */
export interface E2eRates {
  key: number;
  contract: number;
  /** Offline vouchers, each counted once (at the first of its two uploads). */
  offline: number;
}

/**
 * Under --rate R, every kind of an e2e run is offered its share of R by the mix: key payments
 * R x key, contract payments R x contract, offline vouchers R x offline per second, so the
 * offered items add up to R. Null without --rate (each kind as fast as it is answered).
 */
export function e2eRates(k: Pick<Knobs, 'rate' | 'mix'>): E2eRates | null {
  if (k.rate === null) return null;
  return { key: k.rate * k.mix.key, contract: k.rate * k.mix.contract, offline: k.rate * k.mix.offline };
}

// -------------------------------------------------------------------------------------------
// Seeded plan shared by both targets

/**
 * Which transactions are invalid and of which kind: exactly round(invalid x n) of them, at
 * positions drawn without replacement, their kinds cycling through invalidKinds.
 */
export function planKinds(k: Pick<Knobs, 'invalid' | 'invalidKinds' | 'seed'>, n: number): Uint8Array {
  const kinds = new Uint8Array(n);
  const invalidCount = Math.round(k.invalid * n);
  const rng = makeRng(k.seed, 'invalid-positions');
  // Partial Fisher-Yates over the positions: the first invalidCount of a seeded permutation.
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < invalidCount; i++) {
    const j = i + below(rng, n - i);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
    const kind = k.invalidKinds[i % k.invalidKinds.length]!;
    kinds[order[i]!] = KIND_NAMES.indexOf(kind);
  }
  return kinds;
}

export function countKinds(kinds: Uint8Array): Record<(typeof KIND_NAMES)[number], number> {
  const c = { valid: 0, double_spend: 0, bad_signature: 0, timelock: 0, wrong_preimage: 0 };
  for (const x of kinds) c[KIND_NAMES[x]!]++;
  return c;
}

/** Transfers per lock policy (central). */
export function countLocks(locks: Uint8Array): Record<(typeof LOCK_NAMES)[number], number> {
  const c = { key: 0, multi: 0, policy: 0 };
  for (const x of locks) c[LOCK_NAMES[x]!]++;
  return c;
}

/** The other hash a bad signature is made over: H(txid), never the txid itself. */
export function wrongHash(txid: Uint8Array): Buffer {
  return createHash('sha256').update('cbdc-loadtest/bad-signature').update(txid).digest();
}

// -------------------------------------------------------------------------------------------
// Central target

export interface FundingOutput {
  value: bigint;
  lock: Lock;
  /** Pool keys whose signatures spend it. */
  signers: number[];
}

export interface CentralPlan {
  kinds: Uint8Array;
  /** Per transfer: its lock policy (LOCK_KEY, LOCK_MULTI, LOCK_POLICY). */
  locks: Uint8Array;
  /** Per transfer: the preimage its witness carries (hash-locked policy transfers), or null. */
  preimages: (Buffer | null)[];
  /** All funding outputs: transfer t spends outputs [t * inputs, (t + 1) * inputs). */
  funding: FundingOutput[];
  /** Per transfer: the outputs it pays (values adding up to its inputs' sum). */
  outputs: { value: bigint; lock: Lock }[][];
  keys: KeyPool;
}

/** A policy transfer's lock clock starts this far after `nowMs` for timelock transfers: its owner's branch is not open yet. */
const TIMELOCK_AHEAD_MS = 2 * 86_400_000;

/** The preimage of a hash-locked policy transfer (and the wrong one a wrong_preimage transfer carries). */
function policyPreimage(seed: string, t: number, wrong: boolean): Buffer {
  return createHash('sha256').update('cbdc-loadtest/preimage').update(seed).update('\0').update(String(t)).update(wrong ? '/wrong' : '').digest();
}

/**
 * The seeded central workload: kinds, lock policies, funding outputs and each transfer's
 * outputs. `nowMs` anchors the time locks of policy transfers (central judges them at its
 * batch time, so a run must start within a day of it).
 */
export function planCentral(k: Knobs, n: number, nowMs = Date.now()): CentralPlan {
  const keys = makeKeyPool(k.seed, k.wallets, '/wallet');
  const kinds = planKinds(k, n);
  const rng = makeRng(k.seed, 'central');
  const locks = new Uint8Array(n);
  const preimages: (Buffer | null)[] = new Array(n).fill(null);
  const funding: FundingOutput[] = new Array(n * k.inputs);
  const outputs: { value: bigint; lock: Lock }[][] = new Array(n);
  const pick2 = (): [number, number] => {
    const a = below(rng, keys.pubs.length);
    let b = below(rng, keys.pubs.length - 1);
    if (b >= a) b++;
    return [a, b];
  };
  for (let t = 0; t < n; t++) {
    const draw = rng() / 2 ** 32;
    const kind = kinds[t]!;
    const policy = kind === KIND_TIMELOCK || kind === KIND_WRONG_PREIMAGE || (draw >= k.mix.multi && draw < k.mix.multi + k.mix.policy);
    const multi = !policy && draw < k.mix.multi;
    locks[t] = policy ? LOCK_POLICY : multi ? LOCK_MULTI : LOCK_KEY;
    let total = 0n;
    if (policy) {
      // One lock policy on every input. Double spends are spent again by a setup transfer
      // that carries signatures only: they take the time policy.
      const hash = kind === KIND_WRONG_PREIMAGE || (kind !== KIND_DOUBLE_SPEND && kind !== KIND_TIMELOCK && (rng() & 1) === 1);
      const owner = below(rng, keys.pubs.length);
      let lock: Lock;
      let signers: number[];
      if (hash) {
        // and(key(owner), hash(sha256(p))): the owner signs, the witness carries p.
        lock = andLock(keyLock(keys.pubs[owner]!), hashLock(createHash('sha256').update(policyPreimage(k.seed, t, false)).digest()));
        signers = [owner];
        preimages[t] = policyPreimage(k.seed, t, kind === KIND_WRONG_PREIMAGE);
      } else {
        const [x, y] = pick2();
        if (kind === KIND_TIMELOCK) {
          // The owner's branch and(after(t), key(owner)) opens two days from now: refused.
          lock = benchPolicy(keys.pubs[owner]!, keys.pubs[x]!, keys.pubs[y]!, nowMs + TIMELOCK_AHEAD_MS);
          signers = [owner];
        } else {
          // Spent by either branch: the pair before the deadline, or the owner after the start.
          lock = benchPolicy(keys.pubs[owner]!, keys.pubs[x]!, keys.pubs[y]!, nowMs);
          signers = (rng() & 1) === 1 ? [x, y] : [owner];
        }
      }
      for (let i = 0; i < k.inputs; i++) {
        const value = BigInt(FUNDING_VALUE_MIN_FEN + below(rng, FUNDING_VALUE_SPAN_FEN));
        funding[t * k.inputs + i] = { value, lock, signers };
        total += value;
      }
    } else if (multi) {
      // One contract lock multi(2, [a, b]) on every input: two signatures for the transfer.
      const a = below(rng, keys.pubs.length);
      let b = below(rng, keys.pubs.length - 1);
      if (b >= a) b++;
      const lock = multiLock(2, [keys.pubs[a]!, keys.pubs[b]!]);
      for (let i = 0; i < k.inputs; i++) {
        const value = BigInt(FUNDING_VALUE_MIN_FEN + below(rng, FUNDING_VALUE_SPAN_FEN));
        funding[t * k.inputs + i] = { value, lock, signers: [a, b] };
        total += value;
      }
    } else {
      // key(pk) per input, each input a different key: one signature per input.
      const first = below(rng, keys.pubs.length);
      for (let i = 0; i < k.inputs; i++) {
        const key = (first + i) % keys.pubs.length;
        const value = BigInt(FUNDING_VALUE_MIN_FEN + below(rng, FUNDING_VALUE_SPAN_FEN));
        funding[t * k.inputs + i] = { value, lock: keyLock(keys.pubs[key]!), signers: [key] };
        total += value;
      }
    }
    outputs[t] = splitValue(total, k.outputs, rng).map((value) => ({ value, lock: keyLock(keys.pubs[below(rng, keys.pubs.length)]!) }));
  }
  return { kinds, locks, preimages, funding, outputs, keys };
}

/** `parts` positive values adding up to total (total >= parts). */
function splitValue(total: bigint, parts: number, rng: () => number): bigint[] {
  if (total < BigInt(parts)) throw new Error('splitValue: total below the number of parts');
  const cuts: bigint[] = [];
  const span = Number(total) - 1;
  const seen = new Set<number>();
  while (cuts.length < parts - 1) {
    const c = 1 + below(rng, span);
    if (seen.has(c)) continue;
    seen.add(c);
    cuts.push(BigInt(c));
  }
  cuts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: bigint[] = [];
  let prev = 0n;
  for (const c of [...cuts, total]) {
    out.push(c - prev);
    prev = c;
  }
  return out;
}

/** Operator-signed issuance of the funding outputs (64 per transaction), serials from `serialFrom`. */
export function fundingIssuance(network: string, intermediary: string, serialFrom: bigint, outputs: readonly { value: bigint; lock: Lock }[], operatorSk: Buffer): Tx[] {
  const txs: Tx[] = [];
  for (let from = 0, s = serialFrom; from < outputs.length; from += TX_OUTPUTS_MAX, s++) {
    const tx = makeTx({ kind: 'issue', network, intermediary, serial: s, inputs: [], outputs: outputs.slice(from, from + TX_OUTPUTS_MAX) });
    txs.push({ ...tx, operatorSig: signHashNative(operatorSk, operatorMessage(txId(tx))) });
  }
  return txs;
}

export interface OutPointRef {
  pos: bigint;
  id: Buffer;
}

/**
 * Setup transfers that spend the inputs of every double-spend transfer (so that spending them
 * again in the run is a double spend), each paying one output to pool key 0.
 */
export function burnTransfers(network: string, plan: CentralPlan, inputsPerTx: number, funded: readonly OutPointRef[]): Tx[] {
  const slots: number[] = [];
  for (let t = 0; t < plan.kinds.length; t++) {
    if (plan.kinds[t] === KIND_DOUBLE_SPEND) for (let i = 0; i < inputsPerTx; i++) slots.push(t * inputsPerTx + i);
  }
  const txs: Tx[] = [];
  for (let from = 0; from < slots.length; from += BURN_INPUTS_PER_TX) {
    const group = slots.slice(from, from + BURN_INPUTS_PER_TX);
    let total = 0n;
    const signers = new Set<number>();
    for (const s of group) {
      total += plan.funding[s]!.value;
      for (const key of plan.funding[s]!.signers) signers.add(key);
    }
    const tx = makeTx({ network, inputs: group.map((s) => funded[s]!), outputs: [{ value: total, lock: keyLock(plan.keys.pubs[0]!) }] });
    const id = txId(tx);
    txs.push({ ...tx, sigs: [...signers].map((key) => ({ key: plan.keys.pubs[key]!, sig: signHashNative(plan.keys.sks[key]!, id) })) });
  }
  return txs;
}

/**
 * The run's transfers, signed: the ECDSA work runs in worker threads (one per core). A
 * bad-signature transfer carries one signature over wrongHash(txid) instead of the txid.
 */
export async function signCentral(network: string, plan: CentralPlan, inputsPerTx: number, funded: readonly OutPointRef[], threads = availableParallelism()): Promise<Tx[]> {
  const n = plan.kinds.length;
  const unsigned: Tx[] = new Array(n);
  const signerLists: number[][] = new Array(n);
  let sigCount = 0;
  for (let t = 0; t < n; t++) {
    const inputs: OutPointRef[] = [];
    for (let i = 0; i < inputsPerTx; i++) inputs.push(funded[t * inputsPerTx + i]!);
    unsigned[t] = makeTx({ network, inputs, outputs: plan.outputs[t]! });
    const signers = new Set<number>();
    for (let i = 0; i < inputsPerTx; i++) for (const key of plan.funding[t * inputsPerTx + i]!.signers) signers.add(key);
    signerLists[t] = [...signers];
    sigCount += signers.size;
  }
  const sks = Buffer.allocUnsafe(sigCount * 32);
  const hashes = Buffer.allocUnsafe(sigCount * 32);
  const txids: Buffer[] = new Array(n);
  for (let t = 0, at = 0; t < n; t++) {
    const id = txId(unsigned[t]!);
    txids[t] = id;
    signerLists[t]!.forEach((key, j) => {
      plan.keys.sks[key]!.copy(sks, at * 32);
      const h = plan.kinds[t] === KIND_BAD_SIGNATURE && j === 0 ? wrongHash(id) : id;
      h.copy(hashes, at * 32);
      at++;
    });
  }
  const sigs = await signInWorkers(sks, hashes, threads);
  const txs: Tx[] = new Array(n);
  for (let t = 0, at = 0; t < n; t++) {
    const tx: Tx = {
      ...unsigned[t]!,
      sigs: signerLists[t]!.map((key) => ({ key: plan.keys.pubs[key]!, sig: sigs.subarray(64 * at, 64 * ++at) })),
    };
    const p = plan.preimages[t];
    txs[t] = p === null || p === undefined ? tx : withPreimages(tx, [p]);
  }
  return txs;
}

// -------------------------------------------------------------------------------------------
// e2e target

export interface PaymentPlan {
  payer: number;
  payee: number;
  amountFen: bigint;
  kind: number;
}

/** The bank a wallet belongs to. */
export function bankOf(wallet: number, banks: number): number {
  return wallet % banks;
}

/**
 * Seeded payments: a uniform payer, a payee at the payer's bank or (an exact --cross-bank
 * share) at another bank, and an amount the bank pays with exactly --inputs coins of
 * COIN_VALUE_FEN: (inputs - 1) coins + 1 fen to inputs coins - 1 fen with change
 * (--outputs 2), or exactly inputs coins (--outputs 1).
 */
export function planPayments(k: Knobs, n: number): PaymentPlan[] {
  const kinds = planKinds(k, n);
  const rng = makeRng(k.seed, 'payments');
  const crossCount = Math.round(k.crossBank * n);
  const cross = planKinds({ invalid: crossCount / Math.max(1, n), invalidKinds: ['bad_signature'], seed: `${k.seed}/cross-bank` }, n);
  const perBank: number[][] = Array.from({ length: k.banks }, () => []);
  for (let w = 0; w < k.wallets; w++) perBank[bankOf(w, k.banks)]!.push(w);
  const c = COIN_VALUE_FEN;
  const plans: PaymentPlan[] = new Array(n);
  for (let t = 0; t < n; t++) {
    const payer = below(rng, k.wallets);
    const home = bankOf(payer, k.banks);
    let payee: number;
    if (cross[t] !== 0) {
      let b = below(rng, k.banks - 1);
      if (b >= home) b++;
      const list = perBank[b]!;
      payee = list[below(rng, list.length)]!;
    } else {
      const list = perBank[home]!;
      do payee = list[below(rng, list.length)]!; while (payee === payer);
    }
    const amountFen = k.outputs === 1
      ? BigInt(k.inputs) * c
      : BigInt(k.inputs - 1) * c + 1n + BigInt(below(rng, Number(c) - 1));
    plans[t] = { payer, payee, amountFen, kind: kinds[t]! };
  }
  return plans;
}

/** Funding coins each wallet needs: --inputs per payment it makes. */
export function coinsPerWallet(plans: readonly PaymentPlan[], wallets: number, inputs: number): Uint32Array {
  const coins = new Uint32Array(wallets);
  for (const p of plans) coins[p.payer]! += inputs;
  return coins;
}

// -------------------------------------------------------------------------------------------
// e2e: offline vouchers (--mix offline=x)

/** Vouchers one run may pre-build (each is a card-to-card payment made during setup). */
export const OFFLINE_VOUCHERS_MAX = 50_000;
/** Payments one payer device makes to its payee device before the run (below the certificate's payments-before-sync). */
export const OFFLINE_PAYMENTS_PER_PAIR = 50;
/** Devices the load test registers per account at most (the bank allows 8). */
export const OFFLINE_DEVICES_PER_ACCOUNT = 4;
/** Each offline payment is 1.00 to 9.99 yuan. */
const OFFLINE_AMOUNT_FEN_MIN = 100;
const OFFLINE_AMOUNT_FEN_SPAN = 900;
/** Each payer device is loaded with this (covers OFFLINE_PAYMENTS_PER_PAIR payments; a payee device receives no more than its balance cap). */
export const OFFLINE_LOAD_FEN = BigInt(OFFLINE_PAYMENTS_PER_PAIR * (OFFLINE_AMOUNT_FEN_MIN + OFFLINE_AMOUNT_FEN_SPAN));

/** Offline vouchers of the run: the offline share of the planned items (0 without one). */
export function offlineVoucherCount(k: Knobs): number {
  return k.mix.offline > 0 ? Math.max(1, Math.round(k.mix.offline * plannedCount(k))) : 0;
}

/** One payer device paying one payee device at the same bank, before the run. */
export interface OfflinePairPlan {
  /** Index of the bank. */
  bank: number;
  payer: number;
  payee: number;
  amountsFen: bigint[];
}

/**
 * Seeded pairs of devices for `vouchers` offline payments: OFFLINE_PAYMENTS_PER_PAIR per pair
 * (the last pair fewer), pairs spread over the banks, payer and payee wallets at the same bank
 * (a voucher to another bank's device waits for interbank settlement instead of settling).
 */
export function planOffline(k: Knobs, vouchers: number): OfflinePairPlan[] {
  const rng = makeRng(k.seed, 'offline');
  const perBank: number[][] = Array.from({ length: k.banks }, () => []);
  for (let w = 0; w < k.wallets; w++) perBank[bankOf(w, k.banks)]!.push(w);
  const pairs: OfflinePairPlan[] = [];
  for (let j = 0, left = vouchers; left > 0; j++) {
    const bank = j % k.banks;
    const i = Math.floor(j / k.banks);
    const list = perBank[bank]!;
    const m = Math.min(left, OFFLINE_PAYMENTS_PER_PAIR);
    const amountsFen = Array.from({ length: m }, () => BigInt(OFFLINE_AMOUNT_FEN_MIN + below(rng, OFFLINE_AMOUNT_FEN_SPAN)));
    pairs.push({ bank, payer: list[(2 * i) % list.length]!, payee: list[(2 * i + 1) % list.length]!, amountsFen });
    left -= m;
  }
  return pairs;
}

// -------------------------------------------------------------------------------------------
// e2e: contract payments (--mix contract=x): hash-locked payments, escrows and prepaid funds

/** How an escrow ends: the buyer and the seller agree to release; the arbiter decides to release, or to refund the buyer. */
export const ESCROW_ENDS = ['agreed_release', 'arbiter_release', 'arbiter_refund'] as const;
export type EscrowEnd = (typeof ESCROW_ENDS)[number];

/** Units of a prepaid contract payment: each released on its own, the second spending the change of the first. */
export const PREPAID_UNITS = 2;

/**
 * One contract payment from payer to payee at the payer's bank. hashlock: claimed by the payee
 * with `preimage`. escrow: the payer is the buyer, the payee the seller, `arbiter` a third
 * account of the bank; `end` says who proposes and signs which outcome. prepaid: the payer
 * prepays the payee (its merchant) PREPAID_UNITS units of amountFen / PREPAID_UNITS and releases
 * them one at a time.
 */
export interface ContractPlan {
  kind: ContractKind;
  payer: number;
  payee: number;
  amountFen: bigint;
  preimage: Buffer;
  /** escrow: the arbiter's wallet (-1 for a hash lock). */
  arbiter: number;
  /** escrow: how it ends (null for a hash lock). */
  end: EscrowEnd | null;
}

/**
 * The requests one contract payment makes: create, fund, then claim and sign (hashlock), resolve
 * and two signatures (escrow), or a release and its signature per unit (prepaid).
 */
export const CONTRACT_REQUESTS: Record<ContractKind, number> = { hashlock: 4, escrow: 5, prepaid: 2 + 2 * PREPAID_UNITS };

/** Contract payments of the run: the contract share of the planned items (0 without one). */
export function contractCount(k: Knobs): number {
  return k.mix.contract > 0 ? Math.max(1, Math.round(k.mix.contract * plannedCount(k))) : 0;
}

/**
 * Seeded contract payments: a uniform payer, a payee at its bank (a contract's parties are
 * accounts of one bank), 0.01 to 99.99 yuan (one funding coin, with change), a preimage from
 * the seed. Exactly round(escrow share x n) of them are escrows, at seeded positions, each with
 * an arbiter at the same bank (neither payer nor payee) and an end drawn from ESCROW_ENDS; of
 * the others, exactly round(prepaid share x n) are prepaid, at seeded positions, their amount
 * rounded down to whole units. The kinds, arbiters and ends come from streams of their own: a
 * mix without escrows or prepaid funds plans as it did before they existed.
 */
export function planContracts(k: Knobs, n: number): ContractPlan[] {
  const rng = makeRng(k.seed, 'contracts');
  const escrowRng = makeRng(k.seed, 'contracts/escrow');
  const escrows = planKinds({ invalid: k.contractKinds.escrow, invalidKinds: ['bad_signature'], seed: `${k.seed}/contract-kinds` }, n);
  // Prepaid among the positions that are not escrows: its share of all n, exactly.
  const others = [...escrows.keys()].filter((t) => escrows[t] === 0);
  const prepaidAt = new Set<number>();
  if (others.length > 0 && k.contractKinds.prepaid > 0) {
    const picks = planKinds({ invalid: Math.min(1, Math.round(k.contractKinds.prepaid * n) / others.length), invalidKinds: ['bad_signature'], seed: `${k.seed}/contract-kinds/prepaid` }, others.length);
    picks.forEach((x, j) => { if (x !== 0) prepaidAt.add(others[j]!); });
  }
  const perBank: number[][] = Array.from({ length: k.banks }, () => []);
  for (let w = 0; w < k.wallets; w++) perBank[bankOf(w, k.banks)]!.push(w);
  const out: ContractPlan[] = new Array(n);
  for (let t = 0; t < n; t++) {
    const payer = below(rng, k.wallets);
    const list = perBank[bankOf(payer, k.banks)]!;
    let payee: number;
    do payee = list[below(rng, list.length)]!; while (payee === payer);
    const amountFen = 1n + BigInt(below(rng, Number(COIN_VALUE_FEN) - 1));
    const preimage = createHash('sha256').update('cbdc-loadtest/contract').update(k.seed).update('\0').update(String(t)).digest();
    if (prepaidAt.has(t)) {
      const unitFen = amountFen / BigInt(PREPAID_UNITS) > 0n ? amountFen / BigInt(PREPAID_UNITS) : 1n;
      out[t] = { kind: 'prepaid', payer, payee, amountFen: unitFen * BigInt(PREPAID_UNITS), preimage, arbiter: -1, end: null };
      continue;
    }
    if (escrows[t] === 0) {
      out[t] = { kind: 'hashlock', payer, payee, amountFen, preimage, arbiter: -1, end: null };
      continue;
    }
    if (list.length < 3) throw new KnobError('an escrow needs three accounts at one bank');
    let arbiter: number;
    do arbiter = list[below(escrowRng, list.length)]!; while (arbiter === payer || arbiter === payee);
    out[t] = { kind: 'escrow', payer, payee, amountFen, preimage, arbiter, end: ESCROW_ENDS[below(escrowRng, ESCROW_ENDS.length)]! };
  }
  return out;
}
