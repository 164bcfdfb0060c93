// The contract services' records, in the bank's own LMDB environment (so they commit in the
// same write transactions as the bank's coins and payments). Amounts are decimal strings.
import type { Database } from 'lmdb';
import type { BankStore } from '../store.js';
import type { PayeeRef } from '../bank.js';
import type { SpendRec } from './engine.js';

export type ScheduleStatus = 'awaiting_funding' | 'active' | 'cancelled' | 'finished' | 'void';

/** A scheduled (one-off) or recurring payment; its money waits in a pot only the bank's key spends. */
export interface ScheduleRec {
  id: string;
  account: string;
  idempotencyKey: string;
  requestDigest: string;
  payee: PayeeRef;
  amountFen: string;
  /** Slot k is due at firstAtMs + k * intervalMs, for k < slots. */
  firstAtMs: number;
  intervalMs: number;
  slots: number;
  /** The first slot not yet started. */
  nextSlot: number;
  status: ScheduleStatus;
  /** Owner of the pot's coins ('sched:<id>') and its lock. */
  potOwner: string;
  potLockHex: string;
  fundFen: string;
  fundingPaymentId: string;
  fundingTxid: string;
  createdAtMs: number;
  /** Slots settled, refused and missed, and the pot's money given back. */
  settled: number;
  refused: number;
  missed: number;
  refundedFen: string;
}

export type SlotStatus = 'running' | 'settled' | 'refused' | 'missed';

export interface SlotRec {
  schedule: string;
  slot: number;
  dueAtMs: number;
  /** The payment's idempotency key, recorded before anything is sent (a retry reuses it). */
  idempotencyKey: string;
  attempts: number;
  status: SlotStatus;
  paymentId: string | null;
  txid: string | null;
  code: string | null;
  message: string | null;
  startedAtMs: number;
  finishedAtMs: number | null;
}

export type ContractKind = 'prepaid' | 'escrow' | 'hashlock' | 'subsidy';

/** One contract of the lock-based services; `terms` and `state` are the service's own. */
export interface ContractRec {
  id: string;
  kind: ContractKind;
  /** The account that created and funded it (payer, buyer, issuer). */
  account: string;
  /** Every account with a say in it (payer, merchant, seller, arbiter, recipients...). */
  parties: string[];
  idempotencyKey: string;
  requestDigest: string;
  status: string;
  amountFen: string;
  fundingPaymentId: string;
  fundingTxid: string;
  /** Whether the funding payment counts against the creator's limits now (absent: true). */
  fundingLimitsNow?: boolean;
  createdAtMs: number;
  terms: Record<string, unknown>;
  state: Record<string, unknown>;
}

export class ContractsStore {
  readonly schedules: Database<ScheduleRec, string>;
  /** [schedule id, slot] -> slot */
  readonly slots: Database<SlotRec, [string, number]>;
  /** [due time of the next slot, schedule id] for active schedules: what the scheduler scans. */
  readonly due: Database<string, [number, string]>;
  /** [schedule id, slot] of slots still running (resumed each tick and after a restart). */
  readonly running: Database<string, [string, number]>;
  /** Schedules ended (finished or cancelled) whose pot may still hold money to give back. */
  readonly refunds: Database<string, string>;
  readonly contracts: Database<ContractRec, string>;
  /** [account, schedule or contract id]: what an account is a party to. */
  readonly byAccount: Database<string, [string, string]>;
  /** [account, idempotency key] -> schedule or contract id */
  readonly idem: Database<string, [string, string]>;
  /** txid -> what it is to the services ('fund:<schedule or contract id>', 'spend:<proposal id>') */
  readonly byTxid: Database<string, string>;
  /** Proposed spends of contracts, and [contract, proposal] for listing them. */
  readonly spends: Database<SpendRec, string>;
  readonly spendsByContract: Database<string, [string, string]>;
  /** [deadline, contract id] of active contracts the bank spends alone once past it. */
  readonly contractsDue: Database<string, [number, string]>;

  constructor(readonly bank: BankStore) {
    const db = <V, K extends string | number | (string | number)[]>(name: string) => bank.root.openDB<V, K>({ name });
    this.schedules = db('schedules');
    this.slots = db('schedule-slots');
    this.due = db('schedule-due');
    this.running = db('schedule-running');
    this.refunds = db('schedule-refunds');
    this.contracts = db('contracts');
    this.byAccount = db('contracts-by-account');
    this.idem = db('contracts-idempotency');
    this.byTxid = db('contracts-by-txid');
    this.spends = db('contract-spends');
    this.spendsByContract = db('contract-spends-by-contract');
    this.contractsDue = db('contracts-due');
  }
}
