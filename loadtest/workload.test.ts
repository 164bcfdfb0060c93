// The workload generator: the same seed gives the same workload, the invalid share is exact,
// every knob is checked with an error that names it, and the signed transfers verify (or, for
// bad signatures, do not).
import { describe, expect, it } from 'vitest';
import { nativeVerifier } from '../protocol/sig.js';
import { txId, txToJson } from '../protocol/tx.js';
import { BATCH_WIRE_MEDIA_TYPE, decodeBatchWire } from '../protocol/batch_wire.js';
import { parseBatchJson } from '../central/batch_parse.js';
import { centralRequests } from './runner.js';
import { createHash } from 'node:crypto';
import { encodeLock } from '../protocol/lock.js';
import { evaluateLock } from '../protocol/lock_eval.js';
import {
  COIN_VALUE_FEN, KIND_BAD_SIGNATURE, KIND_DOUBLE_SPEND, KIND_TIMELOCK, KIND_VALID, KIND_WRONG_PREIMAGE, KnobError, type Knobs, LOCK_POLICY,
  OFFLINE_LOAD_FEN, OFFLINE_PAYMENTS_PER_PAIR, bankOf, burnTransfers, coinsPerWallet, countKinds, countLocks,
  CONNECTIONS_DEFAULT, CONTRACT_REQUESTS, ESCROW_ENDS, PREPAID_UNITS, connectionsDefault, contractCount, defaultKnobs, e2eRates, offlineVoucherCount, parseContractKinds, planContracts, parseMix, planCentral, planKinds, planOffline, planPayments, plannedCount, signCentral, validateKnobs, wrongHash,
} from './workload.js';

const knobs = (over: Partial<Knobs> = {}): Knobs => ({ ...defaultKnobs(), ...over });

function fingerprint(plan: ReturnType<typeof planCentral>): string {
  return JSON.stringify({
    kinds: [...plan.kinds], locks: [...plan.locks],
    funding: plan.funding.map((f) => [f.value.toString(), encodeLock(f.lock).toString('hex'), f.signers]),
    outputs: plan.outputs.map((os) => os.map((o) => [o.value.toString(), encodeLock(o.lock).toString('hex')])),
  });
}

describe('seeded workloads', () => {
  it('the same seed gives the same central workload; another seed another', () => {
    const k = knobs({ target: 'central', wallets: 50, mix: { key: 0.7, multi: 0.3, policy: 0, contract: 0, offline: 0 }, invalid: 0.1 });
    const a = fingerprint(planCentral(k, 300));
    expect(fingerprint(planCentral(k, 300))).toBe(a);
    expect(fingerprint(planCentral({ ...k, seed: 'another seed' }, 300))).not.toBe(a);
  });

  it('the same seed gives the same payments; another seed other payments', () => {
    const k = knobs({ wallets: 30, banks: 3, crossBank: 0.4 });
    const show = (ps: ReturnType<typeof planPayments>) => JSON.stringify(ps.map((p) => [p.payer, p.payee, p.amountFen.toString(), p.kind]));
    const a = show(planPayments(k, 500));
    expect(show(planPayments(k, 500))).toBe(a);
    expect(show(planPayments({ ...k, seed: 'x' }, 500))).not.toBe(a);
  });

  it('the invalid share is exact, its kinds split evenly', () => {
    for (const [n, share] of [[1000, 0.01], [997, 0.05], [10, 0.25], [5000, 0], [200, 1]] as const) {
      const kinds = planKinds(knobs({ invalid: share, invalidKinds: ['double_spend', 'bad_signature'] }), n);
      const c = countKinds(kinds);
      const want = Math.round(share * n);
      expect(c.double_spend + c.bad_signature).toBe(want);
      expect(c.valid).toBe(n - want);
      expect(Math.abs(c.double_spend - c.bad_signature)).toBeLessThanOrEqual(1);
    }
    const only = countKinds(planKinds(knobs({ invalid: 0.1, invalidKinds: ['bad_signature'] }), 1000));
    expect(only).toEqual({ valid: 900, double_spend: 0, bad_signature: 100, timelock: 0, wrong_preimage: 0 });
    const four = countKinds(planKinds(knobs({ invalid: 0.1, invalidKinds: ['double_spend', 'bad_signature', 'timelock', 'wrong_preimage'] }), 1000));
    expect(four).toEqual({ valid: 900, double_spend: 25, bad_signature: 25, timelock: 25, wrong_preimage: 25 });
  });

  it('payments: the cross-bank share is exact, payees differ from payers, amounts take exactly --inputs coins', () => {
    const k = knobs({ wallets: 40, banks: 2, crossBank: 0.3, inputs: 3, outputs: 2 });
    const ps = planPayments(k, 1000);
    const cross = ps.filter((p) => p.payer % 2 !== p.payee % 2).length;
    expect(cross).toBe(300);
    for (const p of ps) {
      expect(p.payee).not.toBe(p.payer);
      // Oldest-first selection of coins worth COIN_VALUE_FEN takes ceil(amount / coin) of them.
      const coins = (p.amountFen + COIN_VALUE_FEN - 1n) / COIN_VALUE_FEN;
      expect(coins).toBe(3n);
      expect(p.amountFen % COIN_VALUE_FEN).not.toBe(0n); // change: a second output
    }
    const exact = planPayments({ ...k, outputs: 1 }, 100);
    for (const p of exact) expect(p.amountFen).toBe(3n * COIN_VALUE_FEN);
    const coins = coinsPerWallet(ps, 40, 3);
    expect(coins.reduce((s, x) => s + x, 0)).toBe(3000);
  });

  it('central transfers: balanced, shaped by --inputs/--outputs, signatures verify except the bad ones', async () => {
    const k = knobs({ target: 'central', wallets: 20, inputs: 3, outputs: 4, invalid: 0.2, mix: { key: 0.5, multi: 0.5, policy: 0, contract: 0, offline: 0 } });
    const n = 60;
    const plan = planCentral(k, n);
    // Stand-in positions and ids for the funding outputs (no ledger needed to sign).
    const funded = plan.funding.map((_, j) => ({ pos: BigInt(j), id: Buffer.alloc(32, j % 251) }));
    const txs = await signCentral('test-net', plan, k.inputs, funded, 2);
    expect(txs).toHaveLength(n);
    let bad = 0;
    for (let t = 0; t < n; t++) {
      const tx = txs[t]!;
      expect(tx.inputs).toHaveLength(3);
      expect(tx.outputs).toHaveLength(4);
      const inSum = plan.funding.slice(t * 3, t * 3 + 3).reduce((s, f) => s + f.value, 0n);
      expect(tx.outputs.reduce((s, o) => s + o.value, 0n)).toBe(inSum);
      expect(tx.sigs).toHaveLength(plan.locks[t] === 1 ? 2 : 3);
      const id = txId(tx);
      const ok = tx.sigs.every((s) => nativeVerifier.verify(s.sig, id, s.key));
      if (plan.kinds[t] === KIND_BAD_SIGNATURE) {
        bad++;
        expect(ok).toBe(false);
        expect(nativeVerifier.verify(tx.sigs[0]!.sig, wrongHash(id), tx.sigs[0]!.key)).toBe(true);
      } else {
        expect(ok).toBe(true);
      }
    }
    expect(bad).toBe(countKinds(plan.kinds).bad_signature);
    // Double spends reuse inputs that the setup transfers spend first.
    const burn = burnTransfers('test-net', plan, k.inputs, funded);
    const burnt = new Set(burn.flatMap((b) => b.inputs.map((i) => i.pos)));
    for (let t = 0; t < n; t++) {
      const spentBefore = txs[t]!.inputs.every((i) => burnt.has(i.pos));
      expect(spentBefore).toBe(plan.kinds[t] === KIND_DOUBLE_SPEND);
    }
    for (const b of burn) for (const s of b.sigs) expect(nativeVerifier.verify(s.sig, txId(b), s.key)).toBe(true);
    void KIND_VALID;

    // The requests to central carry these transfers in either form, batched and attested alike.
    const banks = [{ id: 'bank-a', sk: Buffer.alloc(32, 1) }, { id: 'bank-b', sk: Buffer.alloc(32, 2) }];
    const asWire = centralRequests('test-net', txs, plan.kinds, 25, true, banks, 'wire');
    const asJson = centralRequests('test-net', txs, plan.kinds, 25, true, banks, 'json');
    expect(asWire.map((r) => [r.signer, r.txs])).toEqual(asJson.map((r) => [r.signer, r.txs]));
    for (const [i, w] of asWire.entries()) {
      expect(w.contentType).toBe(BATCH_WIRE_MEDIA_TYPE);
      expect(asJson[i]!.contentType).toBe('application/json');
      const fromWire = decodeBatchWire(w.body, 'test-net');
      const fromJson = parseBatchJson(asJson[i]!.body, 'test-net');
      expect(fromWire.txs.map(txToJson)).toEqual(fromJson.txs.map(txToJson));
      expect(fromWire.attestation?.toString('hex')).toBe(fromJson.attestationHex);
      expect(fromWire.txs.map(txToJson)).toEqual(w.txs.map((t) => txToJson(txs[t]!)));
    }
  });

  it('policy transfers: their locks hold for the signatures and preimage they carry, except timelock and wrong_preimage ones', async () => {
    const k = knobs({
      target: 'central', wallets: 30, inputs: 2, outputs: 2, invalid: 0.2, mix: { key: 0.2, multi: 0.2, policy: 0.6, contract: 0, offline: 0 },
      invalidKinds: ['double_spend', 'bad_signature', 'timelock', 'wrong_preimage'],
    });
    const n = 200;
    const nowMs = 1_800_000_000_000;
    const plan = planCentral(k, n, nowMs);
    const locks = countLocks(plan.locks);
    expect(locks.key + locks.multi + locks.policy).toBe(n);
    expect(locks.policy).toBeGreaterThan(100);
    // The policy-only invalid kinds are always policy transfers.
    for (let t = 0; t < n; t++) if (plan.kinds[t] === KIND_TIMELOCK || plan.kinds[t] === KIND_WRONG_PREIMAGE) expect(plan.locks[t]).toBe(LOCK_POLICY);
    const funded = plan.funding.map((_, j) => ({ pos: BigInt(j), id: Buffer.alloc(32, j % 251) }));
    const txs = await signCentral('test-net', plan, k.inputs, funded, 2);
    let hashLocked = 0;
    let byOwner = 0;
    let byPair = 0;
    for (let t = 0; t < n; t++) {
      if (plan.locks[t] !== LOCK_POLICY || plan.kinds[t] === KIND_BAD_SIGNATURE) continue;
      const tx = txs[t]!;
      const lock = plan.funding[t * k.inputs]!.lock;
      const signed = tx.sigs.map((s) => s.key);
      const preimageHashes = (tx.preimages ?? []).map((p) => createHash('sha256').update(p).digest());
      const v = evaluateLock(lock, encodeLock(lock), { signedKeys: signed, preimageHashes, timeMs: nowMs + 1_000, outputs: [] });
      if (plan.kinds[t] === KIND_TIMELOCK) expect(v, `transfer ${t}`).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_TIMELOCK' });
      else if (plan.kinds[t] === KIND_WRONG_PREIMAGE) expect(v, `transfer ${t}`).toMatchObject({ ok: false, code: 'CBDC_ERR_LOCK_PREIMAGE' });
      else expect(v.ok, `transfer ${t}`).toBe(true);
      if (tx.preimages !== undefined) hashLocked++;
      else if (tx.sigs.length === 2) byPair++;
      else byOwner++;
    }
    // All three ways of spending a policy occur: the pair's branch, the owner's branch, the hash lock.
    expect(hashLocked).toBeGreaterThan(0);
    expect(byOwner).toBeGreaterThan(0);
    expect(byPair).toBeGreaterThan(0);
  });

  it('offline pairs: payer and payee at one bank, at most OFFLINE_PAYMENTS_PER_PAIR payments within the load', () => {
    const k = knobs({ wallets: 20, banks: 2, mix: { key: 0.8, multi: 0, policy: 0, contract: 0, offline: 0.2 }, transactions: 1000 });
    expect(validateKnobs(k)).toBeTruthy();
    const v = offlineVoucherCount(k);
    expect(v).toBe(200);
    const pairs = planOffline(k, v);
    expect(pairs).toHaveLength(Math.ceil(v / OFFLINE_PAYMENTS_PER_PAIR));
    expect(pairs.reduce((s, p) => s + p.amountsFen.length, 0)).toBe(v);
    for (const p of pairs) {
      expect(p.payer).not.toBe(p.payee);
      expect(bankOf(p.payer, 2)).toBe(p.bank);
      expect(bankOf(p.payee, 2)).toBe(p.bank);
      expect(p.amountsFen.reduce((s, x) => s + x, 0n)).toBeLessThanOrEqual(OFFLINE_LOAD_FEN);
      for (const a of p.amountsFen) expect(a).toBeGreaterThan(0n);
    }
    expect(JSON.stringify(planOffline(k, v), (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))).toBe(JSON.stringify(pairs, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)));
    expect(offlineVoucherCount({ ...k, mix: { key: 1, multi: 0, policy: 0, contract: 0, offline: 0 } })).toBe(0);
  });

  it('contract payments: payer and payee at one bank, one funding coin each, preimages from the seed', () => {
    const k = knobs({ wallets: 20, banks: 2, mix: { key: 0.9, multi: 0, policy: 0, contract: 0.1, offline: 0 }, transactions: 1000 });
    expect(validateKnobs(k)).toBeTruthy();
    const n = contractCount(k);
    expect(n).toBe(100);
    const cs = planContracts(k, n);
    expect(new Set(cs.map((c) => c.preimage.toString('hex'))).size).toBe(n);
    for (const c of cs) {
      expect(c.payee).not.toBe(c.payer);
      expect(bankOf(c.payee, 2)).toBe(bankOf(c.payer, 2));
      expect(c.amountFen).toBeGreaterThan(0n);
      expect(c.amountFen).toBeLessThan(COIN_VALUE_FEN);
    }
    const show = (x: typeof cs) => x.map((c) => `${c.kind}/${c.payer}/${c.payee}/${c.arbiter}/${c.end}/${c.amountFen}/${c.preimage.toString('hex')}`);
    expect(show(planContracts(k, n))).toEqual(show(cs));
  });

  it('contract payments by kind: the exact escrow share at seeded positions, each escrow with an arbiter of its bank and an end from the seed', () => {
    const k = knobs({ wallets: 20, banks: 2, mix: { key: 0.8, multi: 0, policy: 0, contract: 0.2, offline: 0 }, contractKinds: { hashlock: 0.3, escrow: 0.7, prepaid: 0 }, transactions: 1000 });
    expect(validateKnobs(k)).toBeTruthy();
    const n = contractCount(k);
    expect(n).toBe(200);
    const cs = planContracts(k, n);
    const escrows = cs.filter((c) => c.kind === 'escrow');
    expect(escrows).toHaveLength(140);
    expect(cs.filter((c) => c.kind === 'hashlock')).toHaveLength(60);
    for (const c of escrows) {
      // Buyer, seller and arbiter: three accounts of one bank.
      expect(new Set([c.payer, c.payee, c.arbiter]).size).toBe(3);
      expect(bankOf(c.arbiter, 2)).toBe(bankOf(c.payer, 2));
      expect(bankOf(c.payee, 2)).toBe(bankOf(c.payer, 2));
      expect(ESCROW_ENDS).toContain(c.end);
    }
    for (const c of cs.filter((x) => x.kind === 'hashlock')) expect([c.arbiter, c.end]).toEqual([-1, null]);
    // Every way an escrow ends occurs.
    for (const end of ESCROW_ENDS) expect(escrows.some((c) => c.end === end), end).toBe(true);
    // Reproducible with the seed; another seed, another plan.
    const show = (x: typeof cs) => x.map((c) => `${c.kind}/${c.payer}/${c.payee}/${c.arbiter}/${c.end}/${c.amountFen}`).join(',');
    expect(show(planContracts(k, n))).toBe(show(cs));
    expect(show(planContracts({ ...k, seed: 'another' }, n))).not.toBe(show(cs));
    // The kinds come from streams of their own: payer, payee, amount and preimage of each item
    // are those of a plan of hash locks alone (which plans as before escrows existed).
    const alone = planContracts({ ...k, contractKinds: { hashlock: 1, escrow: 0, prepaid: 0 } }, n);
    expect(alone.every((c) => c.kind === 'hashlock')).toBe(true);
    expect(alone.map((c) => `${c.payer}/${c.payee}/${c.amountFen}/${c.preimage.toString('hex')}`)).toEqual(cs.map((c) => `${c.payer}/${c.payee}/${c.amountFen}/${c.preimage.toString('hex')}`));
    // Requests per contract payment: create, fund, claim, sign; create, fund, resolve, sign, sign;
    // or create, fund, then release and sign for each of the two units.
    expect(CONTRACT_REQUESTS).toEqual({ hashlock: 4, escrow: 5, prepaid: 6 });
  });

  it('prepaid contract payments: the exact share of all, among the positions that are not escrows, in whole units', () => {
    const k = knobs({ wallets: 20, banks: 2, mix: { key: 0.8, multi: 0, policy: 0, contract: 0.2, offline: 0 }, contractKinds: { hashlock: 0.3, escrow: 0.5, prepaid: 0.2 }, transactions: 1000 });
    expect(validateKnobs(k)).toBeTruthy();
    const n = contractCount(k);
    const cs = planContracts(k, n);
    expect(cs.filter((c) => c.kind === 'prepaid')).toHaveLength(40);
    expect(cs.filter((c) => c.kind === 'escrow')).toHaveLength(100);
    expect(cs.filter((c) => c.kind === 'hashlock')).toHaveLength(60);
    for (const c of cs.filter((x) => x.kind === 'prepaid')) {
      expect(c.amountFen % BigInt(PREPAID_UNITS)).toBe(0n);
      expect(c.amountFen).toBeGreaterThan(0n);
      expect(c.amountFen).toBeLessThan(COIN_VALUE_FEN);
      expect([c.arbiter, c.end]).toEqual([-1, null]);
      expect(bankOf(c.payee, 2)).toBe(bankOf(c.payer, 2));
    }
    // The escrows sit where they sit without prepaid funds; prepaid takes hash-lock positions.
    const without = planContracts({ ...k, contractKinds: { hashlock: 0.5, escrow: 0.5, prepaid: 0 } }, n);
    cs.forEach((c, t) => expect(c.kind === 'escrow', String(t)).toBe(without[t]!.kind === 'escrow'));
    expect(parseContractKinds('hashlock=1,escrow=1,prepaid=2')).toEqual({ hashlock: 0.25, escrow: 0.25, prepaid: 0.5 });
  });

  it('--rate: every e2e kind is offered its share of the rate by the mix, adding up to the rate', () => {
    const k = knobs({ rate: 250, mix: { key: 0.6, multi: 0, policy: 0, contract: 0.15, offline: 0.25 } });
    const r = e2eRates(k)!;
    expect(r.key).toBeCloseTo(150, 9);
    expect(r.contract).toBeCloseTo(37.5, 9);
    expect(r.offline).toBeCloseTo(62.5, 9);
    expect(r.key + r.contract + r.offline).toBeCloseTo(250, 9);
    // Each kind's pre-built items last the window at its rate (5% to spare).
    const dur = k.durationS;
    expect(offlineVoucherCount(k)).toBe(Math.round(r.offline * dur * 1.05));
    expect(contractCount(k)).toBe(Math.round(r.contract * dur * 1.05));
    expect(e2eRates(knobs({ rate: null }))).toBeNull();
  });
});

describe('knobs', () => {
  const bad = (over: Partial<Knobs>, message: RegExp) => {
    expect(() => validateKnobs(knobs(over))).toThrow(KnobError);
    expect(() => validateKnobs(knobs(over))).toThrow(message);
  };

  it('the defaults are valid', () => {
    expect(validateKnobs(knobs())).toBeTruthy();
    expect(validateKnobs(knobs({ target: 'central', batch: 1000, verification: 'attested' }))).toBeTruthy();
  });

  it('connections by default: 256 for e2e; central keeps 4,000 transactions in flight over its batches, 1 to 64 connections', () => {
    expect(connectionsDefault('e2e', 1)).toBe(CONNECTIONS_DEFAULT);
    expect(connectionsDefault('central', 1)).toBe(64);
    expect(connectionsDefault('central', 100)).toBe(40);
    expect(connectionsDefault('central', 1000)).toBe(4);
    expect(connectionsDefault('central', 3000)).toBe(2);
    expect(connectionsDefault('central', 10_000)).toBe(1);
  });

  it('refuses out-of-range values, naming the knob', () => {
    bad({ inputs: 0 }, /--inputs must be an integer from 1 to 64/);
    bad({ outputs: 65, target: 'central' }, /--outputs must be an integer from 1 to 64/);
    bad({ invalid: 1.5 }, /--invalid must be a share from 0 to 1/);
    bad({ invalid: -0.1 }, /--invalid/);
    bad({ rate: 0 }, /--rate must be/);
    bad({ rate: Number.NaN }, /--rate must be/);
    bad({ durationS: 0 }, /--duration must be/);
    bad({ connections: 0 }, /--connections/);
    bad({ wallets: 1 }, /--wallets/);
    bad({ batch: 20_000, target: 'central' }, /--batch must be an integer from 1 to 10000/);
    bad({ seed: '' }, /--seed/);
    bad({ invalidKinds: [] }, /--invalid-kinds must name at least one kind/);
    bad({ invalidKinds: ['forgery' as never] }, /unknown kind "forgery"/);
    bad({ transactions: 10_000_000 }, /--transactions/);
  });

  it('--warmup and --bank-batch-interval-ms: bounded, and only where they apply', () => {
    bad({ warmupS: -1 }, /--warmup must be an integer from 0 to 300/);
    bad({ warmupS: 1.5 }, /--warmup/);
    bad({ warmupS: 301 }, /--warmup/);
    bad({ warmupS: 2, mix: { key: 0.5, multi: 0, policy: 0, contract: 0.5, offline: 0 } }, /--warmup applies to runs of key payments/);
    bad({ warmupS: 2, mix: { key: 0.5, multi: 0, policy: 0, contract: 0, offline: 0.5 } }, /--warmup applies to runs of key payments/);
    expect(validateKnobs(knobs({ warmupS: 5, rate: 100 }))).toBeTruthy();
    expect(validateKnobs(knobs({ warmupS: 5, target: 'central', batch: 100 }))).toBeTruthy();
    // The warm-up is offered from the same pre-built workload: it is sized for both.
    expect(plannedCount(knobs({ rate: 100, durationS: 10, warmupS: 5 }))).toBe(Math.ceil(100 * 15 * 1.05));
    bad({ bankBatchIntervalMs: -1 }, /--bank-batch-interval-ms must be an integer from 0 to 1000/);
    bad({ bankBatchIntervalMs: 1001 }, /--bank-batch-interval-ms/);
    bad({ bankBatchIntervalMs: 10, target: 'central' }, /--bank-batch-interval-ms applies to --target e2e/);
    expect(validateKnobs(knobs({ bankBatchIntervalMs: 0 }))).toBeTruthy();
  });

  it('refuses combinations the e2e path cannot do', () => {
    bad({ pipelining: 4 }, /--pipelining must be 1 for --target e2e/);
    bad({ batch: 10 }, /--batch must be 1 for --target e2e/);
    bad({ outputs: 3 }, /--outputs must be 1 or 2 for --target e2e/);
    bad({ banks: 1, crossBank: 0.5 }, /--cross-bank > 0 needs --banks 2/);
    bad({ wallets: 3, banks: 2, crossBank: 0 }, /at least 2 wallets/);
    bad({ mix: { key: 0.5, multi: 0.5, policy: 0, contract: 0, offline: 0 } }, /--mix multi and policy apply to --target central/);
    bad({ mix: { key: 0.5, multi: 0, policy: 0.5, contract: 0, offline: 0 } }, /--mix multi and policy apply to --target central/);
    bad({ mix: { key: 0, multi: 0, policy: 0, contract: 0, offline: 1 } }, /e2e needs a share of key/);
    bad({ invalidKinds: ['timelock'] }, /apply to --target central/);
    bad({ mix: { key: 0.5, multi: 0, policy: 0, contract: 0, offline: 0.5 }, transactions: 1_000_000, wallets: 10 }, /--mix offline: 500000 vouchers, above 50000/);
    bad({ mix: { key: 0.5, multi: 0, policy: 0, contract: 0, offline: 0.5 }, transactions: 20_000, wallets: 10 }, /need more --wallets/);
    bad({ mix: { key: 0.5, multi: 0, policy: 0, contract: 0.5, offline: 0 }, wallets: 5, banks: 2 }, /--contract-kinds escrow needs at least 3 wallets per bank/);
    expect(validateKnobs(knobs({ mix: { key: 0.5, multi: 0, policy: 0, contract: 0.5, offline: 0 }, wallets: 5, banks: 2, contractKinds: { hashlock: 1, escrow: 0, prepaid: 0 } }))).toBeTruthy();
    bad({ contractKinds: { hashlock: 0.5, escrow: 0.6, prepaid: 0 } }, /--contract-kinds shares must be >= 0 and add up to 1/);
  });

  it('refuses combinations the central path cannot do', () => {
    bad({ target: 'central', mix: { key: 0.5, multi: 0, policy: 0, contract: 0.5, offline: 0 } }, /--mix contract applies to --target e2e/);
    bad({ target: 'central', mix: { key: 0.5, multi: 0, policy: 0, contract: 0, offline: 0.5 } }, /--mix offline applies to --target e2e/);
    bad({ target: 'central', invalidKinds: ['timelock'] }, /need policy transfers: add policy to --mix/);
    expect(validateKnobs(knobs({ target: 'central', invalidKinds: ['timelock', 'wrong_preimage'], mix: { key: 0.5, multi: 0, policy: 0.5, contract: 0, offline: 0 } }))).toBeTruthy();
  });

  it('--mix: shares normalised', () => {
    expect(parseMix('key=3,multi=1')).toEqual({ key: 0.75, multi: 0.25, policy: 0, contract: 0, offline: 0 });
    expect(parseMix('key=2,multi=1,policy=1')).toEqual({ key: 0.5, multi: 0.25, policy: 0.25, contract: 0, offline: 0 });
    expect(parseMix('key=0.8,contract=0.1,offline=0.1')).toEqual({ key: 0.8, multi: 0, policy: 0, contract: 0.1, offline: 0.1 });
    expect(() => parseMix('key=-1')).toThrow(/needs a share >= 0/);
    expect(() => parseMix('lightning=1')).toThrow(/unknown kind "lightning"/);
    expect(() => parseMix('key=0')).toThrow(/add up to 0/);
  });

  it('--contract-kinds: shares normalised', () => {
    expect(parseContractKinds('hashlock=1,escrow=3')).toEqual({ hashlock: 0.25, escrow: 0.75, prepaid: 0 });
    expect(parseContractKinds('escrow=1')).toEqual({ hashlock: 0, escrow: 1, prepaid: 0 });
    expect(parseContractKinds('prepaid=1')).toEqual({ hashlock: 0, escrow: 0, prepaid: 1 });
    expect(() => parseContractKinds('subsidy=1')).toThrow(/unknown kind "subsidy"/);
    expect(() => parseContractKinds('escrow=x')).toThrow(/needs a share >= 0/);
    expect(() => parseContractKinds('escrow=0')).toThrow(/add up to 0/);
  });

  it('pre-builds rate x duration with room to spare, or what --transactions says', () => {
    expect(plannedCount(knobs({ rate: 1000, durationS: 10 }))).toBe(10_500);
    expect(plannedCount(knobs({ transactions: 1234 }))).toBe(1234);
  });
});
