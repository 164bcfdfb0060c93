import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { COMMAND_APDU_BYTES_MAX, SW, encodeCommandApdu, isParsed, parseCommandApdu, parseResponseApdu, responseApdu } from './apdu.js';

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

describe('command APDU parsing (ISO 7816-4 §5.1)', () => {
  it('reads the seven cases', () => {
    expect(parseCommandApdu(hex('80 10 00 00'))).toEqual({ cla: 0x80, ins: 0x10, p1: 0, p2: 0, data: Buffer.alloc(0), ne: 0 });
    expect(parseCommandApdu(hex('80 10 00 00 00'))).toMatchObject({ data: Buffer.alloc(0), ne: 256 }); // 2S, Le 00 = 256
    expect(parseCommandApdu(hex('80 10 00 00 20'))).toMatchObject({ ne: 32 });
    expect(parseCommandApdu(hex('00 A4 04 00 02 F0 43'))).toMatchObject({ data: hex('F043'), ne: 0 }); // 3S
    expect(parseCommandApdu(hex('00 A4 04 00 02 F0 43 00'))).toMatchObject({ data: hex('F043'), ne: 256 }); // 4S
    expect(parseCommandApdu(hex('80 10 00 00 00 00 00'))).toMatchObject({ ne: 65536 }); // 2E, 0000 = 65536
    expect(parseCommandApdu(hex('80 10 00 00 00 01 00'))).toMatchObject({ ne: 256 });
    expect(parseCommandApdu(hex('80 32 00 00 00 00 02 AA BB'))).toMatchObject({ data: hex('AABB'), ne: 0 }); // 3E
    expect(parseCommandApdu(hex('80 32 00 00 00 00 02 AA BB 00 00'))).toMatchObject({ data: hex('AABB'), ne: 65536 }); // 4E
  });

  it('answers 6700 for every inconsistent length', () => {
    for (const bad of ['', '80', '80 10 00', '80 10 00 00 02 AA', '80 10 00 00 01 AA BB CC', '80 10 00 00 00 00', '80 10 00 00 00 00 00 AA', '80 10 00 00 00 00 03 AA BB', '80 10 00 00 00 00 01 AA BB']) {
      expect(parseCommandApdu(hex(bad))).toEqual({ sw: SW.WRONG_LENGTH });
    }
    expect(parseCommandApdu(Buffer.alloc(COMMAND_APDU_BYTES_MAX + 1))).toEqual({ sw: SW.WRONG_LENGTH });
  });

  it('encodes what it parses, short or extended, for any data and Ne', () => {
    fc.assert(
      fc.property(
        fc.record({
          cla: fc.integer({ min: 0, max: 255 }),
          ins: fc.integer({ min: 0, max: 255 }),
          p1: fc.integer({ min: 0, max: 255 }),
          p2: fc.integer({ min: 0, max: 255 }),
          data: fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
          ne: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65536 })),
        }),
        (c) => {
          const bytes = encodeCommandApdu(c);
          const back = parseCommandApdu(bytes);
          expect(isParsed(back)).toBe(true);
          expect(back).toEqual(c);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on random bytes: a command or 6700', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        const r = parseCommandApdu(b);
        if (!isParsed(r)) expect(r.sw).toBe(SW.WRONG_LENGTH);
        else expect(parseCommandApdu(encodeCommandApdu(r))).toEqual(r);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('response APDUs', () => {
  it('carry data then SW1 SW2', () => {
    expect(responseApdu(hex('AABB'), SW.OK)).toEqual(hex('AABB9000'));
    expect(parseResponseApdu(hex('6A82'))).toEqual({ data: Buffer.alloc(0), sw: 0x6a82 });
    expect(parseResponseApdu(hex('01029101'))).toEqual({ data: hex('0102'), sw: 0x9101 });
  });
});
