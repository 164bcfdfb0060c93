// The bank's keys: its main key, the keys it derives from it (one per fresh lock and per
// contract lock), and the per-payment keys of outputs paid to an account's receive key
// (protocol/receive_key.ts); the locks they make; and the signatures they add to a
// transaction. Computed keys are cached with a bound.
import { assert } from '../protocol/errors.js';
import { taggedHash } from '../protocol/hash.js';
import { u64be } from '../protocol/bytes.js';
import { type Lock, decodeLockTrusted } from '../protocol/lock.js';
import { CURVE_N, publicKeyOfNative, signHashNative } from '../protocol/sig.js';
import { paymentSecretKey, receivePublicKey } from '../protocol/receive_key.js';
import { type Tx, txId } from '../protocol/tx.js';
import { multiLock } from '../protocol/tx_builder.js';

/** Derived bank keys kept in memory at most (about 100 bytes each). */
const DERIVED_KEYS_CACHED_MAX = 65_536;
/** Accounts' receive keys kept in memory at most (about 100 bytes each). */
const RECEIVE_KEYS_CACHED_MAX = 100_000;

/** Where the bank's key for a lock comes from: its i-th derived key, or a payment's key derived from an account's receive key. */
export type LockDerivation = number | { account: string; pos: string; out: number };

export interface KeyPairBytes {
  sk: Buffer;
  pk: Buffer;
}

export class BankKeys {
  /** Derived keys computed lately (a fresh lock's key is needed again when its coin is spent), oldest first. */
  private readonly derived = new Map<number, KeyPairBytes>();
  private readonly receiveKeys = new Map<string, Buffer>();

  constructor(private readonly sk: Buffer, readonly publicKey: Buffer) {}

  /** A customer's coins: multi(2, [wallet, bank]), so neither spends alone. */
  customerLock(walletKey: Buffer): Lock {
    return multiLock(2, [walletKey, this.publicKey]);
  }

  /** Over-cap money: multi(1, [bank, wallet]), so the bank can sweep it to the linked deposit. */
  sweepLock(walletKey: Buffer): Lock {
    return multiLock(1, [this.publicKey, walletKey]);
  }

  /**
   * The bank's i-th derived key: sk_i = sk + H_"CBDC/derive"(bank public key || i) mod n. Each
   * payment to a customer gets a lock with a fresh bank key, so central cannot link a payee's
   * incoming payments by their lock; only this bank can map the lock to the account.
   */
  derivedKey(i: number): KeyPairBytes {
    let d = this.derived.get(i);
    if (d === undefined) {
      const t = BigInt('0x' + taggedHash('CBDC/derive', this.publicKey, u64be(BigInt(i))).toString('hex'));
      const k = (BigInt('0x' + this.sk.toString('hex')) + t) % CURVE_N;
      assert(k !== 0n, 'derived key is not zero');
      const sk = Buffer.from(k.toString(16).padStart(64, '0'), 'hex');
      d = { sk, pk: publicKeyOfNative(sk) };
      // One entry per fresh lock would grow without end: past the limit the oldest goes (it is
      // computed again if its coin is spent later).
      if (this.derived.size >= DERIVED_KEYS_CACHED_MAX) this.derived.delete(this.derived.keys().next().value!);
      this.derived.set(i, d);
    }
    return d;
  }

  /**
   * The bank's key of an output paid to an account's receive key (protocol/receive_key.ts),
   * under `lock` multi(2, [wallet, K]). K is read from the lock rather than computed from the
   * secret again (a point multiplication per input); were they to differ, central would refuse
   * the signature, and the receive-key tests spend such outputs at central.
   */
  paymentKey(d: { account: string; pos: string; out: number }, lock: Lock): KeyPairBytes {
    assert(lock.type === 'multi' && lock.keys.length === 2, "a payment lock is multi(2, [wallet, K])");
    const sk = paymentSecretKey(this.sk, this.publicKey, d.account, BigInt(d.pos), d.out, this.receiveKeyOf(d.account));
    return { sk, pk: lock.keys[1]! };
  }

  /** R_a, the key this bank publishes for account `accountId`: payers derive each payment's bank key from it. */
  receiveKeyOf(accountId: string): Buffer {
    let r = this.receiveKeys.get(accountId);
    if (r === undefined) {
      r = receivePublicKey(this.publicKey, accountId);
      if (this.receiveKeys.size >= RECEIVE_KEYS_CACHED_MAX) this.receiveKeys.delete(this.receiveKeys.keys().next().value!);
      this.receiveKeys.set(accountId, r);
    }
    return r;
  }

  /**
   * Adds the bank's signatures: one per distinct bank key the inputs' locks name (`derivationOf`
   * says, per input, how its lock's bank key was made; undefined: the main key, for holdings
   * and standard customer locks).
   */
  sign(tx: Tx, derivationOf: (input: Tx['inputs'][number]) => { lockHex: string; d: LockDerivation } | undefined): Tx {
    const id = txId(tx);
    const keys = new Map<string, KeyPairBytes>();
    for (const input of tx.inputs) {
      const x = derivationOf(input);
      if (x === undefined) keys.set('main', { sk: this.sk, pk: this.publicKey });
      else if (typeof x.d === 'number') keys.set(`derived-${x.d}`, this.derivedKey(x.d));
      else keys.set(`payment-${x.lockHex}`, this.paymentKey(x.d, decodeLockTrusted(Buffer.from(x.lockHex, 'hex'))));
    }
    if (keys.size === 0) keys.set('main', { sk: this.sk, pk: this.publicKey });
    return { ...tx, sigs: [...tx.sigs, ...[...keys.values()].map((k) => ({ key: k.pk, sig: signHashNative(k.sk, id) }))] };
  }
}
