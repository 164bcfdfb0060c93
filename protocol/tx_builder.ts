// Building and signing transactions: what wallets, banks, the operator and load generators share.
import { Lock, encodeLock } from './lock.js';
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

export function keyLock(pub: Buffer): Lock {
  return { type: 'key', key: pub };
}

export function multiLock(k: number, keys: Buffer[]): Lock {
  return { type: 'multi', k, keys };
}
