// How the command-line wallet shows things to people: amounts as yuan ("12.34"), one line per
// history entry, and each refusal as one line with the server's code.
import { formatYuan } from '../protocol/amount.js';
import type { AccountJson, HistoryEntry } from './client.js';

export const yuan = (fen: string | bigint | null): string => (fen === null ? 'no cap' : formatYuan(BigInt(fen)));

/**
 * For --json output: every `<name>_fen` string field (at any depth) gets a `<name>` twin in
 * yuan ("12.34"); the fen field stays, exact and as the API gives it.
 */
export function withYuan<T>(v: T): T {
  if (Array.isArray(v)) return v.map(withYuan) as T;
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = withYuan(x);
    if (k.endsWith('_fen') && (typeof x === 'string' || x === null) && (x === null || /^[0-9]+$/.test(x))) {
      const name = k.slice(0, -4);
      if (!(name in (v as Record<string, unknown>))) out[name] = x === null ? null : formatYuan(BigInt(x));
    }
  }
  return out as T;
}

const timeFormat = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

export function formatTime(ms: number): string {
  return timeFormat.format(new Date(ms));
}

/** One line for a history entry (history and watch). */
export function formatEntry(e: HistoryEntry): string {
  const sign = e.direction === 'in' ? '+' : '-';
  let what: string;
  if (e.kind === 'sweep') what = 'over your balance cap: moved to your linked deposit';
  else if (e.kind === 'exchange') what = e.direction === 'in' ? 'exchange from your deposit' : 'exchange to your deposit';
  else what = e.direction === 'in' ? `payment from ${e.counterparty}` : `payment to ${e.counterparty}`;
  return `#${e.seq}  ${formatTime(e.at_ms)}  ${e.direction === 'in' ? 'in ' : 'out'}  ${(sign + yuan(e.amount_fen)).padStart(12)}  ${what}  (wallet ${yuan(e.balance_after_fen)})`;
}

export function formatAccount(a: AccountJson, bankId: string): string[] {
  const l = a.limits;
  return [
    `account   ${a.id} at ${bankId} (${a.kind}${a.mcc ? ` ${a.mcc}` : ''}, tier ${a.tier}, ${a.status})`,
    `aliases   ${a.aliases.length > 0 ? a.aliases.join(', ') : '(none)'}`,
    `wallet    ${yuan(a.balance_fen)}`,
    `deposit   ${yuan(a.deposit_fen)}`,
    `limits    balance cap ${yuan(l.balance_cap_fen)} · per payment ${yuan(l.single_payment_fen)}`,
    `          daily ${yuan(l.daily_fen)} (used today ${yuan(a.used_today_fen)}) · yearly ${yuan(l.annual_fen)} (used this year ${yuan(a.used_this_year_fen)})`,
  ];
}

/** Plain words for the refusals people meet most; anything else shows the server's own message. */
const PLAIN: Record<string, string> = {
  CBDC_ERR_LIMIT_SINGLE: 'over your single-payment limit',
  CBDC_ERR_LIMIT_DAILY: 'over your daily limit',
  CBDC_ERR_LIMIT_ANNUAL: 'over your yearly limit',
  CBDC_ERR_BALANCE_CAP: "it would take the wallet over its balance cap (and there is no linked deposit account to take the rest)",
  CBDC_ERR_PAYEE_UNKNOWN: 'no such payee (check the alias or account id, and the bank)',
  CBDC_ERR_ACCOUNT_FROZEN: 'the account is frozen',
  CBDC_ERR_ACCOUNT_CLOSED: 'the account is closed',
  CBDC_ERR_ACCOUNT_EXISTS: 'this wallet key already has an account at that bank',
  CBDC_ERR_ALIAS_TAKEN: 'that alias belongs to another account',
  CBDC_ERR_IDEMPOTENCY_CONFLICT: 'that idempotency key was already used for a different request',
  CBDC_ERR_PAYMENT_EXPIRED: 'the payment expired before it was signed; nothing was paid',
  CBDC_ERR_OVERLOADED: 'the system is busy; try again shortly',
  CBDC_ERR_REQUEST_STALE: "this computer's clock is too far from the bank's",
  CBDC_ERR_UNAUTHENTICATED: 'the bank does not know this wallet',
  CBDC_ERR_FORBIDDEN: 'not allowed for this wallet',
};

function sentence(message: string): string {
  const m = message.trim().replace(/\.$/, '');
  return m.length > 0 ? m[0]!.toLowerCase() + m.slice(1) : m;
}

/** Where the plain words depend on what was being done. */
const PLAIN_IN_CONTEXT: Record<string, string> = {
  'payment:CBDC_ERR_INSUFFICIENT_FUNDS': 'not enough money in your wallet (payments still in flight count too)',
};

/** "payment refused: over your daily limit (CBDC_ERR_LIMIT_DAILY)" */
export function refusalLine(context: string, code: string, serverMessage: string): string {
  return `${context} refused: ${PLAIN_IN_CONTEXT[`${context}:${code}`] ?? PLAIN[code] ?? sentence(serverMessage)} (${code})`;
}

export { sentence as plainSentence };
