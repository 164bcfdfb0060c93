// Power-offs: a card dropped at every file-system step of a command's commit, and between
// every pair of APDUs, then opened again from what is on disk. Value is neither lost nor
// duplicated. And a cloned card: two copies of one state paying two payees.
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { isCbdcError } from '../protocol/errors.js';
import { AtomicFileOps, nodeFileOps } from '../platform/atomic_file.js';
import { Applet } from './applet.js';
import { FileAppletStore, STATE_FILE_NAME } from './applet_store.js';
import { CardClient, localChannel } from './card_client.js';
import { CardRefusal, SW } from './apdu.js';
import { Voucher, verifyVoucher, voucherHash } from './voucher.js';
import { verifyCertificate } from './certificate.js';
import { BANK_KEY_SET, NOW_MS, TestCard, authorise, makeCard, revocationList } from '../test/helpers/offline_fixture.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cbdc-applet-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => path.join(root, `card-${dirs++}`);

class PowerCut extends Error {}

/** File operations that lose power at the `cutAt`-th call: it and every later call fail. */
function cuttingOps(cutAt: number): AtomicFileOps & { calls: number } {
  let dead = false;
  const ops = { calls: 0 } as AtomicFileOps & { calls: number };
  for (const name of Object.keys(nodeFileOps) as (keyof AtomicFileOps)[]) {
    (ops as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      if (dead || ops.calls++ === cutAt) {
        dead = true;
        throw new PowerCut(`power cut at ${name}`);
      }
      return (nodeFileOps[name] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return ops;
}

function reopen(dir: string, ops?: AtomicFileOps): TestCard & { dir: string } {
  const store = new FileAppletStore(dir, ops);
  const applet = Applet.open(store);
  const client = new CardClient(localChannel(applet));
  return { applet, client, cert: applet.committed.cert!, store, dir };
}

function copyCard(from: string): string {
  const to = freshDir();
  fs.mkdirSync(to);
  fs.copyFileSync(path.join(from, STATE_FILE_NAME), path.join(to, STATE_FILE_NAME));
  return to;
}

async function loadedFileCard(amount: bigint, caps = {}): Promise<string> {
  const dir = freshDir();
  const card = await makeCard('bank-a', caps, new FileAppletStore(dir));
  await card.client.load(authorise(card, 'load', amount));
  return dir;
}

describe('a PAY torn by a power-off at every step of its commit', () => {
  it('leaves the old state or the new one; asked again, the card answers the same voucher and debits once', async () => {
    const template = await loadedFileCard(60_000n);
    const payee = await makeCard('bank-b');
    let sawOld = 0;
    let sawNew = 0;
    for (let cutAt = 0; ; cutAt++) {
      const dir = copyCard(template);
      const ops = cuttingOps(cutAt);
      const card = reopen(dir, ops);
      await card.client.select();
      const ch = await payee.client.challenge(2_500n, NOW_MS);
      let first: Voucher | null = null;
      try {
        first = await card.client.pay(ch);
      } catch (e) {
        expect(e).toBeInstanceOf(CardRefusal);
        expect((e as CardRefusal).sw).toBe(SW.NO_PRECISE_DIAGNOSIS);
      }
      // Power back on: a new card instance reads what is on disk.
      const again = reopen(dir);
      const st = again.applet.committed;
      if (st.counter === 1n) {
        sawOld++;
        expect(st.balanceFen).toBe(60_000n);
      } else {
        sawNew++;
        expect([st.counter, st.balanceFen]).toEqual([2n, 57_500n]);
      }
      await again.client.select();
      const v = await again.client.pay(ch);
      if (first !== null) expect(v).toEqual(first);
      expect([again.applet.committed.counter, again.applet.committed.balanceFen]).toEqual([2n, 57_500n]);
      const before = payee.applet.committed.balanceFen;
      await payee.client.accept(again.cert, v);
      expect(payee.applet.committed.balanceFen).toBe(before + 2_500n);
      if (first !== null) {
        expect(ops.calls).toBeLessThanOrEqual(cutAt);
        break; // the commit finished before the cut: every step has been tried
      }
    }
    expect(sawOld).toBeGreaterThan(0); // cut before the rename
    expect(sawNew).toBeGreaterThan(0); // cut after the rename, before the directory fsync
  });
});

describe('an ACCEPT torn at every step of its commit', () => {
  it('credits once: asked again with the same voucher, the payee answers the same receipt', async () => {
    const payerDir = await loadedFileCard(60_000n, { paymentsBeforeSync: 50 });
    const payer = reopen(payerDir);
    await payer.client.select();
    const payeeTemplate = freshDir();
    const payee0 = await makeCard('bank-b', {}, new FileAppletStore(payeeTemplate));
    for (let cutAt = 0; ; cutAt++) {
      // Each round: a fresh copy of the payee with one open challenge, and a voucher for it.
      const ch = await payee0.client.challenge(700n, NOW_MS);
      const dir = copyCard(payeeTemplate);
      const v = await payer.client.pay(ch);
      const ops = cuttingOps(cutAt);
      const torn = reopen(dir, ops);
      await torn.client.select();
      const base = torn.applet.committed.balanceFen;
      let done = true;
      try {
        await torn.client.accept(payer.cert, v);
      } catch (e) {
        expect((e as CardRefusal).sw).toBe(SW.NO_PRECISE_DIAGNOSIS);
        done = false;
      }
      const again = reopen(dir);
      await again.client.select();
      const receipt = await again.client.accept(payer.cert, v);
      expect(receipt.type === 'receive' && receipt.payerVoucherHash.equals(voucherHash(v))).toBe(true);
      expect(again.applet.committed.balanceFen).toBe(base + 700n);
      expect(again.applet.committed.log.filter((r) => r.type === 'receive' && r.payerVoucherHash.equals(voucherHash(v))).length).toBe(1);
      expect(receipt.type).toBe('receive');
      if (done) break;
      // The template keeps the challenge open; the next round uses a new one.
    }
  });
});

describe('power-offs between APDUs', () => {
  it('a whole payment with both cards powered off and reopened between every command', async () => {
    const payerDir = await loadedFileCard(60_000n);
    const payeeDir = freshDir();
    await makeCard('bank-b', {}, new FileAppletStore(payeeDir));
    const step = async <T>(dir: string, f: (c: CardClient) => Promise<T>): Promise<T> => {
      const card = reopen(dir);
      await card.client.select();
      return f(card.client);
    };
    const ch = await step(payeeDir, (c) => c.challenge(4_000n, NOW_MS));
    const cert = await step(payerDir, (c) => c.certificate());
    await step(payeeDir, (c) => c.checkPayer(cert, NOW_MS));
    const v = await step(payerDir, (c) => c.pay(ch));
    await step(payeeDir, (c) => c.accept(cert, v));
    expect(reopen(payerDir).applet.committed.balanceFen).toBe(56_000n);
    expect(reopen(payeeDir).applet.committed.balanceFen).toBe(4_000n);
  });

  it('a damaged state file is refused with CBDC_ERR_OFFLINE_STORE, never half-read', async () => {
    const dir = await loadedFileCard(1_000n);
    const file = path.join(dir, STATE_FILE_NAME);
    const bytes = fs.readFileSync(file);
    const flipped = Buffer.from(bytes);
    const mid = Math.floor(bytes.length / 2);
    flipped[mid] = flipped[mid]! ^ 0x01;
    for (const damaged of [flipped, bytes.subarray(0, bytes.length - 10), Buffer.from('{}')]) {
      fs.writeFileSync(file, damaged);
      let code = '';
      try {
        reopen(dir);
      } catch (e) {
        if (isCbdcError(e)) code = e.code;
      }
      expect(code).toBe('CBDC_ERR_OFFLINE_STORE');
    }
  });
});

describe('a cloned card', () => {
  it('pays two payees from one balance: both vouchers verify offline, they share a counter and a previous hash, and the loss is at most the caps', async () => {
    const originalDir = await loadedFileCard(60_000n);
    const cloneDir = copyCard(originalDir); // the whole secure element read out and copied
    const original = reopen(originalDir);
    const clone = reopen(cloneDir);
    const payee1 = await makeCard('bank-b');
    const payee2 = await makeCard('bank-a');
    const spend = async (payer: TestCard, payee: TestCard, amount: bigint): Promise<Voucher[]> => {
      await payer.client.select();
      const out: Voucher[] = [];
      for (;;) {
        const ch = await payee.client.challenge(amount, NOW_MS);
        try {
          await payee.client.checkPayer(payer.cert, NOW_MS);
          const v = await payer.client.pay(ch);
          await payee.client.accept(payer.cert, v);
          out.push(v);
        } catch (e) {
          expect(e).toBeInstanceOf(CardRefusal);
          return out; // the card refuses at its balance or caps
        }
      }
    };
    const spent1 = await spend(original, payee1, 20_000n);
    const spent2 = await spend(clone, payee2, 20_000n);
    // Each payee, offline, sees nothing wrong: certificate and vouchers verify.
    for (const v of [...spent1, ...spent2]) {
      verifyCertificate(original.cert, BANK_KEY_SET, NOW_MS);
      verifyVoucher(v, original.cert);
    }
    // The evidence a bank finds when both payees upload: one device, one counter, two vouchers.
    const byCounter = new Map<bigint, Voucher[]>();
    for (const v of [...spent1, ...spent2]) byCounter.set(v.counter, [...(byCounter.get(v.counter) ?? []), v]);
    const conflicts = [...byCounter.values()].filter((vs) => vs.length > 1);
    expect(conflicts.length).toBe(3);
    for (const [a, b] of conflicts as [Voucher, Voucher][]) {
      expect(a.device).toEqual(b.device);
      expect(voucherHash(a).equals(voucherHash(b))).toBe(false);
    }
    // The fork: the first two conflicting vouchers name the same previous voucher.
    const [first1, first2] = conflicts[0] as [Voucher, Voucher];
    expect(first1.counter).toBe(2n);
    expect(first1.prevHash).toEqual(first2.prevHash);
    // The loss: spent beyond what was loaded, bounded by the balance cap (one copy's worth).
    const total = (vs: Voucher[]) => vs.reduce((s, v) => s + v.amountFen, 0n);
    const loss = total(spent1) + total(spent2) - 60_000n;
    expect(loss).toBe(60_000n);
    expect(loss).toBeLessThanOrEqual(original.cert.balanceCapFen);
    expect(loss).toBeLessThanOrEqual(original.cert.paymentCapFen * BigInt(original.cert.paymentsBeforeSync));
    // Revoked at reconciliation; payees that sync get the list and refuse both copies.
    const list = revocationList('bank-a', 1n, [original.cert.serial]);
    await payee1.client.installRevocationList(list);
    await payee2.client.installRevocationList(list);
    for (const [payer, payee] of [[original, payee1], [clone, payee2], [clone, payee1]] as const) {
      const before = payee.applet.committed.balanceFen;
      await expect(payee.client.checkPayer(payer.cert, NOW_MS)).rejects.toSatisfy((e: unknown) => e instanceof CardRefusal && e.sw === SW.REVOKED);
      expect(payee.applet.committed.balanceFen).toBe(before);
    }
  });
});
