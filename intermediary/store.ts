// The bank's own LMDB store. Amounts are decimal strings in records, bigint in code.
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Evidence, Tier } from './tiers.js';
import type { TxJson } from '../protocol/tx.js';
import type { PendingTx } from './pending_tx.js';
import { PENDING_PREFIX, PendingTxs, ReservedCoins } from './in_flight.js';

export type AccountStatus = 'active' | 'frozen' | 'closed';

export interface AccountRec {
  id: string;
  kind: 'personal' | 'merchant';
  mcc: string | null;
  tier: Tier;
  status: AccountStatus;
  walletKey: string;
  /** Hex of the canonical multi(2, [wallet, bank]) lock its money sits under. */
  lockHex: string;
  /** Hex of its sweep lock multi(1, [bank, wallet]): over-cap money the bank moves to the deposit. */
  sweepLockHex: string;
  aliases: string[];
  evidence: Evidence;
  /** Money in the wallet (sum of its unspent outputs at central), fen. */
  balanceFen: string;
  /** The customer's simple bank deposit, fen. */
  depositFen: string;
  historyNext: number;
  createdAtMs: number;
  kycHistory: { atMs: number; from: Tier; to: Tier; by: string; evidence: Evidence }[];
  /** A merchant's tax id (unified social credit code): only merchants with one issue receipts (intermediary/receipts/). */
  taxId?: string;
  /** Tier 5 only (intermediary/visitors/). */
  visitor?: VisitorRec;
  /** ISO 3166-2:CN subdivision code given at opening (protocol/regions.ts); absent reads as "unknown". */
  region?: string;
}

/**
 * A visitor wallet's own facts. The passport number and nationality are kept only as their
 * keyed hash (HMAC-SHA256 under the bank's pepper over "NATIONALITY:PASSPORTNUMBER"): nothing
 * raw, not even the nationality alone. After validUntilMs the wallet only pays out.
 */
export interface VisitorRec {
  passportHash: string;
  validUntilMs: number;
}

export interface CoinRec {
  pos: string;
  id: string;
  value: string;
  /** Owning account id, or '_bank' for the bank's own holdings. */
  owner: string;
  /** Hex of the lock it is paid to (tells which bank key co-signs its spending). */
  lockHex?: string;
}

export type PaymentStatus = 'awaiting_signature' | 'submitted' | 'settled' | 'rejected' | 'expired';

export interface PaymentRec {
  id: string;
  account: string;
  idempotencyKey: string;
  /** What the request asked for, to detect a key reused for another request. */
  requestDigest: string;
  /** kind 'offline': a load of offline device `account` (its serial), paid to the offline reserve; kind 'contract': a contract's funding (`account` is the contract id). */
  payee: { bank: string; account: string | null; alias: string | null; kind: 'customer' | 'deposit' | 'offline' | 'contract' };
  amountFen: string;
  /** Of the amount: into the payee's wallet, and swept to the payee's deposit. */
  walletFen: string;
  excessFen: string;
  inputs: string[];
  inputSumFen: string;
  changeFen: string;
  tx: TxJson;
  txid: string;
  status: PaymentStatus;
  createdAtMs: number;
  expiresAtMs: number;
  dayKey: string;
  yearKey: string;
  result: Record<string, unknown> | null;
  /** A payment to a contract whose tier limits apply later (a scheduled payment's pot): no usage now. */
  usageLater?: true;
  /** The owner of the funds paying it when not the payer's wallet (a scheduled payment's pot). */
  source?: string;
  /** The merchant-signed receipt draft the payment carries (compact form, protocol/receipt.ts); handed to the payee's bank once settled. */
  receiptDraft?: string;
}

export interface HistoryRec {
  seq: number;
  atMs: number;
  direction: 'in' | 'out';
  kind: 'payment' | 'exchange' | 'sweep';
  amountFen: string;
  counterparty: string;
  txid: string;
  balanceAfterFen: string;
  depositAfterFen: string;
  paymentId: string | null;
}

export interface AmlRec {
  seq: number;
  atMs: number;
  reason: 'threshold' | 'structuring';
  account: string;
  identity: { phone?: string; name?: string; id_number?: string; tier: Tier };
  amountFen: string;
  paymentId: string;
  counterparty: string;
  detail: string;
}

/** Where each database keeps its shared record structures (a symbol: no range over the data visits it). */
const STRUCTURES_KEY = Symbol.for('structures');

export class BankStore {
  readonly root: RootDatabase;
  readonly accounts: Database<AccountRec, string>;
  readonly walletKeys: Database<string, string>;
  readonly aliases: Database<string, string>;
  /** lock hex -> owner ('_bank', an account id, or 'sweep:' + account id) */
  readonly locks: Database<string, string>;
  readonly coins: Database<CoinRec, string>;
  readonly coinsByOwner: Database<string, [string, string]>;
  /** Coins being spent, in memory; only those without a payment record are written (intermediary/in_flight.ts). */
  readonly reserved: ReservedCoins;
  /** Transactions awaiting central's answer, in memory; likewise (intermediary/in_flight.ts). */
  readonly pending: PendingTxs;
  /** The payments awaiting their wallet's signature when the store was opened, and when each lapses. */
  readonly awaitingAtOpen: { id: string; expiresAtMs: number }[] = [];
  readonly payments: Database<PaymentRec, string>;
  readonly idem: Database<string, [string, string]>;
  readonly byTxid: Database<string, string>;
  readonly applied: Database<number, string>;
  readonly history: Database<HistoryRec, [string, number]>;
  readonly usage: Database<string, [string, string]>;
  readonly aml: Database<AmlRec, number>;
  readonly meta: Database<unknown, string>;
  /** Visitor wallets: passport hash -> the open account holding it. */
  readonly visitorPassports: Database<string, string>;
  /** Visitor wallets: the FX ledger, by its sequence number (intermediary/visitors/fx_ledger.ts). */
  readonly visitorFx: Database<unknown, number>;
  /** Visitor wallets: [account, FX ledger seq] -> '' (one account's lines in order). */
  readonly visitorFxByAccount: Database<string, [string, number]>;

  constructor(path: string) {
    // overlappingSync: commits return before the flush; the bank awaits `flushed` where it
    // acknowledges something to a wallet (see Bank.durable).
    this.root = open({ path, maxDbs: 64, overlappingSync: true, cache: false });
    // Shared record structures: msgpackr stores each record shape (its field names) once per
    // database, under STRUCTURES_KEY, and values refer to it by number. Without it every value
    // carries its own field names and every read parses them and builds a reader for them.
    // Values written before (field names inline) still read the same; the structures are
    // written in the same LMDB transaction as the first value that uses them.
    const db = <V, K extends string | number | (string | number)[]>(name: string) =>
      this.root.openDB<V, K>({ name, sharedStructuresKey: STRUCTURES_KEY });
    this.accounts = db('accounts');
    this.walletKeys = db('wallet-keys');
    this.aliases = db('aliases');
    this.locks = db('locks');
    this.coins = db('coins');
    this.coinsByOwner = db('coins-by-owner');
    const reservedRows = db<string, string>('reserved');
    this.payments = db('payments');
    this.idem = db('idempotency');
    this.byTxid = db('by-txid');
    this.applied = db('applied');
    this.history = db('history');
    this.usage = db('usage');
    this.aml = db('aml');
    this.meta = db('meta');
    this.visitorPassports = db('visitor-passports');
    this.visitorFx = db('visitor-fx');
    this.visitorFxByAccount = db('visitor-fx-by-account');
    this.reserved = new ReservedCoins(reservedRows);
    this.pending = new PendingTxs(this.meta);
    this.loadInFlight(reservedRows);
  }

  /**
   * Rebuilds what is being spent: the written reservations and pending entries, and what each
   * payment still under way holds (its record says it). Rows an earlier version wrote for
   * payments are removed once, their records now standing for them.
   */
  private loadInFlight(reservedRows: Database<string, string>): void {
    const stale: string[] = [];
    const stalePending: string[] = [];
    for (const { key, value } of reservedRows.getRange({})) if (!this.reserved.loadWritten(key, value)) stale.push(key);
    for (const { key, value } of this.meta.getRange({ start: PENDING_PREFIX, end: `${PENDING_PREFIX}~` })) {
      if (!this.pending.loadWritten(key.slice(PENDING_PREFIX.length), value as PendingTx)) stalePending.push(key);
    }
    for (const { value: p } of this.payments.getRange({})) {
      if (p.status !== 'awaiting_signature' && p.status !== 'submitted') continue;
      for (const pos of p.inputs) this.reserved.reserveForPayment(posKey(pos), p.id);
      this.pending.loadPayment(p);
      if (p.status === 'awaiting_signature') this.awaitingAtOpen.push({ id: p.id, expiresAtMs: p.expiresAtMs });
    }
    if (stale.length + stalePending.length === 0) return;
    this.root.transactionSync(() => {
      for (const k of stale) reservedRows.removeSync(k);
      for (const k of stalePending) this.meta.removeSync(k);
    });
  }

  async flushed(): Promise<void> {
    await this.root.flushed;
  }

  close(): Promise<void> {
    return this.root.close();
  }
}

/** Owner of the bank's own coins (its holdings, and over-cap money swept to customers' deposits). */
export const BANK_OWNER = '_bank';
/** Owner of the coins locked to the offline-reserve key (intermediary/offline/reserve.ts). */
export const OFFLINE_RESERVE_OWNER = '_offline';
/** Owner of over-cap coins under an account's sweep lock: SWEEP_PREFIX + account id (the bank spends them alone). */
export const SWEEP_PREFIX = 'sweep:';

/** A record's amount (a decimal string of fen) as the bigint code works in. */
export function fen(s: string): bigint {
  return BigInt(s);
}

/** Coin keys sort in ledger order. */
export function posKey(pos: bigint | string): string {
  return BigInt(pos).toString().padStart(20, '0');
}
