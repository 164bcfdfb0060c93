// Receive keys: a bank publishes, per account, a public key from which anyone derives a fresh
// bank key for each payment to that account, while only the bank can compute the secret half
// (BIP32's non-hardened derivation: child = parent + H(parent || data)*G). A payer's wallet
// or bank so builds the payee's lock itself, with no round trip to the payee's bank, and
// central sees a different bank key in every incoming payment of an account.
//
//   receive key of account a:   R_a = B + H_"CBDC/receive-key"(B || a)*G           (B: the bank's key)
//   key of output i of a payment whose first input is at position p:
//                               K   = R_a + H_"CBDC/payment-key"(R_a || p || i)*G
//   the payee's lock:           multi(2, [payee's wallet key, K])
//
// The first input's position is unique to the payment (central spends an output once), so no
// two payments share K; the payee's bank finds the account by the wallet key in the lock and
// checks K before it credits anything.
import { u64be } from './bytes.js';
import { taggedHash } from './hash.js';
import { type Lock, multiLock } from './lock.js';
import { publicKeyTweakAdd, secretKeyTweakAdd } from './sig.js';
import { TX_OUTPUTS_MAX } from './limits.js';

/** Account ids a receive key is derived for are at most this long (bank id, '.', 12 hex). */
const ACCOUNT_ID_CHARS_MAX = 64;

function receiveTweak(bankKey: Uint8Array, accountId: string): Buffer {
  if (accountId.length === 0 || accountId.length > ACCOUNT_ID_CHARS_MAX) throw new RangeError('account id length');
  return taggedHash('CBDC/receive-key', bankKey, Buffer.from(accountId, 'utf8'));
}

function paymentTweak(receiveKey: Uint8Array, firstInputPos: bigint, outputIndex: number): Buffer {
  if (!Number.isInteger(outputIndex) || outputIndex < 0 || outputIndex >= TX_OUTPUTS_MAX) throw new RangeError('output index');
  return taggedHash('CBDC/payment-key', receiveKey, u64be(firstInputPos), Buffer.of(outputIndex));
}

/** R_a: the key the bank publishes for account `accountId`. */
export function receivePublicKey(bankKey: Uint8Array, accountId: string): Buffer {
  return publicKeyTweakAdd(bankKey, receiveTweak(bankKey, accountId));
}

/** K: the bank key of output `outputIndex` of a payment to the account of `receiveKey`. */
export function paymentPublicKey(receiveKey: Uint8Array, firstInputPos: bigint, outputIndex: number): Buffer {
  return publicKeyTweakAdd(receiveKey, paymentTweak(receiveKey, firstInputPos, outputIndex));
}

/** The lock of that output: the payee's wallet and K, both needed to spend it. */
export function paymentLock(payeeWalletKey: Buffer, receiveKey: Uint8Array, firstInputPos: bigint, outputIndex: number): Lock {
  return multiLock(2, [payeeWalletKey, paymentPublicKey(receiveKey, firstInputPos, outputIndex)]);
}

/**
 * The secret half of K, which only the payee's bank can compute. `receiveKey`: R_a where the
 * caller keeps it (it is receivePublicKey(bankKey, accountId), a point operation otherwise).
 */
export function paymentSecretKey(
  bankSk: Uint8Array, bankKey: Uint8Array, accountId: string, firstInputPos: bigint, outputIndex: number,
  receiveKey: Uint8Array = receivePublicKey(bankKey, accountId),
): Buffer {
  const receiveSk = secretKeyTweakAdd(bankSk, receiveTweak(bankKey, accountId));
  return secretKeyTweakAdd(receiveSk, paymentTweak(receiveKey, firstInputPos, outputIndex));
}
