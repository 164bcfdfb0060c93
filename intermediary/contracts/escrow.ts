// Escrow with an arbiter: the buyer's money is locked until two of buyer, seller and arbiter
// agree where it goes: to the seller (release) or back to the buyer (refund).
//
//   lock = and( multi(2, [buyer, seller, arbiter]), key(B) )
//
// Any of the three proposes an outcome; the bank builds that one transaction; it settles once
// two of them have signed its txid (buyer and seller agreeing, or the arbiter deciding with
// the party it decides for). B, the bank's fresh key, co-signs as for every customer payment.
import { CbdcError } from '../../protocol/errors.js';
import { andLock, keyLock, multiLock } from '../../protocol/lock.js';
import { type Actor, type Engine, type Plan, type Service, type SpendRec, terms } from './engine.js';
import { amountTerm, onlyFields, termString } from './common.js';
import type { ContractRec } from './store.js';

const owner = (c: ContractRec): string => `ctr:${c.id}`;

export const escrow: Service = {
  kind: 'escrow',

  plan(e: Engine, creator: string, body: Record<string, unknown>, bankKey: Buffer): Plan {
    onlyFields(body, ['seller', 'arbiter', 'amount_fen']);
    const seller = e.partyAccount(body.seller, 'seller');
    const arbiter = e.partyAccount(body.arbiter, 'arbiter');
    if (new Set([creator, seller, arbiter]).size !== 3) throw terms('buyer, seller and arbiter are three different accounts');
    const amount = amountTerm(body.amount_fen, 'amount_fen');
    const lock = andLock(multiLock(2, [e.walletKeyOf(creator), e.walletKeyOf(seller), e.walletKeyOf(arbiter)]), keyLock(bankKey));
    return {
      pots: [{ owner: 'ctr:{id}', lock, valueFen: amount }], parties: [seller, arbiter],
      terms: { buyer: creator, seller, arbiter }, state: { outcome: null, decided_by: [] }, deadlineMs: null, limitsNow: true,
    };
  },

  async act(e: Engine, c: ContractRec, actor: Actor, action: string, body: Record<string, unknown>): Promise<SpendRec> {
    const buyer = c.account;
    const seller = termString(c, 'seller');
    const arbiter = termString(c, 'arbiter');
    if (action !== 'resolve') throw terms(`an escrow knows the action resolve, not "${action.slice(0, 32)}"`);
    if (actor.account === null || ![buyer, seller, arbiter].includes(actor.account)) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'only the buyer, the seller or the arbiter proposes an outcome');
    onlyFields(body, ['outcome']);
    if (body.outcome !== 'release' && body.outcome !== 'refund') throw terms('outcome is release (to the seller) or refund (to the buyer)');
    const to = body.outcome === 'release' ? seller : buyer;
    const held = e.heldFen(owner(c));
    return e.propose(c, {
      action: `resolve-${body.outcome}`, owner: owner(c), outputs: [{ value: held, lock: e.bank.payLockOf(to) }], amountFen: held, changeLock: null,
      signers: [buyer, seller, arbiter].map((p) => ({ party: p, key: e.walletKeyOf(p) })), need: 2,
      effect: { outcome: body.outcome, to, amount_fen: held.toString() },
    });
  },

  onSettled(_e: Engine, c: ContractRec, s: SpendRec): ContractRec {
    const decidedBy = s.sigs.map((x) => s.signers.find((y) => y.key === x.key)?.party ?? x.key);
    return { ...c, status: s.effect.outcome === 'release' ? 'released' : 'refunded', state: { outcome: s.effect.outcome, decided_by: decidedBy } };
  },

  expire() {
    return [];
  },
};
