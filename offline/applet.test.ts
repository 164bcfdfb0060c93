import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCbdcError } from '../protocol/errors.js';
import { generateSecretKey } from '../protocol/sig.js';
import { Applet } from './applet.js';
import { MemoryAppletStore } from './applet_store.js';
import { CardClient, localChannel } from './card_client.js';
import { CardRefusal, CLA_PROPRIETARY, INS, SW, encodeCommandApdu, parseResponseApdu } from './apdu.js';
import { encodeChallenge, PaymentChallenge } from './challenge.js';
import { signCertificate } from './certificate.js';
import { GENESIS_HASH, PayVoucher, chainBreak, signVoucher, verifyVoucher, voucherHash } from './voucher.js';
import { BANK_KEYS, NET, NOW_MS, TRUST, TestCard, authorise, digest, makeCard, revocationList } from '../test/helpers/offline_fixture.js';

/** Expects a card refusal with this status word, and that the card's state did not change. */
async function refused(card: TestCard, p: Promise<unknown>, sw: number): Promise<void> {
  const before = digest(card);
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected status word ${sw.toString(16)}`).toBeInstanceOf(CardRefusal);
  expect((err as CardRefusal).sw.toString(16)).toBe(sw.toString(16));
  expect((err as CardRefusal).code).toBe('CBDC_ERR_OFFLINE_REFUSED');
  expect(digest(card)).toBe(before);
}

/** Refusal where the promise was made before the digest is read: digest taken by the caller. */
async function refusedSince(card: TestCard, before: string, p: Promise<unknown>, sw: number): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => e instanceof CardRefusal && e.sw === sw);
  expect(digest(card)).toBe(before);
}

async function loaded(amount = 60_000n, caps = {}): Promise<TestCard> {
  const card = await makeCard('bank-a', caps);
  await card.client.load(authorise(card, 'load', amount));
  return card;
}

async function payOnce(payer: TestCard, payee: TestCard, amount: bigint): Promise<{ ch: PaymentChallenge; v: PayVoucher }> {
  const ch = await payee.client.challenge(amount, NOW_MS);
  await payee.client.checkPayer(payer.cert, NOW_MS);
  const v = await payer.client.pay(ch);
  await payee.client.accept(payer.cert, v);
  return { ch, v };
}

describe('selection and the command set', () => {
  it('refuses everything until the AID is selected; a wrong AID is 6A82 and deselects', async () => {
    const card = await makeCard();
    card.applet.reset();
    await refused(card, card.client.status(), SW.CONDITIONS_NOT_SATISFIED);
    const wrong = encodeCommandApdu({ cla: 0, ins: INS.SELECT, p1: 4, p2: 0, data: Buffer.from('A000000003', 'hex'), ne: 0 });
    expect(parseResponseApdu(card.applet.process(wrong)).sw).toBe(SW.APP_NOT_FOUND);
    await card.client.select();
    expect((await card.client.status()).certified).toBe(true);
    expect(parseResponseApdu(card.applet.process(wrong)).sw).toBe(SW.APP_NOT_FOUND);
    await refused(card, card.client.status(), SW.CONDITIONS_NOT_SATISFIED);
  });

  it('answers 6E00 for an unknown class, 6D00 for an unknown instruction, 6A86 for bad P1-P2, 6700 for bad lengths', async () => {
    const card = await makeCard();
    const sw = (bytes: number[]) => parseResponseApdu(card.applet.process(Buffer.from(bytes))).sw;
    const before = digest(card);
    expect(sw([0x90, INS.GET_STATUS, 0, 0])).toBe(SW.CLA_NOT_SUPPORTED);
    expect(sw([CLA_PROPRIETARY, 0x77, 0, 0])).toBe(SW.INS_NOT_SUPPORTED);
    expect(sw([0x00, 0xb0, 0, 0])).toBe(SW.INS_NOT_SUPPORTED);
    expect(sw([CLA_PROPRIETARY, INS.GET_STATUS, 1, 0])).toBe(SW.WRONG_P1P2);
    expect(sw([0x00, INS.SELECT, 0x00, 0x00, 1, 0xf0])).toBe(SW.WRONG_P1P2);
    expect(sw([CLA_PROPRIETARY, INS.GET_STATUS])).toBe(SW.WRONG_LENGTH);
    expect(sw([CLA_PROPRIETARY, INS.PAY, 0, 0, 5, 1, 2])).toBe(SW.WRONG_LENGTH);
    expect(sw([CLA_PROPRIETARY, INS.GET_STATUS, 0, 0, 1, 0])).toBe(SW.WRONG_LENGTH); // data where none is taken
    expect(sw([CLA_PROPRIETARY, INS.CHALLENGE, 0, 0, 3, 1, 2, 3])).toBe(SW.WRONG_LENGTH);
    expect(digest(card)).toBe(before);
  });

  it('any byte string gets a response APDU, and only a 9000 may change the state', async () => {
    const card = await loaded();
    const cmds = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(...Object.values(INS)), fc.uint8Array({ maxLength: 300 })).map(([ins, data]) =>
        encodeCommandApdu({ cla: ins === INS.SELECT ? 0 : CLA_PROPRIETARY, ins, p1: 0, p2: 0, data: Buffer.from(data), ne: 0 }),
      ),
    );
    fc.assert(
      fc.property(cmds, (bytes) => {
        const before = digest(card);
        const r = parseResponseApdu(card.applet.process(Buffer.from(bytes)));
        if (r.sw !== SW.OK) expect(digest(card)).toBe(before);
        if (r.sw === SW.OK && digest(card) !== before) expect(bytes[1]).toBe(INS.CHALLENGE);
        card.applet.process(Buffer.from('00A4040008F0434244434F464601', 'hex'));
      }),
      { numRuns: 500 },
    );
    expect(card.applet.committed.balanceFen).toBe(60_000n);
  });
});

describe('personalisation', () => {
  it('refuses a second INITIALISE, a certificate for another key, from an untrusted bank, or for another network', async () => {
    const card = await makeCard();
    await refused(card, card.client.initialise(NET, TRUST), SW.CONDITIONS_NOT_SATISFIED);
    const blank = Applet.open(new MemoryAppletStore());
    const client = new CardClient(localChannel(blank));
    await client.select();
    const blankCard = { applet: blank, client, cert: card.cert, store: new MemoryAppletStore() };
    await refused(blankCard, client.installCertificate(card.cert), SW.CONDITIONS_NOT_SATISFIED);
    const pub = await client.initialise(NET, TRUST);
    await refused(blankCard, client.installCertificate(card.cert), SW.WRONG_DATA); // another device key
    const body = { ...card.cert, devicePub: pub, serial: 900n };
    await refused(blankCard, client.installCertificate(signCertificate(body, generateSecretKey())), SW.SECURITY_STATUS);
    await refused(blankCard, client.installCertificate(signCertificate({ ...body, bank: 'bank-z' }, BANK_KEYS['bank-a']!)), SW.SECURITY_STATUS);
    await refused(blankCard, client.installCertificate(signCertificate({ ...body, network: 'other' }, BANK_KEYS['bank-a']!)), SW.WRONG_DATA);
    await client.installCertificate(signCertificate(body, BANK_KEYS['bank-a']!));
    expect((await client.status()).device).toEqual({ bank: 'bank-a', serial: 900n });
    expect(blank.committed.deviceSk).not.toBeNull();
  });
});

describe('load and unload', () => {
  it('a load adds its amount once: the same authorisation again, or one for an old counter, is 9105', async () => {
    const card = await makeCard();
    const auth = authorise(card, 'load', 50_000n);
    const v = await card.client.load(auth);
    expect(v).toMatchObject({ type: 'load', counter: 1n, amountFen: 50_000n, balanceAfterFen: 50_000n });
    expect(v.prevHash).toEqual(GENESIS_HASH);
    expect((await card.client.status()).balanceFen).toBe(50_000n);
    await refused(card, card.client.load(auth), SW.COUNTER_MISMATCH); // replayed
    await refused(card, card.client.load(authorise(card, 'load', 1n, 0n)), SW.COUNTER_MISMATCH); // rolled back
    await refused(card, card.client.load(authorise(card, 'load', 1n, 7n)), SW.COUNTER_MISMATCH); // ahead
  });

  it('refuses a load over the balance cap, a forged or foreign load, and an unload used as a load', async () => {
    const card = await loaded(60_000n);
    const other = await makeCard();
    await refused(card, card.client.load(authorise(card, 'load', 40_001n)), SW.OVER_BALANCE_CAP);
    await refused(card, card.client.load(authorise(other, 'load', 1n, card.applet.committed.counter)), SW.WRONG_DATA);
    await refused(card, card.client.load({ ...authorise(card, 'load', 10n), amountFen: 11n }), SW.SECURITY_STATUS);
    await refused(card, card.client.load(authorise(card, 'unload', 10n)), SW.WRONG_DATA);
    await refused(card, card.client.unload(authorise(card, 'load', 10n)), SW.WRONG_DATA);
  });

  it('an unload takes the amount off and answers its receipt; more than the balance is 9101', async () => {
    const card = await loaded(60_000n);
    await refused(card, card.client.unload(authorise(card, 'unload', 60_001n)), SW.INSUFFICIENT_BALANCE);
    const receipt = await card.client.unload(authorise(card, 'unload', 10_000n));
    expect(receipt).toMatchObject({ type: 'unload', counter: 2n, amountFen: 10_000n, balanceAfterFen: 50_000n });
    verifyVoucher(receipt, card.cert);
  });
});

describe('an offline payment', () => {
  it('debits the payer and credits the payee by exactly the amount, each with a chained voucher', async () => {
    const payer = await loaded(60_000n);
    const payee = await makeCard('bank-b');
    const { v } = await payOnce(payer, payee, 12_345n);
    expect(payer.applet.committed.balanceFen).toBe(60_000n - 12_345n);
    expect(payee.applet.committed.balanceFen).toBe(12_345n);
    const [load, pay] = payer.applet.committed.log;
    expect(chainBreak({ hash: voucherHash(load!), counter: 1n, device: load!.device, balanceAfterFen: load!.balanceAfterFen }, pay!)).toBeNull();
    expect(v).toMatchObject({ type: 'pay', counter: 2n, payee: { bank: 'bank-b', serial: payee.cert.serial } });
    const [receive] = payee.applet.committed.log;
    expect(receive).toMatchObject({ type: 'receive', counter: 1n, amountFen: 12_345n, payerVoucherHash: voucherHash(v) });
    verifyVoucher(receive!, payee.cert);
  });

  it('PAY refusals: per-payment cap 9102, balance 9101, sync 9104, expired certificate 9107, own payee or other network 6A80', async () => {
    const payer = await loaded(50_000n, { paymentsBeforeSync: 2 });
    const payee = await makeCard('bank-b');
    const ch = (amount: bigint, time = NOW_MS) => payee.client.challenge(amount, time);
    await refused(payer, payer.client.pay(await ch(20_001n)), SW.OVER_PAYMENT_CAP);
    await payOnce(payer, payee, 20_000n);
    await payOnce(payer, payee, 20_000n);
    await refused(payer, payer.client.pay(await ch(1n)), SW.SYNC_REQUIRED);
    await payer.client.sync(authorise(payer, 'sync', 0n));
    await refused(payer, payer.client.pay(await ch(20_000n)), SW.INSUFFICIENT_BALANCE);
    await refused(payer, payer.client.pay(await ch(1n, NOW_MS + 400n * 86_400_000n)), SW.CERT_EXPIRED);
    await refused(payer, payer.client.pay(await payer.client.challenge(1n, NOW_MS)), SW.WRONG_DATA);
    const foreign = { ...(await ch(1n)), network: 'elsewhere' };
    await refused(payer, payer.client.pay(foreign), SW.WRONG_DATA);
    const malformed = encodeCommandApdu({ cla: CLA_PROPRIETARY, ins: INS.PAY, p1: 0, p2: 0, data: encodeChallenge(await ch(1n)).subarray(1), ne: 0 });
    const before = digest(payer);
    expect(parseResponseApdu(payer.applet.process(malformed)).sw).toBe(SW.WRONG_DATA);
    expect(digest(payer)).toBe(before);
    expect(payer.applet.committed.balanceFen).toBe(10_000n);
  });

  it('a repeated PAY answers the same voucher and debits once; a repeated ACCEPT credits once', async () => {
    const payer = await loaded(60_000n);
    const payee = await makeCard('bank-b');
    const ch = await payee.client.challenge(1_000n, NOW_MS);
    const v1 = await payer.client.pay(ch);
    const payerAfter = digest(payer);
    const v2 = await payer.client.pay(ch);
    expect(v2).toEqual(v1);
    expect(digest(payer)).toBe(payerAfter);
    const r1 = await payee.client.accept(payer.cert, v1);
    const payeeAfter = digest(payee);
    expect(await payee.client.accept(payer.cert, v1)).toEqual(r1);
    expect(digest(payee)).toBe(payeeAfter);
    expect(payer.applet.committed.balanceFen).toBe(59_000n);
    expect(payee.applet.committed.balanceFen).toBe(1_000n);
    // Asked again after paying someone else since: still the same voucher, still one debit.
    await payOnce(payer, await makeCard('bank-b'), 500n);
    expect(await payer.client.pay(ch)).toEqual(v1);
    expect(payer.applet.committed.balanceFen).toBe(58_500n);
    // The same nonce with another amount is not an answer to that challenge.
    await refused(payer, payer.client.pay({ ...ch, amountFen: 999n }), SW.WRONG_DATA);
  });

  it('ACCEPT refusals: unknown or replayed challenge 6A88, wrong answer 6A80, forged voucher 6982, foreign or revoked payer, over the balance cap', async () => {
    const payer = await loaded(60_000n);
    const payee = await makeCard('bank-b', { balanceCapFen: 30_000n, paymentCapFen: 30_000n });
    // A voucher for a challenge this payee never issued (another payee's nonce).
    const elsewhere = await makeCard('bank-b');
    const chOther = await elsewhere.client.challenge(100n, NOW_MS);
    const vOther = await payer.client.pay({ ...chOther, payee: { bank: 'bank-b', serial: payee.cert.serial } });
    await refused(payee, payee.client.accept(payer.cert, vOther), SW.REFERENCED_DATA_NOT_FOUND);
    // Answering with a different amount than asked.
    const chWrong = await payee.client.challenge(500n, NOW_MS);
    const vWrong = await payer.client.pay({ ...chWrong, amountFen: 400n });
    await refused(payee, payee.client.accept(payer.cert, vWrong), SW.WRONG_DATA);
    const ch = await payee.client.challenge(500n, NOW_MS);
    // A voucher whose signature is not the payer's (a tampered card).
    const forged = signVoucher({ ...(await payer.client.pay(ch)) }, generateSecretKey());
    await refused(payee, payee.client.accept(payer.cert, forged), SW.SECURITY_STATUS);
    // A certificate from a bank the payee does not trust.
    const rogueBank = generateSecretKey();
    const foreignCert = signCertificate({ ...payer.cert, bank: 'bank-x' }, rogueBank);
    await refused(payee, payee.client.checkPayer(foreignCert, NOW_MS), SW.SECURITY_STATUS);
    // The genuine voucher then pays, once; another payer's voucher for the used nonce is 6A88.
    const good = await payer.client.pay(ch);
    await payee.client.accept(payer.cert, good);
    const payer2 = await loaded(60_000n);
    await refused(payee, payee.client.accept(payer2.cert, await payer2.client.pay(ch)), SW.REFERENCED_DATA_NOT_FOUND);
    // Over the payee's balance cap: refused at CHALLENGE, and at ACCEPT when two open challenges together pass it.
    await payOnce(payer, payee, 20_000n);
    expect(payee.applet.committed.balanceFen).toBe(20_500n);
    await refused(payee, payee.client.challenge(9_501n, NOW_MS), SW.OVER_BALANCE_CAP);
    const a = await payee.client.challenge(9_000n, NOW_MS);
    const b = await payee.client.challenge(9_000n, NOW_MS);
    await payee.client.accept(payer.cert, await payer.client.pay(a));
    await refused(payee, payee.client.accept(payer2.cert, await payer2.client.pay(b)), SW.OVER_BALANCE_CAP);
    expect(payee.applet.committed.balanceFen).toBe(29_500n);
    expect(payer.applet.committed.balanceFen).toBe(60_000n - 100n - 400n - 500n - 20_000n - 9_000n);
  });

  it('a payee that holds its bank revocation list refuses a revoked payer (CHECK PAYER and ACCEPT 9106); an older list is 9105', async () => {
    const payer = await loaded(60_000n);
    const payee = await makeCard('bank-b');
    const ch = await payee.client.challenge(1_000n, NOW_MS);
    const v = await payer.client.pay(ch);
    await payee.client.installRevocationList(revocationList('bank-a', 2n, [payer.cert.serial, 999n]));
    await refused(payee, payee.client.checkPayer(payer.cert, NOW_MS), SW.REVOKED);
    await refused(payee, payee.client.accept(payer.cert, v), SW.REVOKED);
    await refused(payee, payee.client.installRevocationList(revocationList('bank-a', 1n, [])), SW.COUNTER_MISMATCH);
    await refused(payee, payee.client.installRevocationList({ ...revocationList('bank-a', 3n, []), serials: [5n] }), SW.SECURITY_STATUS);
    // The revoked card itself stops paying once it holds the list.
    await payer.client.installRevocationList(revocationList('bank-a', 2n, [payer.cert.serial]));
    expect((await payer.client.status()).selfRevoked).toBe(true);
    await refused(payer, payer.client.pay(await payee.client.challenge(1n, NOW_MS)), SW.REVOKED);
  });
});

describe('export log and sync', () => {
  it('exports every unsynced voucher in order; a sync drops what the bank holds and never goes back or ahead', async () => {
    const payer = await loaded(60_000n, { paymentsBeforeSync: 10 });
    const payee = await makeCard('bank-b');
    for (let i = 0; i < 6; i++) await payOnce(payer, payee, 1_000n + BigInt(i));
    const log = await payer.client.exportLog();
    expect(log.map((v) => v.counter)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    let prev = null as Parameters<typeof chainBreak>[0];
    for (const v of log) {
      expect(chainBreak(prev, v)).toBeNull();
      verifyVoucher(v, payer.cert);
      prev = { hash: voucherHash(v), counter: v.counter, device: v.device, balanceAfterFen: v.balanceAfterFen };
    }
    // The payee keeps each payer's voucher with its certificate until its own sync.
    const received = await payee.client.exportReceived();
    expect(received.map((r) => r.voucher)).toEqual(log.slice(1));
    expect(received.every((r) => r.cert.serial === payer.cert.serial)).toBe(true);
    const payeeLog = await payee.client.exportLog();
    await payee.client.sync(authorise(payee, 'sync', 0n, 4n));
    expect((await payee.client.exportReceived()).map((r) => r.voucher)).toEqual(log.slice(5));
    expect(payeeLog.length).toBe(6);
    await refused(payer, payer.client.sync(authorise(payer, 'sync', 0n, 8n)), SW.COUNTER_MISMATCH);
    await payer.client.sync(authorise(payer, 'sync', 0n, 4n));
    expect((await payer.client.status()).paymentsSinceSync).toBe(3);
    expect((await payer.client.exportLog()).map((v) => v.counter)).toEqual([5n, 6n, 7n]);
    await refused(payer, payer.client.sync(authorise(payer, 'sync', 0n, 3n)), SW.COUNTER_MISMATCH);
    await payer.client.sync(authorise(payer, 'sync', 0n, 7n));
    expect(await payer.client.exportLog()).toEqual([]);
    const st = await payer.client.status();
    expect([st.counter, st.syncedCounter, st.paymentsSinceSync, st.logCount]).toEqual([7n, 7n, 0, 0]);
  });

  it('EXPORT LOG pages through a long log in several responses', async () => {
    const payer = await loaded(100_000n, { paymentsBeforeSync: 40, paymentCapFen: 100_000n });
    const payee = await makeCard('bank-b', { balanceCapFen: 10_000_000n, paymentCapFen: 100_000n });
    for (let i = 0; i < 30; i++) await payOnce(payer, payee, 10n);
    const log = await payee.client.exportLog();
    expect(log.length).toBe(30);
    expect(log.every((v, i) => v.counter === BigInt(i + 1) && v.type === 'receive')).toBe(true);
  });
});

describe('bad responses from a card', () => {
  it('a response without a status word is a coded error', () => {
    let code = '';
    try {
      parseResponseApdu(Buffer.from([0x90]));
    } catch (e) {
      if (isCbdcError(e)) code = e.code;
    }
    expect(code).toBe('CBDC_ERR_OFFLINE_REFUSED');
  });
});
