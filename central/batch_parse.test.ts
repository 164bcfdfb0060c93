// A batch parsed on a worker thread (batch_parse.ts) must come back as exactly what the event
// loop would have parsed itself: the same transactions (fields, witness, shape), the same
// intake results, and for a bad body the same code and message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcError } from '../protocol/errors.js';
import { outcome } from '../test/helpers/outcome.js';
import { type Tx, txId, txToJson } from '../protocol/tx.js';
import { andLock, afterLock, hashLock, orLock, withMerchantCert, withPreimages } from '../protocol/tx_builder.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { signMerchantCert } from '../protocol/merchant_cert.js';
import { encodeLock } from '../protocol/lock.js';
import { decodeParsedBatch, parseBatchBody, parseBatchJson, runBatchParse } from './batch_parse.js';
import { encodeBatchWire } from '../protocol/batch_wire.js';
import { type Admitted, packIntake, runIntake, unpackIntake } from './intake.js';
import { VerifyPool } from './verify_pool.js';
import {
  type Coin, LedgerFixture, NETWORK, attest, issueTx, keyPair, redeemTx, toKey, toMulti2, transferTx,
} from '../test/helpers/ledger_fixture.js';

const BANK = 'bank-a';
const BANK_KEY = keyPair('bank-a');
const ALICE = keyPair('alice');
const BOB = keyPair('bob');
const CAROL = keyPair('carol');
const PREIMAGE = Buffer.alloc(32, 7);
/** The two paths must refuse alike to the word: code and message. */
const WITH_MESSAGE = { message: true };


/** The intake's record of a transaction's input reads (found u8 | value u64 | lock var16, or 0), as hex. */
function inputReads(a: Admitted, inputs: number): string {
  let at = a.inputsAt;
  for (let i = 0; i < inputs; i++) at = a.inputs[at] === 1 ? at + 11 + a.inputs.readUInt16BE(at + 9) : at + 1;
  return a.inputs.subarray(a.inputsAt, at).toString('hex');
}

function viaWorkerBytes(body: Buffer, lmdbPath: string | null): ReturnType<typeof decodeParsedBatch> {
  return decodeParsedBatch(runBatchParse({ body: new Uint8Array(body), format: 'json', network: NETWORK, lmdbPath }), NETWORK);
}

describe('batch parse: off the event loop, the same as on it', () => {
  let fx: LedgerFixture;
  let coins: Coin[];

  beforeAll(async () => {
    fx = await LedgerFixture.open({ durability: 'nosync', pool: null });
    await fx.register(BANK, BANK_KEY, 10_000_000n, 8_000_000n);
    const policy = orLock(andLock(afterLock(1), toKey(ALICE)), toMulti2(BOB, CAROL));
    coins = await fx.issue(BANK, [
      { value: 100n, lock: toKey(ALICE) }, { value: 200n, lock: toMulti2(BOB, CAROL) }, { value: 300n, lock: policy },
      { value: 400n, lock: toKey(BOB) }, { value: 500n, lock: andLock(hashLock(Buffer.from(sha256(PREIMAGE))), toKey(CAROL)) },
    ]);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  function sample(): Tx[] {
    const [a, b, c, d, e] = coins as [Coin, Coin, Coin, Coin, Coin];
    const out = { value: 500n, lock: toKey(ALICE) };
    const cert = signMerchantCert(BANK_KEY.sk, { network: NETWORK, intermediary: BANK, lockBytes: encodeLock(out.lock), mcc: 5411, expiresMs: 4_000_000_000_000 });
    return [
      transferTx([a, d], [{ value: 250n, lock: toKey(CAROL) }, { value: 250n, lock: toMulti2(ALICE, BOB) }], [ALICE, BOB]),
      transferTx([b], [{ value: 200n, lock: toKey(ALICE) }], [BOB, CAROL]),
      issueTx(BANK, 7n, Array.from({ length: 5 }, (_, i) => ({ value: BigInt(1 + i), lock: toKey(BOB) }))),
      redeemTx(BANK, [c], [{ value: 1n, lock: toKey(ALICE) }], [ALICE]),
      withMerchantCert(withPreimages(transferTx([e], [out], [CAROL]), [PREIMAGE]), 0, cert),
      // Unknown position, and a known position with another output's id: both misses.
      transferTx([{ pos: 999_999n, id: a.id }, { pos: a.pos, id: d.id }], [{ value: 1n, lock: toKey(ALICE) }], [ALICE]),
    ];
  }

  it('gives back the transactions parseTx gives, field for field and in the same shape, with their intake', () => {
    const txs = sample();
    const attestation = attest(txs, BANK_KEY).sig.toString('hex');
    const body = Buffer.from(JSON.stringify({ transactions: txs.map(txToJson), attestation }));
    const here = parseBatchJson(body, NETWORK);
    const there = viaWorkerBytes(body, fx.store.path!);
    expect(there.attestationHex).toBe(attestation);
    expect(there.txs).toHaveLength(txs.length);
    const intake: Admitted[] = [];
    unpackIntake(here.txs, 0, here.txs.length, runIntake(packIntake(here.txs, 0, here.txs.length, fx.store.path!)), intake);
    for (const [t, tx] of here.txs.entries()) {
      const got = there.txs[t]!;
      expect(Object.keys(got)).toEqual(Object.keys(tx));
      expect(txToJson(got)).toEqual(txToJson(tx));
      expect(txId(got).equals(txId(tx))).toBe(true);
      expect(got.outputs.map((o) => o.lock)).toEqual(tx.outputs.map((o) => o.lock));
      expect(got.serial).toBe(tx.serial);
      const a = there.admitted[t]!;
      const b = intake[t]!;
      expect(a.txid.equals(b.txid)).toBe(true);
      expect(a.outputIds.map((x) => x.toString('hex'))).toEqual(b.outputIds.map((x) => x.toString('hex')));
      expect(inputReads(a, tx.inputs.length)).toBe(inputReads(b, tx.inputs.length));
    }
    // No attestation: none comes back.
    const bare = Buffer.from(JSON.stringify({ transactions: txs.map(txToJson) }));
    expect(viaWorkerBytes(bare, null).attestationHex).toBeUndefined();
  });

  it('refuses every bad body with the code and message the event loop gives', () => {
    const [tx] = sample();
    const good = txToJson(tx!);
    const bodies: string[] = [
      '', 'null', '[]', '{', 'not json', '{"transactions": []}', '{"transactions": {}}', '{"transactions": [], "extra": 1}',
      JSON.stringify({ transactions: [good], attestation: 'zz' }),
      JSON.stringify({ transactions: [good], attestation: 'ab'.repeat(64), more: true }),
      `{"__proto__": {"x": 1}, "transactions": [${JSON.stringify(good)}]}`,
      JSON.stringify({ transactions: [{ ...good, network: 'other-net' }] }),
      JSON.stringify({ transactions: [good, { ...good, outputs: [{ value: 250, lock: good.outputs[0]!.lock }] }] }),
      JSON.stringify({ transactions: [good, { ...good, outputs: [{ value: '-1', lock: good.outputs[0]!.lock }] }] }),
      JSON.stringify({ transactions: [good, { ...good, inputs: [good.inputs[0], good.inputs[0]] }] }),
      JSON.stringify({ transactions: [{ ...good, kind: 'mint' }] }),
      JSON.stringify({ transactions: [{ ...good, witness: { sigs: [{ key: '02'.padEnd(66, '0'), sig: good.witness.sigs![0]!.sig }] } }] }),
      JSON.stringify({ transactions: Array.from({ length: 10_001 }, () => 0) }),
    ];
    for (const text of bodies) {
      const body = Buffer.from(text);
      const here = outcome(() => parseBatchJson(body, NETWORK), WITH_MESSAGE);
      expect(here, text.slice(0, 80)).not.toBe('ok');
      expect(outcome(() => viaWorkerBytes(body, null), WITH_MESSAGE), text.slice(0, 80)).toBe(here);
    }
  });

  it('the binary form of a batch gives the worker result its JSON form gives, byte for byte', () => {
    const txs = sample();
    const attestation = attest(txs, BANK_KEY).sig;
    const json = runBatchParse({ body: new Uint8Array(Buffer.from(JSON.stringify({ transactions: txs.map(txToJson), attestation: attestation.toString('hex') }))), format: 'json', network: NETWORK, lmdbPath: fx.store.path! });
    const wire = runBatchParse({ body: new Uint8Array(encodeBatchWire(txs, attestation)), format: 'wire', network: NETWORK, lmdbPath: fx.store.path! });
    expect(Buffer.from(wire).equals(Buffer.from(json))).toBe(true);
    // A bad body in the binary form: the worker refuses it as the event loop does.
    const bad = encodeBatchWire([{ ...txs[0]!, network: 'other-net' }]);
    const here = outcome(() => parseBatchBody(bad, 'wire', NETWORK), WITH_MESSAGE);
    expect(here).toMatch(/^CBDC_ERR_NETWORK_ID transaction 0: /);
    expect(outcome(() => decodeParsedBatch(runBatchParse({ body: new Uint8Array(bad), format: 'wire', network: NETWORK, lmdbPath: null }), NETWORK), WITH_MESSAGE)).toBe(here);
  });

  it('on a real worker thread: the same result bytes as on this one', async () => {
    const txs = sample();
    const body = Buffer.from(JSON.stringify({ transactions: txs.map(txToJson) }));
    const pool = new VerifyPool({ threads: 1 });
    try {
      const there = await pool.parseBatch({ body: new Uint8Array(body), format: 'json', network: NETWORK, lmdbPath: fx.store.path! });
      const here = runBatchParse({ body: new Uint8Array(body), format: 'json', network: NETWORK, lmdbPath: fx.store.path! });
      expect(Buffer.from(there).equals(Buffer.from(here))).toBe(true);
      const refused = await pool.parseBatch({ body: new Uint8Array(Buffer.from('{"transactions": 1}')), format: 'json', network: NETWORK, lmdbPath: null });
      expect(() => decodeParsedBatch(refused, NETWORK)).toThrow(CbdcError);
    } finally {
      await pool.close();
    }
  });
});
