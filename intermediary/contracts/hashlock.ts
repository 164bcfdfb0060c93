// Hash-locked payment (delivery versus payment): the payee takes the money by revealing the
// preimage of a hash before a timeout; after it the bank gives the money back to the payer.
//
//   lock = or( and(hash(H), multi(2, [payee, B]), before(T)),   claim: preimage + payee + bank
//              and(after(T), key(B)) )                           the bank alone, after T: refund
import { CbdcError } from '../../protocol/errors.js';
import { hexToBytes } from '../../protocol/bytes.js';
import { sha256 } from '../../protocol/hash.js';
import { PREIMAGE_BYTES, afterLock, andLock, beforeLock, hashLock, keyLock, multiLock, orLock } from '../../protocol/lock.js';
import { type Actor, type Engine, type Plan, type Service, type SpendRec, state, terms } from './engine.js';
import { amountTerm, futureTerm, onlyFields, termNumber, termString } from './common.js';
import type { ContractRec } from './store.js';

const owner = (c: ContractRec): string => `ctr:${c.id}`;

export const hashlock: Service = {
  kind: 'hashlock',

  plan(e: Engine, creator: string, body: Record<string, unknown>, bankKey: Buffer, now: number): Plan {
    onlyFields(body, ['payee', 'amount_fen', 'hash', 'timeout_ms']);
    const payee = e.partyAccount(body.payee, 'payee');
    if (payee === creator) throw new CbdcError('CBDC_ERR_PAYEE_REFUSED', 'a wallet cannot pay itself');
    const amount = amountTerm(body.amount_fen, 'amount_fen');
    const hash = hexToBytes(body.hash, 32, 'hash');
    const timeout = futureTerm(body.timeout_ms, 'timeout_ms', now);
    const lock = orLock(andLock(hashLock(hash), multiLock(2, [e.walletKeyOf(payee), bankKey]), beforeLock(timeout)), andLock(afterLock(timeout), keyLock(bankKey)));
    return {
      pots: [{ owner: 'ctr:{id}', lock, valueFen: amount }], parties: [payee],
      terms: { payee, hash: hash.toString('hex'), timeout_ms: timeout }, state: { preimage: null }, deadlineMs: timeout, limitsNow: true,
    };
  },

  async act(e: Engine, c: ContractRec, actor: Actor, action: string, body: Record<string, unknown>, now: number): Promise<SpendRec> {
    const payee = termString(c, 'payee');
    const timeout = termNumber(c, 'timeout_ms');
    if (action === 'claim') {
      if (actor.account !== payee) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'only the payee claims');
      onlyFields(body, ['preimage']);
      const preimage = hexToBytes(body.preimage, PREIMAGE_BYTES, 'preimage');
      if (!sha256(preimage).equals(Buffer.from(termString(c, 'hash'), 'hex'))) throw new CbdcError('CBDC_ERR_LOCK_PREIMAGE', "the preimage does not hash to the contract's hash");
      if (now >= timeout) throw new CbdcError('CBDC_ERR_LOCK_TIMELOCK', 'the claim window has closed: the money goes back to the payer');
      const held = e.heldFen(owner(c));
      return e.propose(c, {
        action: 'claim', owner: owner(c), outputs: [{ value: held, lock: e.bank.payLockOf(payee) }], amountFen: held, changeLock: null,
        signers: [{ party: payee, key: e.walletKeyOf(payee) }], need: 1, preimages: [preimage], effect: { claim: true, amount_fen: held.toString(), preimage: preimage.toString('hex') },
      });
    }
    if (action === 'refund') {
      if (actor.account !== c.account && !actor.staff) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'only the payer asks for the refund');
      onlyFields(body, []);
      if (now < timeout) throw new CbdcError('CBDC_ERR_LOCK_TIMELOCK', 'the payee may claim until the timeout; the refund comes after it');
      const s = await e.bankSpend(c, { owner: owner(c), action: 'refund', to: c.account, effect: { refund: true } });
      if (s === null) throw state('nothing is left to refund (a spend may be under way)');
      return s;
    }
    throw terms(`a hash-locked payment knows the actions claim and refund, not "${action.slice(0, 32)}"`);
  },

  onSettled(_e: Engine, c: ContractRec, s: SpendRec): ContractRec {
    if (s.effect.claim === true) return { ...c, status: 'claimed', state: { preimage: s.effect.preimage } };
    return { ...c, status: 'refunded' };
  },

  expire(e: Engine, c: ContractRec) {
    return e.heldFen(owner(c)) > 0n ? [{ owner: owner(c), action: 'refund', to: c.account, effect: { refund: true } }] : [];
  },
};
