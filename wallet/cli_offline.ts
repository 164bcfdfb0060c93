// cbdc-wallet offline …: the wallet's offline device (an emulated secure element whose state
// lives next to the keystore, in <wallet file>.offline/, spoken to in APDUs). provision registers it with the
// bank; load and unload move money between the wallet and the device through the bank's
// offline reserve; sync uploads what it paid and took and brings back the bank's revocation
// list; status shows the device as the card and the bank see it; pay and receive move money
// between two devices with no network, over PC/SC.
import type { Command } from 'commander';
import { formatYuan } from '../protocol/amount.js';
import type { Wallet } from './wallet.js';
import { newIdempotencyKey } from './wallet.js';
import { CbdcError } from '../protocol/errors.js';
import { encodeVoucher, voucherHash } from '../offline/voucher.js';
import { NFC_INSTALL_HINT, VPCD_READER_NAME, receiveOnReader } from '../offline/terminal.js';
import { VPCD_PORT, serveCardOverVpcd } from '../offline/vpcd_card.js';
import { type LocalDevice, localDevice } from './offline_device.js';
import { OfflineWallet, type DeviceJson } from './offline_wallet.js';

/** What the main command line lends the offline commands (its output, input and keystore handling). */
export interface OfflineCliContext {
  emit(obj: Record<string, unknown>, human: string | string[]): void;
  note(line: string): void;
  openAccountWallet(cmd: Command): Promise<Wallet>;
  walletFile(cmd: Command): string;
  amountArg(text: string | undefined, what?: string): bigint;
  checkKeyArg(key: string): string;
}

function deviceLines(d: DeviceJson | null, counter: bigint, balanceFen: bigint): string[] {
  const lines = [`card: balance ${formatYuan(balanceFen)}, counter ${counter}`];
  if (d === null) return [...lines, 'not provisioned: run cbdc-wallet offline provision'];
  return [
    ...lines,
    `device ${d.serial} at the bank: ${d.status}${d.revoked_reason ? ` (${d.revoked_reason})` : ''}`,
    `  held ${formatYuan(BigInt(d.held_fen))} (loaded ${formatYuan(BigInt(d.loaded_fen))}, received ${formatYuan(BigInt(d.received_fen))}, paid ${formatYuan(BigInt(d.paid_fen))}, unloaded ${formatYuan(BigInt(d.unloaded_fen))})`,
    `  synced to counter ${d.synced_counter}; caps: balance ${formatYuan(BigInt(d.balance_cap_fen))}, per payment ${formatYuan(BigInt(d.payment_cap_fen))}, ${d.payments_before_sync} payments between syncs`,
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function seconds(text: string, what: string): number {
  if (!/^[0-9]{1,4}$/.test(text) || Number(text) < 1) throw new CbdcError('CBDC_ERR_SCHEMA', `${what} is a whole number of seconds from 1 to 9999`);
  return Number(text);
}

export function registerOfflineCommands(program: Command, ctx: OfflineCliContext): void {
  const offline = program.command('offline').description("the wallet's offline device: load it, pay and receive with no network, sync with the bank");

  const open = async (cmd: Command): Promise<{ ow: OfflineWallet; card: LocalDevice }> => {
    const w = await ctx.openAccountWallet(cmd);
    let ow: OfflineWallet | null = null;
    const card = localDevice(ctx.walletFile(cmd), () => ow!.trust());
    ow = new OfflineWallet(w, card.card);
    return { ow, card };
  };

  offline.command('provision')
    .description("make this wallet's offline device: its key is made inside it, the bank certifies it with caps")
    .option('--balance-cap <yuan>', 'the most the device may hold (the bank may allow less)')
    .option('--payment-cap <yuan>', 'the most one offline payment may be')
    .action(async (o: { balanceCap?: string; paymentCap?: string }, cmd: Command) => {
      const caps = {
        ...(o.balanceCap !== undefined ? { balanceCapFen: ctx.amountArg(o.balanceCap, 'balance cap') } : {}),
        ...(o.paymentCap !== undefined ? { paymentCapFen: ctx.amountArg(o.paymentCap, 'payment cap') } : {}),
      };
      const { ow, card } = await open(cmd);
      const d = await ow.provision(caps);
      ctx.emit({ device: d, dir: card.dir }, [`device ${d.serial} certified by ${ow.wallet.account.bank_id}`, ...deviceLines(d, 0n, 0n).slice(1), `state in ${card.dir}`]);
    });

  // load and unload: the same arguments, one moving money onto the device, the other off it.
  const move = (name: 'load' | 'unload', description: string, run: (ow: OfflineWallet, amountFen: bigint, key: string) => Promise<{ obj: Record<string, unknown>; human: string | string[] }>): void => {
    offline.command(name)
      .description(description)
      .argument('<amount>', 'in yuan, like 100.00')
      .option('--idempotency-key <key>', 'reuse the key of an earlier attempt to retry it safely')
      .action(async (amountText: string, o: { idempotencyKey?: string }, cmd: Command) => {
        const amountFen = ctx.amountArg(amountText);
        const key = o.idempotencyKey !== undefined ? ctx.checkKeyArg(o.idempotencyKey) : newIdempotencyKey();
        const { ow } = await open(cmd);
        const r = await run(ow, amountFen, key);
        ctx.emit({ ...r.obj, idempotency_key: key }, r.human);
      });
  };
  move('load', 'move money from your wallet onto the device (through the bank offline reserve)', async (ow, amountFen, key) => {
    const r = await ow.load(amountFen, key);
    return {
      obj: { payment: r.payment, authorisation: r.authorisation, balance_fen: r.balanceFen.toString() },
      human: [`loaded ${formatYuan(amountFen)} onto the device: it holds ${formatYuan(r.balanceFen)}`, `payment ${r.payment.id} · txid ${r.payment.txid} · key ${key}`],
    };
  });
  move('unload', 'move money from the device back to your wallet', async (ow, amountFen, key) => {
    const r = await ow.unload(amountFen, key);
    return {
      obj: { authorisation: r.authorisation, balance_fen: r.balanceFen.toString(), device: r.sync.device },
      human: `unloaded ${formatYuan(amountFen)} from the device to your wallet: the device holds ${formatYuan(r.balanceFen)}`,
    };
  });

  offline.command('sync')
    .description('upload what the device paid and received, and fetch the revocation list')
    .action(async (_o: unknown, cmd: Command) => {
      const { ow, card } = await open(cmd);
      const r = await ow.sync();
      const counts = new Map<string, number>();
      for (const x of r.results) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
      const refused = r.results.filter((x) => x.status === 'refused');
      ctx.emit({ results: r.results, findings: r.findings, revoked: r.revoked, device: r.device, revocation_sequence: r.revocation_sequence, balance_fen: (await card.card.balanceFen()).toString() }, [
        `synced with ${ow.wallet.account.bank_id}: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ') || 'nothing new'}; revocation list #${r.revocation_sequence}`,
        ...refused.map((x) => `  refused ${x.source} #${x.index}: ${x.message ?? ''} (${x.code ?? ''})`),
        ...r.findings.map((f) => `  double spending by device ${f.serial}: ${f.kind} at counter ${f.counter} (revoked)`),
      ]);
    });

  offline.command('pay')
    .description("tap to pay: present this device as a card on the payee's reader (through vpcd) until one payment is made")
    .option('--timeout <seconds>', 'give up after this long with no payment', '60')
    .option('--vpcd-port <port>', "vpcd's port for the reader", String(VPCD_PORT))
    .action(async (o: { timeout: string; vpcdPort: string }, cmd: Command) => {
      const timeoutMs = seconds(o.timeout, '--timeout') * 1_000;
      if (!/^[0-9]{1,5}$/.test(o.vpcdPort)) throw new CbdcError('CBDC_ERR_SCHEMA', '--vpcd-port is a port number');
      // No bank is needed: the card alone decides (its balance, caps, counter).
      const card = localDevice(ctx.walletFile(cmd));
      const cert = await card.card.certificate();
      if (cert === null) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', 'this device is not provisioned yet: run cbdc-wallet offline provision');
      const before = card.applet.committed.counter;
      const errors: Error[] = [];
      const handle = serveCardOverVpcd(card.applet, { port: Number(o.vpcdPort), onError: (e) => errors.push(e) });
      try {
        const connected = await Promise.race([handle.connected.then(() => true), sleep(Math.min(timeoutMs, 10_000)).then(() => false)]);
        if (!connected) {
          throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `vpcd is not listening on 127.0.0.1:${o.vpcdPort} (${errors.at(-1)?.message ?? 'no answer'}); ${NFC_INSTALL_HINT}`);
        }
        ctx.note(`presenting device ${card.applet.committed.cert?.serial ?? ''} on the reader (Ctrl-C to stop)…`);
        const until = Date.now() + timeoutMs;
        for (;;) {
          const s = card.applet.committed;
          const last = s.log[s.log.length - 1];
          if (s.counter > before && last !== undefined && last.type === 'pay') {
            // Leave the card on the reader a moment: the terminal may still be reading its answer.
            await sleep(300);
            ctx.emit({ voucher: encodeVoucher(last).toString('hex'), hash: voucherHash(last).toString('hex'), amount_fen: last.amountFen.toString(), counter: last.counter.toString(), payee: `${last.payee.bank}/${last.payee.serial}`, balance_fen: s.balanceFen.toString() },
              `paid ${formatYuan(last.amountFen)} offline to device ${last.payee.bank}/${last.payee.serial}: the device holds ${formatYuan(s.balanceFen)} (counter ${last.counter})`);
            return;
          }
          if (Date.now() > until) throw new CbdcError('CBDC_ERR_OFFLINE_REFUSED', `no payment was made within ${o.timeout} s (the reader refused it, or nobody asked)`);
          await sleep(50);
        }
      } finally {
        await handle.close();
      }
    });

  offline.command('receive')
    .description("be paid offline: ask for an amount and collect it from the payer's card on the NFC reader")
    .argument('<amount>', 'in yuan, like 12.34')
    .option('--timeout <seconds>', 'how long to wait for a card', '60')
    .option('--reader <name>', 'the PC/SC reader', VPCD_READER_NAME)
    .action(async (amountText: string, o: { timeout: string; reader: string }, cmd: Command) => {
      const amountFen = ctx.amountArg(amountText);
      const timeoutMs = seconds(o.timeout, '--timeout') * 1_000;
      const card = localDevice(ctx.walletFile(cmd));
      if ((await card.card.certificate()) === null) throw new CbdcError('CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', 'this device is not provisioned yet: run cbdc-wallet offline provision');
      // The device keeps the payer's voucher (and certificate) until a sync hands it to the bank.
      // Banks do not settle offline vouchers with each other yet: only payers of this device's own bank.
      const ownBank = card.applet.committed.cert!.bank;
      const r = await receiveOnReader({ payee: card.client, amountFen, timeoutMs, readerName: o.reader, payerBanks: new Set([ownBank]) });
      const payHex = encodeVoucher(r.payVoucher).toString('hex');
      const balance = await card.card.balanceFen();
      ctx.emit({ payer: `${r.payerCert.bank}/${r.payerCert.serial}`, amount_fen: amountFen.toString(), voucher: payHex, receive_counter: r.receiveVoucher.counter.toString(), balance_fen: balance.toString() },
        `received ${formatYuan(amountFen)} offline from device ${r.payerCert.bank}/${r.payerCert.serial}: this device holds ${formatYuan(balance)}; sync when online to settle it`);
    });

  offline.command('status')
    .description('the device as the card and the bank see it')
    .action(async (_o: unknown, cmd: Command) => {
      const { ow } = await open(cmd);
      const s = await ow.status();
      ctx.emit({ device: s.device, counter: s.counter.toString(), balance_fen: s.balanceFen.toString() }, deviceLines(s.device, s.counter, s.balanceFen));
    });

}
