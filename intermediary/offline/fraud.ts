// Double-spend detection for offline devices: pure functions over what the bank holds of one
// device's log (its vouchers by counter) and its totals. No I/O; settle.ts feeds it
// and persists what it finds.
//
// What proves double spending (each finding names the vouchers that prove it, all signed by
// the device's certified key, so the evidence stands on its own):
//   counter_reuse  two different vouchers at one counter (a clone, or a rolled-back card);
//   fork           a voucher whose prev_hash is not the hash of the voucher the bank holds at
//                  the counter before it (or the one after it does not chain to it);
//   overspend      the device's liability went below zero: more paid and unloaded than was
//                  loaded and received, judged only once the bank holds its whole log (before
//                  that, receipts the bank has not seen yet could explain it).
//   unauthorised_load  a load voucher naming an authorisation this bank never issued for it.

/** One step of a device's log as the bank keeps it (amounts in fen). */
export interface LogStep {
  hash: string;
  counter: bigint;
  prevHash: string;
  type: 'pay' | 'receive' | 'load' | 'unload';
  amountFen: bigint;
}

export type FindingKind = 'counter_reuse' | 'fork' | 'overspend' | 'unauthorised_load';

export interface Finding {
  kind: FindingKind;
  counter: bigint;
  /** Hashes of the vouchers that prove it. */
  hashes: string[];
  detail: string;
}

/** A device's totals as the bank has settled them. */
export interface DeviceTotals {
  loadedFen: bigint;
  unloadedFen: bigint;
  paidFen: bigint;
  receivedFen: bigint;
}

/** What the bank owes the device's holder: loaded + received - paid - unloaded (may be negative after fraud). */
export function liabilityFen(t: DeviceTotals): bigint {
  return t.loadedFen + t.receivedFen - t.paidFen - t.unloadedFen;
}

/** What the bank lost to the device: the part of its liability below zero. */
export function lossFen(t: DeviceTotals): bigint {
  const l = liabilityFen(t);
  return l < 0n ? -l : 0n;
}

/** Genesis prev_hash (all zeros): the first voucher of a device chains to it. */
export const GENESIS_HASH_HEX = '0'.repeat(64);

/**
 * Findings about a new voucher `step` against the vouchers already held at its counter
 * (`same`), at the counter before (`before`), and at the counter after (`after`).
 */
export function stepFindings(step: LogStep, same: readonly LogStep[], before: readonly LogStep[], after: readonly LogStep[]): Finding[] {
  const out: Finding[] = [];
  const other = same.find((s) => s.hash !== step.hash);
  if (other !== undefined) {
    out.push({ kind: 'counter_reuse', counter: step.counter, hashes: [other.hash, step.hash], detail: `two different vouchers at counter ${step.counter}` });
  }
  if (step.counter === 1n && step.prevHash !== GENESIS_HASH_HEX) {
    out.push({ kind: 'fork', counter: step.counter, hashes: [step.hash], detail: 'the first voucher does not start from the genesis hash' });
  }
  if (before.length > 0 && !before.some((b) => b.hash === step.prevHash)) {
    out.push({ kind: 'fork', counter: step.counter, hashes: [before[0]!.hash, step.hash], detail: `voucher ${step.counter} does not chain to the voucher held at ${step.counter - 1n}` });
  }
  // (With a counter reused, the next voucher chains to the other branch: that is the same fraud.)
  if (other === undefined && after.length > 0 && !after.some((a) => a.prevHash === step.hash)) {
    out.push({ kind: 'fork', counter: step.counter + 1n, hashes: [step.hash, after[0]!.hash], detail: `the voucher held at ${step.counter + 1n} does not chain to voucher ${step.counter}` });
  }
  return out;
}

/**
 * Overspend, judged only when the bank holds every step of the device's log up to the
 * highest counter it has seen from it (`completeThrough` >= `highestSeen`).
 */
export function overspendFinding(t: DeviceTotals, completeThrough: bigint, highestSeen: bigint, lastHash: string): Finding | null {
  if (completeThrough < highestSeen) return null;
  const l = liabilityFen(t);
  if (l >= 0n) return null;
  return {
    kind: 'overspend', counter: highestSeen, hashes: [lastHash],
    detail: `paid ${t.paidFen} and unloaded ${t.unloadedFen} fen against ${t.loadedFen} loaded and ${t.receivedFen} received`,
  };
}
