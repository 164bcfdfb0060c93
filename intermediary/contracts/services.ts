// The bank's contract services in one place: their store, the scheduler and the lock-based
// services (prepaid, escrow, hash-locked, subsidy), wired to the bank's settlement hooks and
// run on one timer. Started and stopped with the bank node.
import type { ErrorCode } from '../../protocol/errors.js';
import type { Bank, ContractHooks } from '../bank.js';
import { Scheduler, type SchedulerOptions } from '../scheduler.js';
import { Engine } from './engine.js';
import { escrow } from './escrow.js';
import { hashlock } from './hashlock.js';
import { prepaid } from './prepaid.js';
import { ContractsStore } from './store.js';
import { subsidy } from './subsidy.js';

export interface ContractServicesOptions {
  /** The tick and clock serve the lock-based contracts' deadlines too. */
  scheduler?: SchedulerOptions;
}

export class ContractServices implements ContractHooks {
  readonly store: ContractsStore;
  readonly scheduler: Scheduler;
  readonly engine: Engine;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;

  constructor(readonly bank: Bank, o: ContractServicesOptions = {}) {
    this.store = new ContractsStore(bank.store);
    this.scheduler = new Scheduler(bank, this.store, o.scheduler);
    this.engine = new Engine(bank, this.store, o.scheduler?.clock ?? Date.now);
    for (const s of [prepaid, escrow, hashlock, subsidy]) this.engine.register(s);
    bank.contractHooks = this;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.scheduler.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
    await this.scheduler.stop();
  }

  /** One pass of the scheduler and of the contracts' deadlines. Never overlaps itself. */
  tick(): Promise<void> {
    this.busy ??= (async () => {
      try {
        await this.scheduler.tick();
        await this.engine.tick();
      } catch (e) {
        process.stderr.write(`bank ${this.bank.id}: contract services tick failed: ${(e as Error).message}\n`);
      } finally {
        this.busy = null;
      }
    })();
    return this.busy;
  }

  /** Sum of an owner's coins (reserved or not): what a pot or contract holds right now. */
  heldFen(owner: string): bigint {
    return this.engine.heldFen(owner);
  }

  applied(txid: string): void {
    this.scheduler.onApplied(txid);
    this.engine.onApplied(txid);
  }

  refused(txid: string, code: ErrorCode, message: string): void {
    this.engine.onRefused(txid, code, message);
  }
}
