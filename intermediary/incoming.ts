// Money on its way into an account, counted against its balance cap until it settles or its
// hold lapses: a quote's or a local payment's amount, or room under the cap allotted to
// another bank for a while (receive terms, intermediary/payee_terms.ts). In memory only: after
// a restart, holds are gone and other banks ask again (their terms are refused or re-issued).
import type { Clock } from '../platform/clock.js';

/** One hold: `allotment` names the bank the room was allotted to. */
export interface PendingIn {
  fen: bigint;
  untilMs: number;
  allotment?: string;
}

export class IncomingHolds {
  private readonly byAccount = new Map<string, PendingIn[]>();

  constructor(private readonly clock: Clock) {}

  /** What the account's live holds add up to (lapsed ones are dropped here). */
  sumFen(account: string): bigint {
    const list = this.byAccount.get(account);
    if (list === undefined) return 0n;
    const now = this.clock();
    const live = list.filter((p) => p.untilMs > now);
    if (live.length === 0) this.byAccount.delete(account);
    else if (live.length !== list.length) this.byAccount.set(account, live);
    return live.reduce((s, p) => s + p.fen, 0n);
  }

  add(account: string, p: PendingIn): PendingIn {
    const list = this.byAccount.get(account);
    if (list === undefined) this.byAccount.set(account, [p]);
    else list.push(p);
    return p;
  }

  drop(account: string, p: PendingIn): void {
    const list = this.byAccount.get(account);
    const i = list?.indexOf(p) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  /** An incoming amount settled: drop the hold that promised it, or take it from the room allotted to other banks. */
  settle(account: string, amountFen: bigint): void {
    const list = this.byAccount.get(account);
    if (list === undefined) return;
    const i = list.findIndex((p) => p.fen === amountFen && p.allotment === undefined);
    if (i >= 0) {
      list.splice(i, 1);
      return;
    }
    takeFromAllotments(list, amountFen, (p) => p.allotment !== undefined);
  }

  /**
   * Room another bank hands back unused as it asks for new terms, taken off its own allotments
   * only: one bank never frees another's room. (Settlements come off whichever allotment comes
   * first, so a bank's own may hold less than it hands back; then less is freed, never more.)
   */
  releaseAllotted(account: string, bank: string, unusedFen: bigint): void {
    takeFromAllotments(this.byAccount.get(account) ?? [], unusedFen, (p) => p.allotment === bank);
  }
}

/** Takes up to `amountFen` off the holds `which` picks, first come first: none goes below zero. */
function takeFromAllotments(list: readonly PendingIn[], amountFen: bigint, which: (p: PendingIn) => boolean): void {
  let left = amountFen;
  for (const p of list) {
    if (left === 0n) return;
    if (!which(p)) continue;
    const take = p.fen < left ? p.fen : left;
    p.fen -= take;
    left -= take;
  }
}
