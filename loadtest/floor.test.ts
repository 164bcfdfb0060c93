// The floor of a payment: the operation counts and the arithmetic pinned, and the two
// measurements run for real (native signatures on this thread; autocannon against fastify's
// empty route in its own process), briefly.
import { describe, expect, it } from 'vitest';
import { ATTESTED_MODE_MIN_OPS, FLOOR_VARIANTS, FULL_MODE_MIN_OPS, ceilingPerS, measureEmptyRoute, measureSignatures, paymentCpuUs, protocolOps } from './floor.js';

describe('floor arithmetic', () => {
  it('full mode spends at least 2 signatures, 3 checks and one HTTP request per payment', () => {
    expect(FULL_MODE_MIN_OPS).toEqual({ sign: 2, verify: 3, requests: 1 });
  });

  it('attested mode spends at least 2 signatures, 1 check (the bank\'s, of the wallet) and one HTTP request', () => {
    expect(ATTESTED_MODE_MIN_OPS).toEqual({ sign: 2, verify: 1, requests: 1 });
  });

  it('relaxed: a pre-signed payment makes one signature fewer in the run; a bank trusting the connection checks one fewer', () => {
    expect(FLOOR_VARIANTS).toEqual({
      presigned: { sign: 1, verify: 3, requests: 1 },
      bank_trusts_connection: { sign: 2, verify: 2, requests: 1 },
      both: { sign: 1, verify: 2, requests: 1 },
    });
  });

  it('the protocol as built: two signed wallet requests, plus a signed quote for a payment across banks', () => {
    expect(protocolOps(0)).toEqual({ sign: 4, verify: 5, requests: 2 });
    expect(protocolOps(1)).toEqual({ sign: 5, verify: 6, requests: 3 });
    expect(protocolOps(0.5)).toEqual({ sign: 4.5, verify: 5.5, requests: 2.5 });
    expect(() => protocolOps(1.5)).toThrow(RangeError);
    expect(() => protocolOps(Number.NaN)).toThrow(RangeError);
  });

  it('CPU per payment is each operation times its cost; the ceiling is the cores over it', () => {
    const costs = { sign_us: 50, verify_us: 70, request_us: 100 };
    expect(paymentCpuUs(FULL_MODE_MIN_OPS, costs)).toBe(2 * 50 + 3 * 70 + 100);
    expect(ceilingPerS(410, 2)).toBe(4878);
    expect(ceilingPerS(500, 2)).toBe(4000);
    expect(() => ceilingPerS(0, 2)).toThrow(RangeError);
    expect(() => ceilingPerS(100, 0)).toThrow(RangeError);
  });
});

describe('floor measurements', () => {
  it('times signing and checking with the native backend', () => {
    const m = measureSignatures(300);
    expect(m.sign_us).toBeGreaterThan(1);
    expect(m.verify_us).toBeGreaterThan(1);
    expect(() => measureSignatures(0)).toThrow(RangeError);
    expect(() => measureSignatures(10, 11)).toThrow(RangeError);
  });

  it("counts server and client CPU per request against fastify's empty route", async () => {
    const m = await measureEmptyRoute({ connections: 4, durationS: 1 });
    expect(m.req_per_s).toBeGreaterThan(0);
    expect(m.server_us_per_request).toBeGreaterThan(0);
    expect(m.client_us_per_request).toBeGreaterThan(0);
    expect(m.request_us).toBeCloseTo(m.server_us_per_request + m.client_us_per_request, 0);
  }, 30_000);
});
