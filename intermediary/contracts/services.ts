// The bank's contract services in one place: their store, the scheduler and the lock-based
// services, wired to the bank's settlement hooks. Started and stopped with the bank node.
import type { ErrorCode } from '../../protocol/errors.js';
import type { Bank, ContractHooks } from '../bank.js';
import { Scheduler, type SchedulerOptions } from '../scheduler.js';
import { ContractsStore } from './store.js';

export interface ContractServicesOptions {
  scheduler?: SchedulerOptions;
}

export class ContractServices implements ContractHooks {
  readonly store: ContractsStore;
  readonly scheduler: Scheduler;

  constructor(readonly bank: Bank, o: ContractServicesOptions = {}) {
    this.store = new ContractsStore(bank.store);
    this.scheduler = new Scheduler(bank, this.store, o.scheduler);
    bank.contractHooks = this;
  }

  start(): void {
    this.scheduler.start();
  }

  async stop(): Promise<void> {
    await this.scheduler.stop();
  }

  /** Sum of an owner's coins (reserved or not): what a pot or contract holds right now. */
  heldFen(owner: string): bigint {
    let sum = 0n;
    for (const { key } of this.bank.store.coinsByOwner.getRange({ start: [owner, ''], end: [owner, '~'] })) {
      const c = this.bank.store.coins.get(key[1]);
      if (c !== undefined) sum += BigInt(c.value);
    }
    return sum;
  }

  applied(txid: string, _outputs: readonly { pos: string; id: string; value: string; lockHex: string }[], _atMs: number): void {
    this.scheduler.onApplied(txid);
  }

  refused(_txid: string, _code: ErrorCode, _message: string): void {
    // The lock-based services record refusals of their spends here.
  }
}
