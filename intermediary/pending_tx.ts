// A transaction the bank sent to central whose outcome it has not yet learned: sent again
// until central answers (Bank.resubmitPending). Held in memory (intermediary/in_flight.ts);
// a payment's is its record, the others' are written under meta "pending-tx/<txid>".
import type { TxJson } from '../protocol/tx.js';
import type { CentralResult } from './central_link.js';

export interface PendingTx {
  kind: 'payment' | 'exchange' | 'contract';
  account: string;
  amountFen: string;
  /** The signed transaction; absent for a payment (its record holds it). */
  tx?: TxJson;
  coins: string[];
  paymentId?: string;
}

/** Central's answer leaves the outcome unknown (unreachable, or overloaded before it decided). */
export function isUncertain(r: CentralResult): boolean {
  return r.status === 'rejected' && (r.code === 'CBDC_ERR_CENTRAL_UNAVAILABLE' || r.code === 'CBDC_ERR_OVERLOADED');
}
