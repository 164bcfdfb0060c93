import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCbdcError } from '../protocol/errors.js';
import { MEMO_CHARS_MAX, type PaymentRequest, formatPaymentRequest, isPaymentRequest, parsePayee, parsePaymentRequest } from './payment_request.js';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected an error');
}

describe('payment request strings', () => {
  it('reads what a payee prints', () => {
    expect(parsePaymentRequest('cbdc:pay?to=bank-b.0123456789ab&bank=bank-b&amount=12.34')).toEqual({
      payee: { account: 'bank-b.0123456789ab', bank: 'bank-b' }, amountFen: 1234n,
    });
    expect(parsePaymentRequest('cbdc:pay?to=%2B8613900000002&bank=bank-b&amount=5.5&memo=two%20coffees%20%26%20cake')).toEqual({
      payee: { alias: '+8613900000002', bank: 'bank-b' }, amountFen: 550n, memo: 'two coffees & cake',
    });
    // A literal "+" (typed by hand) is the phone alias's plus, not a space.
    expect(parsePaymentRequest('cbdc:pay?to=+8613900000002&amount=1').payee).toEqual({ alias: '+8613900000002' });
    expect(parsePaymentRequest('  cbdc:pay?to=@alice_w  ')).toEqual({ payee: { alias: '@alice_w' } });
    expect(parsePaymentRequest('CBDC:PAY?to=@alice_w&amount=0.01').amountFen).toBe(1n);
    // Unknown fields are ignored (a later version may add some).
    expect(parsePaymentRequest('cbdc:pay?to=@alice_w&amount=3&v=2&label=x')).toEqual({ payee: { alias: '@alice_w' }, amountFen: 300n });
  });

  it('writes the request the README shows, readable and round-tripping', () => {
    const s = formatPaymentRequest({ payee: { account: 'bank-a.0123456789ab', bank: 'bank-a' }, amountFen: 1234n });
    expect(s).toBe('cbdc:pay?to=bank-a.0123456789ab&bank=bank-a&amount=12.34');
    expect(formatPaymentRequest({ payee: { alias: '@bob_1' }, amountFen: 100n, memo: 'rent, May' })).toBe('cbdc:pay?to=@bob_1&amount=1.00&memo=rent%2C%20May');
    // "+" is percent-encoded so that generic URL parsers (which read "+" as a space) agree.
    const phone = formatPaymentRequest({ payee: { alias: '+8613900000002', bank: 'bank-b' }, amountFen: 1n });
    expect(phone).toBe('cbdc:pay?to=%2B8613900000002&bank=bank-b&amount=0.01');
    expect(new URLSearchParams(phone.slice('cbdc:pay?'.length)).get('to')).toBe('+8613900000002');
    expect(isPaymentRequest(phone)).toBe(true);
    expect(isPaymentRequest('+8613900000002')).toBe(false);
  });

  it('refuses malformed requests with a stable code', () => {
    const bad: [string, string][] = [
      ['pay?to=@alice_w', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:send?to=@alice_w', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?amount=1.00', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=@alice_w&to=@bob_1', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=alice', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=@alice_w&bank=Bank_A', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=bank-a.0123456789ab&bank=bank-b', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=%E0%A4%A', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=@alice_w&amount', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=@alice_w&Amount=1', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=@alice_w&memo=a%0Ab', 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      [`cbdc:pay?to=@alice_w&memo=${'m'.repeat(MEMO_CHARS_MAX + 1)}`, 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      [`cbdc:pay?to=@alice_w&memo=${'m'.repeat(2000)}`, 'CBDC_ERR_PAYMENT_REQUEST_FORMAT'],
      ['cbdc:pay?to=@alice_w&amount=12.345', 'CBDC_ERR_AMOUNT_FORMAT'],
      ['cbdc:pay?to=@alice_w&amount=-1', 'CBDC_ERR_AMOUNT_FORMAT'],
      ['cbdc:pay?to=@alice_w&amount=abc', 'CBDC_ERR_AMOUNT_FORMAT'],
      ['cbdc:pay?to=@alice_w&amount=1e3', 'CBDC_ERR_AMOUNT_FORMAT'],
      ['cbdc:pay?to=@alice_w&amount=0', 'CBDC_ERR_AMOUNT_RANGE'],
      ['cbdc:pay?to=@alice_w&amount=100000000000000000', 'CBDC_ERR_AMOUNT_RANGE'],
    ];
    for (const [text, code] of bad) expect(codeOf(() => parsePaymentRequest(text)), text.slice(0, 60)).toBe(code);
  });

  it('reads payees typed on the command line', () => {
    expect(parsePayee('+8613800000001')).toEqual({ alias: '+8613800000001' });
    expect(parsePayee('@alice_w', 'bank-a')).toEqual({ alias: '@alice_w', bank: 'bank-a' });
    expect(parsePayee('bank-b.0123456789ab')).toEqual({ account: 'bank-b.0123456789ab' });
    expect(codeOf(() => parsePayee('alice'))).toBe('CBDC_ERR_ALIAS_FORMAT');
    expect(codeOf(() => parsePayee('+86'))).toBe('CBDC_ERR_ALIAS_FORMAT');
    expect(codeOf(() => parsePayee('bank-b.0123456789AB'))).toBe('CBDC_ERR_ALIAS_FORMAT');
  });

  it('round-trips every well-formed request (property)', () => {
    const alias = fc.oneof(
      fc.stringMatching(/^\+[0-9]{6,15}$/),
      fc.stringMatching(/^@[a-z0-9_]{3,32}$/),
    );
    const bank = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/);
    const payee = fc.oneof(
      fc.record({ alias, bank: fc.option(bank, { nil: undefined }) }, { requiredKeys: ['alias'] }),
      fc.tuple(bank, fc.stringMatching(/^[0-9a-f]{12}$/), fc.boolean()).map(([b, h, named]) => (named ? { account: `${b}.${h}`, bank: b } : { account: `${b}.${h}` })),
    );
    const memo = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((m) => !/[\u0000-\u001f\u007f]/.test(m) && m.length <= MEMO_CHARS_MAX);
    fc.assert(fc.property(payee, fc.option(fc.bigInt({ min: 1n, max: 10n ** 18n }), { nil: undefined }), fc.option(memo, { nil: undefined }), (p, amountFen, m) => {
      const cleanPayee = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as PaymentRequest['payee'];
      const r: PaymentRequest = { payee: cleanPayee, ...(amountFen !== undefined ? { amountFen } : {}), ...(m ? { memo: m } : {}) };
      const text = formatPaymentRequest(r);
      expect(text).not.toMatch(/[\s]/);
      expect(parsePaymentRequest(text)).toEqual(r);
    }), { numRuns: 300 });
  });
});
