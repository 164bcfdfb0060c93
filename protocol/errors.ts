// The one registry of error codes. Every rejection anywhere in the system carries one of
// these codes; each has its HTTP status and one line of documentation. A test pins it.

export const ERRORS = {
  // Amounts and encoding
  CBDC_ERR_AMOUNT_FORMAT: [400, 'An amount is not a decimal string of fen (digits only, no sign, no fraction, no leading zeros).'],
  CBDC_ERR_AMOUNT_RANGE: [400, 'An amount is zero where a positive value is required, or above AMOUNT_FEN_MAX.'],
  CBDC_ERR_AMOUNT_OVERFLOW: [400, 'A sum of amounts exceeds AMOUNT_FEN_MAX.'],
  CBDC_ERR_HEX_FORMAT: [400, 'A byte string is not lowercase hex of the required length.'],
  CBDC_ERR_SCHEMA: [400, 'The request body or parameters do not match the route schema.'],
  CBDC_ERR_BODY_TOO_LARGE: [413, 'The request body is larger than the server accepts.'],
  CBDC_ERR_NETWORK_ID: [400, 'The transaction or request names another network.'],
  // Transactions
  CBDC_ERR_TX_KIND: [400, 'The transaction kind is unknown or not allowed on this route.'],
  CBDC_ERR_TOO_MANY_INPUTS: [400, 'The transaction spends more inputs than TX_INPUTS_MAX, or none where one is required.'],
  CBDC_ERR_TOO_MANY_OUTPUTS: [400, 'The transaction creates more outputs than TX_OUTPUTS_MAX, or none where one is required.'],
  CBDC_ERR_DUPLICATE_INPUT: [400, 'The transaction names the same input twice.'],
  CBDC_ERR_UNKNOWN_INPUT: [404, 'An input names an output the ledger does not hold (no output at that position, or its id differs).'],
  CBDC_ERR_DOUBLE_SPEND: [409, 'An input was already spent, earlier or in the same batch.'],
  CBDC_ERR_UNBALANCED: [400, 'The inputs of a transfer do not sum exactly to its outputs.'],
  CBDC_ERR_LOCK_FORMAT: [400, 'A lock policy is malformed (wrong shape, bad key, k out of range, codes out of order, not canonical).'],
  CBDC_ERR_LOCK_UNSATISFIED: [403, 'The signatures in the witness do not satisfy the lock of an input.'],
  // Lock policies (docs/LOCKS.md)
  CBDC_ERR_LOCK_UNKNOWN_OPERATOR: [400, 'A lock policy uses an operator (or binary tag) the lock language does not have.'],
  CBDC_ERR_LOCK_TOO_DEEP: [400, 'A lock policy nests deeper than LOCK_DEPTH_MAX.'],
  CBDC_ERR_LOCK_TOO_LARGE: [400, 'A lock policy exceeds LOCK_BYTES_MAX, LOCK_NODES_MAX, LOCK_KEYS_MAX, LOCK_CHILDREN_MAX or LOCK_MCCS_MAX.'],
  CBDC_ERR_LOCK_TIMELOCK: [403, 'An input lock is not yet spendable (after) or no longer spendable (before) at the ledger batch time.'],
  CBDC_ERR_LOCK_PREIMAGE: [403, 'An input hash lock is not opened: the witness lacks the preimage of its digest.'],
  CBDC_ERR_LOCK_PURPOSE: [403, 'An input purpose rule is broken: an output pays neither the same lock nor a merchant certified for an allowed category.'],
  CBDC_ERR_LOCK_CERTIFICATE: [403, 'A merchant certificate is invalid: unknown intermediary, expired at the batch time, or its signature does not verify.'],
  CBDC_ERR_LOCK_BUDGET: [400, 'Evaluating the input locks of the transaction takes more than LOCK_EVAL_UNITS_MAX work units.'],
  CBDC_ERR_BAD_SIGNATURE: [403, 'A signature does not verify for its key and the transaction id.'],
  CBDC_ERR_HIGH_S: [400, 'A signature has a high S value; only low-S signatures are accepted.'],
  CBDC_ERR_BAD_PUBLIC_KEY: [400, 'A public key is not a valid compressed secp256k1 point.'],
  CBDC_ERR_WITNESS: [400, 'The witness is malformed: duplicate or unordered entries, too many, or a signature, preimage or certificate no input lock asks for.'],
  CBDC_ERR_BATCH_TOO_LARGE: [413, 'A batch holds more transactions than BATCH_TX_MAX, or none.'],
  CBDC_ERR_BATCH_SIGNATURE: [403, 'An attested batch lacks a valid signature of its submitting intermediary.'],
  CBDC_ERR_OVERLOADED: [503, 'The ledger queue is full; retry later.'],
  CBDC_ERR_HEADERS_TOO_LARGE: [431, 'The request headers are larger than the server accepts.'],
  CBDC_ERR_REQUEST_TIMEOUT: [408, 'The client did not send its whole request in time (a slow or stalled client).'],
  CBDC_ERR_RATE_LIMITED: [429, 'The client sent more requests than its rate limit allows (or too many that failed authentication); retry after the window.'],
  // Issuance and redemption
  CBDC_ERR_OPERATOR_SIGNATURE: [403, 'Issuance or redemption lacks a valid central-bank operator signature.'],
  CBDC_ERR_QUOTA_EXCEEDED: [409, 'Issuance would take the intermediary over its outstanding-issuance quota.'],
  CBDC_ERR_RESERVE_INSUFFICIENT: [409, "Issuance would take the intermediary's reserve account below zero."],
  CBDC_ERR_ISSUE_SERIAL: [409, "An issuance carries a serial other than its intermediary's next one (a replay or a gap)."],
  CBDC_ERR_REDEMPTION_EMPTY: [400, 'A redemption destroys no value (outputs are not less than inputs).'],
  // Intermediaries and request authentication
  CBDC_ERR_UNAUTHENTICATED: [401, 'The request is unsigned, or the signer is unknown.'],
  CBDC_ERR_REQUEST_SIGNATURE: [401, 'The request signature does not verify.'],
  CBDC_ERR_REQUEST_STALE: [401, 'The request time is outside the allowed window, or before this node started.'],
  CBDC_ERR_REQUEST_REPLAY: [401, 'The request nonce was already used.'],
  CBDC_ERR_FORBIDDEN: [403, 'The signer may not perform this operation.'],
  CBDC_ERR_INTERMEDIARY_UNKNOWN: [404, 'No intermediary with that id is registered.'],
  CBDC_ERR_INTERMEDIARY_EXISTS: [409, 'An intermediary with that id or key is already registered.'],
  CBDC_ERR_INTERMEDIARY_ID: [400, 'An intermediary id is not 1 to 32 characters of a-z, 0-9 and -.'],
  CBDC_ERR_NOT_FOUND: [404, 'The requested resource does not exist.'],
  // Banks: accounts, limits and payments
  CBDC_ERR_ACCOUNT_UNKNOWN: [404, 'No account with that id at this bank.'],
  CBDC_ERR_ACCOUNT_FROZEN: [403, 'The account is frozen: it cannot pay, and receives only where the bank allows it.'],
  CBDC_ERR_ACCOUNT_CLOSED: [403, 'The account is closed.'],
  CBDC_ERR_ACCOUNT_NOT_EMPTY: [409, 'The account still holds money; move it out before closing.'],
  CBDC_ERR_ACCOUNT_EXISTS: [409, 'That wallet key already has an account at this bank.'],
  CBDC_ERR_ALIAS_TAKEN: [409, 'That alias (phone number or handle) belongs to another account.'],
  CBDC_ERR_ALIAS_FORMAT: [400, 'An alias is a phone number (+ and 6 to 15 digits) or a handle (@ and 3 to 32 of a-z, 0-9, _).'],
  CBDC_ERR_KYC_EVIDENCE: [400, 'The evidence the KYC tier needs is missing or malformed.'],
  CBDC_ERR_KYC_TIER: [400, 'The KYC tier is not 1 to 5, or the change is not allowed for this signer.'],
  CBDC_ERR_MERCHANT_CATEGORY: [400, 'A merchant account needs a four-digit merchant category code; a personal one has none.'],
  CBDC_ERR_PAYEE_UNKNOWN: [404, 'No payee with that alias or account id (at this bank or the bank named).'],
  CBDC_ERR_PAYEE_REFUSED: [409, "The payee's bank refused the payment (the payee cannot receive it)."],
  CBDC_ERR_BALANCE_CAP: [409, "The payment would take the payee's wallet over its balance cap, and it has no linked deposit account."],
  CBDC_ERR_LIMIT_SINGLE: [409, "The amount is over the payer's single-payment limit for its KYC tier."],
  CBDC_ERR_LIMIT_DAILY: [409, "The payment would take the payer over its daily limit for its KYC tier."],
  CBDC_ERR_LIMIT_ANNUAL: [409, "The payment would take the payer over its annual limit for its KYC tier."],
  CBDC_ERR_INSUFFICIENT_FUNDS: [409, 'The wallet (or deposit) balance does not cover the amount.'],
  CBDC_ERR_IDEMPOTENCY_CONFLICT: [409, 'That idempotency key was used for a different request.'],
  CBDC_ERR_PAYMENT_STATE: [409, 'The payment is not waiting for a signature (already settled, rejected or expired).'],
  CBDC_ERR_PAYMENT_OUTPUTS: [409, "The transaction's outputs do not pay the payee as its bank's terms require (its cap, its fresh lock); the answer's outputs are the ones to sign."],
  CBDC_ERR_PAYMENT_EXPIRED: [410, 'The payment waited too long for its signature and its reservation lapsed.'],
  CBDC_ERR_CENTRAL_UNAVAILABLE: [503, 'The central bank node could not be reached; nothing settled yet (where the message says pending, the bank settles or gives back the operation once central answers).'],
  // Wallet
  CBDC_ERR_KEYSTORE_PASSPHRASE: [401, 'The passphrase does not unlock the wallet keystore, or none was given.'],
  CBDC_ERR_KEYSTORE_FORMAT: [400, 'The wallet keystore file is not one this wallet reads (malformed JSON, unknown version, cipher or KDF parameters).'],
  CBDC_ERR_KEYSTORE_CORRUPT: [400, 'The wallet keystore fails its integrity check: its ciphertext or recorded data was altered or damaged.'],
  CBDC_ERR_KEYSTORE_MISSING: [404, 'There is no wallet keystore at that path; create one with init.'],
  CBDC_ERR_KEYSTORE_EXISTS: [409, 'A wallet keystore already exists at that path; it is never overwritten.'],
  CBDC_ERR_WALLET_NO_ACCOUNT: [409, 'The wallet has no bank account yet; open one first.'],
  CBDC_ERR_PAYMENT_REQUEST_FORMAT: [400, 'A payment request is not a cbdc:pay?to=…&bank=…&amount=… string the wallet reads.'],
  CBDC_ERR_BANK_UNREACHABLE: [503, 'The bank node could not be reached (connection refused, reset or timed out).'],
  CBDC_ERR_BANK_RESPONSE: [502, 'The bank answered with something the API does not allow (malformed, or a transaction other than the one asked for).'],
  // Offline devices (secure-element applet, PC/SC reader, vpcd bridge)
  CBDC_ERR_OFFLINE_FORMAT: [400, 'An offline certificate, challenge, voucher, authorisation or revocation list is not in its canonical binary form.'],
  CBDC_ERR_OFFLINE_SIGNATURE: [403, 'The bank signature on an offline certificate, authorisation or revocation list, or the device signature on a voucher, does not verify.'],
  CBDC_ERR_OFFLINE_UNTRUSTED: [403, 'An offline certificate, authorisation or revocation list comes from a bank whose offline key is not trusted here.'],
  CBDC_ERR_OFFLINE_CERT_EXPIRED: [403, 'The device certificate is outside its validity period.'],
  CBDC_ERR_OFFLINE_CERT_MISMATCH: [400, 'A voucher or authorisation names another device, key or network than the certificate it comes with.'],
  CBDC_ERR_OFFLINE_REVOKED: [403, "The payer device's certificate is on its bank's revocation list."],
  CBDC_ERR_OFFLINE_CAP: [409, 'The offline payment or load is over a device cap (balance, per payment, or payments before sync).'],
  CBDC_ERR_OFFLINE_REFUSED: [409, 'The card refused the command; the message names its ISO 7816-4 status word.'],
  CBDC_ERR_NFC_UNAVAILABLE: [503, 'The PC/SC stack is not available (nfc-pcsc not installed, or pcscd not running); the message says what to install or start.'],
  CBDC_ERR_VPCD_FRAME: [400, 'A frame on the vpcd socket is empty, cut short by the connection ending, or carries an unknown control code.'],
  CBDC_ERR_OFFLINE_STORE: [500, "The applet's persisted state is missing or damaged; nothing was changed."],
  // Offline wallets: the bank's side (provisioning, reconciliation)
  CBDC_ERR_OFFLINE_DEVICE_UNKNOWN: [404, 'No offline device with that serial at this bank (or it belongs to another account).'],
  CBDC_ERR_OFFLINE_COUNTER: [409, "A device's log goes back (counter rollback) or skips steps the bank has not seen: upload the whole log from the last synced step."],
  CBDC_ERR_OFFLINE_DOUBLE_SPEND: [409, 'The upload proves double spending (a counter used twice, a forked log, more spent than loaded): evidence kept, device revoked.'],
  CBDC_ERR_OFFLINE_LOAD_STATE: [409, 'The load or unload is not in a state that allows this (not settled yet, refused, or already completed).'],
  // Bank contract services
  CBDC_ERR_CONTRACT_UNKNOWN: [404, 'No contract or schedule with that id at this bank (or it is not one of yours).'],
  CBDC_ERR_CONTRACT_TERMS: [400, "A contract's or schedule's terms are malformed or out of bounds (times, counts, interval, recipients, merchant categories, parties)."],
  CBDC_ERR_CONTRACT_STATE: [409, 'The contract is not in a state that allows this (not funded yet, already finished, or a spend of it is already under way).'],
  CBDC_ERR_CONTRACT_LIMIT: [409, 'The account already has as many open contracts or schedules as the bank allows.'],
  CBDC_ERR_SCHEDULE_MISSED: [409, 'The scheduled slot came due longer ago than the catch-up window and was recorded as missed, not run.'],
  // Storage
  CBDC_ERR_STORAGE: [503, 'The ledger store refused the write (for example the map is full); nothing was committed.'],
  // Visitors
  CBDC_ERR_VISITOR_EXPIRED: [403, "The visitor wallet's validity has ended: it can still pay out and convert back, but receives, tops up and exchanges in nothing."],
  CBDC_ERR_VISITOR_EXISTS: [409, 'That passport already has an open visitor wallet at this bank.'],
  CBDC_ERR_VISITOR_VALIDITY: [400, "A visitor wallet's valid_until_ms is missing, less than an hour or more than 180 days ahead, or given for a resident tier."],
  CBDC_ERR_VISITOR_ONLY: [409, 'This is for visitor (tier 5) wallets only; the account is a resident one.'],
  CBDC_ERR_VISITOR_TIER_CHANGE: [409, 'A visitor wallet cannot change to or from tier 5; a visitor who becomes resident opens a resident account.'],
  CBDC_ERR_VISITOR_NO_CARD: [409, 'The visitor wallet has no card on file to convert back to: it was never topped up from a card.'],
  CBDC_ERR_CARD_FORMAT: [400, 'A card number is not 12 to 19 digits passing the Luhn check, or its expiry is not MM/YY.'],
  CBDC_ERR_CARD_DECLINED: [402, "The card acquirer declined the charge (the card issuer's answer is in the message); nothing was charged."],
  CBDC_ERR_CARD_EXPIRED: [402, "The card's expiry month has passed (by the bank's clock)."],
  CBDC_ERR_FX_CURRENCY: [400, "The currency is not in the bank's exchange table (GET /v1/visitors/fx)."],
  CBDC_ERR_FX_AMOUNT: [400, 'The amount converts to nothing after the fee (less than one fen, or less than one minor unit of the currency).'],
  // Receipts
  CBDC_ERR_TAX_ID: [400, 'A tax id is not an 18-character unified social credit code with a valid check character, or is given for a non-merchant account.'],
  CBDC_ERR_RECEIPT_FORMAT: [400, 'A receipt draft or receipt is not in its canonical form (base64url, version, lengths, account id, merchant name).'],
  CBDC_ERR_RECEIPT_LINES: [400, 'A receipt has no lines, or more than RECEIPT_LINES_MAX.'],
  CBDC_ERR_RECEIPT_LINE: [400, 'A receipt line is malformed: description, quantity (1 to 10^6), unit price or tax rate (0 to 10000 bp) out of bounds.'],
  CBDC_ERR_RECEIPT_TOTAL: [400, "The receipt draft's total (its lines plus tax) is not exactly the payment amount."],
  CBDC_ERR_RECEIPT_SIGNATURE: [403, "The receipt draft is not signed by the payee merchant's wallet key (or a receipt by its bank's key)."],
  CBDC_ERR_RECEIPT_MERCHANT: [409, 'The payee cannot issue receipts: not a merchant account, no tax id, or the draft names another account.'],
  CBDC_ERR_RECEIPT_NOT_SETTLED: [409, "The payee's bank has not yet seen the payment settle; the payer's bank delivers the draft again later."],
  CBDC_ERR_RECEIPT_PAYMENT: [409, 'The txid did not credit exactly the merchant account named with exactly the draft total.'],
  CBDC_ERR_RECEIPT_CONFLICT: [409, 'A receipt was already issued for this txid from another draft, or this draft already receipted another payment.'],
  CBDC_ERR_RECEIPT_UNKNOWN: [404, 'No receipt with that id for this account (or for that merchant).'],
  CBDC_ERR_RECEIPT_QUEUE_FULL: [503, 'The bank holds as many undelivered receipt drafts as it allows; pay without a receipt or retry later.'],
  // Private analytics
  CBDC_ERR_REGION: [400, 'A region is not an ISO 3166-2:CN subdivision code (CN-GD, CN-BJ, ...) or "unknown".'],
  CBDC_ERR_ANALYTICS_QUERY: [400, 'An analytics query is malformed or out of bounds (metric, grouping, day range, epsilon, parties, vector length).'],
  CBDC_ERR_PRIVACY_BUDGET: [429, "The query's epsilon would take the querier past its privacy budget; nothing was spent or answered."],
  CBDC_ERR_ANALYTICS_PARTY: [403, 'The share or partial sum comes from, or names, a party that is not one of the query (or the query is unknown here).'],
  CBDC_ERR_ANALYTICS_SHARE: [400, 'A sealed share does not authenticate for its query, sender and recipient, or a share vector is malformed.'],
  CBDC_ERR_ANALYTICS_STATE: [409, 'The combined query id is already in flight or used, or expired before its partial sums were asked for.'],
  CBDC_ERR_ANALYTICS_BANK: [502, 'A bank of the combined query did not answer, or answered without a valid signature of its registered key.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export function httpStatusOf(code: ErrorCode): number {
  return ERRORS[code][0];
}

/** An operating error: bad input or a refused operation. Carries a stable code. */
export class CbdcError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code][1]);
    this.code = code;
    this.statusCode = ERRORS[code][0];
    this.name = 'CbdcError';
  }
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isCbdcError(e: unknown): e is CbdcError {
  return e instanceof CbdcError;
}

/** Throws the coded refusal (an operating error: the caller answers it; nothing was written). */
export function fail(code: ErrorCode, message?: string): never {
  throw new CbdcError(code, message);
}

/** A programmer error: an invariant broke. Never caught; the process should stop. */
export function assert(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${what}`);
}
