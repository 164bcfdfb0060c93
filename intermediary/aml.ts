// Compliance: a settled payment at or above the threshold, or a run of payments that looks
// split to stay under it (three or more in 24 hours, each at least half the threshold, adding
// up past it), is reported with the payer's identity for the bank's compliance staff.
// checkAml runs inside the LMDB transaction that applies the payment.
import { formatAmountFen } from '../protocol/amount.js';
import type { AmlRec, BankStore, PaymentRec } from './store.js';

/** Inside a transaction: files a report for payment `p` if the rules say so. */
export function checkAml(store: BankStore, threshold: bigint, p: PaymentRec, atMs: number): void {
  const amount = BigInt(p.amountFen);
  let reason: AmlRec['reason'] | null = null;
  let detail = '';
  if (amount >= threshold) {
    reason = 'threshold';
    detail = `payment of ${formatAmountFen(amount)} fen at or above ${formatAmountFen(threshold)} fen`;
  } else if (amount * 2n >= threshold) {
    // Structuring: several large-but-below-threshold payments within 24 hours adding up past it.
    let total = amount;
    let count = 1;
    // Newest first (lmdb-js: with reverse, start is the upper bound and end the lower).
    for (const { value } of store.history.getRange({ start: [p.account, Number.MAX_SAFE_INTEGER], end: [p.account, -1], reverse: true })) {
      if (value.atMs < atMs - 86_400_000) break;
      if (value.direction !== 'out' || value.txid === p.txid || BigInt(value.amountFen) * 2n < threshold) continue;
      total += BigInt(value.amountFen);
      count++;
    }
    if (count >= 3 && total >= threshold) {
      reason = 'structuring';
      detail = `${count} payments in 24 h, each between half the threshold and it, ${formatAmountFen(total)} fen in all`;
    }
  }
  if (reason === null) return;
  const a = store.accounts.get(p.account)!;
  const seq = Number((store.meta.get('aml-next') as number | undefined) ?? 0);
  const rec: AmlRec = {
    seq, atMs, reason, account: a.id,
    identity: { tier: a.tier, ...(a.evidence.phone ? { phone: a.evidence.phone } : {}), ...(a.evidence.name ? { name: a.evidence.name } : {}), ...(a.evidence.id_number ? { id_number: a.evidence.id_number } : {}) },
    amountFen: p.amountFen, paymentId: p.id, counterparty: `${p.payee.account ?? p.payee.alias}@${p.payee.bank}`, detail,
  };
  store.aml.putSync(seq, rec);
  store.meta.putSync('aml-next', seq + 1);
}

/** The reports from `fromSeq` on, oldest first. */
export function amlReports(store: BankStore, fromSeq = 0, limit = 100): AmlRec[] {
  return [...store.aml.getRange({ start: fromSeq, limit })].map((r) => r.value);
}
