// The bank's batch attestation: it signs exactly what central checks, and central in attested
// mode then trusts the bank's checks of the witnesses (a witness signature it would refuse on
// its own passes under the bank's attestation), while an unattested batch is checked in full.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchMessage } from '../central/ledger.js';
import { txId } from '../protocol/tx.js';
import { CentralLink } from './central_link.js';
import { batchAttestationMessage } from '../protocol/tx.js';
import { TAGS, taggedHash } from '../protocol/hash.js';
import { type Coin, type InProcessCentral, coinsFrom, issueTx, json, keyPair, registerBank, startInProcess, transferTx } from '../test/helpers/http_fixture.js';

describe('CentralLink attestation', () => {
  let central: InProcessCentral;
  const bank = keyPair('attesting-bank');
  const alice = keyPair('alice');
  const bob = keyPair('bob');
  let coins: Coin[] = [];

  beforeAll(async () => {
    central = await startInProcess({ verification: 'attested', network: 'cbdc-attest' });
    await registerBank(central, 'bank-x', bank);
    const outputs = [1, 2, 3, 4].map(() => ({ value: 1_000n, owner: alice }));
    const r = await central.op.post('/v1/transactions', json(issueTx(central.network, central.operator, 'bank-x', 0n, outputs)));
    expect(r.status).toBe(200);
    coins = coinsFrom(r.body, outputs);
  });
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
