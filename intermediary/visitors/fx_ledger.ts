// The FX ledger: one line per conversion between a visitor's foreign card and CNY, in its own
// LMDB databases (store.visitorFx by sequence number, store.visitorFxByAccount per account).
// Lines are written inside the LMDB transaction that moves the money, and never changed.
import type { BankStore } from '../store.js';
import type { FxLineJson, FxLineKind } from '../../protocol/fx_line.js';

export interface FxLine {
  seq: number;
  atMs: number;
  account: string;
  /** in: card -> wallet (a top-up); out: deposit -> card (a conversion back, or a top-up given back). */
  direction: 'in' | 'out';
  kind: FxLineKind;
  currency: string;
  amountMinor: string;
  /** "FEN/MINOR" as converted at (before the fee). */
  rate: string;
  feeBps: number;
  feeFen: string;
  /** The CNY side, fen: paid into the wallet (in) or taken from the deposit (out). */
  amountFen: string;
  /** The CBDC transaction of a top-up; null for money out of the deposit. */
  txid: string | null;
  acquirerRef: string;
  cardLast4: string;
}

export function fxLineJson(l: FxLine): FxLineJson {
  return {
    seq: l.seq, at_ms: l.atMs, account: l.account, direction: l.direction, kind: l.kind, currency: l.currency, amount_minor: l.amountMinor,
    rate: l.rate, fee_bps: l.feeBps, fee_fen: l.feeFen, amount_fen: l.amountFen, txid: l.txid, acquirer_ref: l.acquirerRef, card_last4: l.cardLast4,
  };
}

/** Lines one read answers at most. */
export const FX_LINES_LISTED_MAX = 500;

export class FxLedger {
  constructor(private readonly store: BankStore) {}

  /** Inside a write transaction: appends a line; returns it. */
  append(l: Omit<FxLine, 'seq'>): FxLine {
    const seq = (this.store.meta.get('visitor-fx-next') as number | undefined) ?? 0;
    const line: FxLine = { ...l, seq };
    this.store.visitorFx.putSync(seq, line);
    this.store.visitorFxByAccount.putSync([l.account, seq], '');
    this.store.meta.putSync('visitor-fx-next', seq + 1);
    return line;
  }

  get(seq: number): FxLine | undefined {
    return this.store.visitorFx.get(seq) as FxLine | undefined;
  }

  /** Every line from `fromSeq`, oldest first. */
  all(fromSeq: number, limit: number): FxLine[] {
    return [...this.store.visitorFx.getRange({ start: fromSeq, limit: Math.min(limit, FX_LINES_LISTED_MAX) })].map((e) => e.value as FxLine);
  }

  /** One account's lines from `fromSeq`, oldest first. */
  ofAccount(account: string, fromSeq: number, limit: number): FxLine[] {
    const out: FxLine[] = [];
    for (const { key } of this.store.visitorFxByAccount.getRange({ start: [account, fromSeq], end: [account, Number.MAX_SAFE_INTEGER], limit: Math.min(limit, FX_LINES_LISTED_MAX) })) {
      const l = this.get(key[1]);
      if (l !== undefined) out.push(l);
    }
    return out;
  }
}
