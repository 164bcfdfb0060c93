// The workload generator: the same seed gives the same workload, the invalid share is exact,
// every knob is checked with an error that names it, and the signed transfers verify (or, for
// bad signatures, do not).
import { describe, expect, it } from 'vitest';
import { nativeVerifier } from '../protocol/sig.js';
import { txId } from '../protocol/tx.js';
import { encodeLock } from '../protocol/lock.js';
import {
  COIN_VALUE_FEN, KIND_BAD_SIGNATURE, KIND_DOUBLE_SPEND, KIND_VALID, KnobError, type Knobs, burnTransfers, coinsPerWallet, countKinds,
  defaultKnobs, parseMix, planCentral, planKinds, planPayments, plannedCount, signCentral, validateKnobs, wrongHash,
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
    const k = knobs({ target: 'central', wallets: 50, mix: { key: 0.7, multi: 0.3 }, invalid: 0.1 });
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
    expect(only).toEqual({ valid: 900, double_spend: 0, bad_signature: 100 });
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
    const k = knobs({ target: 'central', wallets: 20, inputs: 3, outputs: 4, invalid: 0.2, mix: { key: 0.5, multi: 0.5 } });
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

  it('refuses combinations the e2e path cannot do', () => {
    bad({ pipelining: 4 }, /--pipelining must be 1 for --target e2e/);
    bad({ batch: 10 }, /--batch must be 1 for --target e2e/);
    bad({ outputs: 3 }, /--outputs must be 1 or 2 for --target e2e/);
    bad({ banks: 1, crossBank: 0.5 }, /--cross-bank > 0 needs --banks 2/);
    bad({ wallets: 3, banks: 2, crossBank: 0 }, /at least 2 wallets/);
    bad({ mix: { key: 0.5, multi: 0.5 } }, /--mix applies to --target central/);
  });

  it('--mix: shares normalised; contract and offline payments are not there yet', () => {
    expect(parseMix('key=3,multi=1')).toEqual({ key: 0.75, multi: 0.25 });
    expect(() => parseMix('contract=0.5,key=0.5')).toThrow(/"contract" payments are not available yet/);
    expect(() => parseMix('offline=1')).toThrow(/not available yet/);
    expect(() => parseMix('key=-1')).toThrow(/needs a share >= 0/);
    expect(() => parseMix('lightning=1')).toThrow(/unknown kind "lightning"/);
    expect(() => parseMix('key=0')).toThrow(/add up to 0/);
  });

  it('pre-builds rate x duration with room to spare, or what --transactions says', () => {
    expect(plannedCount(knobs({ rate: 1000, durationS: 10 }))).toBe(10_500);
    expect(plannedCount(knobs({ transactions: 1234 }))).toBe(1234);
  });
});
