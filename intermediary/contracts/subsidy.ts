// Purpose-bound subsidy: an issuer (a city, say) pays many recipients at once money they can
// spend only at merchants of given categories, until an expiry; then what is left goes back
// to the issuer. Each recipient's share is one output:
//
//   lock = or( and(multi(2, [recipient, B]), before(E), purpose([mcc...])),   spend at a merchant
//              and(after(E), key(B)) )                                        the bank alone, after E
//
// The purpose rule lets a spend pay only the same lock (change) or locks an intermediary
// certified for one of the categories: this bank certifies its merchant's lock for the
// merchant's category when it builds the spend. Recipients and merchants are this bank's.
import { CbdcError } from '../../protocol/errors.js';
import { LOCK_MCCS_MAX } from '../../protocol/limits.js';
import { afterLock, andLock, beforeLock, keyLock, multiLock, orLock, purposeLock } from '../../protocol/lock.js';
import { witnessCertToJson } from '../../protocol/merchant_cert.js';
import { type Actor, type Engine, type Plan, type Service, type SpendRec, SPEND_TTL_MS, potLock, terms } from './engine.js';
import { amountTerm, futureTerm, onlyFields, termNumber } from './common.js';
import type { ContractRec } from './store.js';
import { checkActive } from '../accounts.js';

/** Recipients of one subsidy (one output each, in the funding transaction with its change). */
export const SUBSIDY_RECIPIENTS_MAX = 60;

interface Recipient { account: string; amount_fen: string; owner: string }

export const subsidy: Service = {
  kind: 'subsidy',

  plan(e: Engine, creator: string, body: Record<string, unknown>, bankKey: Buffer, now: number): Plan {
    onlyFields(body, ['recipients', 'mccs', 'expires_at_ms']);
    const expires = futureTerm(body.expires_at_ms, 'expires_at_ms', now);
    if (!Array.isArray(body.mccs) || body.mccs.length < 1 || body.mccs.length > LOCK_MCCS_MAX) throw terms(`mccs lists 1 to ${LOCK_MCCS_MAX} merchant category codes`);
    const mccs = body.mccs.map((m) => {
      if (typeof m !== 'string' || !/^[0-9]{4}$/.test(m)) throw terms('a merchant category code is four digits, as a string');
      return Number(m);
    });
    if (new Set(mccs).size !== mccs.length) throw terms('a merchant category code is listed twice');
    if (!Array.isArray(body.recipients) || body.recipients.length < 1 || body.recipients.length > SUBSIDY_RECIPIENTS_MAX) throw terms(`recipients lists 1 to ${SUBSIDY_RECIPIENTS_MAX} accounts`);
    const seen = new Set<string>();
    const pots: Plan['pots'] = [];
    const recipients: Recipient[] = body.recipients.map((r, j) => {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) throw terms(`recipient ${j} is {account, amount_fen}`);
      const rr = r as Record<string, unknown>;
      onlyFields(rr, ['account', 'amount_fen']);
      const account = e.partyAccount(rr.account, `recipient ${j}`);
      if (account === creator || seen.has(account)) throw terms(`recipient ${j} is the issuer or listed twice`);
      seen.add(account);
      const amount = amountTerm(rr.amount_fen, `recipient ${j} amount_fen`);
      const lock = orLock(andLock(multiLock(2, [e.walletKeyOf(account), bankKey]), beforeLock(expires), purposeLock(mccs)), andLock(afterLock(expires), keyLock(bankKey)));
      const owner = `ctr:{id}:${j}`;
      pots.push({ owner, lock, valueFen: amount });
      return { account, amount_fen: amount.toString(), owner };
    });
    return {
      pots, parties: recipients.map((r) => r.account),
      terms: { mccs: mccs.map((m) => String(m).padStart(4, '0')), expires_at_ms: expires, recipients: recipients.map((r) => ({ account: r.account, amount_fen: r.amount_fen })) },
      state: { spent_fen: '0', reverted_fen: '0' }, deadlineMs: expires, limitsNow: true,
    };
  },

  async act(e: Engine, c: ContractRec, actor: Actor, action: string, body: Record<string, unknown>, now: number): Promise<SpendRec> {
    if (action !== 'spend') throw terms(`a subsidy knows the action spend, not "${action.slice(0, 32)}"`);
    const recipients = c.terms.recipients as { account: string }[];
    const j = recipients.findIndex((r) => r.account === actor.account);
    if (j < 0) throw new CbdcError('CBDC_ERR_FORBIDDEN', 'only a recipient spends its subsidy');
    onlyFields(body, ['merchant', 'amount_fen']);
    const amount = amountTerm(body.amount_fen, 'amount_fen');
    const merchantId = e.partyAccount(body.merchant, 'merchant');
    const m = e.bank.account(merchantId);
    const mccs = c.terms.mccs as string[];
    if (m.kind !== 'merchant' || m.mcc === null || !mccs.includes(m.mcc)) {
      throw new CbdcError('CBDC_ERR_LOCK_PURPOSE', `this subsidy is spent only at merchants of categories ${mccs.join(', ')}${m.mcc ? `, not ${m.mcc}` : ''}`);
    }
    checkActive(m, 'the merchant cannot take payments');
    const expires = termNumber(c, 'expires_at_ms');
    if (now >= expires) throw new CbdcError('CBDC_ERR_LOCK_TIMELOCK', 'the subsidy has expired: what is left goes back to the issuer');
    const owner = `ctr:${c.id}:${j}`;
    const merchantLock = e.bank.payLockOf(merchantId);
    const cert = e.bank.certifyMerchantLock(merchantLock, Number(m.mcc), Math.min(expires, now + SPEND_TTL_MS + 3_600_000));
    return e.propose(c, {
      action: 'spend', owner, outputs: [{ value: amount, lock: merchantLock }], amountFen: amount, changeLock: potLock(c, owner),
      signers: [{ party: actor.account!, key: e.walletKeyOf(actor.account!) }], need: 1, certs: [witnessCertToJson({ output: 0, ...cert })],
      effect: { spend: true, merchant: merchantId, recipient: actor.account, amount_fen: amount.toString() },
    });
  },

  onSettled(e: Engine, c: ContractRec, s: SpendRec): ContractRec {
    const st = { ...c.state } as { spent_fen: string; reverted_fen: string };
    if (s.effect.spend === true) st.spent_fen = (BigInt(st.spent_fen) + BigInt(s.effect.amount_fen as string)).toString();
    else st.reverted_fen = (BigInt(st.reverted_fen) + BigInt(s.effect.amount_fen as string)).toString();
    const status = e.empty(c) ? (BigInt(st.reverted_fen) > 0n ? 'expired' : 'spent') : c.status;
    return { ...c, state: st, status };
  },

  expire(e: Engine, c: ContractRec) {
    const pots = (c.terms.pots as { owner: string }[]);
    return pots.filter((p) => e.heldFen(p.owner) > 0n).map((p) => ({ owner: p.owner, action: 'revert', to: c.account, effect: { revert: true } }));
  },
};
