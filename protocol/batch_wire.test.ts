// The binary form of a batch must be the JSON form by other means: the same transactions from
// the same batch, and the same refusal (code) for the same defect. It has one encoding per
// batch, so whatever decodes re-encodes to the bytes it came from.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AMOUNT_FEN_MAX } from './amount.js';
import { isCbdcError } from './errors.js';
import { outcome } from '../test/helpers/outcome.js';
import { BATCH_TX_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX } from './limits.js';
import { type Lock, encodeLock } from './lock.js';
import { signMerchantCert } from './merchant_cert.js';
import { CURVE_N, publicKeyOf, signHash } from './sig.js';
import { type Tx, parseTx, txId, txToJson, outputId } from './tx.js';
import { afterLock, andLock, hashLock, keyLock, makeTx, multiLock, operatorSignTx, orLock, signTx, withMerchantCert, withPreimages } from './tx_builder.js';
import { BATCH_WIRE_VERSION, type CompactBatchAnswer, decodeBatchWire, encodeBatchWire, expandCompactAnswer } from './batch_wire.js';

const NET = 'testnet';
const sk = (i: number): Buffer => Buffer.from((BigInt(i) * 7919n + 1n).toString(16).padStart(64, '0'), 'hex');
const [aliceSk, bobSk, carolSk, operatorSk, bankSk] = [sk(1), sk(2), sk(3), sk(4), sk(5)];
const [alice, bob, carol] = [publicKeyOf(aliceSk), publicKeyOf(bobSk), publicKeyOf(carolSk)];
const id32 = (b: number): Buffer => Buffer.alloc(32, b);
const PREIMAGE = Buffer.alloc(32, 9);

/** Every kind, lock shape and witness part the format carries. */
function sample(): Tx[] {
  const policy = orLock(andLock(afterLock(1), keyLock(alice)), multiLock(2, [bob, carol]));
  const out = { value: 500n, lock: keyLock(alice) };
  const cert = signMerchantCert(bankSk, { network: NET, intermediary: 'bank-a', lockBytes: encodeLock(out.lock), mcc: 5411, expiresMs: 4_000_000_000_000 });
  return [
    signTx(makeTx({ network: NET, inputs: [{ pos: 1n, id: id32(1) }, { pos: 2n, id: id32(2) }], outputs: [{ value: 250n, lock: keyLock(carol) }, { value: 250n, lock: multiLock(2, [alice, bob]) }] }), [aliceSk, bobSk]),
    signTx(makeTx({ network: NET, inputs: [{ pos: (1n << 64n) - 1n, id: id32(3) }], outputs: [{ value: AMOUNT_FEN_MAX, lock: policy }] }), [bobSk, carolSk]),
    operatorSignTx(makeTx({ kind: 'issue', network: NET, intermediary: 'bank-a', serial: 7n, inputs: [], outputs: Array.from({ length: 5 }, (_, i) => ({ value: BigInt(1 + i), lock: keyLock(bob) })) }), operatorSk),
    operatorSignTx(signTx(makeTx({ kind: 'redeem', network: NET, intermediary: 'bank-a', inputs: [{ pos: 4n, id: id32(4) }], outputs: [] }), [aliceSk]), operatorSk),
    withMerchantCert(withPreimages(signTx(makeTx({ network: NET, inputs: [{ pos: 5n, id: id32(5) }], outputs: [out, { value: 1n, lock: andLock(hashLock(id32(7)), keyLock(carol)) }] }), [carolSk]), [PREIMAGE, id32(1)]), 0, cert),
  ];
}


/** The transactions through their JSON form; txToJson leaves out key signatures of an issuance, so they are put back. */
const viaJson = (txs: readonly Tx[]): Tx[] => txs.map((t) => {
  const j = txToJson(t);
  if (t.kind === 'issue' && t.sigs.length > 0) j.witness.sigs = t.sigs.map((x) => ({ key: x.key.toString('hex'), sig: x.sig.toString('hex') }));
  return parseTx(JSON.parse(JSON.stringify(j)), NET);
});

describe('batch wire form', () => {
  it('decodes to the transactions parseTx gives for the same batch as JSON, field for field and in the same shape', () => {
    const txs = sample();
    const attestation = signHash(bankSk, id32(8));
    const got = decodeBatchWire(encodeBatchWire(txs, attestation), NET);
    expect(got.attestation!.equals(attestation)).toBe(true);
    const want = viaJson(txs);
    expect(got.txs).toHaveLength(want.length);
    for (const [i, tx] of want.entries()) {
      const t = got.txs[i]!;
      expect(Object.keys(t).sort()).toEqual(Object.keys(tx).sort());
      expect(txToJson(t)).toEqual(txToJson(tx));
      expect(t.outputs.map((o) => o.lock)).toEqual(tx.outputs.map((o) => o.lock));
      expect(t.outputs.map((o) => o.lockBytes.toString('hex'))).toEqual(tx.outputs.map((o) => o.lockBytes.toString('hex')));
      expect(t.serial).toBe(tx.serial);
      expect(txId(t).equals(txId(tx))).toBe(true);
    }
    expect(decodeBatchWire(encodeBatchWire(txs), NET).attestation).toBeUndefined();
  });

  it('refuses each defect with the code the JSON form gets for it', () => {
    const [t0, , issue, redeem, t4] = sample() as [Tx, Tx, Tx, Tx, Tx];
    const highS = (s: Buffer): Buffer => {
      const v = CURVE_N - BigInt(`0x${s.subarray(32).toString('hex')}`);
      return Buffer.concat([s.subarray(0, 32), Buffer.from(v.toString(16).padStart(64, '0'), 'hex')]);
    };
    const badKey = Buffer.concat([Buffer.from([2]), Buffer.alloc(32, 0)]);
    const withOutputs = (t: Tx, outputs: { value: bigint; lock: Lock }[]): Tx => ({ ...t, outputs: outputs.map((o) => ({ ...o, lockBytes: encodeLock(o.lock) })) });
    const inputs = (n: number): Tx['inputs'] => Array.from({ length: n }, (_, i) => ({ pos: BigInt(i), id: id32(i & 0xff) }));
    const defects: [string, Tx, string][] = [
      ['another network', { ...t0, network: 'othernet' }, 'CBDC_ERR_NETWORK_ID'],
      ['a repeated input', { ...t0, inputs: [t0.inputs[0]!, t0.inputs[0]!] }, 'CBDC_ERR_DUPLICATE_INPUT'],
      ['too many inputs', { ...t0, inputs: inputs(TX_INPUTS_MAX + 1) }, 'CBDC_ERR_TOO_MANY_INPUTS'],
      ['no inputs', { ...t0, inputs: [] }, 'CBDC_ERR_TOO_MANY_INPUTS'],
      ['an issuance with an input', { ...issue, inputs: inputs(1) }, 'CBDC_ERR_TOO_MANY_INPUTS'],
      ['no outputs', { ...t0, outputs: [] }, 'CBDC_ERR_TOO_MANY_OUTPUTS'],
      ['too many outputs', withOutputs(t0, Array.from({ length: TX_OUTPUTS_MAX + 1 }, () => ({ value: 1n, lock: keyLock(bob) }))), 'CBDC_ERR_TOO_MANY_OUTPUTS'],
      ['a zero output', withOutputs(t0, [{ value: 0n, lock: keyLock(bob) }]), 'CBDC_ERR_AMOUNT_RANGE'],
      ['outputs summing over the bound', withOutputs(t0, [{ value: AMOUNT_FEN_MAX, lock: keyLock(bob) }, { value: 1n, lock: keyLock(bob) }]), 'CBDC_ERR_AMOUNT_OVERFLOW'],
      ['a lock key off the curve', withOutputs(t0, [{ value: 1n, lock: keyLock(badKey) }]), ''],
      ['a multi lock repeating a key', withOutputs(t0, [{ value: 1n, lock: multiLock(1, [bob, bob]) }]), ''],
      ['a multi lock with k above n', withOutputs(t0, [{ value: 1n, lock: multiLock(3, [alice, bob]) }]), ''],
      ['a lock nested too deep', withOutputs(t0, [{ value: 1n, lock: Array.from({ length: 9 }).reduce<Lock>((l) => andLock(l, keyLock(bob)), keyLock(alice)) }]), ''],
      ['a witness key off the curve', { ...t0, sigs: [{ key: badKey, sig: t0.sigs[0]!.sig }] }, 'CBDC_ERR_BAD_PUBLIC_KEY'],
      ['a high-S signature', { ...t0, sigs: [{ key: t0.sigs[0]!.key, sig: highS(t0.sigs[0]!.sig) }] }, 'CBDC_ERR_HIGH_S'],
      ['a repeated witness key', { ...t0, sigs: [t0.sigs[0]!, t0.sigs[0]!] }, 'CBDC_ERR_WITNESS'],
      ['no signatures', { ...t0, sigs: [] }, 'CBDC_ERR_WITNESS'],
      ['a transfer with an operator signature', { ...t0, operatorSig: issue.operatorSig }, 'CBDC_ERR_WITNESS'],
      ['an issuance without the operator signature', { ...issue, operatorSig: null }, 'CBDC_ERR_OPERATOR_SIGNATURE'],
      ['an operator signature with high S', { ...issue, operatorSig: highS(issue.operatorSig!) }, 'CBDC_ERR_HIGH_S'],
      ['an issuance with key signatures', { ...issue, sigs: t0.sigs }, 'CBDC_ERR_WITNESS'],
      ['an issuance with preimages', { ...issue, preimages: [PREIMAGE] }, 'CBDC_ERR_WITNESS'],
      ['preimages out of order', { ...t4, preimages: [...t4.preimages!].reverse() }, 'CBDC_ERR_WITNESS'],
      ['a preimage twice', { ...t4, preimages: [PREIMAGE, PREIMAGE] }, 'CBDC_ERR_WITNESS'],
      ['too many preimages', { ...t4, preimages: Array.from({ length: 17 }, (_, i) => id32(i)) }, 'CBDC_ERR_WITNESS'],
      ['a certificate for no output', { ...t4, certs: [{ ...t4.certs![0]!, output: 5 }] }, 'CBDC_ERR_WITNESS'],
      ['certificates out of order', { ...t4, certs: [{ ...t4.certs![0]!, output: 1 }, t4.certs![0]!] }, 'CBDC_ERR_WITNESS'],
      ['a bad intermediary id', { ...redeem, intermediary: 'Bank_A' }, 'CBDC_ERR_INTERMEDIARY_ID'],
    ];
    for (const [what, bad, code] of defects) {
      const json = outcome(() => viaJson([t0, bad]));
      expect(json, what).not.toBe('ok');
      if (code !== '') expect(json, what).toBe(code);
      const wire = outcome(() => decodeBatchWire(encodeBatchWire([t0, bad]), NET), { message: true });
      if (wire !== 'ok') expect(wire.slice(wire.indexOf(' ') + 1), what).toMatch(/^transaction 1: /);
      expect(wire.split(' ')[0], what).toBe(json);
    }
  });

  it('refuses what only the binary form can get wrong, each with a code', () => {
    const [t0] = sample() as [Tx];
    const good = encodeBatchWire([t0]);
    const at = (b: Buffer, i: number, v: number): Buffer => {
      const c = Buffer.from(b);
      c[i] = v;
      return c;
    };
    const count = (n: number): Buffer => {
      const c = Buffer.from(good);
      c.writeUInt32BE(n, 2);
      return c;
    };
    const bodyAt = 2 + 4 + 4;
    const cases: [string, Buffer, string][] = [
      ['an empty body', Buffer.alloc(0), 'CBDC_ERR_SCHEMA'],
      ['another version', at(good, 0, BATCH_WIRE_VERSION + 1), 'CBDC_ERR_SCHEMA'],
      ['unknown flags', at(good, 1, 2), 'CBDC_ERR_SCHEMA'],
      ['no transactions', count(0).subarray(0, 6), 'CBDC_ERR_BATCH_TOO_LARGE'],
      ['more transactions than a batch holds', count(BATCH_TX_MAX + 1), 'CBDC_ERR_BATCH_TOO_LARGE'],
      ['more transactions than the body holds', count(2), 'CBDC_ERR_SCHEMA'],
      ['trailing bytes', Buffer.concat([good, Buffer.from([0])]), 'CBDC_ERR_SCHEMA'],
      ['another transaction version', at(good, bodyAt, 2), 'CBDC_ERR_SCHEMA'],
      ['an unknown kind byte', at(good, bodyAt + 2 + NET.length, 9), 'CBDC_ERR_TX_KIND'],
      ['an operator flag of 2', at(good, good.length - 4 - 1 - 1, 2), 'CBDC_ERR_SCHEMA'],
    ];
    for (const [what, body, code] of cases) expect(outcome(() => decodeBatchWire(body, NET)), what).toBe(code);
    // Every cut of a good batch is refused with a code.
    const all = encodeBatchWire(sample(), signHash(bankSk, id32(8)));
    for (let n = 0; n < all.length; n++) expect(outcome(() => decodeBatchWire(all.subarray(0, n), NET))).not.toBe('ok');
  });

  it('property: a changed byte is refused with a code, or decodes to a batch that re-encodes to exactly those bytes and parses the same as JSON', () => {
    const txs = sample().slice(0, 4);
    const good = encodeBatchWire(txs, signHash(bankSk, id32(8)));
    fc.assert(fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const c = Buffer.from(good);
      c[i] = v;
      let got: ReturnType<typeof decodeBatchWire>;
      try {
        got = decodeBatchWire(c, NET);
      } catch (e) {
        return isCbdcError(e);
      }
      expect(encodeBatchWire(got.txs, got.attestation).equals(c)).toBe(true);
      expect(viaJson(got.txs).map(txToJson)).toEqual(got.txs.map(txToJson));
      return true;
    }), { numRuns: 3_000, seed: 7 });
  });

  it('a compact answer expands to the txids and output ids of the transactions sent', () => {
    const txs = sample();
    const answer: CompactBatchAnswer = {
      accepted: 4, rejected: 1, durable: true,
      results: [['3', '100'], ['3', '102'], ['3', '103'], { txid: txId(txs[3]!).toString('hex'), code: 'CBDC_ERR_DOUBLE_SPEND', message: 'spent' }, ['4', '200']],
    };
    const r = expandCompactAnswer(txs, answer);
    expect(r[0]).toEqual({
      status: 'settled', txid: txId(txs[0]!).toString('hex'), batch: '3',
      outputs: txs[0]!.outputs.map((o, k) => ({ pos: String(100 + k), id: outputId(txId(txs[0]!), k, o.value, o.lockBytes).toString('hex') })),
    });
    expect(r[2]!.status === 'settled' && r[2]!.outputs.map((o) => o.pos)).toEqual(['103', '104', '105', '106', '107']);
    expect(r[3]).toEqual({ status: 'rejected', ...answer.results[3] });
    expect(() => expandCompactAnswer(txs.slice(1), answer)).toThrow(/number of results/);
  });
});
