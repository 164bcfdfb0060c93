// The receipt service's LMDB databases, in the bank's own environment (so a receipt, its
// indexes and its delivery queue are written in the same transaction as the ledger records
// they follow).
import type { Database, RootDatabase } from 'lmdb';
import type { ReceiptJson } from '../../protocol/receipt.js';

export type ReceiptRole = 'payer' | 'merchant';

export interface ReceiptRec {
  receipt: ReceiptJson;
  /** Hex of the tagged digest of the merchant's draft it was issued from (idempotency). */
  draftDigest: string;
  /** The paying account here, when the payer is this bank's customer. */
  payer: string | null;
  /** The merchant account here, when this bank issued it. */
  merchant: string | null;
}

/** A draft waiting to be handed to the payee's bank (keyed by txid). */
export interface OutgoingRec {
  paymentId: string;
  payer: string;
  payeeBank: string;
  payeeAccount: string;
  draft: string;
  attempts: number;
  nextAtMs: number;
  status: 'pending' | 'refused';
  code?: string;
  message?: string;
}

/** What a settled transaction paid into a merchant account here (keyed by txid). */
export interface CreditRec {
  account: string;
  fen: string;
  atMs: number;
}

export class ReceiptStore {
  /** txid -> the receipt */
  readonly receipts: Database<ReceiptRec, string>;
  /** receipt id -> txid */
  readonly byId: Database<string, string>;
  /** [account, day (bank time zone), txid] -> the account's role in it */
  readonly index: Database<ReceiptRole, [string, string, string]>;
  /** draft digest -> the txid it was issued for (a draft receipts one payment) */
  readonly drafts: Database<string, string>;
  readonly credits: Database<CreditRec[], string>;
  readonly outgoing: Database<OutgoingRec, string>;
  /** [tax id, account] -> '' */
  readonly taxIds: Database<string, [string, string]>;

  constructor(root: RootDatabase) {
    const STRUCTURES_KEY = Symbol.for('structures');
    const db = <V, K extends string | number | (string | number)[]>(name: string) => root.openDB<V, K>({ name, sharedStructuresKey: STRUCTURES_KEY });
    this.receipts = db('receipts');
    this.byId = db('receipt-ids');
    this.index = db('receipt-index');
    this.drafts = db('receipt-drafts');
    this.credits = db('receipt-credits');
    this.outgoing = db('receipt-outgoing');
    this.taxIds = db('tax-ids');
  }
}
