// Prepaid funds: the payer's money is locked for a merchant and released per delivered unit on
// the payer's (or its delegate's) confirmation; what is left goes back to the payer after the
// deadline, or earlier when the merchant is frozen or closed.
//
//   lock = or( and(consent, key(B), before(D)),     release (or early refund) before the deadline
//              and(after(D), key(B)) )               the bank alone, after it: refund to the payer
//   consent = key(P), or multi(1, [P, G]) with a delegate key G
//
// B is a fresh derived key of the bank. The merchant is never paid without the payer's or the
// delegate's signature; the payer never takes money back before the deadline without the bank's
// co-signature, which it gives only while the merchant is frozen or closed.
import { CbdcError } from '../../protocol/errors.js';
import { afterLock, andLock, beforeLock, keyLock, multiLock, orLock } from '../../protocol/lock.js';
import { type Actor, type Engine, type Plan, type Service, type SpendRec, potLock, state } from './engine.js';
import { amountTerm, futureTerm, intTerm, keyTerm, onlyFields, termNumber, termString } from './common.js';
import type { ContractRec } from './store.js';

/** Units one prepaid contract may have. */
export const PREPAID_UNITS_MAX = 10_000;

const owner = (c: ContractRec): string => `ctr:${c.id}`;

export const prepaid: Service = {
  kind: 'prepaid',

  plan(e: Engine, creator: string, body: Record<string, unknown>, bankKey: Buffer, now: number): Plan {
    onlyFields(body, ['merchant', 'unit_fen', 'units', 'deadline_ms', 'delegate_key']);
    const merchant = e.partyAccount(body.merchant, 'merchant');
    if (merchant === creator) throw new CbdcError('CBDC_ERR_PAYEE_REFUSED', 'a wallet cannot prepay itself');
    const unit = amountTerm(body.unit_fen, 'unit_fen');
    const units = intTerm(body.units, 'units', 1, PREPAID_UNITS_MAX);
    const deadline = futureTerm(body.deadline_ms, 'deadline_ms', now);
    const delegate = body.delegate_key === undefined ? null : keyTerm(body.delegate_key, 'delegate_key');
    const payer = e.walletKeyOf(creator);
    if (delegate !== null && (delegate.equals(payer) || delegate.equals(bankKey))) throw new CbdcError('CBDC_ERR_CONTRACT_TERMS', "the delegate key is another key than the payer's");
    const consent = delegate === null ? keyLock(payer) : multiLock(1, [payer, delegate]);
    const lock = orLock(andLock(consent, keyLock(bankKey), beforeLock(deadline)), andLock(afterLock(deadline), keyLock(bankKey)));
    const total = unit * BigInt(units);
    return {
      pots: [{ owner: 'ctr:{id}', lock, valueFen: total }], parties: [merchant],
      terms: { merchant, unit_fen: unit.toString(), units, deadline_ms: deadline, ...(delegate !== null ? { delegate_key: delegate.toString('hex') } : {}) },
      state: { released_units: 0, released_fen: '0', refunded_fen: '0' }, deadlineMs: deadline, limitsNow: true,
    };
  },

  async act(e: Engine, c: ContractRec, actor: Actor, action: string, body: Record<string, unknown>, now: number): Promise<SpendRec> {
    const payer = c.account;
    const merchant = termString(c, 'merchant');
    const deadline = termNumber(c, 'deadline_ms');
    const delegate = typeof c.terms.delegate_key === 'string' ? c.terms.delegate_key : null;
    const payerKey = e.walletKeyOf(payer);
    const isPayer = actor.account === payer;
    const isDelegate = delegate !== null && actor.key.toString('hex') === delegate;
    const consentSigners = [{ party: payer, key: payerKey }, ...(delegate !== null ? [{ party: 'delegate', key: Buffer.from(delegate, 'hex') }] : [])];
    if (action === 'release') {
      if (!isPayer && !isDelegate && !actor.staff) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'only the payer or its delegate confirms a delivered unit');
      onlyFields(body, ['units']);
      const n = intTerm(body.units ?? 1, 'units', 1, PREPAID_UNITS_MAX);
      if (now >= deadline) throw new CbdcError('CBDC_ERR_LOCK_TIMELOCK', 'the deadline has passed: what is left goes back to the payer');
      const m = e.bank.account(merchant);
      if (m.status === 'frozen') throw new CbdcError('CBDC_ERR_ACCOUNT_FROZEN', 'the merchant is frozen: nothing is released to it; the payer may ask for a refund');
      if (m.status === 'closed') throw new CbdcError('CBDC_ERR_ACCOUNT_CLOSED', 'the merchant account is closed; the payer may ask for a refund');
      const amount = BigInt(termString(c, 'unit_fen')) * BigInt(n);
      return e.propose(c, {
        action: 'release', owner: owner(c), outputs: [{ value: amount, lock: e.bank.payLockOf(merchant) }], amountFen: amount, changeLock: potLock(c, owner(c)),
        signers: consentSigners, need: 1, effect: { units: n, amount_fen: amount.toString(), to: merchant },
      });
    }
    if (action === 'refund') {
      if (!isPayer && !actor.staff) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'only the payer asks for a refund');
      onlyFields(body, []);
      if (now >= deadline) {
        const s = await e.bankSpend(c, { owner: owner(c), action: 'refund', to: payer, effect: { refund: true, by: 'deadline' } });
        if (s === null) throw state('nothing is left to refund (a spend may be under way)');
        return s;
      }
      const m = e.bank.store.accounts.get(merchant);
      if (m !== undefined && m.status === 'active') throw state('before the deadline the bank co-signs a refund only while the merchant is frozen or closed');
      const held = e.heldFen(owner(c));
      return e.propose(c, {
        action: 'refund', owner: owner(c), outputs: [{ value: held, lock: e.bank.payLockOf(payer) }], amountFen: held, changeLock: null,
        signers: [{ party: payer, key: payerKey }], need: 1, effect: { refund: true, by: 'merchant-frozen', amount_fen: held.toString() },
      });
    }
    throw new CbdcError('CBDC_ERR_CONTRACT_TERMS', `a prepaid contract knows the actions release and refund, not "${action.slice(0, 32)}"`);
  },

  onSettled(e: Engine, c: ContractRec, s: SpendRec): ContractRec {
    const st = { ...c.state } as { released_units: number; released_fen: string; refunded_fen: string };
    if (typeof s.effect.units === 'number') {
      st.released_units += s.effect.units;
      st.released_fen = (BigInt(st.released_fen) + BigInt(s.effect.amount_fen as string)).toString();
    }
    if (s.effect.refund === true) st.refunded_fen = (BigInt(st.refunded_fen) + BigInt(s.effect.amount_fen as string)).toString();
    const status = e.empty(c) ? (BigInt(st.refunded_fen) > 0n ? 'refunded' : 'completed') : c.status;
    return { ...c, state: st, status };
  },

  expire(e: Engine, c: ContractRec) {
    return e.heldFen(owner(c)) > 0n ? [{ owner: owner(c), action: 'refund', to: c.account, effect: { refund: true, by: 'deadline' } }] : [];
  },
};
