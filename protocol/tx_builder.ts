// Building and signing transactions: what wallets, banks, the operator and load generators share.
import { Lock, PREIMAGE_BYTES, encodeLock } from './lock.js';
import type { MerchantCertificate, WitnessCertificate } from './merchant_cert.js';
import { OutPoint, Tx, TxKind, operatorMessage, txId } from './tx.js';
import { publicKeyOf, signHash } from './sig.js';

export interface TxDraft {
  kind?: TxKind;
  network: string;
  intermediary?: string;
  serial?: bigint;
  inputs: OutPoint[];
  outputs: { value: bigint; lock: Lock }[];
}

/** An unsigned transaction from a draft (canonical lock bytes filled in). */
export function makeTx(d: TxDraft): Tx {
  return {
    kind: d.kind ?? 'transfer',
    network: d.network,
    intermediary: d.intermediary ?? '',
    serial: d.serial ?? 0n,
    inputs: d.inputs,
    outputs: d.outputs.map((o) => ({ value: o.value, lock: o.lock, lockBytes: encodeLock(o.lock) })),
    sigs: [],
    operatorSig: null,
  };
}

export type HashSigner = (sk: Uint8Array, hash32: Uint8Array) => Buffer;
export type KeyDeriver = (sk: Uint8Array) => Buffer;

/** Adds one signature over the txid per secret key (each key once). */
export function signTx(tx: Tx, secretKeys: Uint8Array[], sign: HashSigner = signHash, pubOf: KeyDeriver = publicKeyOf): Tx {
  const id = txId(tx);
  const sigs = [...tx.sigs];
  for (const sk of secretKeys) {
    const key = pubOf(sk);
    if (sigs.some((s) => s.key.equals(key))) continue;
    sigs.push({ key, sig: sign(sk, id) });
  }
  return { ...tx, sigs };
}

/** Adds the central-bank operator's signature (issuance and redemption). */
export function operatorSignTx(tx: Tx, operatorSecretKey: Uint8Array): Tx {
  return { ...tx, operatorSig: signHash(operatorSecretKey, operatorMessage(txId(tx))) };
}

/**
 * Adds hash-lock preimages to the witness (kept in the canonical ascending order; one already
 * there is not added twice). The witness is not part of the txid: signatures stay valid.
 */
export function withPreimages(tx: Tx, preimages: readonly Uint8Array[]): Tx {
  const all = [...(tx.preimages ?? [])];
  for (const p of preimages) {
    if (p.length !== PREIMAGE_BYTES) throw new RangeError(`a preimage is ${PREIMAGE_BYTES} bytes`);
    if (!all.some((q) => q.equals(p))) all.push(Buffer.from(p));
  }
  all.sort(Buffer.compare);
  return { ...tx, preimages: all };
}

/**
 * Attaches a merchant certificate to the output whose lock it certifies (kept in ascending
 * output order; replaces one already there for that output). Not part of the txid.
 */
export function withMerchantCert(tx: Tx, output: number, cert: MerchantCertificate): Tx {
  if (!Number.isInteger(output) || output < 0 || output >= tx.outputs.length) throw new RangeError('no such output');
  const wc: WitnessCertificate = { output, intermediary: cert.intermediary, mcc: cert.mcc, expiresMs: cert.expiresMs, sig: cert.sig };
  const certs = [...(tx.certs ?? []).filter((c) => c.output !== output), wc].sort((a, b) => a.output - b.output);
  return { ...tx, certs };
}

export { keyLock, multiLock, afterLock, beforeLock, hashLock, andLock, orLock, threshLock, purposeLock } from './lock.js';
