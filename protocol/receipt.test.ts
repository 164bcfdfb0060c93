import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  RECEIPT_LINES_MAX, type Receipt, checkTaxId, encodeDraft, encodeReceipt, isValidTaxId, makeDraft, parseDraft, priceLine, receiptDigest, receiptFromJson,
  receiptIdOf, signDraft, signReceipt, taxIdCheckChar, totalsOf, verifyDraftSignature, verifyReceipt,
} from './receipt.js';
import { taggedHash } from './hash.js';
import { generateSecretKey, publicKeyOf } from './sig.js';

const vector = JSON.parse(readFileSync(new URL('../test/vectors/receipts/receipt_v1.json', import.meta.url), 'utf8'));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('tax ids (GB 32100-2015 unified social credit codes)', () => {
  it('accepts real codes and checks the check character', () => {
    expect(isValidTaxId('91350100M000100Y43')).toBe(true);
    expect(isValidTaxId('91440300708461136T')).toBe(true);
    expect(taxIdCheckChar('91350100M000100Y4')).toBe('3');
    expect(isValidTaxId('91350100M000100Y44')).toBe(false); // wrong check character
    expect(isValidTaxId('91350100M000100Y4')).toBe(false); // 17 characters
    expect(isValidTaxId('9135010OM000100Y43')).toBe(false); // O is not in the alphabet
    expect(isValidTaxId('91350100m000100y43')).toBe(false);
    expect(codeOf(() => checkTaxId('x'))).toBe('CBDC_ERR_TAX_ID');
  });
});

describe('lines and totals', () => {
  it('prices each line before tax and rounds its tax half up to the fen', () => {
    expect(priceLine({ description: 'a', quantity: 3, unitPriceFen: 199n, taxRateBp: 1300 })).toMatchObject({ amountFen: 597n, taxFen: 78n }); // 77.61
    expect(priceLine({ description: 'a', quantity: 1, unitPriceFen: 50n, taxRateBp: 100 })).toMatchObject({ taxFen: 1n }); // 0.5 -> 1
    expect(priceLine({ description: 'a', quantity: 1, unitPriceFen: 49n, taxRateBp: 100 })).toMatchObject({ taxFen: 0n }); // 0.49 -> 0
    const lines = [priceLine({ description: 'a', quantity: 2, unitPriceFen: 1000n, taxRateBp: 600 }), priceLine({ description: 'b', quantity: 1, unitPriceFen: 1n, taxRateBp: 0 })];
    expect(totalsOf(lines)).toEqual({ subtotalFen: 2001n, taxFen: 120n, totalFen: 2121n });
  });

  it('refuses malformed lines and too many of them, each with its code', () => {
    const ok = { description: 'Tea', quantity: 1, unitPriceFen: 100n, taxRateBp: 600 };
    const draft = (lines: unknown[]) => () => makeDraft({ network: 'n', merchantAccount: 'bank-a.0123456789ab', lines: lines as never });
    expect(codeOf(draft([]))).toBe('CBDC_ERR_RECEIPT_LINES');
    expect(codeOf(draft(Array(RECEIPT_LINES_MAX + 1).fill(ok)))).toBe('CBDC_ERR_RECEIPT_LINES');
    expect(codeOf(draft(Array(RECEIPT_LINES_MAX).fill(ok)))).toBeUndefined();
    for (const bad of [
      { ...ok, description: '' }, { ...ok, description: 'x'.repeat(65) }, { ...ok, description: 'a\nb' }, { ...ok, description: ' Tea' },
      { ...ok, quantity: 0 }, { ...ok, quantity: 1_000_001 }, { ...ok, quantity: 1.5 }, { ...ok, unitPriceFen: -1n }, { ...ok, taxRateBp: 10_001 }, { ...ok, taxRateBp: -1 },
    ]) expect(codeOf(draft([bad])), JSON.stringify(bad, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).toBe('CBDC_ERR_RECEIPT_LINE');
    expect(codeOf(draft([{ ...ok, description: '拿铁'.repeat(32) }]))).toBeUndefined(); // 64 characters, 192 bytes
  });
});

describe('drafts', () => {
  const sk = generateSecretKey();
  const d = makeDraft({ network: 'cbdc-local', merchantAccount: 'bank-a.0123456789ab', merchantName: 'Harbour Coffee', lines: [{ description: 'Flat white', quantity: 2, unitPriceFen: 1000n, taxRateBp: 600 }] });

  it('round-trip through the compact form and verify with the merchant key only', () => {
    const s = signDraft(d, sk);
    const back = parseDraft(s.compact, 'cbdc-local');
    expect(back.bytes.equals(encodeDraft(d))).toBe(true);
    expect(back.draft.totalFen).toBe(2120n);
    expect(verifyDraftSignature(back, publicKeyOf(sk))).toBe(true);
    expect(verifyDraftSignature(back, publicKeyOf(generateSecretKey()))).toBe(false);
    expect(codeOf(() => parseDraft(s.compact, 'other-net'))).toBe('CBDC_ERR_NETWORK_ID');
  });

  it('refuse tampering: a changed byte, a wrong total, trailing bytes, non-canonical base64url', () => {
    const s = signDraft(d, sk);
    const all = Buffer.from(s.compact, 'base64url');
    // The last byte of the total (just before the signature) up by one: no longer lines + tax.
    const t = Buffer.from(all);
    t[t.length - 65]! += 1;
    expect(codeOf(() => parseDraft(t.toString('base64url'), 'cbdc-local'))).toBe('CBDC_ERR_RECEIPT_TOTAL');
    // A changed description byte parses but no longer verifies.
    const i = all.indexOf(Buffer.from('Flat'));
    const u = Buffer.from(all);
    u[i] = 'G'.charCodeAt(0);
    const parsed = parseDraft(u.toString('base64url'), 'cbdc-local');
    expect(verifyDraftSignature(parsed, publicKeyOf(sk))).toBe(false);
    expect(codeOf(() => parseDraft(Buffer.concat([s.bytes, Buffer.from([0]), s.sig]).toString('base64url'), 'cbdc-local'))).toBe('CBDC_ERR_RECEIPT_FORMAT');
    expect(codeOf(() => parseDraft(s.compact + '=', 'cbdc-local'))).toBe('CBDC_ERR_RECEIPT_FORMAT');
    expect(codeOf(() => parseDraft('AAAA', 'cbdc-local'))).toBe('CBDC_ERR_RECEIPT_FORMAT');
  });
});

describe('receipts', () => {
  it('reproduce the test vector: bytes, digest, signature, offline verification', () => {
    const { receipt } = receiptFromJson(vector.receipt);
    expect(encodeReceipt(receipt).toString('hex')).toBe(vector.encoding_hex);
    expect(receiptDigest(receipt).toString('hex')).toBe(vector.digest_hex);
    expect(taggedHash('cbdc/receipt/v1', Buffer.from(vector.encoding_hex, 'hex')).toString('hex')).toBe(vector.digest_hex);
    const sk = Buffer.from(vector.bank_secret_key, 'hex');
    expect(publicKeyOf(sk).toString('hex')).toBe(vector.bank_public_key);
    expect(signReceipt(receipt, sk)).toEqual(vector.receipt);
    expect(vector.receipt.signature).toBe(vector.signature_hex);
    expect(verifyReceipt(vector.receipt, Buffer.from(vector.bank_public_key, 'hex'))).toBe(true);
    // The figures the vector holds, stated: 2 x 10.00 + 12.50 + 3 x 1.99 = 38.47, tax 1.20 + 0.75 + 0.78.
    expect([vector.receipt.subtotal_fen, vector.receipt.tax_fen, vector.receipt.total_fen]).toEqual(['3847', '273', '4120']);
  });

  it('verify false on any tampering, another key, or a malformed receipt', () => {
    const pub = Buffer.from(vector.bank_public_key, 'hex');
    const r = vector.receipt;
    const other = publicKeyOf(generateSecretKey());
    expect(verifyReceipt(r, other)).toBe(false);
    const tampered = [
      { ...r, tax_id: '91440300708461136T' }, { ...r, merchant_name: null }, { ...r, issued_at_ms: r.issued_at_ms + 1 }, { ...r, mcc: '5813' },
      { ...r, txid: 'b2'.repeat(32) }, { ...r, total_fen: '4121' }, { ...r, lines: [{ ...r.lines[0], description: 'Flat whitf' }, ...r.lines.slice(1)] },
      { ...r, lines: r.lines.slice(1) }, { ...r, signature: r.signature.slice(0, -2) + (r.signature.endsWith('00') ? '01' : '00') }, { ...r, version: 2 },
      { ...r, lines: [{ ...r.lines[0], tax_fen: '121' }, ...r.lines.slice(1)] }, { ...r, receipt_id: 'rct-0000000000000000' },
      null, 'x', {}, { ...r, total_fen: 4120 },
    ];
    for (const t of tampered) expect(verifyReceipt(t, pub), JSON.stringify(t)?.slice(0, 80)).toBe(false);
    expect(verifyReceipt(r, Buffer.alloc(33))).toBe(false);
  });

  it('has one receipt id per bank and txid', () => {
    expect(receiptIdOf('bank-a', 'a1'.repeat(32))).toBe(vector.receipt.receipt_id);
    expect(receiptIdOf('bank-b', 'a1'.repeat(32))).not.toBe(vector.receipt.receipt_id);
    const r: Receipt = receiptFromJson(vector.receipt).receipt;
    expect(encodeReceipt({ ...r, merchantName: null }).length).toBe(encodeReceipt(r).length - 2 - Buffer.byteLength('Harbour Coffee'));
  });
});
