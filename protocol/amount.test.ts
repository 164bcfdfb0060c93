import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCbdcError } from './errors.js';
import { AMOUNT_FEN_MAX, addAmountsFen, formatAmountFen, formatYuan, parseAmountFen, parsePositiveAmountFen, parseYuan } from './amount.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CbdcError, nothing was thrown');
}

const MAX_STR = '1000000000000000000';

describe('AMOUNT_FEN_MAX', () => {
  it('is 10^18 fen and fits an unsigned 64-bit field', () => {
    expect(AMOUNT_FEN_MAX).toBe(10n ** 18n);
    expect(AMOUNT_FEN_MAX.toString()).toBe(MAX_STR);
    expect(AMOUNT_FEN_MAX < 1n << 64n).toBe(true);
  });
});

describe('parseAmountFen', () => {
  it('parses decimal strings of fen', () => {
    expect(parseAmountFen('0')).toBe(0n);
    expect(parseAmountFen('1')).toBe(1n);
    expect(parseAmountFen('12345')).toBe(12345n);
    expect(parseAmountFen('9007199254740993')).toBe(9007199254740993n); // beyond float precision
  });

  it('accepts exactly AMOUNT_FEN_MAX', () => {
    expect(parseAmountFen(MAX_STR)).toBe(AMOUNT_FEN_MAX);
    expect(parseAmountFen('999999999999999999')).toBe(AMOUNT_FEN_MAX - 1n);
  });

  it.each([
    ['one above max', '1000000000000000001'],
    ['largest 19-digit', '9999999999999999999'],
    ['20 digits', '10000000000000000000'],
    ['2^64', '18446744073709551616'],
    ['a thousand digits', '9'.repeat(1000)],
  ])('refuses %s with CBDC_ERR_AMOUNT_RANGE', (_name, s) => {
    expect(codeOf(() => parseAmountFen(s))).toBe('CBDC_ERR_AMOUNT_RANGE');
  });

  it.each<[string, unknown]>([
    ['JSON number 100', 100],
    ['JSON number 1.5', 1.5],
    ['JSON number 0', 0],
    ['a bigint', 100n],
    ['null', null],
    ['undefined', undefined],
    ['an array', ['1']],
    ['an object', { value: '1' }],
    ['a boolean', true],
    ['float string "1.5"', '1.5'],
    ['"1.0"', '1.0'],
    ['"1."', '1.'],
    ['".5"', '.5'],
    ['negative "-1"', '-1'],
    ['"-0"', '-0'],
    ['plus sign "+1"', '+1'],
    ['leading zero "01"', '01'],
    ['"00"', '00'],
    ['empty string', ''],
    ['leading space', ' 1'],
    ['trailing space', '1 '],
    ['trailing newline', '1\n'],
    ['inner space', '1 000'],
    ['exponent "1e3"', '1e3'],
    ['hex "0x10"', '0x10'],
    ['underscore "1_000"', '1_000'],
    ['comma "1,000"', '1,000'],
    ['Arabic-Indic digit', '\u0661'],
    ['fullwidth digit', '\uff11'],
    ['"Infinity"', 'Infinity'],
    ['"NaN"', 'NaN'],
  ])('refuses %s with CBDC_ERR_AMOUNT_FORMAT', (_name, v) => {
    expect(codeOf(() => parseAmountFen(v))).toBe('CBDC_ERR_AMOUNT_FORMAT');
  });

  it('names the field in its message', () => {
    expect(() => parseAmountFen(100, 'output 3 value')).toThrow(/output 3 value.*JSON number 100/);
  });

  it('property: formatAmountFen(parseAmountFen(s)) === s for every valid s', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: AMOUNT_FEN_MAX }).map((v) => v.toString()), (s) => {
        expect(formatAmountFen(parseAmountFen(s))).toBe(s);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^(0|[1-9][0-9]{0,17})$/), (s) => {
        expect(formatAmountFen(parseAmountFen(s))).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: any string is either refused with an amount code or parsed to its canonical self', () => {
    const unit = fc.constantFrom('0', '1', '5', '9', '.', '-', '+', 'e', ' ', 'x');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 22 }), (s) => {
        let fen: bigint;
        try {
          fen = parseAmountFen(s);
        } catch (e) {
          expect(isCbdcError(e) && ['CBDC_ERR_AMOUNT_FORMAT', 'CBDC_ERR_AMOUNT_RANGE'].includes(e.code)).toBe(true);
          return;
        }
        expect(fen >= 0n && fen <= AMOUNT_FEN_MAX).toBe(true);
        expect(formatAmountFen(fen)).toBe(s);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parsePositiveAmountFen', () => {
  it('refuses zero with CBDC_ERR_AMOUNT_RANGE and passes on other refusals', () => {
    expect(parsePositiveAmountFen('1')).toBe(1n);
    expect(parsePositiveAmountFen(MAX_STR)).toBe(AMOUNT_FEN_MAX);
    expect(codeOf(() => parsePositiveAmountFen('0'))).toBe('CBDC_ERR_AMOUNT_RANGE');
    expect(codeOf(() => parsePositiveAmountFen('-1'))).toBe('CBDC_ERR_AMOUNT_FORMAT');
    expect(codeOf(() => parsePositiveAmountFen('1000000000000000001'))).toBe('CBDC_ERR_AMOUNT_RANGE');
  });
});

describe('formatAmountFen', () => {
  it('refuses values outside [0, AMOUNT_FEN_MAX]', () => {
    expect(formatAmountFen(0n)).toBe('0');
    expect(formatAmountFen(AMOUNT_FEN_MAX)).toBe(MAX_STR);
    expect(() => formatAmountFen(-1n)).toThrow(RangeError);
    expect(() => formatAmountFen(AMOUNT_FEN_MAX + 1n)).toThrow(RangeError);
  });
});

describe('addAmountsFen', () => {
  it('adds exactly up to the bound', () => {
    expect(addAmountsFen(2n, 3n)).toBe(5n);
    expect(addAmountsFen(AMOUNT_FEN_MAX - 1n, 1n)).toBe(AMOUNT_FEN_MAX);
    expect(addAmountsFen(AMOUNT_FEN_MAX, 0n)).toBe(AMOUNT_FEN_MAX);
  });
  it('refuses a sum above AMOUNT_FEN_MAX with CBDC_ERR_AMOUNT_OVERFLOW, never wraps', () => {
    expect(codeOf(() => addAmountsFen(AMOUNT_FEN_MAX, 1n))).toBe('CBDC_ERR_AMOUNT_OVERFLOW');
    expect(codeOf(() => addAmountsFen(AMOUNT_FEN_MAX, AMOUNT_FEN_MAX))).toBe('CBDC_ERR_AMOUNT_OVERFLOW');
    // Past 2^64 too, where a u64 would wrap.
    expect(codeOf(() => addAmountsFen((1n << 64n) - 1n, 1n))).toBe('CBDC_ERR_AMOUNT_OVERFLOW');
  });
  it('property: equals a + b when that is within the bound, else throws', () => {
    const amt = fc.bigInt({ min: 0n, max: AMOUNT_FEN_MAX });
    fc.assert(
      fc.property(amt, amt, (a, b) => {
        if (a + b <= AMOUNT_FEN_MAX) expect(addAmountsFen(a, b)).toBe(a + b);
        else expect(codeOf(() => addAmountsFen(a, b))).toBe('CBDC_ERR_AMOUNT_OVERFLOW');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseYuan and formatYuan', () => {
  it.each([
    ['12.34', 1234n],
    ['12', 1200n],
    ['12.3', 1230n],
    ['0.5', 50n],
    ['0.05', 5n],
    ['0', 0n],
    ['0.00', 0n],
    [' 12.34 ', 1234n],
    ['10000000000000000', AMOUNT_FEN_MAX],
    ['9999999999999999.99', AMOUNT_FEN_MAX - 1n],
  ])('parseYuan(%j) = %s fen', (text, fen) => {
    expect(parseYuan(text)).toBe(fen);
  });

  it.each(['12.345', '1.', '.5', '-1', '+1', '01', '1,5', '1e3', '', ' ', '12.3.4', 'abc', '0x1'])(
    'parseYuan(%j) is refused with CBDC_ERR_AMOUNT_FORMAT',
    (text) => {
      expect(codeOf(() => parseYuan(text))).toBe('CBDC_ERR_AMOUNT_FORMAT');
    },
  );

  it.each(['10000000000000000.01', '10000000000000001', '99999999999999999.99', '100000000000000000', '9'.repeat(40)])(
    'parseYuan(%j), above AMOUNT_FEN_MAX, is refused with CBDC_ERR_AMOUNT_RANGE',
    (text) => {
      expect(codeOf(() => parseYuan(text))).toBe('CBDC_ERR_AMOUNT_RANGE');
    },
  );

  it.each([
    [1234n, '12.34'],
    [50n, '0.50'],
    [5n, '0.05'],
    [0n, '0.00'],
    [100n, '1.00'],
    [AMOUNT_FEN_MAX, '10000000000000000.00'],
    [-1234n, '-12.34'],
    [-5n, '-0.05'],
  ])('formatYuan(%s) = %j', (fen, text) => {
    expect(formatYuan(fen)).toBe(text);
  });

  it('round trips "12.34" <-> 1234n', () => {
    expect(formatYuan(parseYuan('12.34'))).toBe('12.34');
    expect(parseYuan(formatYuan(1234n))).toBe(1234n);
  });

  it('property: parseYuan(formatYuan(fen)) === fen over the whole range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: AMOUNT_FEN_MAX }), (fen) => {
        expect(parseYuan(formatYuan(fen))).toBe(fen);
      }),
      { numRuns: 2000 },
    );
  });
});
