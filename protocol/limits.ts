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
/** Nodes (operators) in one lock policy. */
export const LOCK_NODES_MAX = 64;
/** Sub-locks of one and, or or thresh. */
export const LOCK_CHILDREN_MAX = 16;
/** Merchant category codes one purpose rule may list. */
export const LOCK_MCCS_MAX = 32;
/** Work units evaluating the input locks of one transaction may take (docs/LOCKS.md). */
export const LOCK_EVAL_UNITS_MAX = 65_536;
/** Hash-lock preimages one transaction's witness may carry. */
export const TX_PREIMAGES_MAX = 16;
/** Merchant certificates one transaction's witness may carry (at most one per output). */
export const TX_CERTS_MAX = 64;
/** Length of a network id (ASCII). */
export const NETWORK_ID_BYTES_MAX = 32;
/** Length of an intermediary id (ASCII). */
export const INTERMEDIARY_ID_BYTES_MAX = 32;
/** How far a signed request's time may be from the server's clock. */
export const REQUEST_SKEW_MS_MAX = 30_000;
/** Transactions waiting to enter the ledger at once; past this, submissions are refused. */
export const LEDGER_QUEUE_TX_MAX = 200_000;
