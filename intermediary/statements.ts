// What the bank tells of its books: an account's history and its statement for a day, the
// bank's totals, and the reconciliation of every coin it believes it or its customers hold
// against central. Reads only.
import type { CentralLink } from './central_link.js';
import { BANK_OWNER, OFFLINE_RESERVE_OWNER, type BankStore, type HistoryRec } from './store.js';

export interface HistoryFilter {
  fromSeq?: number;
  limit?: number;
  direction?: 'in' | 'out';
  fromMs?: number;
  toMs?: number;
}

export interface Statement {
  day: string;
  openingFen: string;
  closingFen: string;
  inFen: string;
  outFen: string;
  entries: HistoryRec[];
}

export interface BankTotals {
  customersWalletFen: bigint;
  customersDepositFen: bigint;
  holdingsFen: bigint;
  offlineReserveFen: bigint;
  contractsFen: bigint;
  accounts: number;
  coins: number;
}

export interface Reconciliation {
  ok: boolean;
  customersWalletFen: string;
  holdingsFen: string;
  coinsChecked: number;
  problems: string[];
}

/** An account's history entries from `fromSeq`, filtered, at most `limit` (50 by default, 500 at most). */
export function historyOf(store: BankStore, accountId: string, f: HistoryFilter = {}): HistoryRec[] {
  const out: HistoryRec[] = [];
  const limit = Math.min(f.limit ?? 50, 500);
  for (const { value } of store.history.getRange({ start: [accountId, f.fromSeq ?? 0], end: [accountId, Number.MAX_SAFE_INTEGER] })) {
    if (f.direction && value.direction !== f.direction) continue;
    if (f.fromMs !== undefined && value.atMs < f.fromMs) continue;
    if (f.toMs !== undefined && value.atMs >= f.toMs) continue;
    out.push(value);
    if (out.length >= limit) break;
  }
  return out;
}

/** A day's statement (bank time zone): opening and closing wallet balance and the entries between. */
export function statementOf(store: BankStore, accountId: string, day: string, dayStart: number): Statement {
  const dayEnd = dayStart + 86_400_000;
  let opening = 0n;
  let closing: bigint | null = null;
  let inFen = 0n;
  let outFen = 0n;
  const entries: HistoryRec[] = [];
  for (const { value } of store.history.getRange({ start: [accountId, 0], end: [accountId, Number.MAX_SAFE_INTEGER] })) {
    const signed = value.kind === 'sweep' ? 0n : value.direction === 'in' ? BigInt(value.amountFen) : -BigInt(value.amountFen);
    if (value.atMs < dayStart) {
      opening = BigInt(value.balanceAfterFen);
      continue;
    }
    if (value.atMs >= dayEnd) break;
    entries.push(value);
    if (signed > 0n) inFen += signed;
    else outFen -= signed;
    closing = BigInt(value.balanceAfterFen);
  }
  return { day, openingFen: opening.toString(), closingFen: (closing ?? opening).toString(), inFen: inFen.toString(), outFen: outFen.toString(), entries };
}

/** The bank's own figures: customers' wallets, deposits, holdings, the offline reserve, money held by contracts. */
export function bankTotals(store: BankStore, holdingsFen: bigint): BankTotals {
  let wallets = 0n;
  let deposits = 0n;
  let accounts = 0;
  for (const { value } of store.accounts.getRange({})) {
    wallets += BigInt(value.balanceFen);
    deposits += BigInt(value.depositFen);
    accounts++;
  }
  let coins = 0;
  let reserve = 0n;
  let contracts = 0n;
  for (const { value: c } of store.coins.getRange({})) {
    coins++;
    if (c.owner === OFFLINE_RESERVE_OWNER) reserve += BigInt(c.value);
    // Coins under contract locks (schedule pots, prepaid, escrow, subsidies): neither a wallet nor the bank's.
    else if (c.owner !== BANK_OWNER && store.accounts.get(c.owner) === undefined) contracts += BigInt(c.value);
  }
  return { customersWalletFen: wallets, customersDepositFen: deposits, holdingsFen, offlineReserveFen: reserve, contractsFen: contracts, accounts, coins };
}

/**
 * Reconciliation against central: every coin the bank believes it or its customers hold is
 * unspent at central with the same id and value, and the bank's totals equal their sums.
 */
export async function reconcileWithCentral(store: BankStore, link: Pick<CentralLink, 'call'>, holdingsFen: bigint): Promise<Reconciliation> {
  const problems: string[] = [];
  const byOwner = new Map<string, bigint>();
  let checked = 0;
  for (const { value: c } of store.coins.getRange({})) {
    const o = await link.call<{ id: string; value: string; spent: boolean }>('GET', `/v1/outputs/${c.pos}?id=${c.id}`).catch((e: Error) => {
      problems.push(`coin ${c.pos}: ${e.message}`);
      return null;
    });
    checked++;
    if (o === null) continue;
    if (o.spent) problems.push(`coin ${c.pos} of ${c.owner} is spent at central`);
    if (o.value !== c.value) problems.push(`coin ${c.pos}: value ${c.value} here, ${o.value} at central`);
    byOwner.set(c.owner, (byOwner.get(c.owner) ?? 0n) + BigInt(c.value));
  }
  let wallets = 0n;
  for (const { value: a } of store.accounts.getRange({})) {
    const sum = byOwner.get(a.id) ?? 0n;
    wallets += sum;
    if (sum !== BigInt(a.balanceFen)) problems.push(`account ${a.id}: balance ${a.balanceFen}, coins at central ${sum}`);
  }
  const holdings = byOwner.get(BANK_OWNER) ?? 0n;
  if (holdings !== holdingsFen) problems.push(`holdings ${holdingsFen}, coins at central ${holdings}`);
  return { ok: problems.length === 0, customersWalletFen: wallets.toString(), holdingsFen: holdings.toString(), coinsChecked: checked, problems };
}
