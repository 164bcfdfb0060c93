import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { AMOUNT_FEN_MAX } from './amount.js';
import { isCbdcError } from './errors.js';
import { TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_SIGNATURES_MAX } from './limits.js';
import { CURVE_N, nativeVerifier, nobleVerifier, publicKeyOf, signHash } from './sig.js';
import { Tx, TxJson, encodeTxBody, operatorMessage, outputId, parseTx, sumOutputs, txId, txToJson } from './tx.js';
import { keyLock, makeTx, multiLock, operatorSignTx, signTx } from './tx_builder.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CbdcError, nothing was thrown');
}

const NET = 'testnet';
const sk = (i: number): Buffer => Buffer.from((BigInt(i) * 7919n + 1n).toString(16).padStart(64, '0'), 'hex');
const customerSk = sk(1);
const bankSk = sk(2);
const payeeSk = sk(3);
const operatorSk = sk(4);
const customer = publicKeyOf(customerSk);
const bank = publicKeyOf(bankSk);
const payee = publicKeyOf(payeeSk);
const id32 = (b: number): Buffer => Buffer.alloc(32, b);
const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const tagged = (tag: string, msg: Uint8Array): Buffer => {
  const t = sha256(Buffer.from(tag));
  return sha256(t, t, msg);
};
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function transfer(): Tx {
  const tx = makeTx({
    network: NET,
    inputs: [
      { pos: 5n, id: id32(0xa1) },
      { pos: 9n, id: id32(0xb2) },
    ],
    outputs: [
      { value: 12_345n, lock: multiLock(2, [payee, bank]) },
      { value: 655n, lock: keyLock(customer) },
    ],
  });
  return signTx(tx, [customerSk, bankSk]);
}

function issue(): Tx {
  const tx = makeTx({ kind: 'issue', network: NET, intermediary: 'bank-a', serial: 7n, inputs: [], outputs: [{ value: 1_000_000n, lock: keyLock(bank) }] });
  return operatorSignTx(tx, operatorSk);
}

function redeem(): Tx {
  const tx = makeTx({ kind: 'redeem', network: NET, intermediary: 'bank-a', inputs: [{ pos: 3n, id: id32(0xc3) }], outputs: [] });
  return operatorSignTx(signTx(tx, [bankSk]), operatorSk);
}

/** A valid transfer's JSON, as it arrives over the wire. */
const transferJson = (): TxJson => clone(txToJson(transfer()));

describe('build, serialize and parse back', () => {
  it.each([
    ['transfer', transfer],
    ['issue', issue],
    ['redeem', redeem],
  ] as const)('%s round trips through JSON with the same txId', (_kind, build) => {
    const tx = build();
    const wire = JSON.parse(JSON.stringify(txToJson(tx))) as unknown;
    const back = parseTx(wire, NET);
    expect(txId(back)).toEqual(txId(tx));
    expect(back).toEqual(tx);
    expect(txToJson(back)).toEqual(wire);
  });

  it('witness signatures verify over the txId; the operator signs its own tagged message', () => {
    const t = transfer();
    expect(t.sigs.map((s) => s.key)).toEqual([customer, bank]);
    for (const s of t.sigs) {
      expect(nativeVerifier.verify(s.sig, txId(t), s.key)).toBe(true);
      expect(nobleVerifier.verify(s.sig, txId(t), s.key)).toBe(true);
    }
    const i = issue();
    expect(nativeVerifier.verify(i.operatorSig!, operatorMessage(txId(i)), publicKeyOf(operatorSk))).toBe(true);
    // The operator's signature is not over the bare txId (domain separation).
    expect(nativeVerifier.verify(i.operatorSig!, txId(i), publicKeyOf(operatorSk))).toBe(false);
  });

  it('the JSON form carries amounts as strings and the documented fields only', () => {
    const j = transferJson();
    expect(j).toEqual({
      kind: 'transfer',
      network: NET,
      inputs: [
        { pos: '5', id: 'a1'.repeat(32) },
        { pos: '9', id: 'b2'.repeat(32) },
      ],
      outputs: [
        { value: '12345', lock: { multi: { k: 2, keys: [payee.toString('hex'), bank.toString('hex')] } } },
        { value: '655', lock: { key: customer.toString('hex') } },
      ],
      witness: { sigs: [{ key: customer.toString('hex'), sig: j.witness.sigs![0]!.sig }, { key: bank.toString('hex'), sig: j.witness.sigs![1]!.sig }] },
    });
    const i = clone(txToJson(issue()));
    expect(i.intermediary).toBe('bank-a');
    expect(i.serial).toBe('7');
    expect(i.witness.sigs).toBeUndefined();
    expect(i.witness.operator).toMatch(/^[0-9a-f]{128}$/);
  });

  it('signTx signs each key once, and keeps signatures already present', () => {
    const once = signTx(makeTx({ network: NET, inputs: [{ pos: 1n, id: id32(1) }], outputs: [{ value: 1n, lock: keyLock(payee) }] }), [customerSk, customerSk]);
    expect(once.sigs.length).toBe(1);
    const twice = signTx(once, [customerSk, bankSk]);
    expect(twice.sigs.map((s) => s.key)).toEqual([customer, bank]);
    expect(twice.sigs[0]).toEqual(once.sigs[0]);
  });

  it('sumOutputs adds the outputs', () => {
    expect(sumOutputs(transfer())).toBe(13_000n);
    expect(sumOutputs(redeem())).toBe(0n);
  });

  it('accepts exactly the limits: TX_INPUTS_MAX inputs, TX_OUTPUTS_MAX outputs, a value of AMOUNT_FEN_MAX', () => {
    const j = transferJson();
    j.inputs = Array.from({ length: TX_INPUTS_MAX }, (_, i) => ({ pos: String(i), id: 'ab'.repeat(32) }));
    j.outputs = Array.from({ length: TX_OUTPUTS_MAX }, () => ({ value: '1', lock: { key: payee.toString('hex') } }));
    j.outputs[0]!.value = String(AMOUNT_FEN_MAX - BigInt(TX_OUTPUTS_MAX - 1));
    const tx = parseTx(j, NET);
    expect(tx.inputs.length).toBe(TX_INPUTS_MAX);
    expect(tx.outputs.length).toBe(TX_OUTPUTS_MAX);
    expect(sumOutputs(tx)).toBe(AMOUNT_FEN_MAX);
  });
});

describe('canonical bytes and ids', () => {
  it('encodeTxBody follows the documented layout, and txId is its "CBDC/tx" tagged hash', () => {
    const t = transfer();
    const u16 = (v: number): Buffer => Buffer.of(v >> 8, v & 0xff);
    const u64 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(16, '0'), 'hex');
    const keyLockBytes = Buffer.concat([Buffer.of(0x01), customer]);
    const multiLockBytes = Buffer.concat([Buffer.of(0x02, 2, 2), payee, bank]);
    const expected = Buffer.concat([
      Buffer.of(1), // version
      Buffer.of(NET.length), Buffer.from(NET, 'latin1'),
      Buffer.of(1), // kind: transfer
      u16(2), u64(5n), id32(0xa1), u64(9n), id32(0xb2),
      u16(2), u64(12_345n), u16(multiLockBytes.length), multiLockBytes, u64(655n), u16(keyLockBytes.length), keyLockBytes,
    ]);
    expect(encodeTxBody(t)).toEqual(expected);
    expect(txId(t)).toEqual(tagged('CBDC/tx', expected));
  });

  it('issuance encodes its intermediary and serial', () => {
    const i = issue();
    const body = encodeTxBody(i);
    const prefix = Buffer.concat([Buffer.of(1, NET.length), Buffer.from(NET), Buffer.of(2, 'bank-a'.length), Buffer.from('bank-a'), Buffer.from('0000000000000007', 'hex'), Buffer.of(0, 0)]);
    expect(body.subarray(0, prefix.length)).toEqual(prefix);
  });

  it('outputId is the "CBDC/output" tagged hash of (txid, index, value, lock)', () => {
    const t = transfer();
    const o = t.outputs[1]!;
    const msg = Buffer.concat([txId(t), Buffer.of(0, 1), Buffer.from((655n).toString(16).padStart(16, '0'), 'hex'), Buffer.of(0, o.lockBytes.length), o.lockBytes]);
    expect(outputId(txId(t), 1, o.value, o.lockBytes)).toEqual(tagged('CBDC/output', msg));
  });

  it('outputId differs by index, value, lock and txid', () => {
    const t = transfer();
    const id = txId(t);
    const o = t.outputs[0]!;
    const base = outputId(id, 0, o.value, o.lockBytes);
    expect(outputId(id, 1, o.value, o.lockBytes).equals(base)).toBe(false);
    expect(outputId(id, 0, o.value + 1n, o.lockBytes).equals(base)).toBe(false);
    expect(outputId(id, 0, o.value, t.outputs[1]!.lockBytes).equals(base)).toBe(false);
    expect(outputId(txId(issue()), 0, o.value, o.lockBytes).equals(base)).toBe(false);
    expect(outputId(id, 0, o.value, o.lockBytes)).toEqual(base);
  });

  it('txId changes when any field of the body changes', () => {
    const base = txId(transfer());
    const j = transferJson();
    const variants: [string, (t: TxJson) => void][] = [
      ['input id', (t) => (t.inputs[0]!.id = 'a2' + 'a1'.repeat(31))],
      ['input pos', (t) => (t.inputs[1]!.pos = '10')],
      ['input order', (t) => t.inputs.reverse()],
      ['output value', (t) => (t.outputs[0]!.value = '12346')],
      ['output order', (t) => t.outputs.reverse()],
      ['lock key', (t) => (t.outputs[1]!.lock = { key: payee.toString('hex') })],
      ['lock k', (t) => (t.outputs[0]!.lock = { multi: { k: 1, keys: [payee.toString('hex'), bank.toString('hex')] } })],
      ['lock key order', (t) => (t.outputs[0]!.lock = { multi: { k: 2, keys: [bank.toString('hex'), payee.toString('hex')] } })],
      ['an extra output', (t) => t.outputs.push({ value: '1', lock: { key: payee.toString('hex') } })],
    ];
    const seen = new Set<string>([base.toString('hex')]);
    for (const [name, mutate] of variants) {
      const m = clone(j);
      mutate(m);
      const id = txId(parseTx(m, NET)).toString('hex');
      expect(seen.has(id), name).toBe(false);
      seen.add(id);
    }
    // The network is part of the body: the same transaction on another network has another id.
    const other = clone(j);
    other.network = 'othernet';
    expect(txId(parseTx(other, 'othernet')).equals(base)).toBe(false);
  });

  it('txId changes with kind, intermediary and serial', () => {
    const i = issue();
    expect(txId({ ...i, serial: 8n }).equals(txId(i))).toBe(false);
    expect(txId({ ...i, intermediary: 'bank-b' }).equals(txId(i))).toBe(false);
    expect(txId({ ...i, kind: 'redeem' }).equals(txId(i))).toBe(false);
  });

  it('txId does not change when only the witness changes', () => {
    const t = transfer();
    const unsigned = { ...t, sigs: [] };
    expect(txId(unsigned)).toEqual(txId(t));
    expect(txId(signTx(unsigned, [payeeSk]))).toEqual(txId(t));
    const j = transferJson();
    j.witness.sigs = j.witness.sigs!.slice(0, 1);
    expect(txId(parseTx(j, NET))).toEqual(txId(t));
    const i = issue();
    expect(txId({ ...i, operatorSig: null })).toEqual(txId(i));
  });
});

describe('parseTx refusals, one code each', () => {
  const highS = (sigHex: string): string => {
    const s = BigInt('0x' + sigHex.slice(64));
    return sigHex.slice(0, 64) + (CURVE_N - s).toString(16).padStart(64, '0');
  };
  const NOT_ON_CURVE = '02' + '00'.repeat(32);
  const manyInputs = (n: number): TxJson['inputs'] => Array.from({ length: n }, (_, i) => ({ pos: String(i), id: 'ab'.repeat(32) }));
  const aSig = (): { key: string; sig: string } => transferJson().witness.sigs![0]!;

  const cases: [string, string, (t: TxJson) => unknown][] = [
    // Amounts
    ['value as a JSON number', 'CBDC_ERR_AMOUNT_FORMAT', (t) => ((t.outputs[0] as { value: unknown }).value = 12345)],
    ['value as a float string', 'CBDC_ERR_AMOUNT_FORMAT', (t) => (t.outputs[0]!.value = '123.45')],
    ['negative value', 'CBDC_ERR_AMOUNT_FORMAT', (t) => (t.outputs[0]!.value = '-1')],
    ['value with a leading zero', 'CBDC_ERR_AMOUNT_FORMAT', (t) => (t.outputs[0]!.value = '012345')],
    ['zero-value output', 'CBDC_ERR_AMOUNT_RANGE', (t) => (t.outputs[1]!.value = '0')],
    ['value above AMOUNT_FEN_MAX', 'CBDC_ERR_AMOUNT_RANGE', (t) => (t.outputs[0]!.value = String(AMOUNT_FEN_MAX + 1n))],
    ['sum of outputs above AMOUNT_FEN_MAX', 'CBDC_ERR_AMOUNT_OVERFLOW', (t) => {
      t.outputs[0]!.value = String(AMOUNT_FEN_MAX);
      t.outputs[1]!.value = '1';
    }],
    ['sum overflow spread over many outputs', 'CBDC_ERR_AMOUNT_OVERFLOW', (t) => {
      t.outputs = Array.from({ length: 3 }, () => ({ value: String(AMOUNT_FEN_MAX / 2n), lock: { key: payee.toString('hex') } }));
    }],
    // Inputs
    ['duplicate inputs', 'CBDC_ERR_DUPLICATE_INPUT', (t) => (t.inputs[1] = clone(t.inputs[0]!))],
    ['duplicate input position with another id', 'CBDC_ERR_DUPLICATE_INPUT', (t) => (t.inputs[1]!.pos = t.inputs[0]!.pos)],
    [`too many inputs (${TX_INPUTS_MAX + 1})`, 'CBDC_ERR_TOO_MANY_INPUTS', (t) => (t.inputs = manyInputs(TX_INPUTS_MAX + 1))],
    ['zero inputs for a transfer', 'CBDC_ERR_TOO_MANY_INPUTS', (t) => (t.inputs = [])],
    // Outputs
    [`too many outputs (${TX_OUTPUTS_MAX + 1})`, 'CBDC_ERR_TOO_MANY_OUTPUTS', (t) => {
      t.outputs = Array.from({ length: TX_OUTPUTS_MAX + 1 }, () => ({ value: '1', lock: { key: payee.toString('hex') } }));
    }],
    ['zero outputs for a transfer', 'CBDC_ERR_TOO_MANY_OUTPUTS', (t) => (t.outputs = [])],
    // Hex and positions
    ['input id with uppercase hex', 'CBDC_ERR_HEX_FORMAT', (t) => (t.inputs[0]!.id = 'A1'.repeat(32))],
    ['input id not hex', 'CBDC_ERR_HEX_FORMAT', (t) => (t.inputs[0]!.id = 'zz'.repeat(32))],
    ['input id 31 bytes', 'CBDC_ERR_HEX_FORMAT', (t) => (t.inputs[0]!.id = 'a1'.repeat(31))],
    ['input id 33 bytes', 'CBDC_ERR_HEX_FORMAT', (t) => (t.inputs[0]!.id = 'a1'.repeat(33))],
    ['input id odd length', 'CBDC_ERR_HEX_FORMAT', (t) => (t.inputs[0]!.id = 'a1'.repeat(32) + 'a')],
    ['input pos as a JSON number', 'CBDC_ERR_SCHEMA', (t) => ((t.inputs[0] as { pos: unknown }).pos = 5)],
    ['input pos above 2^64-1', 'CBDC_ERR_SCHEMA', (t) => (t.inputs[0]!.pos = '18446744073709551616')],
    // Network, kind, schema
    ['another network', 'CBDC_ERR_NETWORK_ID', (t) => (t.network = 'mainnet')],
    ['network missing', 'CBDC_ERR_NETWORK_ID', (t) => delete (t as Partial<TxJson>).network],
    ['unknown kind', 'CBDC_ERR_TX_KIND', (t) => ((t as { kind: string }).kind = 'mint')],
    ['kind missing', 'CBDC_ERR_TX_KIND', (t) => delete (t as Partial<TxJson>).kind],
    ['unknown top-level field', 'CBDC_ERR_SCHEMA', (t) => ((t as unknown as Record<string, unknown>).memo = 'hi')],
    ['unknown field in an input', 'CBDC_ERR_SCHEMA', (t) => ((t.inputs[0] as unknown as Record<string, unknown>).index = '0')],
    ['unknown field in an output', 'CBDC_ERR_SCHEMA', (t) => ((t.outputs[0] as unknown as Record<string, unknown>).memo = 'x')],
    ['unknown field in the witness', 'CBDC_ERR_SCHEMA', (t) => ((t.witness as Record<string, unknown>).extra = [])],
    ['unknown field in a signature', 'CBDC_ERR_SCHEMA', (t) => ((t.witness.sigs![0] as Record<string, unknown>).der = '')],
    ['a transfer naming an intermediary', 'CBDC_ERR_SCHEMA', (t) => (t.intermediary = 'bank-a')],
    ['inputs not an array', 'CBDC_ERR_SCHEMA', (t) => ((t as { inputs: unknown }).inputs = {})],
    ['witness missing', 'CBDC_ERR_SCHEMA', (t) => delete (t as Partial<TxJson>).witness],
    // Locks and witnesses
    ['invalid public key in a lock', 'CBDC_ERR_LOCK_FORMAT', (t) => (t.outputs[1]!.lock = { key: NOT_ON_CURVE })],
    ['unknown lock operator', 'CBDC_ERR_LOCK_UNKNOWN_OPERATOR', (t) => ((t.outputs[1] as { lock: unknown }).lock = { anyone: true })],
    ['high-S witness signature', 'CBDC_ERR_HIGH_S', (t) => (t.witness.sigs![0]!.sig = highS(t.witness.sigs![0]!.sig))],
    ['witness signature 63 bytes', 'CBDC_ERR_HEX_FORMAT', (t) => (t.witness.sigs![0]!.sig = t.witness.sigs![0]!.sig.slice(2))],
    ['invalid witness public key', 'CBDC_ERR_BAD_PUBLIC_KEY', (t) => (t.witness.sigs![0]!.key = NOT_ON_CURVE)],
    ['duplicate witness keys', 'CBDC_ERR_WITNESS', (t) => t.witness.sigs!.push(clone(t.witness.sigs![0]!))],
    ['duplicate witness key with another signature', 'CBDC_ERR_WITNESS', (t) => (t.witness.sigs![1]!.key = t.witness.sigs![0]!.key)],
    ['no witness signatures on a transfer', 'CBDC_ERR_WITNESS', (t) => (t.witness.sigs = [])],
    ['witness signatures missing on a transfer', 'CBDC_ERR_WITNESS', (t) => delete t.witness.sigs],
    [`more than TX_SIGNATURES_MAX (${TX_SIGNATURES_MAX}) signatures`, 'CBDC_ERR_WITNESS', (t) => (t.witness.sigs = Array.from({ length: TX_SIGNATURES_MAX + 1 }, aSig))],
    ['operator signature on a transfer', 'CBDC_ERR_WITNESS', (t) => (t.witness.operator = t.witness.sigs![0]!.sig)],
  ];

  it.each(cases)('%s -> %s', (_name, code, mutate) => {
    const j = transferJson();
    expect(() => parseTx(j, NET)).not.toThrow(); // the unmutated base is valid
    mutate(j);
    expect(codeOf(() => parseTx(j, NET))).toBe(code);
  });

  const issueJson = (): TxJson => clone(txToJson(issue()));
  const redeemJson = (): TxJson => clone(txToJson(redeem()));
  const kindCases: [string, string, () => TxJson, (t: TxJson) => unknown][] = [
    ['missing operator signature on an issue', 'CBDC_ERR_OPERATOR_SIGNATURE', issueJson, (t) => delete t.witness.operator],
    ['missing operator signature on a redemption', 'CBDC_ERR_OPERATOR_SIGNATURE', redeemJson, (t) => delete t.witness.operator],
    ['malformed operator signature', 'CBDC_ERR_HEX_FORMAT', issueJson, (t) => (t.witness.operator = '00')],
    ['high-S operator signature', 'CBDC_ERR_HIGH_S', issueJson, (t) => (t.witness.operator = highS(t.witness.operator!))],
    ['key signatures on an issue', 'CBDC_ERR_WITNESS', issueJson, (t) => (t.witness.sigs = [aSig()])],
    ['inputs on an issue', 'CBDC_ERR_TOO_MANY_INPUTS', issueJson, (t) => (t.inputs = manyInputs(1))],
    ['zero outputs on an issue', 'CBDC_ERR_TOO_MANY_OUTPUTS', issueJson, (t) => (t.outputs = [])],
    ['issue without serial', 'CBDC_ERR_SCHEMA', issueJson, (t) => delete t.serial],
    ['issue serial as a JSON number', 'CBDC_ERR_SCHEMA', issueJson, (t) => ((t as { serial: unknown }).serial = 7)],
    ['issue without intermediary', 'CBDC_ERR_INTERMEDIARY_ID', issueJson, (t) => delete t.intermediary],
    ['issue with a bad intermediary id', 'CBDC_ERR_INTERMEDIARY_ID', issueJson, (t) => (t.intermediary = 'Bank_A')],
    ['redemption with a serial', 'CBDC_ERR_SCHEMA', redeemJson, (t) => (t.serial = '1')],
    ['redemption with no inputs', 'CBDC_ERR_TOO_MANY_INPUTS', redeemJson, (t) => (t.inputs = [])],
    ['redemption with no key signatures', 'CBDC_ERR_WITNESS', redeemJson, (t) => (t.witness.sigs = [])],
  ];

  it.each(kindCases)('%s -> %s', (_name, code, base, mutate) => {
    const j = base();
    expect(() => parseTx(j, NET)).not.toThrow();
    mutate(j);
    expect(codeOf(() => parseTx(j, NET))).toBe(code);
  });

  it('operatorSignsLater: an issuance or redemption sent for the operator to sign carries no operator signature', () => {
    for (const build of [issueJson, redeemJson]) {
      const j = build();
      delete j.witness.operator;
      const tx = parseTx(j, NET, { operatorSignsLater: true });
      expect(tx.operatorSig).toBeNull();
      expect(codeOf(() => parseTx(build(), NET, { operatorSignsLater: true }))).toBe('CBDC_ERR_WITNESS');
    }
    // It changes nothing for transfers.
    const t = transferJson();
    expect(txId(parseTx(t, NET, { operatorSignsLater: true }))).toEqual(txId(transfer()));
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a string', 'tx'],
  ])('refuses %s as a transaction with CBDC_ERR_SCHEMA', (_name, v) => {
    expect(codeOf(() => parseTx(v, NET))).toBe('CBDC_ERR_SCHEMA');
  });

  it('the high-S witness signature is a genuine signature, refused only for its S', () => {
    const t = transfer();
    const s = t.sigs[0]!;
    expect(nobleVerifier.verify(s.sig, txId(t), s.key)).toBe(true);
    expect(signHash(customerSk, txId(t))).toEqual(s.sig);
  });
});
