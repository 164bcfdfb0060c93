// Lock policies through central's HTTP API (real node, real port, LMDB in a temp dir): policy
// locks are accepted in outputs and read back in their JSON form; witnesses carry preimages and
// merchant certificates; malformed, too deep, too large and unknown-operator locks and every
// refused spend get their status and code and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocol/errors.js';
import { sha256 } from '../protocol/hash.js';
import { LOCK_DEPTH_MAX } from '../protocol/limits.js';
import { type Lock, type LockJson, andLock, afterLock, beforeLock, encodeLock, hashLock, keyLock, lockToJson, multiLock, orLock, purposeLock } from '../protocol/lock.js';
import { signMerchantCert } from '../protocol/merchant_cert.js';
import { type Tx, txToJson } from '../protocol/tx.js';
import { makeTx, operatorSignTx, withMerchantCert, withPreimages } from '../protocol/tx_builder.js';
import { type Client, type InProcessCentral, type KeyPair, type SettledJson, expectError, keyPair, registerBank, signTxNative, startInProcess } from './helpers/http_fixture.js';

const bankKey = keyPair('bank-a');
const merchantBankKey = keyPair('bank-m');
const citizen = keyPair('citizen');
const city = keyPair('city');
const metro = keyPair('metro');
const grocer = keyPair('grocer');
const seller = keyPair('seller');

let c: InProcessCentral;
let bank: Client;
const FAR = Date.now() + 365 * 86_400_000;

beforeAll(async () => {
  c = await startInProcess({ durability: 'sync', verification: 'full' });
  bank = await registerBank(c, 'bank-a', bankKey);
  await registerBank(c, 'bank-m', merchantBankKey);
});
afterAll(async () => {
  await c?.dispose();
});

interface Coin {
  pos: bigint;
  id: Buffer;
  value: bigint;
}

async function issue(outputs: { value: bigint; lock: Lock }[]): Promise<Coin[]> {
  const info = await c.op.get<{ next_serial: string }>('/v1/intermediaries/bank-a');
  const tx = operatorSignTx(makeTx({ kind: 'issue', network: c.network, intermediary: 'bank-a', serial: BigInt(info.body.next_serial), inputs: [], outputs }), c.operator.sk);
  const r = await c.op.post<SettledJson>('/v1/transactions', txToJson(tx));
  expect(r.status, r.text).toBe(200);
  return r.body.outputs.map((o, i) => ({ pos: BigInt(o.pos), id: Buffer.from(o.id, 'hex'), value: outputs[i]!.value }));
}

function spend(inputs: Coin[], outputs: { value: bigint; lock: Lock }[], signers: KeyPair[]): Tx {
  return signTxNative(makeTx({ network: c.network, inputs: inputs.map((i) => ({ pos: i.pos, id: i.id })), outputs }), signers);
}

async function refused(body: unknown, status: number, code: ErrorCode): Promise<void> {
  const before = c.node.store.digest();
  expectError(await bank.post('/v1/transactions', body), status, code);
  expect(c.node.store.digest()).toBe(before);
}

const subsidyLock = orLock(andLock(multiLock(2, [citizen.pk, bankKey.pk]), beforeLock(FAR), purposeLock([4111, 4131])), andLock(keyLock(city.pk), afterLock(FAR)));
const metroLock = multiLock(2, [metro.pk, merchantBankKey.pk]);
const grocerLock = multiLock(2, [grocer.pk, merchantBankKey.pk]);
const certFor = (lock: Lock, mcc: number) => signMerchantCert(merchantBankKey.sk, { network: c.network, intermediary: 'bank-m', lockBytes: encodeLock(lock), mcc, expiresMs: FAR });

describe('lock policies over HTTP', () => {
  it('a policy lock is stored and read back in its JSON form', async () => {
    const [coin] = await issue([{ value: 1_000n, lock: subsidyLock }]);
    const r = await bank.get(`/v1/outputs/${coin!.pos}?id=${coin!.id.toString('hex')}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body.lock).toEqual(lockToJson(subsidyLock));
  });

  it('a purpose-bound spend with a merchant certificate settles; the wrong merchant is 403 CBDC_ERR_LOCK_PURPOSE', async () => {
    const [coin] = await issue([{ value: 1_000n, lock: subsidyLock }]);
    const wrong = withMerchantCert(spend([coin!], [{ value: 1_000n, lock: grocerLock }], [citizen, bankKey]), 0, certFor(grocerLock, 5411));
    await refused(txToJson(wrong), 403, 'CBDC_ERR_LOCK_PURPOSE');
    const good = withMerchantCert(spend([coin!], [{ value: 400n, lock: metroLock }, { value: 600n, lock: subsidyLock }], [citizen, bankKey]), 0, certFor(metroLock, 4111));
    const body = txToJson(good);
    expect(body.witness.certs).toHaveLength(1);
    const r = await bank.post('/v1/transactions', body);
    expect(r.status, r.text).toBe(200);
    expect(r.body.status).toBe('settled');
  });

  it('a hash lock opens with the preimage; without it 403 CBDC_ERR_LOCK_PREIMAGE; an unneeded one 400 CBDC_ERR_WITNESS', async () => {
    const pre = Buffer.alloc(32, 0x42);
    const [coin] = await issue([{ value: 50n, lock: andLock(keyLock(seller.pk), hashLock(sha256(pre))) }]);
    const claim = spend([coin!], [{ value: 50n, lock: keyLock(seller.pk) }], [seller]);
    await refused(txToJson(claim), 403, 'CBDC_ERR_LOCK_PREIMAGE');
    await refused(txToJson(withPreimages(claim, [Buffer.alloc(32, 1)])), 400, 'CBDC_ERR_WITNESS');
    const bad = txToJson(withPreimages(claim, [pre]));
    bad.witness.preimages = ['zz'];
    await refused(bad, 400, 'CBDC_ERR_HEX_FORMAT');
    const r = await bank.post('/v1/transactions', txToJson(withPreimages(claim, [pre])));
    expect(r.status, r.text).toBe(200);
  });

  it('malformed, too deep, too large and unknown-operator locks in outputs are refused with their codes', async () => {
    const [coin] = await issue([{ value: 10n, lock: keyLock(citizen.pk) }]);
    const base = txToJson(spend([coin!], [{ value: 10n, lock: keyLock(seller.pk) }], [citizen]));
    const withLock = (lock: unknown): unknown => ({ ...base, outputs: [{ value: '10', lock }] });
    let deep: LockJson = { key: seller.pk.toString('hex') };
    for (let i = 0; i < LOCK_DEPTH_MAX; i++) deep = { and: [deep, { after: 1 }] };
    await refused(withLock(deep), 400, 'CBDC_ERR_LOCK_TOO_DEEP');
    await refused(withLock({ script: 'OP_TRUE' }), 400, 'CBDC_ERR_LOCK_UNKNOWN_OPERATOR');
    await refused(withLock({ or: Array.from({ length: 17 }, (_, i) => ({ after: i })) }), 400, 'CBDC_ERR_LOCK_TOO_LARGE');
    await refused(withLock({ after: '1700000000000' }), 400, 'CBDC_ERR_LOCK_FORMAT');
    await refused(withLock({ purpose: { mccs: ['4131', '4111'] } }), 400, 'CBDC_ERR_LOCK_FORMAT');
  });
});
