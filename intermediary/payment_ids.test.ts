// Payment ids: the same form as ever ('pay-' and 16 hex digits), in the order they are made,
// and never one a payment in the store already has, even when the clock is set back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PaymentIds } from './payments.js';
import { BankStore, type PaymentRec } from './store.js';

const stores: { dir: string; store: BankStore }[] = [];
afterEach(async () => {
  for (const { dir, store } of stores.splice(0)) {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

async function newStore(): Promise<BankStore> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-payment-ids-'));
  const store = new BankStore(path.join(dir, 'bank.mdb'));
  stores.push({ dir, store });
  return store;
}

describe('payment ids', () => {
  it('keep the API form and sort in the order they were made, within one millisecond too', async () => {
    const store = await newStore();
    let now = 1_765_000_000_000;
    const ids = new PaymentIds(() => now);
    const made = [ids.next(store), ids.next(store), ids.next(store)];
    now += 1;
    made.push(ids.next(store));
    for (const id of made) expect(id).toMatch(/^pay-[0-9a-f]{16}$/);
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual(made);
    expect(made[0]).toBe(`pay-${(BigInt(1_765_000_000_000) << 16n).toString(16).padStart(16, '0')}`);
  });

  it('skip an id a payment on file has, as after a restart with the clock set back', async () => {
    const store = await newStore();
    const at = 1_765_000_000_000;
    const first = new PaymentIds(() => at).next(store);
    await store.payments.put(first, { id: first } as PaymentRec);
    // A new process (nothing remembered) whose clock reads the same millisecond again.
    const again = new PaymentIds(() => at).next(store);
    expect(again).not.toBe(first);
    expect(again > first).toBe(true);
    expect(store.payments.get(again)).toBeUndefined();
  });
});
