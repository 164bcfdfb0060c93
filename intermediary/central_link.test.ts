// The bank's batch attestation: it signs exactly what central checks, and central in attested
// mode then trusts the bank's checks of the witnesses (a witness signature it would refuse on
// its own passes under the bank's attestation), while an unattested batch is checked in full.
// The spacing of batches: a transaction after a quiet spell goes at once, later ones wait out
// the interval together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchMessage } from '../central/ledger.js';
import { txId } from '../protocol/tx.js';
import { BATCH_INTERVAL_MS_MAX, type BatchSent, CentralLink } from './central_link.js';
import { batchAttestationMessage } from '../protocol/tx.js';
import { TAGS, taggedHash } from '../protocol/hash.js';
import { type Coin, type InProcessCentral, coinsFrom, issueTx, json, keyPair, registerBank, startInProcess, transferTx } from '../test/helpers/http_fixture.js';

const alice = keyPair('alice');
const bob = keyPair('bob');

/** An in-process central with `bankId` registered and `n` coins of 1,000 fen issued to alice. */
async function fundedCentral(verification: 'full' | 'attested', network: string, bankId: string, bank: ReturnType<typeof keyPair>, n: number): Promise<{ central: InProcessCentral; coins: Coin[] }> {
  const central = await startInProcess({ verification, network });
  await registerBank(central, bankId, bank);
  const outputs = Array.from({ length: n }, () => ({ value: 1_000n, owner: alice }));
  const r = await central.op.post('/v1/transactions', json(issueTx(central.network, central.operator, bankId, 0n, outputs)));
  expect(r.status).toBe(200);
  return { central, coins: coinsFrom(r.body, outputs) };
}

describe('CentralLink attestation', () => {
  let central: InProcessCentral;
  const bank = keyPair('attesting-bank');
  let coins: Coin[] = [];

  beforeAll(async () => { ({ central, coins } = await fundedCentral('attested', 'cbdc-attest', 'bank-x', bank, 4)); });
  afterAll(async () => { await central.dispose(); });

  it('signs the message central checks', () => {
    const ids = [txId(transferTx('n', [coins[0]!], [{ value: 1_000n, owner: bob }]))];
    // The one-buffer hash is the tagged hash of its parts (protocol/hash.ts), for 0, 1 and many txids.
    for (const list of [[], ids, [...ids, ...ids.map((t) => Buffer.from(t).fill(9, 0, 4)), Buffer.alloc(32)]]) {
      const reference = taggedHash(TAGS.batch, Buffer.from('cbdc-attest', 'latin1'), ...list);
      expect(batchAttestationMessage('cbdc-attest', list).equals(reference)).toBe(true);
      expect(batchMessage('cbdc-attest', list).equals(reference)).toBe(true);
    }
    expect(() => batchAttestationMessage('cbdc-attest', [Buffer.alloc(31)])).toThrow(RangeError);
  });

  it('an attested batch is trusted; the same witness unattested is checked and refused', async () => {
    // Alice's signature with its first bytes overwritten: a witness central would refuse.
    const forged = (c: Coin, to = bob) => {
      const tx = transferTx(central.network, [c], [{ value: 1_000n, owner: to }]);
      return { ...tx, sigs: [{ key: alice.pk, sig: Buffer.from(tx.sigs[0]!.sig).fill(7, 0, 8) }] };
    };
    const plain = new CentralLink(central.url, central.network, 'bank-x', bank.sk, false);
    const refused = await plain.submit(forged(coins[0]!));
    expect(refused.status).toBe('rejected');
    expect(refused.status === 'rejected' && refused.code).toBe('CBDC_ERR_BAD_SIGNATURE');

    const attesting = new CentralLink(central.url, central.network, 'bank-x', bank.sk, true);
    const trusted = await attesting.submit(forged(coins[1]!));
    expect(trusted.status).toBe('settled');
    // The same transaction again is answered with its settlement (submission is idempotent by txid).
    const again = await attesting.submit(forged(coins[1]!));
    expect(again).toEqual(trusted);
    // Balance and double spending stay central's own checks under an attestation.
    const other = await attesting.submit(forged(coins[1]!, alice));
    expect(other.status === 'rejected' && other.code).toBe('CBDC_ERR_DOUBLE_SPEND');
  });
});

describe('CentralLink batch spacing', () => {
  let central: InProcessCentral;
  const bank = keyPair('spacing-bank');
  let coins: Coin[] = [];

  beforeAll(async () => { ({ central, coins } = await fundedCentral('full', 'cbdc-spacing', 'bank-s', bank, 6)); });
  afterAll(async () => { await central.dispose(); });

  /** Three payments: one, then two more 20 ms apart once it settled; the batches the link sent. */
  async function threePayments(link: CentralLink, from: Coin[]): Promise<{ batches: BatchSent[]; firstMs: number }> {
    const batches: BatchSent[] = [];
    link.onBatchSent = (b) => batches.push(b);
    const t0 = performance.now();
    expect((await link.submit(transferTx(central.network, [from[0]!], [{ value: 1_000n, owner: bob }]))).status).toBe('settled');
    const firstMs = performance.now() - t0;
    const second = link.submit(transferTx(central.network, [from[1]!], [{ value: 1_000n, owner: bob }]));
    await new Promise((r) => setTimeout(r, 20));
    const third = link.submit(transferTx(central.network, [from[2]!], [{ value: 1_000n, owner: bob }]));
    expect((await Promise.all([second, third])).map((r) => r.status)).toEqual(['settled', 'settled']);
    return { batches, firstMs };
  }

  it('with an interval, the first goes at once and the next two share one batch', async () => {
    const { batches, firstMs } = await threePayments(new CentralLink(central.url, central.network, 'bank-s', bank.sk, false, undefined, BATCH_INTERVAL_MS_MAX), coins.slice(0, 3));
    expect(firstMs).toBeLessThan(BATCH_INTERVAL_MS_MAX * 0.9);
    expect(batches.map((b) => b.txCount)).toEqual([1, 2]);
  });

  it('without one, each goes as soon as the last was answered', async () => {
    const { batches } = await threePayments(new CentralLink(central.url, central.network, 'bank-s', bank.sk, false, undefined, 0), coins.slice(3, 6));
    expect(batches.map((b) => b.txCount)).toEqual([1, 1, 1]);
  });

  it('refuses an interval out of its bound (a programmer error)', () => {
    for (const bad of [-1, 1.5, BATCH_INTERVAL_MS_MAX + 1, Number.NaN]) {
      expect(() => new CentralLink(central.url, central.network, 'bank-s', bank.sk, false, undefined, bad)).toThrow(/batch interval/);
    }
  });
});
