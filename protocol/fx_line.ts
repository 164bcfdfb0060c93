// A line of a bank's FX ledger as the bank's API sends it (intermediary/visitors/fx_ledger.ts
// keeps it; the wallet reads it): amounts as decimal strings, minor units of the card's currency
// and fen of CNY.

export type FxLineKind = 'top-up' | 'convert-back' | 'top-up-reversal';

export interface FxLineJson {
  seq: number;
  at_ms: number;
  account: string;
  /** in: card -> wallet (a top-up); out: deposit -> card (a conversion back, or a top-up given back). */
  direction: 'in' | 'out';
  kind: FxLineKind;
  currency: string;
  amount_minor: string;
  /** "FEN/MINOR" as converted at (before the fee). */
  rate: string;
  fee_bps: number;
  fee_fen: string;
  amount_fen: string;
  /** The CBDC transaction of a top-up; null for money out of the deposit. */
  txid: string | null;
  acquirer_ref: string;
  card_last4: string;
}
