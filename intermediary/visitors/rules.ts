// The visitor wallet's rules the bank applies wherever money comes in, and its passport hash.
// Pure: the caller gives the account, the bank's clock and the pepper.
import { createHmac } from 'node:crypto';
import { CbdcError } from '../../protocol/errors.js';
import type { AccountRec } from '../store.js';

export const HOUR_MS = 3_600_000;
/** A visitor wallet's validity: at least an hour, at most 180 days from its opening. */
export const VISITOR_VALIDITY_MIN_MS = HOUR_MS;
export const VISITOR_VALIDITY_MAX_MS = 180 * 24 * HOUR_MS;

/** Whether a visitor wallet's validity has ended (a resident account's never does). */
export function visitorExpired(a: AccountRec, nowMs: number): boolean {
  return a.visitor !== undefined && nowMs >= a.visitor.validUntilMs;
}

/**
 * Refuses money coming in to a visitor wallet past its validity end: payments to it (quotes,
 * receive terms), exchanges and top-ups. Paying out and converting back are never refused here.
 */
export function checkVisitorReceives(a: AccountRec, nowMs: number): void {
  if (visitorExpired(a, nowMs)) {
    throw new CbdcError('CBDC_ERR_VISITOR_EXPIRED', `the visitor wallet was valid until ${new Date(a.visitor!.validUntilMs).toISOString()}; it only pays out and converts back now`);
  }
}

/** Checks a validity end asked for at opening, by the bank's clock. */
export function checkValidity(validUntilMs: unknown, nowMs: number): number {
  if (typeof validUntilMs !== 'number' || !Number.isSafeInteger(validUntilMs)) throw new CbdcError('CBDC_ERR_VISITOR_VALIDITY', 'a visitor wallet needs valid_until_ms, whole milliseconds since the epoch');
  if (validUntilMs < nowMs + VISITOR_VALIDITY_MIN_MS) throw new CbdcError('CBDC_ERR_VISITOR_VALIDITY', 'valid_until_ms must be at least an hour ahead');
  if (validUntilMs > nowMs + VISITOR_VALIDITY_MAX_MS) throw new CbdcError('CBDC_ERR_VISITOR_VALIDITY', 'valid_until_ms must be at most 180 days ahead');
  return validUntilMs;
}

/** The canonical passport string: nationality, ":", the number uppercased ("FRA:12AB34567"). */
export function passportCanonical(nationality: string, passportNumber: string): string {
  return `${nationality}:${passportNumber.toUpperCase()}`;
}

/** HMAC-SHA256 (RFC 2104) of `text` under the bank's pepper, hex. */
export function keyedHash(pepper: Buffer, text: string): string {
  return createHmac('sha256', pepper).update(text, 'utf8').digest('hex');
}

export function passportHash(pepper: Buffer, nationality: string, passportNumber: string): string {
  return keyedHash(pepper, passportCanonical(nationality, passportNumber));
}
