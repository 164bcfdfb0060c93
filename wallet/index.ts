// The wallet as a library: the keystore, the bank client, the notification subscription,
// payment requests, and the Wallet that ties them together (wallet/cli.ts is built on these).
export { UnlockedKeystore, createKeystore, unlockKeystore, readKeystoreFile, DEFAULT_KDF, type KdfParams, type KeystoreFile, type WalletAccount } from './keystore.js';
export { writeFileAtomic, TEMP_NAME_PATTERN } from '../platform/atomic_file.js';
export {
  BankClient, BankRefusal, bankHealth, DEFAULT_RETRY,
  type AccountJson, type PaymentJson, type HistoryEntry, type Evidence, type RetryPolicy,
} from './client.js';
export { AccountSubscription, subscribe, type SubscriptionOptions } from './events.js';
export { formatPaymentRequest, parsePaymentRequest, parsePayee, type Payee, type PaymentRequest } from './payment_request.js';
export { Wallet, PaymentPending, checkPreparedPayment, newIdempotencyKey } from './wallet.js';
