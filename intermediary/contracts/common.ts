// Term parsing shared by the contract services: amounts, times, keys, counts, each refused
// with CBDC_ERR_CONTRACT_TERMS (or the amount codes) when malformed or out of bounds.
import { AMOUNT_FEN_MAX, parsePositiveAmountFen } from '../../protocol/amount.js';
import { isCbdcError } from '../../protocol/errors.js';
import { parsePublicKey } from '../../protocol/sig.js';
import { CONTRACT_HORIZON_MS_MAX, type Actor, terms } from './engine.js';
import type { ContractRec } from './store.js';

export function amountTerm(v: unknown, what: string): bigint {
  const a = parsePositiveAmountFen(v, what);
  if (a > AMOUNT_FEN_MAX) throw terms(`${what} is above AMOUNT_FEN_MAX`);
  return a;
}

/** A future time within the horizon (ms since the Unix epoch). */
export function futureTerm(v: unknown, what: string, now: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw terms(`${what} must be a time in ms since the Unix epoch`);
  if (v <= now) throw terms(`${what} is not in the future`);
  if (v > now + CONTRACT_HORIZON_MS_MAX) throw terms(`${what} lies too far ahead`);
  return v;
}

export function intTerm(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw terms(`${what} must be a whole number from ${min} to ${max}`);
  return v;
}

export function keyTerm(v: unknown, what: string): Buffer {
  try {
    return parsePublicKey(v, what);
  } catch (e) {
    if (isCbdcError(e)) throw terms(`${what}: ${e.message}`);
    throw e;
  }
}

/** Refuses anything but the listed fields. */
export function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw terms(`unknown field "${k.slice(0, 32)}"`);
}

export function isParty(actor: Actor, account: string): boolean {
  return actor.account === account;
}

export function termString(c: ContractRec, k: string): string {
  const v = c.terms[k];
  if (typeof v !== 'string') throw new Error(`invariant violated: contract term ${k} is a string`);
  return v;
}

export function termNumber(c: ContractRec, k: string): number {
  const v = c.terms[k];
  if (typeof v !== 'number') throw new Error(`invariant violated: contract term ${k} is a number`);
  return v;
}
