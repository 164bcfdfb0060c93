// Checking a whole spend against its input locks: everything but signature verification.
// Central runs this for every transaction whose input locks are more than plain key/multi or
// whose witness carries preimages or certificates, in both verification modes; a bank can run
// it before submitting, with its own estimate of the batch time.
//
// Pure over (transaction, input locks, batch time, directory of intermediaries' keys): it
// returns the certificate signatures still to verify, or throws a coded error. Order of checks
// (the first failure is reported):
//   1. every preimage opens some hash lock of some input            else CBDC_ERR_WITNESS
//   2. certificates appear only when an input has a purpose rule,
//      and never on an output that is that input's change           else CBDC_ERR_WITNESS
//   3. each certificate's intermediary is registered, not expired    else CBDC_ERR_LOCK_CERTIFICATE
//   4. each input lock, in input order, within LOCK_EVAL_UNITS_MAX
//      units for the whole transaction                               else its lock error
//   5. every signature is from a key some input lock names          else CBDC_ERR_WITNESS
import { CbdcError } from './errors.js';
import { sha256 } from './hash.js';
import { LOCK_EVAL_UNITS_MAX } from './limits.js';
import { type Lock, lockHasPurpose, lockHashes, lockNamesKey } from './lock.js';
import { type LockEnv, type SpendOutputView, evaluateLock } from './lock_eval.js';
import { merchantCertMessage } from './merchant_cert.js';
import type { Tx } from './tx.js';

export interface SpendInput {
  readonly lock: Lock;
  /** The canonical bytes of `lock`, as stored with the spent output. */
  readonly lockBytes: Uint8Array;
}

/** An intermediary's registered public key by its id, or undefined when none is registered. */
export type IntermediaryDirectory = (id: string) => Buffer | undefined;

/** A merchant certificate's signature, still to verify (central: through the verify pool). */
export interface CertCheck {
  readonly output: number;
  readonly sig: Buffer;
  readonly msg: Buffer;
  readonly key: Buffer;
}

/**
 * Checks `tx` spending outputs with `inputs` locks (in the transaction's input order) at the
 * ledger batch time `timeMs`. Throws a CbdcError for the first failure; returns the
 * certificate signature checks that remain.
 */
export function checkSpend(tx: Tx, inputs: readonly SpendInput[], timeMs: number, directory: IntermediaryDirectory): CertCheck[] {
  if (inputs.length !== tx.inputs.length) throw new Error('checkSpend needs one lock per input');
  const preimages = tx.preimages ?? [];
  const certs = tx.certs ?? [];

  // 1. Preimages: each must open a hash lock some input has.
  const preimageHashes = preimages.map((p) => sha256(p));
  if (preimageHashes.length > 0) {
    const wanted = inputs.flatMap((i) => lockHashes(i.lock));
    for (const [i, h] of preimageHashes.entries()) {
      if (!wanted.some((w) => w.equals(h))) throw new CbdcError('CBDC_ERR_WITNESS', `preimage ${i} opens no hash lock of any input`);
    }
  }

  // 2 and 3. Certificates: only where a purpose rule asks, never on change, from a registered
  // intermediary, not expired.
  const checks: CertCheck[] = [];
  const mccOf: (number | null)[] = certs.length === 0 ? [] : tx.outputs.map(() => null);
  if (certs.length > 0) {
    const purposeLocks = inputs.filter((i) => lockHasPurpose(i.lock)).map((i) => i.lockBytes);
    if (purposeLocks.length === 0) throw new CbdcError('CBDC_ERR_WITNESS', 'the witness carries merchant certificates but no input has a purpose rule');
    for (const [i, c] of certs.entries()) {
      const out = tx.outputs[c.output];
      if (out === undefined) throw new CbdcError('CBDC_ERR_WITNESS', `certificate ${i} names output ${c.output}, which does not exist`);
      if (purposeLocks.some((l) => Buffer.compare(l, out.lockBytes) === 0)) {
        throw new CbdcError('CBDC_ERR_WITNESS', `certificate ${i} is for output ${c.output}, which is change back to a purpose-bound lock and needs none`);
      }
      const key = directory(c.intermediary);
      if (key === undefined) throw new CbdcError('CBDC_ERR_LOCK_CERTIFICATE', `certificate ${i}: no intermediary "${c.intermediary}" is registered`);
      if (timeMs >= c.expiresMs) throw new CbdcError('CBDC_ERR_LOCK_CERTIFICATE', `certificate ${i} expired at ${c.expiresMs}, the batch time is ${timeMs}`);
      mccOf[c.output] = c.mcc;
      checks.push({ output: c.output, sig: c.sig, msg: merchantCertMessage(tx.network, c.intermediary, out.lockBytes, c.mcc, c.expiresMs), key });
    }
  }

  // 4. The locks themselves, with one work budget for the whole transaction.
  const outputs: readonly SpendOutputView[] = certs.length === 0 ? tx.outputs : tx.outputs.map((o, i) => ({ lockBytes: o.lockBytes, mcc: mccOf[i]! }));
  const env: LockEnv = { timeMs, signedKeys: tx.sigs.map((s) => s.key), preimageHashes, outputs };
  let unitsLeft = LOCK_EVAL_UNITS_MAX;
  for (const [i, input] of inputs.entries()) {
    const v = evaluateLock(input.lock, input.lockBytes, env, unitsLeft);
    if (!v.ok) throw new CbdcError(v.code, `input ${i}: ${FAILURE_TEXT[v.code]}`);
    unitsLeft -= v.units;
  }

  // 5. No signature from a key no input lock names.
  for (const s of tx.sigs) {
    if (!inputs.some((i) => lockNamesKey(i.lock, s.key))) throw new CbdcError('CBDC_ERR_WITNESS', 'a signature is from a key no input lock names');
  }
  return checks;
}

const FAILURE_TEXT = {
  CBDC_ERR_LOCK_UNSATISFIED: 'the witness does not satisfy its lock',
  CBDC_ERR_LOCK_TIMELOCK: 'its time lock does not allow spending at the batch time',
  CBDC_ERR_LOCK_PREIMAGE: 'its hash lock needs the preimage of its digest',
  CBDC_ERR_LOCK_PURPOSE: 'its purpose rule allows paying only certified merchants of its categories, or change to the same lock',
  CBDC_ERR_LOCK_BUDGET: 'evaluating the input locks takes more than LOCK_EVAL_UNITS_MAX work units',
} as const;
