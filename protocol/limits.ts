// Every bound the system enforces, in one place (TigerBeetle style: put a limit on everything).
// Units and qualifiers come last in names.

/** Inputs one transaction may spend. */
export const TX_INPUTS_MAX = 64;
/** Outputs one transaction may create. */
export const TX_OUTPUTS_MAX = 64;
/** Distinct (key, signature) pairs one transaction may carry. */
export const TX_SIGNATURES_MAX = 64;
/** Transactions one submitted batch may hold, and one LMDB write transaction may apply. */
export const BATCH_TX_MAX = 10_000;
/** Bytes of one HTTP request body at central. */
export const BODY_BYTES_MAX = 8 * 1024 * 1024;
/** Bytes of one encoded lock policy. */
export const LOCK_BYTES_MAX = 1024;
/** Public keys one lock policy may name. */
export const LOCK_KEYS_MAX = 16;
/** Nesting depth of one lock policy. */
export const LOCK_DEPTH_MAX = 8;
/** Length of a network id (ASCII). */
export const NETWORK_ID_BYTES_MAX = 32;
/** Length of an intermediary id (ASCII). */
export const INTERMEDIARY_ID_BYTES_MAX = 32;
/** How far a signed request's time may be from the server's clock. */
export const REQUEST_SKEW_MS_MAX = 30_000;
/** Transactions waiting to enter the ledger at once; past this, submissions are refused. */
export const LEDGER_QUEUE_TX_MAX = 200_000;
