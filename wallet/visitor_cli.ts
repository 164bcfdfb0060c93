// cbdc-wallet's commands for a visitor (tier 5) wallet: top up from a foreign card, convert
// back to it on exit, read the FX ledger and the bank's FX table. The wallet is opened with
// `cbdc-wallet open-account --tier 5 --passport … --nationality … --valid-until …`.
//
// Foreign amounts are written as people write them in that currency ("100.00" USD, "5000"
// JPY): the bank's FX table (GET /v1/visitors/fx) says how many decimals each currency has.
import type { Command } from 'commander';
import { formatYuan } from '../protocol/amount.js';
import type { FxLineJson, VisitorFxJson } from './client.js';
import type { Wallet } from './wallet.js';
import { newIdempotencyKey } from './wallet.js';
import { formatTime } from './format.js';

/** What cli.ts lends these commands. */
export interface VisitorCliKit {
  emit(obj: Record<string, unknown>, human: string | string[]): void;
  openAccountWallet(cmd: Command): Promise<Wallet>;
  amountArg(text: string | undefined, what?: string): bigint;
  checkKeyArg(key: string): string;
  usage(message: string, code?: string): Error;
  /** Sets the retry hint printed with a failure that may be retried with the same key. */
  retryHint(hint: string): void;
}

/** "100.00" in a currency of `exponent` decimals -> minor units (10000). */
export function minorArg(kit: VisitorCliKit, text: string, currency: string, exponent: number): bigint {
  const re = exponent === 0 ? /^(0|[1-9][0-9]{0,14})$/ : new RegExp(`^(0|[1-9][0-9]{0,14})(\\.[0-9]{1,${exponent}})?$`);
  const m = re.exec(text);
  if (m === null) throw kit.usage(`the amount in ${currency} is written like ${exponent === 0 ? '5000' : `100.${'0'.repeat(exponent)}`} (got "${text.slice(0, 24)}")`, 'CBDC_ERR_AMOUNT_FORMAT');
  const frac = (m[2] ?? '.').slice(1).padEnd(exponent, '0');
  const minor = BigInt(m[1]! + frac);
  if (minor === 0n) throw kit.usage('the amount must be more than 0', 'CBDC_ERR_AMOUNT_RANGE');
  return minor;
}

/** Minor units -> "100.00" in a currency of `exponent` decimals. */
export function formatMinor(minor: string | bigint, exponent: number): string {
  const s = BigInt(minor).toString().padStart(exponent + 1, '0');
  return exponent === 0 ? s : `${s.slice(0, -exponent)}.${s.slice(-exponent)}`;
}

function currencyArg(kit: VisitorCliKit, text: string): string {
  if (!/^[A-Z]{3}$/.test(text)) throw kit.usage(`--currency is a three-letter ISO 4217 code like USD (got "${text.slice(0, 10)}")`, 'CBDC_ERR_FX_CURRENCY');
  return text;
}

function exponentOf(kit: VisitorCliKit, fx: VisitorFxJson, currency: string): number {
  const c = fx.currencies.find((x) => x.currency === currency);
  if (c === undefined) throw kit.usage(`the bank converts ${fx.currencies.map((x) => x.currency).join(', ')}; not ${currency}`, 'CBDC_ERR_FX_CURRENCY');
  return c.exponent;
}

function lineText(l: FxLineJson, exponent: number | undefined): string {
  const foreign = exponent === undefined ? `${l.amount_minor} minor units` : formatMinor(l.amount_minor, exponent);
  const what = l.kind === 'top-up' ? `card ${l.card_last4} -> wallet` : l.kind === 'convert-back' ? `deposit -> card ${l.card_last4}` : `top-up given back to card ${l.card_last4}`;
  return `#${l.seq}  ${formatTime(l.at_ms)}  ${l.direction === 'in' ? 'in ' : 'out'}  ${foreign} ${l.currency} = ${formatYuan(BigInt(l.amount_fen))} yuan (fee ${formatYuan(BigInt(l.fee_fen))})  ${what}  ${l.acquirer_ref}`;
}

export function registerVisitorCommands(program: Command, kit: VisitorCliKit): void {
  const visitor = program.command('visitor').description('a visitor (tier 5) wallet: top up from a foreign card, convert back on exit, the FX ledger');

  visitor.command('fx')
    .description("the bank's exchange table for visitor wallets: rates, fee, and the test cards its acquirer declines")
    .action(async (_o: unknown, cmd: Command) => {
      const w = await kit.openAccountWallet(cmd);
      const fx = await w.client().visitorFx();
      kit.emit({ ...fx }, [
        `fee ${(fx.fee_bps / 100).toFixed(2)}% on each conversion`,
        ...fx.currencies.map((c) => `${c.currency}  ${c.rate_fen} fen per ${c.rate_minor} minor units (${c.exponent} decimals)`),
      ]);
    });

  visitor.command('top-up')
    .description('charge a foreign card and receive the yuan in the wallet (at the rate, less the fee, rounded down to the fen)')
    .argument('<amount>', 'in the card currency, like 100.00')
    .requiredOption('--currency <code>', 'the card currency, e.g. USD')
    .requiredOption('--card <number>', 'the card number (12 to 19 digits); the bank keeps only its last four')
    .requiredOption('--expiry <MM/YY>', 'the card expiry, e.g. 12/28')
    .option('--idempotency-key <key>', 'reuse the key of an earlier attempt to retry it safely (it charges once)')
    .action(async (amountText: string, o: { currency: string; card: string; expiry: string; idempotencyKey?: string }, cmd: Command) => {
      const currency = currencyArg(kit, o.currency);
      if (!/^[0-9]{12,19}$/.test(o.card)) throw kit.usage('--card is the card number: 12 to 19 digits, no spaces', 'CBDC_ERR_CARD_FORMAT');
      if (!/^(0[1-9]|1[0-2])\/[0-9]{2}$/.test(o.expiry)) throw kit.usage('--expiry is MM/YY, like 12/28', 'CBDC_ERR_CARD_FORMAT');
      const key = o.idempotencyKey !== undefined ? kit.checkKeyArg(o.idempotencyKey) : newIdempotencyKey();
      // The card number is not repeated in the hint: the person has it.
      kit.retryHint(` — to retry safely (it charges at most once): cbdc-wallet visitor top-up ${amountText} --currency ${currency} --card … --expiry ${o.expiry} --idempotency-key ${key}`);
      const w = await kit.openAccountWallet(cmd);
      const fx = await w.client().visitorFx();
      const exponent = exponentOf(kit, fx, currency);
      const amountMinor = minorArg(kit, amountText, currency, exponent);
      const r = await w.visitorTopUp({ card: { number: o.card, expiry: o.expiry }, currency, amountMinor, idempotencyKey: key });
      const l = r.fx_line;
      kit.emit({ status: r.status, replayed: r.replayed, idempotency_key: key, fx_line: l, balance_fen: r.account.balance_fen, deposit_fen: r.account.deposit_fen }, [
        `${r.replayed ? 'already topped up (same idempotency key; nothing charged again)' : 'topped up'} ${formatMinor(l.amount_minor, exponent)} ${currency} from card ${l.card_last4}: ${formatYuan(BigInt(l.amount_fen))} yuan into your wallet (rate ${l.rate} fen, fee ${formatYuan(BigInt(l.fee_fen))} yuan)`,
        `wallet ${formatYuan(BigInt(r.account.balance_fen))} · ${r.status} · acquirer ${l.acquirer_ref} · key ${key}`,
      ]);
    });

  visitor.command('convert-back')
    .description('move yuan from the wallet to your deposit and have it refunded to your card in its currency (at the rate plus the fee)')
    .argument('<amount>', 'in yuan, like 50.00')
    .requiredOption('--currency <code>', 'the card currency, e.g. USD')
    .option('--idempotency-key <key>', 'reuse the key of an earlier attempt to retry it safely (it moves and refunds once)')
    .action(async (amountText: string, o: { currency: string; idempotencyKey?: string }, cmd: Command) => {
      const currency = currencyArg(kit, o.currency);
      const amountFen = kit.amountArg(amountText);
      const key = o.idempotencyKey !== undefined ? kit.checkKeyArg(o.idempotencyKey) : newIdempotencyKey();
      kit.retryHint(` — to retry safely: cbdc-wallet visitor convert-back ${amountText} --currency ${currency} --idempotency-key ${key}`);
      const w = await kit.openAccountWallet(cmd);
      const fx = await w.client().visitorFx();
      const exponent = exponentOf(kit, fx, currency);
      const { moved, answer } = await w.visitorConvertBack({ amountFen, currency, idempotencyKey: key });
      const l = answer.fx_line;
      kit.emit({ status: answer.status, replayed: answer.replayed, idempotency_key: key, payment: moved, fx_line: l, balance_fen: answer.account.balance_fen, deposit_fen: answer.account.deposit_fen }, [
        `${answer.replayed ? 'already converted (same idempotency key; nothing refunded again)' : 'converted back'} ${formatYuan(BigInt(l.amount_fen))} yuan: ${formatMinor(l.amount_minor, exponent)} ${currency} refunded to card ${l.card_last4} (rate ${l.rate} fen, fee ${formatYuan(BigInt(l.fee_fen))} yuan)`,
        `wallet ${formatYuan(BigInt(answer.account.balance_fen))} · deposit ${formatYuan(BigInt(answer.account.deposit_fen))} · acquirer ${l.acquirer_ref} · key ${key}`,
      ]);
    });

  visitor.command('fx-ledger')
    .description("the wallet's FX ledger: every top-up and conversion back, oldest first")
    .action(async (_o: unknown, cmd: Command) => {
      const w = await kit.openAccountWallet(cmd);
      const [fx, lines] = await Promise.all([w.client().visitorFx(), w.visitorFxLedger()]);
      const exp = new Map(fx.currencies.map((c) => [c.currency, c.exponent]));
      if (lines.length === 0) kit.emit({ lines: [] }, '(no FX lines)');
      else for (const l of lines) kit.emit({ ...l }, lineText(l, exp.get(l.currency)));
    });
}
