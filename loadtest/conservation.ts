// After the run: did every valid transaction settle exactly once, was every invalid one
// refused, and is every fen still there? Checked against central's own figures (supply,
// audit, outputs) and, for payments, the banks' balances; a load test that loses money fails.
import { type Tx } from '../protocol/tx.js';
import { below, makeRng } from '../central/bench/workload_gen.js';
import { forEachLimited, getWithRetry, signedCall } from './setup.js';
import { type ContractPlan, KIND_BAD_SIGNATURE, KIND_CODES, KIND_DOUBLE_SPEND, KIND_NAMES, KIND_VALID, LOCK_NAMES, PREPAID_UNITS, type PaymentPlan } from './workload.js';
import { type ContractRecord, OUTCOME_REJECTED, OUTCOME_SETTLED, OUTCOME_UNKNOWN, type PaymentRecord, escrowSigners } from './runner.js';

/** Transactions (and payments) whose outputs are looked up at central one by one, at most. */
export const SAMPLE_MAX = 200;
/** Lookups in flight at once. */
const CHECK_CONCURRENCY = 16;

export interface SupplyJson {
  issued_fen: string;
  redeemed_fen: string;
  unspent_fen: string;
  outputs: string;
  spent: string;
  batches: string;
}

export interface AuditJson {
  ok: boolean;
  issued_fen: string;
  redeemed_fen: string;
  unspent_recomputed_fen: string;
  problems: string[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ConservationReport {
  ok: boolean;
  checks: Check[];
  counts: Record<string, number>;
  /** Per kind of the mix (central: lock policy; e2e: key payments, offline vouchers): what was sent and what became of it. */
  by_kind?: Record<string, Record<string, number>>;
}

export interface Central {
  url: string;
  network: string;
  operatorSk: Buffer;
}

/** Times GET /v1/supply is asked again after a 429 (central's limit on clients that are not banks). */
const SUPPLY_THROTTLED_RETRIES_MAX = 20;

export async function supply(c: Central): Promise<SupplyJson> {
  let r = await getWithRetry(`${c.url}/v1/supply`);
  for (let i = 0; r.status === 429 && i < SUPPLY_THROTTLED_RETRIES_MAX; i++) {
    // The checks poll supply while the run's last requests drain: wait out the window it names.
    const wait_s = Math.min(Number(r.headers.get('retry-after') ?? '1') || 1, 5);
    await r.body?.cancel();
    await new Promise((done) => setTimeout(done, wait_s * 1_000));
    r = await getWithRetry(`${c.url}/v1/supply`);
  }
  if (r.status !== 200) throw new Error(`GET /v1/supply: ${r.status}`);
  return (await r.json()) as SupplyJson;
}

export async function audit(c: Central): Promise<AuditJson> {
  const r = await signedCall<AuditJson>(c.url, c.network, c.operatorSk, 'operator', 'GET', '/v1/audit');
  if (r.status !== 200) throw new Error(`GET /v1/audit: ${r.status}`);
  return r.body;
}

interface OutputJson {
  value: string;
  spent: boolean;
}

async function output(c: Central, pos: bigint | string, id: Buffer | string): Promise<OutputJson | null> {
  const r = await signedCall<OutputJson>(c.url, c.network, c.operatorSk, 'operator', 'GET', `/v1/outputs/${pos}?id=${typeof id === 'string' ? id : id.toString('hex')}`);
  return r.status === 200 ? r.body : null;
}

/** Up to `max` of the given indexes, chosen by the seed. */
function sample(indexes: number[], max: number, seed: string): number[] {
  if (indexes.length <= max) return indexes;
  const rng = makeRng(seed, 'conservation-sample');
  const a = [...indexes];
  for (let i = 0; i < max; i++) {
    const j = i + below(rng, a.length - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, max);
}

function check(checks: Check[], name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
}

function auditChecks(checks: Check[], before: SupplyJson, after: SupplyJson, a: AuditJson, issuanceMayMove: boolean): void {
  check(checks, 'central audit', a.ok, a.ok ? `sum(unspent) recomputed = issued - redeemed = ${a.unspent_recomputed_fen} fen` : a.problems.join('; '));
  const moneyOk = BigInt(after.unspent_fen) === BigInt(after.issued_fen) - BigInt(after.redeemed_fen);
  check(checks, 'supply adds up', moneyOk, `unspent ${after.unspent_fen} fen, issued ${after.issued_fen} - redeemed ${after.redeemed_fen}`);
  if (!issuanceMayMove) {
    const same = before.unspent_fen === after.unspent_fen && before.issued_fen === after.issued_fen && before.redeemed_fen === after.redeemed_fen;
    check(checks, 'no money created or lost by the run', same, `unspent ${before.unspent_fen} -> ${after.unspent_fen} fen, issued ${before.issued_fen} -> ${after.issued_fen}`);
  }
}

/**
 * Central target. Transactions sent without a clear answer are resolved from central's state:
 * a valid transfer's inputs are spent only if it settled (nothing else spends them).
 */
export async function checkCentral(c: Central, txs: readonly Tx[], kinds: Uint8Array, locks: Uint8Array, outcome: Uint8Array, codes: ReadonlyMap<number, string>, before: SupplyJson, seed: string): Promise<ConservationReport> {
  const checks: Check[] = [];
  // Resolve transactions with no answer.
  const unknownValid: number[] = [];
  const unknownInvalid: number[] = [];
  for (let i = 0; i < txs.length; i++) {
    if (outcome[i] !== OUTCOME_UNKNOWN) continue;
    if (kinds[i] === KIND_VALID) unknownValid.push(i);
    else unknownInvalid.push(i);
  }
  // Sent when the run stopped, never answered and not settled: central never took them.
  const unansweredUnsettled = new Set<number>();
  await forEachLimited(unknownValid.length, CHECK_CONCURRENCY, async (k) => {
    const i = unknownValid[k]!;
    const inp = txs[i]!.inputs[0]!;
    const o = await output(c, inp.pos, inp.id);
    if (o !== null && o.spent) outcome[i] = OUTCOME_SETTLED;
    else unansweredUnsettled.add(i);
  });

  const counts = { sent: 0, valid_sent: 0, valid_settled: 0, valid_refused: 0, invalid_sent: 0, invalid_refused: 0, invalid_settled: 0, unanswered_resolved: unknownValid.length - unansweredUnsettled.size, unanswered_not_taken: unansweredUnsettled.size, unanswered_invalid: unknownInvalid.length };
  let settledInputs = 0n;
  let settledOutputs = 0n;
  const validRefused: number[] = [];
  for (let i = 0; i < txs.length; i++) {
    const oc = outcome[i]!;
    if (oc === 0 || unansweredUnsettled.has(i)) continue;
    counts.sent++;
    const valid = kinds[i] === KIND_VALID;
    if (valid) counts.valid_sent++;
    else counts.invalid_sent++;
    if (oc === OUTCOME_SETTLED) {
      settledInputs += BigInt(txs[i]!.inputs.length);
      settledOutputs += BigInt(txs[i]!.outputs.length);
      if (valid) counts.valid_settled++;
      else counts.invalid_settled++;
    } else if (oc === OUTCOME_REJECTED) {
      if (valid) {
        counts.valid_refused++;
        validRefused.push(i);
      } else counts.invalid_refused++;
    }
  }
  const after = await supply(c);
  const a = await audit(c);
  auditChecks(checks, before, after, a, false);
  check(checks, 'every invalid transaction refused', counts.invalid_settled === 0,
    `${counts.invalid_refused} refused, ${counts.invalid_settled} settled, ${counts.unanswered_invalid} unanswered of ${counts.invalid_sent} sent`);
  check(checks, 'every valid transaction settled', counts.valid_refused === 0,
    `${counts.valid_settled} of ${counts.valid_sent} sent settled (${counts.unanswered_resolved} of them answered by central's state after the run; ${unansweredUnsettled.size} more, in flight when the run stopped, never reached the ledger)` +
    (validRefused.length > 0 ? `; first not settled: #${validRefused[0]}` : ''));
  const spentDelta = BigInt(after.spent) - BigInt(before.spent);
  const outputsDelta = BigInt(after.outputs) - BigInt(before.outputs);
  check(checks, 'settled exactly once (spent count)', spentDelta === settledInputs, `central spent ${spentDelta} outputs during the run; the settled transactions spend ${settledInputs}`);
  check(checks, 'settled exactly once (output count)', outputsDelta === settledOutputs, `central created ${outputsDelta} outputs during the run; the settled transactions create ${settledOutputs}`);

  // Per lock policy of the mix: every valid transfer settled, every invalid one refused.
  type KindCounts = { sent: number; settled: number; refused: number; valid_sent: number; valid_settled: number; invalid_sent: number; invalid_refused: number; invalid_unanswered: number };
  const byKind: Record<string, KindCounts> = {};
  for (let i = 0; i < txs.length; i++) {
    if (outcome[i] === 0 || unansweredUnsettled.has(i)) continue;
    const name = LOCK_NAMES[locks[i]!]!;
    const b = (byKind[name] ??= { sent: 0, settled: 0, refused: 0, valid_sent: 0, valid_settled: 0, invalid_sent: 0, invalid_refused: 0, invalid_unanswered: 0 });
    const valid = kinds[i] === KIND_VALID;
    b.sent++;
    if (valid) b.valid_sent++;
    else b.invalid_sent++;
    if (outcome[i] === OUTCOME_SETTLED) {
      b.settled++;
      if (valid) b.valid_settled++;
    } else if (outcome[i] === OUTCOME_REJECTED) {
      b.refused++;
      if (!valid) b.invalid_refused++;
    } else if (!valid) b.invalid_unanswered++;
  }
  for (const [name, b] of Object.entries(byKind)) {
    check(checks, `${name} transfers: every valid one settled, every invalid one refused`, b.valid_settled === b.valid_sent && b.invalid_refused + b.invalid_unanswered === b.invalid_sent,
      `${b.valid_settled} of ${b.valid_sent} valid settled, ${b.invalid_refused} of ${b.invalid_sent} invalid refused`);
  }
  // Each invalid kind is refused for its own reason.
  const wrongCode: Record<string, number> = {};
  const refusedByKind: Record<string, number> = {};
  for (const [i, code] of codes) {
    const kind = kinds[i]!;
    if (kind === KIND_VALID) continue;
    const name = KIND_NAMES[kind]!;
    refusedByKind[name] = (refusedByKind[name] ?? 0) + 1;
    if (code !== KIND_CODES[kind]) wrongCode[`${name}: ${code}`] = (wrongCode[`${name}: ${code}`] ?? 0) + 1;
  }
  check(checks, 'every invalid kind refused with its code', Object.keys(wrongCode).length === 0,
    Object.entries(refusedByKind).map(([name, v]) => `${name} ${v} x ${KIND_CODES[KIND_NAMES.indexOf(name as never)]}`).join(', ') +
    (Object.keys(wrongCode).length > 0 ? `; other codes: ${JSON.stringify(wrongCode)}` : '') || 'no invalid transaction answered');

  // Spot checks at central, output by output.
  const settled = sample([...outcome.keys()].filter((i) => outcome[i] === OUTCOME_SETTLED && kinds[i] === KIND_VALID), SAMPLE_MAX, seed);
  // Every refused kind but a double spend leaves its inputs unspent.
  const badSig = sample([...outcome.keys()].filter((i) => outcome[i] !== 0 && kinds[i] !== KIND_VALID && kinds[i] !== KIND_DOUBLE_SPEND), SAMPLE_MAX, seed);
  let settledSpent = 0;
  let badUnspent = 0;
  await forEachLimited(settled.length, CHECK_CONCURRENCY, async (k) => {
    const tx = txs[settled[k]!]!;
    let all = true;
    for (const inp of tx.inputs) {
      const o = await output(c, inp.pos, inp.id);
      all &&= o !== null && o.spent;
    }
    if (all) settledSpent++;
  });
  await forEachLimited(badSig.length, CHECK_CONCURRENCY, async (k) => {
    const tx = txs[badSig[k]!]!;
    const o = await output(c, tx.inputs[0]!.pos, tx.inputs[0]!.id);
    if (o !== null && !o.spent) badUnspent++;
  });
  check(checks, 'sampled settled transactions: inputs spent at central', settledSpent === settled.length, `${settledSpent} of ${settled.length} sampled`);
  check(checks, 'sampled refused transactions (bad signature, time lock, preimage): inputs still unspent', badUnspent === badSig.length, `${badUnspent} of ${badSig.length} sampled`);
  void KIND_BAD_SIGNATURE;
  return { ok: checks.every((x) => x.ok), checks, counts, by_kind: byKind };
}

// -------------------------------------------------------------------------------------------
// e2e target

export interface PaymentCheckInput {
  c: Central;
  plans: readonly PaymentPlan[];
  outcome: Uint8Array;
  records: readonly PaymentRecord[];
  accounts: readonly { accountId: string; bankUrl: string; bank: string }[];
  staffSk: Map<string, Buffer>;
  balancesBefore: readonly bigint[];
  balancesAfter: () => Promise<bigint[]>;
  before: SupplyJson;
  inputs: number;
  coinValueFen: bigint;
  seed: string;
  /** Contract payments run beside the payments (--mix contract). */
  contracts?: { plans: readonly ContractPlan[]; outcome: Uint8Array; records: readonly ContractRecord[]; accounts: readonly { accountId: string; bankUrl: string; sk: Buffer }[] };
}

/** A contract as its bank shows it to a party (GET /v1/contracts/:cid). */
interface ContractView {
  contract: { status: string; held_fen: string; state?: { decided_by?: string[]; released_units?: string | number } };
  spends: { status: string }[];
}

/** The status a contract payment ends in when it ends as planned. */
export function contractEndStatus(p: ContractPlan): string {
  if (p.kind === 'hashlock') return 'claimed';
  if (p.kind === 'prepaid') return 'completed';
  return escrowSigners(p).outcome === 'release' ? 'released' : 'refunded';
}

/** A one-request payment sent again as it was (it authenticates itself): the payment it names, if any. */
async function resend(bankUrl: string, req: { path: string; body: Buffer }): Promise<{ id?: string; status?: string }> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(bankUrl + req.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: req.body });
    const j = await r.json().catch(() => ({})) as { id?: string; status?: string; payment?: { id?: string; status?: string } };
    if (r.status < 500 || attempt >= 20) return r.status === 200 ? j : j.payment ?? {};
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** The bank's view of one payment, read by staff. */
async function paymentStatus(x: PaymentCheckInput, plan: PaymentPlan, pid: string): Promise<string> {
  const a = x.accounts[plan.payer]!;
  const r = await signedCall<{ status?: string }>(a.bankUrl, x.c.network, x.staffSk.get(a.bank)!, 'staff', 'GET', `/v1/accounts/${a.accountId}/payments/${pid}`);
  return r.status === 200 ? r.body.status ?? 'unknown' : `http_${r.status}`;
}

/** Payments still being settled when the run stopped: waits for each to end, up to this long. */
const SETTLE_WAIT_MS = 60_000;
/** How long the banks may take to credit the last payments from central's event stream. */
const CREDIT_WAIT_MS = 30_000;

export async function checkPayments(x: PaymentCheckInput): Promise<ConservationReport> {
  const checks: Check[] = [];
  const n = x.plans.length;
  // Resolve payments with no final answer from their banks.
  const unknown: number[] = [];
  for (let i = 0; i < n; i++) if (x.outcome[i] === OUTCOME_UNKNOWN) unknown.push(i);
  // Payments the run stopped before the wallet signed: nothing can have moved for them.
  const unsigned = new Set<number>();
  const deadline = Date.now() + SETTLE_WAIT_MS;
  await forEachLimited(unknown.length, CHECK_CONCURRENCY, async (k) => {
    const i = unknown[k]!;
    const r = x.records[i]!;
    if (!r.signSent || r.request === null) {
      unsigned.add(i);
      x.outcome[i] = OUTCOME_REJECTED;
      return;
    }
    // No answer named the payment: the same request again answers it (or refuses: nothing was made).
    let pid = r.pid;
    if (pid === null) {
      const again = await resend(x.accounts[x.plans[i]!.payer]!.bankUrl, r.request);
      if (again.id === undefined) {
        x.outcome[i] = OUTCOME_REJECTED;
        return;
      }
      pid = again.id;
    }
    for (;;) {
      const s = await paymentStatus(x, x.plans[i]!, pid);
      if (s === 'settled') {
        x.outcome[i] = OUTCOME_SETTLED;
        return;
      }
      if (s !== 'submitted' || Date.now() > deadline) {
        x.outcome[i] = OUTCOME_REJECTED;
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  const counts = { sent: 0, valid_sent: 0, valid_settled: 0, valid_not_settled: 0, bad_signature_sent: 0, bad_signature_refused: 0, bad_signature_settled: 0, replays: 0, replays_answered_same: 0, unanswered_resolved: unknown.length - unsigned.size, unsigned_at_stop: unsigned.size };
  const delta = new Map<number, bigint>();
  let settledInputs = 0n;
  for (let i = 0; i < n; i++) {
    const oc = x.outcome[i]!;
    if (oc === 0) continue;
    if (unsigned.has(i)) continue;
    counts.sent++;
    const p = x.plans[i]!;
    if (p.kind === KIND_BAD_SIGNATURE) {
      counts.bad_signature_sent++;
      if (oc === OUTCOME_SETTLED) counts.bad_signature_settled++;
      else counts.bad_signature_refused++;
      continue;
    }
    counts.valid_sent++;
    if (oc === OUTCOME_SETTLED) {
      counts.valid_settled++;
      settledInputs += BigInt(x.inputs);
      delta.set(p.payer, (delta.get(p.payer) ?? 0n) - p.amountFen);
      delta.set(p.payee, (delta.get(p.payee) ?? 0n) + p.amountFen);
    } else counts.valid_not_settled++;
    const r = x.records[i]!;
    if (p.kind === KIND_DOUBLE_SPEND && r.replaySame !== null) {
      counts.replays++;
      if (r.replaySame) counts.replays_answered_same++;
    }
  }
  // Contract payments: a funded one moved its amount from the payer into the contract's lock
  // (one coin spent); an ended one moved it on (the contract's output spent) to its planned
  // recipient: the payee (hash lock claimed, escrow released) or the payer again (escrow refunded).
  // A prepaid one moves a unit to the payee per release, each spending the contract's output and
  // putting the rest back under its lock.
  const cc = {
    contracts_stopped_unfunded: 0, contracts_stopped_funded: 0, contracts_sent: 0, contracts_funded: 0, contracts_ended: 0, contracts_not_ended: 0,
    contracts_unanswered_resolved: 0, contracts_checked_ok: 0, contracts_checked: 0,
    hashlock_sent: 0, hashlock_claimed: 0, escrow_sent: 0, escrow_released: 0, escrow_refunded: 0, prepaid_sent: 0, prepaid_completed: 0, prepaid_units_released: 0,
  };
  let lockedInContracts = 0n;
  let firstBadContract = '';
  if (x.contracts !== undefined) {
    const k = x.contracts;
    const view = async (i: number): Promise<ContractView> => {
      const a = k.accounts[k.plans[i]!.payer]!;
      const r = await signedCall<ContractView>(a.bankUrl, x.c.network, a.sk, a.accountId, 'GET', `/v1/contracts/${k.records[i]!.cid}`);
      return r.status === 200 ? r.body : { contract: { status: `http_${r.status}`, held_fen: '?' }, spends: [] };
    };
    // Unanswered at the stop: the bank's view of the contract says what happened.
    const open = [...k.outcome.keys()].filter((i) => k.outcome[i] === OUTCOME_UNKNOWN);
    await forEachLimited(open.length, CHECK_CONCURRENCY, async (j) => {
      const i = open[j]!;
      const r = k.records[i]!;
      if (r.cid === null) return;
      const v = await view(i);
      const st = v.contract.status;
      if (st === contractEndStatus(k.plans[i]!)) {
        r.funded = true;
        r.ended = true;
        if (k.plans[i]!.kind === 'prepaid') r.released = PREPAID_UNITS;
        k.outcome[i] = OUTCOME_SETTLED;
      } else if (st === 'active') {
        r.funded = true;
        if (k.plans[i]!.kind === 'prepaid') r.released = Number(v.contract.state?.released_units ?? 0);
      }
      cc.contracts_unanswered_resolved++;
    });
    for (let i = 0; i < k.plans.length; i++) {
      if (k.outcome[i] === 0) continue;
      // Stopped by the end of the run before its end: not a refusal (the money, if funded, waits in its contract).
      const stopped = k.outcome[i] === OUTCOME_UNKNOWN;
      if (stopped && !k.records[i]!.funded) {
        cc.contracts_stopped_unfunded++;
        continue;
      }
      const p = k.plans[i]!;
      const r = k.records[i]!;
      if (stopped) cc.contracts_stopped_funded++;
      else cc.contracts_sent++;
      // Per contract kind, sent counts those the run stopped funded but not yet ended, too.
      if (p.kind === 'hashlock') cc.hashlock_sent++;
      else if (p.kind === 'prepaid') cc.prepaid_sent++;
      else cc.escrow_sent++;
      if (r.funded) {
        cc.contracts_funded++;
        settledInputs += 1n;
        delta.set(p.payer, (delta.get(p.payer) ?? 0n) - p.amountFen);
      }
      // What left the contract so far, each move spending its output once: the whole amount at
      // its end (hash lock, escrow), or a unit per release (prepaid, the rest staying in it).
      const refund = p.kind === 'escrow' && escrowSigners(p).outcome === 'refund';
      const moves = p.kind === 'prepaid' ? r.released : r.ended ? 1 : 0;
      const movedFen = p.kind === 'prepaid' ? (p.amountFen / BigInt(PREPAID_UNITS)) * BigInt(r.released) : r.ended ? p.amountFen : 0n;
      settledInputs += BigInt(moves);
      const to = refund ? p.payer : p.payee;
      delta.set(to, (delta.get(to) ?? 0n) + movedFen);
      if (r.funded) lockedInContracts += p.amountFen - movedFen;
      if (p.kind === 'prepaid') cc.prepaid_units_released += r.released;
      if (r.ended) {
        cc.contracts_ended++;
        if (p.kind === 'hashlock') cc.hashlock_claimed++;
        else if (p.kind === 'prepaid') cc.prepaid_completed++;
        else if (refund) cc.escrow_refunded++;
        else cc.escrow_released++;
      } else if (!stopped) cc.contracts_not_ended++;
    }
    // The bank's own view of sampled ended contracts: in the planned end state, nothing left
    // in them, spent by exactly one settled proposal, signed (escrow) by the planned parties.
    const ended = sample([...k.outcome.keys()].filter((i) => k.records[i]!.ended), SAMPLE_MAX, x.seed);
    await forEachLimited(ended.length, CHECK_CONCURRENCY, async (j) => {
      const i = ended[j]!;
      const p = k.plans[i]!;
      const v = await view(i);
      const settledSpends = v.spends.filter((s) => s.status === 'settled').length;
      let ok = v.contract.status === contractEndStatus(p) && v.contract.held_fen === '0' && settledSpends === (p.kind === 'prepaid' ? PREPAID_UNITS : 1);
      if (ok && p.kind === 'escrow') {
        const e = escrowSigners(p);
        ok = JSON.stringify(v.contract.state?.decided_by) === JSON.stringify([k.accounts[e.proposer]!.accountId, k.accounts[e.second]!.accountId]);
      }
      cc.contracts_checked++;
      if (ok) cc.contracts_checked_ok++;
      else firstBadContract ||= `${k.records[i]!.cid} (${p.kind}${p.end !== null ? ` ${p.end}` : ''}): ${v.contract.status}, held ${v.contract.held_fen} fen, ${settledSpends} settled spends, decided by ${JSON.stringify(v.contract.state?.decided_by ?? null)}`;
    });
  }

  // Bad-signature payments must not have settled, whatever the wallet heard.
  const bad = sample([...x.outcome.keys()].filter((i) => x.plans[i]!.kind === KIND_BAD_SIGNATURE && x.records[i]!.pid !== null), SAMPLE_MAX, x.seed);
  let badNotSettled = 0;
  await forEachLimited(bad.length, CHECK_CONCURRENCY, async (k) => {
    const i = bad[k]!;
    const s = await paymentStatus(x, x.plans[i]!, x.records[i]!.pid!);
    if (s !== 'settled' && s !== 'submitted') badNotSettled++;
  });

  // A payee at another bank is credited once its bank reads central's event stream: give the
  // banks a moment to catch up before calling a difference a loss.
  let mismatched = 0;
  let firstMismatch = '';
  let sumBefore = 0n;
  let sumAfter = 0n;
  const creditDeadline = Date.now() + CREDIT_WAIT_MS;
  for (;;) {
    const after = await x.balancesAfter();
    mismatched = 0;
    firstMismatch = '';
    sumBefore = 0n;
    sumAfter = 0n;
    for (let w = 0; w < x.accounts.length; w++) {
      sumBefore += x.balancesBefore[w]!;
      sumAfter += after[w]!;
      const want = x.balancesBefore[w]! + (delta.get(w) ?? 0n);
      if (after[w] !== want) {
        mismatched++;
        firstMismatch ||= `${x.accounts[w]!.accountId}: ${after[w]} fen, expected ${want}`;
      }
    }
    if (mismatched === 0 || Date.now() > creditDeadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const supplyAfter = await supply(x.c);
  const a = await audit(x.c);
  auditChecks(checks, x.before, supplyAfter, a, true);
  check(checks, 'every bad-signature payment refused', counts.bad_signature_settled === 0 && badNotSettled === bad.length,
    `${counts.bad_signature_refused} refused, ${counts.bad_signature_settled} settled of ${counts.bad_signature_sent} sent; at their banks ${badNotSettled} of ${bad.length} sampled not settled`);
  check(checks, 'every replayed payment answered with the same payment (no second spend)', counts.replays_answered_same === counts.replays,
    `${counts.replays_answered_same} of ${counts.replays} replays`);
  check(checks, 'every valid payment settled', counts.valid_not_settled === 0,
    `${counts.valid_settled} of ${counts.valid_sent} sent settled (${counts.unanswered_resolved} answered by their banks after the run); ${unsigned.size} more were not yet sent when the run stopped`);
  check(checks, 'wallet balances: every settled payment moved its amount exactly once', mismatched === 0,
    mismatched === 0 ? `${x.accounts.length} accounts match` : `${mismatched} accounts differ; first ${firstMismatch}`);
  check(checks, 'wallet balances: the wallets together neither gained nor lost', sumBefore === sumAfter + lockedInContracts,
    `${sumBefore} -> ${sumAfter} fen` + (x.contracts !== undefined ? ` + ${lockedInContracts} fen funded into contracts not yet ended` : ''));
  if (x.contracts !== undefined) {
    check(checks, 'contract payments: every one funded once and ended once (hash locks claimed, escrows released or refunded as planned, prepaid funds released unit by unit)', cc.contracts_not_ended === 0,
      `${cc.contracts_ended} of ${cc.contracts_sent} ended: hash locks ${cc.hashlock_claimed} of ${cc.hashlock_sent} claimed, escrows ${cc.escrow_released + cc.escrow_refunded} of ${cc.escrow_sent} ended ` +
      `(${cc.escrow_released} released, ${cc.escrow_refunded} refunded), prepaid ${cc.prepaid_completed} of ${cc.prepaid_sent} completed (${cc.prepaid_units_released} units released); ` +
      `${cc.contracts_funded} funded; ${cc.contracts_unanswered_resolved} answered by their bank after the run; ` +
      `stopped by the end of the run: ${cc.contracts_stopped_funded} funded and not yet ended, ${cc.contracts_stopped_unfunded} not funded`);
    check(checks, 'contract payments: the bank shows every sampled ended contract in its planned end, emptied by exactly one settled spend (one per unit for prepaid)', cc.contracts_checked_ok === cc.contracts_checked,
      `${cc.contracts_checked_ok} of ${cc.contracts_checked} sampled` + (firstBadContract !== '' ? `; first not: ${firstBadContract}` : ''));
  }
  const spentDelta = BigInt(supplyAfter.spent) - BigInt(x.before.spent);
  check(checks, 'settled exactly once (spent count at central)', spentDelta === settledInputs, `central spent ${spentDelta} outputs during the run; the settled payments${x.contracts !== undefined ? ' and contract fundings and ends' : ''} spend ${settledInputs}`);

  // Spot checks at central: a settled payment's outputs exist and add up to the coins it spent.
  const settled = sample([...x.outcome.keys()].filter((i) => x.outcome[i] === OUTCOME_SETTLED && x.records[i]!.outputs !== null), SAMPLE_MAX, x.seed);
  let outputsOk = 0;
  await forEachLimited(settled.length, CHECK_CONCURRENCY, async (k) => {
    const outs = x.records[settled[k]!]!.outputs!;
    let sum = 0n;
    for (const o of outs) {
      const got = await output(x.c, o.pos, o.id);
      if (got === null) return;
      sum += BigInt(got.value);
    }
    if (sum === BigInt(x.inputs) * x.coinValueFen) outputsOk++;
  });
  check(checks, 'sampled settled payments: outputs at central add up to the coins spent', outputsOk === settled.length, `${outputsOk} of ${settled.length} sampled`);
  return { ok: checks.every((c) => c.ok), checks, counts: x.contracts !== undefined ? { ...counts, ...cc } : counts };
}
