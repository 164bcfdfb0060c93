// The whole stack: nfc-pcsc -> pcscd -> vpcd -> the emulated applet. pcscd is started here
// when it is not running (and stopped after); the virtual reader is locked for this file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { Applet } from './applet.js';
import { FileAppletStore } from './applet_store.js';
import { CardClient } from './card_client.js';
import { CardRefusal, INS, SW } from './apdu.js';
import { PcscStack, acquirePcscStack } from './pcsc_stack.js';
import { PcscReader, receiveOnReader } from './terminal.js';
import { VirtualCard, VpcdCardHandle, serveCardOverVpcd } from './vpcd_card.js';
import { chainBreak, verifyVoucher, voucherHash } from './voucher.js';
import { BANK_KEY_SET, NOW_MS, TestCard, authorise, digest, makeCard, revocationList } from '../test/helpers/offline_fixture.js';

let stack: PcscStack;
let reader: PcscReader;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cbdc-pcsc-'));

beforeAll(async () => {
  stack = await acquirePcscStack();
  reader = await PcscReader.open({ timeoutMs: 20_000 });
}, 150_000);

afterAll(async () => {
  reader?.close();
  await stack?.release();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Taps a card: serves it through vpcd until the returned handle is closed. */
async function tap(card: VirtualCard, errors: unknown[] = []): Promise<VpcdCardHandle> {
  const h = serveCardOverVpcd(card, { onError: (e) => errors.push(e) });
  await h.connected;
  return {
    connected: h.connected,
    close: async () => {
      await h.close();
      await reader.waitForRemoval(20_000);
    },
  };
}

describe('an offline payment through nfc-pcsc, pcscd and vpcd', () => {
  it('the payer card on the reader pays the payee device; both logs hold chained, verifiable vouchers', async () => {
    const payer = await makeCard('bank-a', { paymentsBeforeSync: 5 }, new FileAppletStore(path.join(root, 'payer')));
    await payer.client.load(authorise(payer, 'load', 50_000n));
    const payee = await makeCard('bank-b');
    const errors: unknown[] = [];
    const card = await tap(payer.applet, errors);
    try {
      const r1 = await receiveOnReader({ reader, payee: payee.client, amountFen: 12_345n, nowMs: NOW_MS, trust: BANK_KEY_SET, timeoutMs: 20_000 });
      const r2 = await receiveOnReader({ reader, payee: payee.client, amountFen: 655n, nowMs: NOW_MS, trust: BANK_KEY_SET, timeoutMs: 20_000 });
      expect(r1.payVoucher).toMatchObject({ type: 'pay', counter: 2n, amountFen: 12_345n, balanceAfterFen: 37_655n });
      expect(r2.payVoucher).toMatchObject({ type: 'pay', counter: 3n, amountFen: 655n, balanceAfterFen: 37_000n });
      expect(r2.payVoucher.prevHash).toEqual(voucherHash(r1.payVoucher));
      expect(r1.receiveVoucher).toMatchObject({ type: 'receive', counter: 1n, amountFen: 12_345n });
      expect(payer.applet.committed.balanceFen).toBe(37_000n);
      expect(payee.applet.committed.balanceFen).toBe(13_000n);

      // What each device uploads at its next sync, read over the reader for the payer.
      const payerOverPcsc = new CardClient(await reader.waitForCard());
      await payerOverPcsc.select();
      const payerLog = await payerOverPcsc.exportLog();
      expect(payerLog.map((v) => [v.type, v.counter])).toEqual([['load', 1n], ['pay', 2n], ['pay', 3n]]);
      let prev = null as Parameters<typeof chainBreak>[0];
      for (const v of payerLog) {
        expect(chainBreak(prev, v)).toBeNull();
        verifyVoucher(v, payer.cert);
        prev = { hash: voucherHash(v), counter: v.counter, device: v.device, balanceAfterFen: v.balanceAfterFen };
      }
      const payeeLog = await payee.client.exportLog();
      expect(payeeLog.map((v) => (v.type === 'receive' ? v.payerVoucherHash : null))).toEqual([voucherHash(r1.payVoucher), voucherHash(r2.payVoucher)]);

      // A bank authorisation over PC/SC too (a load, and a sync of what was exported).
      await payerOverPcsc.load(authorise(payer, 'load', 1_000n));
      await payerOverPcsc.sync(authorise(payer, 'sync', 0n, 4n));
      expect((await payerOverPcsc.status()).logCount).toBe(0);
      expect(payer.applet.committed.balanceFen).toBe(38_000n);

      // The state the payer's card persisted is what a fresh power-on reads.
      expect(Applet.open(new FileAppletStore(path.join(root, 'payer'))).committed.balanceFen).toBe(38_000n);
    } finally {
      await card.close();
    }
    expect(errors).toEqual([]);
  });

  it('refusals over the reader: over the per-payment cap (9102) and a revoked payer (9106) debit nothing', async () => {
    const payer = await makeCard('bank-a', { paymentCapFen: 5_000n });
    await payer.client.load(authorise(payer, 'load', 50_000n));
    const payee = await makeCard('bank-b');
    const card = await tap(payer.applet);
    try {
      const before = [digest(payer), payee.applet.committed.balanceFen];
      await expect(receiveOnReader({ reader, payee: payee.client, amountFen: 5_001n, nowMs: NOW_MS, timeoutMs: 20_000 })).rejects.toSatisfy(
        (e: unknown) => e instanceof CardRefusal && e.sw === SW.OVER_PAYMENT_CAP,
      );
      await payee.client.installRevocationList(revocationList('bank-a', 1n, [payer.cert.serial]));
      await expect(receiveOnReader({ reader, payee: payee.client, amountFen: 100n, nowMs: NOW_MS, timeoutMs: 20_000 })).rejects.toSatisfy(
        (e: unknown) => e instanceof CardRefusal && e.sw === SW.REVOKED,
      );
      expect([digest(payer), payee.applet.committed.balanceFen]).toEqual(before);
    } finally {
      await card.close();
    }
  });

  it('a card lifted during PAY (after it debited, before its answer arrived) is tapped again and pays once', async () => {
    const payer: TestCard = await makeCard('bank-a');
    await payer.client.load(authorise(payer, 'load', 50_000n));
    const payee = await makeCard('bank-b');
    let handle: VpcdCardHandle | null = null;
    let lifted = false;
    // The card commits PAY, then leaves the field before its response goes out.
    const flaky: VirtualCard = {
      reset: () => payer.applet.reset(),
      process: (cmd) => {
        const response = payer.applet.process(cmd);
        if (!lifted && cmd[1] === INS.PAY) {
          lifted = true;
          void handle!.close();
          return Buffer.from([0x6f, 0x00]); // never delivered: the connection is closing
        }
        return response;
      },
    };
    const errors: unknown[] = [];
    handle = serveCardOverVpcd(flaky, { onError: (e) => errors.push(e) });
    await handle.connected;
    const paying = receiveOnReader({ reader, payee: payee.client, amountFen: 3_000n, nowMs: NOW_MS, timeoutMs: 20_000 });
    // Tap again once the first tap is gone.
    while (!lifted) await new Promise((r) => setTimeout(r, 20));
    await reader.waitForRemoval(20_000);
    const again = await tap(payer.applet);
    try {
      const receipt = await paying;
      expect(receipt.payVoucher.counter).toBe(2n);
      expect(payer.applet.committed.balanceFen).toBe(47_000n);
      expect(payer.applet.committed.log.filter((v) => v.type === 'pay').length).toBe(1);
      expect(payee.applet.committed.balanceFen).toBe(3_000n);
    } finally {
      await again.close();
    }
  });
});
