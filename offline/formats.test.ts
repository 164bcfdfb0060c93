import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CURVE_N, generateSecretKey, nativeVerifier, nobleVerifier, publicKeyOf } from '../protocol/sig.js';
import { isCbdcError } from '../protocol/errors.js';
import { taggedHash } from '../protocol/hash.js';
import {
  CertificateBody,
  bankKeysOf,
  certificateHash,
  decodeCertificate,
  encodeCertificate,
  signCertificate,
  verifyCertificate,
} from './certificate.js';
import { decodeChallenge, encodeChallenge } from './challenge.js';
import { GENESIS_HASH, PayDetail, Voucher, VoucherBody, chainBreak, decodeVoucher, encodeVoucher, signVoucher, verifyVoucher, voucherHash } from './voucher.js';
import { authorisationHash, decodeAuthorisation, encodeAuthorisation, signAuthorisation, verifyAuthorisation } from './authorisation.js';
import { decodeRevocationList, encodeRevocationList, isRevoked, signRevocationList, verifyRevocationList } from './revocation.js';
import { OFFLINE_TAGS } from './codec.js';

const NET = 'testnet';
const bankSk = generateSecretKey();
const otherBankSk = generateSecretKey();
const deviceSk = generateSecretKey();
const trust = bankKeysOf(NET, { 'bank-a': bankSk });

const certBody: CertificateBody = {
  network: NET,
  bank: 'bank-a',
  serial: 7n,
  devicePub: publicKeyOf(deviceSk),
  balanceCapFen: 100_000n,
  paymentCapFen: 20_000n,
  paymentsBeforeSync: 10,
  validFromMs: 1_000n,
  validUntilMs: 2_000_000_000_000n,
};

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  return 'ok';
}

/** Every strict prefix and every one-byte extension is refused with the format code. */
function expectStrictLength(bytes: Buffer, decode: (b: Buffer) => unknown): void {
  for (let n = 0; n < bytes.length; n++) expect(codeOf(() => decode(bytes.subarray(0, n)))).toBe('CBDC_ERR_OFFLINE_FORMAT');
  expect(codeOf(() => decode(Buffer.concat([bytes, Buffer.from([0])])))).toBe('CBDC_ERR_OFFLINE_FORMAT');
}

/** The high-S twin of a low-S compact signature. */
function highS(sig: Buffer): Buffer {
  const s = BigInt('0x' + sig.subarray(32).toString('hex'));
  return Buffer.concat([sig.subarray(0, 32), Buffer.from((CURVE_N - s).toString(16).padStart(64, '0'), 'hex')]);
}

describe('device certificate', () => {
  const cert = signCertificate(certBody, bankSk);
  const bytes = encodeCertificate(cert);

  it('round-trips its canonical bytes and verifies under both backends', () => {
    expect(decodeCertificate(bytes)).toEqual(cert);
    expect(encodeCertificate(decodeCertificate(bytes))).toEqual(bytes);
    for (const v of [nobleVerifier, nativeVerifier]) expect(codeOf(() => verifyCertificate(cert, trust, 5_000n, v))).toBe('ok');
  });

  it('is signed over a tagged hash that commits to the network', () => {
    expect(certificateHash(cert)).toEqual(taggedHash(OFFLINE_TAGS.certificate, bytes.subarray(0, bytes.length - 64)));
    const other = signCertificate({ ...certBody, network: 'othernet' }, bankSk);
    expect(certificateHash(other).equals(certificateHash(cert))).toBe(false);
    expect(codeOf(() => verifyCertificate(other, trust))).toBe('CBDC_ERR_NETWORK_ID');
  });

  it('refuses a foreign bank, a forged signature, altered caps and an expired period', () => {
    expect(codeOf(() => verifyCertificate({ ...cert, bank: 'bank-z' }, trust))).toBe('CBDC_ERR_OFFLINE_UNTRUSTED');
    expect(codeOf(() => verifyCertificate(signCertificate(certBody, otherBankSk), trust))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect(codeOf(() => verifyCertificate({ ...cert, balanceCapFen: 10n ** 9n }, trust))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect(codeOf(() => verifyCertificate({ ...cert, paymentsBeforeSync: 999 }, trust))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect(codeOf(() => verifyCertificate(cert, trust, 999n))).toBe('CBDC_ERR_OFFLINE_CERT_EXPIRED');
    expect(codeOf(() => verifyCertificate(cert, trust, 2_000_000_000_000n))).toBe('CBDC_ERR_OFFLINE_CERT_EXPIRED');
  });

  it('refuses truncated, extended, high-S and malformed encodings', () => {
    expectStrictLength(bytes, decodeCertificate);
    const hs = Buffer.concat([bytes.subarray(0, bytes.length - 64), highS(cert.bankSig)]);
    expect(codeOf(() => decodeCertificate(hs))).toBe('CBDC_ERR_OFFLINE_FORMAT');
    const badVersion = Buffer.from(bytes);
    badVersion[0] = 2;
    expect(codeOf(() => decodeCertificate(badVersion))).toBe('CBDC_ERR_OFFLINE_FORMAT');
    const badKey = Buffer.from(bytes);
    badKey[1 + 1 + 1 + NET.length + 1 + 6 + 8] = 0x05; // device key prefix byte
    expect(codeOf(() => decodeCertificate(badKey))).toBe('CBDC_ERR_OFFLINE_FORMAT');
  });

  it('refuses any random bytes without throwing anything but a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const c = codeOf(() => decodeCertificate(Buffer.from(b)));
        expect(c).toBe('CBDC_ERR_OFFLINE_FORMAT');
      }),
      { numRuns: 300 },
    );
  });
});

describe('payment challenge', () => {
  const ch = { network: NET, payee: { bank: 'bank-b', serial: 3n }, amountFen: 1234n, nonce: Buffer.alloc(16, 9), timeMs: 1_700_000_000_000n };
  it('round-trips and refuses truncation, zero amounts and trailing bytes', () => {
    const bytes = encodeChallenge(ch);
    expect(decodeChallenge(bytes)).toEqual(ch);
    expectStrictLength(bytes, decodeChallenge);
    expect(() => encodeChallenge({ ...ch, amountFen: 0n })).toThrow(RangeError);
    const zero = Buffer.from(bytes);
    zero.fill(0, bytes.length - 32, bytes.length - 24);
    expect(codeOf(() => decodeChallenge(zero))).toBe('CBDC_ERR_OFFLINE_FORMAT');
  });
});

describe('voucher', () => {
  const cert = signCertificate(certBody, bankSk);
  const device = { bank: 'bank-a', serial: 7n };
  const load: VoucherBody = {
    network: NET, device, devicePub: cert.devicePub, counter: 1n, prevHash: GENESIS_HASH, amountFen: 50_000n, balanceAfterFen: 50_000n,
    type: 'load', authorisationHash: Buffer.alloc(32, 1),
  };
  const v1 = signVoucher(load, deviceSk);
  const pay: VoucherBody & PayDetail = {
    network: NET, device, devicePub: cert.devicePub, counter: 2n, prevHash: voucherHash(v1), amountFen: 1_500n, balanceAfterFen: 48_500n,
    type: 'pay', payee: { bank: 'bank-b', serial: 3n }, nonce: Buffer.alloc(16, 5), challengeTimeMs: 1_700_000_000_000n,
  };
  const v2 = signVoucher(pay, deviceSk);
  const receive: VoucherBody = {
    network: NET, device, devicePub: cert.devicePub, counter: 3n, prevHash: voucherHash(v2), amountFen: 500n, balanceAfterFen: 49_000n,
    type: 'receive', payer: { bank: 'bank-b', serial: 3n }, payerVoucherHash: Buffer.alloc(32, 7),
  };
  const v3 = signVoucher(receive, deviceSk);

  it('round-trips every type and verifies against its certificate', () => {
    for (const v of [v1, v2, v3]) {
      const bytes = encodeVoucher(v);
      expect(decodeVoucher(bytes)).toEqual(v);
      expectStrictLength(bytes, decodeVoucher);
      expect(codeOf(() => verifyVoucher(v, cert))).toBe('ok');
    }
  });

  it('chains: counter + 1, previous hash, balance arithmetic; breaks are named', () => {
    expect(chainBreak(null, v1)).toBeNull();
    const at = (v: Voucher) => ({ hash: voucherHash(v), counter: v.counter, device: v.device, balanceAfterFen: v.balanceAfterFen });
    expect(chainBreak(at(v1), v2)).toBeNull();
    expect(chainBreak(at(v2), v3)).toBeNull();
    expect(chainBreak(at(v1), v3)).toMatch(/counter 3 does not follow 1/);
    expect(chainBreak(at(v1), { ...v2, prevHash: GENESIS_HASH })).toMatch(/does not chain/);
    expect(chainBreak(at(v1), { ...v2, balanceAfterFen: 49_000n })).toMatch(/balance/);
  });

  it('refuses a changed field, another device key, another certificate, and amounts over the caps', () => {
    expect(codeOf(() => verifyVoucher({ ...v2, amountFen: 1n }, cert))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect(codeOf(() => verifyVoucher({ ...v2, payee: { bank: 'bank-c', serial: 3n } }, cert))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    const thief = generateSecretKey();
    expect(codeOf(() => verifyVoucher(signVoucher(pay, thief), cert))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect(codeOf(() => verifyVoucher(signVoucher({ ...pay, devicePub: publicKeyOf(thief) }, thief), cert))).toBe('CBDC_ERR_OFFLINE_CERT_MISMATCH');
    expect(codeOf(() => verifyVoucher(v2, { ...cert, serial: 8n }))).toBe('CBDC_ERR_OFFLINE_CERT_MISMATCH');
    expect(codeOf(() => verifyVoucher(signVoucher({ ...pay, amountFen: 20_001n }, deviceSk), cert))).toBe('CBDC_ERR_OFFLINE_CAP');
  });
});

describe('bank authorisations', () => {
  const body = { network: NET, device: { bank: 'bank-a', serial: 7n }, devicePub: publicKeyOf(deviceSk), action: 'load' as const, counter: 4n, amountFen: 10_000n };
  it('round-trip, verify, and bind action, counter, amount and device', () => {
    const a = signAuthorisation(body, bankSk);
    const bytes = encodeAuthorisation(a);
    expect(decodeAuthorisation(bytes)).toEqual(a);
    expectStrictLength(bytes, decodeAuthorisation);
    expect(codeOf(() => verifyAuthorisation(a, trust))).toBe('ok');
    for (const changed of [{ counter: 5n }, { amountFen: 10_001n }, { action: 'unload' as const }, { device: { bank: 'bank-a', serial: 8n } }]) {
      expect(codeOf(() => verifyAuthorisation({ ...a, ...changed }, trust))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    }
    expect(codeOf(() => verifyAuthorisation(signAuthorisation(body, otherBankSk), trust))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect(authorisationHash(a).equals(authorisationHash({ ...a, action: 'unload' }))).toBe(false);
  });
  it('a sync carries no amount', () => {
    const s = signAuthorisation({ ...body, action: 'sync', amountFen: 0n }, bankSk);
    expect(decodeAuthorisation(encodeAuthorisation(s))).toEqual(s);
    expect(() => signAuthorisation({ ...body, action: 'sync' }, bankSk)).toThrow(RangeError);
  });
});

describe('revocation list', () => {
  it('round-trips sorted serials, verifies, and answers membership', () => {
    const l = signRevocationList({ network: NET, bank: 'bank-a', sequence: 2n, issuedMs: 5n, serials: [9n, 3n, 9n, 100n] }, bankSk);
    expect(l.serials).toEqual([3n, 9n, 100n]);
    const bytes = encodeRevocationList(l);
    expect(decodeRevocationList(bytes)).toEqual(l);
    expectStrictLength(bytes, decodeRevocationList);
    expect(codeOf(() => verifyRevocationList(l, trust))).toBe('ok');
    expect(codeOf(() => verifyRevocationList({ ...l, serials: [3n, 100n] }, trust))).toBe('CBDC_ERR_OFFLINE_SIGNATURE');
    expect([3n, 9n, 100n, 4n, 0n].map((s) => isRevoked(l, s))).toEqual([true, true, true, false, false]);
    // Not strictly ascending on the wire (50 before 9): refused.
    const swapped = Buffer.from(bytes);
    const first = 1 + 1 + 1 + NET.length + 1 + 6 + 8 + 8 + 4;
    swapped.writeBigUInt64BE(50n, first);
    expect(codeOf(() => decodeRevocationList(swapped))).toBe('CBDC_ERR_OFFLINE_FORMAT');
  });
});
