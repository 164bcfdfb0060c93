#!/usr/bin/env node
// cbdc-wallet: the command-line wallet. One encrypted keystore file per wallet (one key, one
// account at one bank); every command that talks to the bank unlocks it with the passphrase.
//
// Exit codes (scripts may rely on them):
//   0  done
//   1  refused by the bank or the central bank: the line ends with the CBDC_ERR code
//   2  usage or input error (unknown option, malformed amount, alias, request, no account yet)
//   3  keystore error (wrong passphrase, no passphrase, missing, damaged or existing keystore)
//   4  network: the bank could not be reached (after retries)
//  70  anything else (a bug: please report it)
//
// With --json every command prints one JSON object per line on stdout; an error is one JSON
// object {"error": {"code", "message", "exit_code"}} on stderr.
import { Argument, Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { CbdcError, isCbdcError } from '../protocol/errors.js';
import { formatYuan, parseYuan } from '../protocol/amount.js';
import { DEFAULT_KDF, UnlockedKeystore, readKeystoreFile } from './keystore.js';
import { BankRefusal, type Evidence, type HistoryEntry } from './client.js';
import { ALIAS_PATTERN, type Payee, formatPaymentRequest, isPaymentRequest, parsePayee, parsePaymentRequest, payeeLabel } from './payment_request.js';
import { PaymentPending, Wallet, checkIdempotencyKey, newIdempotencyKey } from './wallet.js';
import { formatAccount, formatEntry, plainSentence, refusalLine, withYuan, yuan } from './format.js';
import { registerContractCommands } from './contracts_cli.js';
import { registerOfflineCommands } from './cli_offline.js';
import { draftFromItems, registerReceiptCommands } from './receipts_cli.js';
import { isValidTaxId } from '../protocol/receipt.js';
import { registerVisitorCommands } from './visitor_cli.js';

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, KEYSTORE: 3, NETWORK: 4, INTERNAL: 70 } as const;

/** A usage or input error the wallet finds itself (exit 2). */
class UsageError extends Error {
  constructor(message: string, readonly code: string | null = null) {
    super(message);
    this.name = 'UsageError';
  }
}

// Output piped into `head` and closed early is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const program = new Command();
// Commander's own error messages are not printed as they come: they are thrown (exitOverride)
// and reported by report() as one line with exit code 2. Set before any subcommand is made,
// so every subcommand inherits it.
program.exitOverride();
program.configureOutput({
  writeErr: (s) => {
    if (!s.startsWith('error:')) process.stderr.write(s);
  },
});

interface GlobalOpts {
  wallet?: string;
  json?: boolean;
  passphraseFile?: string;
  tlsCa?: string;
}

program
  .name('cbdc-wallet')
  .description('Command-line wallet for the two-tier digital currency: keys in an encrypted keystore, an account at a bank, payments.')
  .option('--wallet <file>', 'the keystore file (default: $CBDC_WALLET or ~/.cbdc/wallet.json)')
  .option('--json', 'machine-readable output: one JSON object per line')
  .option('--passphrase-file <file>', 'read the passphrase from this file (else $CBDC_WALLET_PASSPHRASE, else a prompt)')
  .option('--tls-ca <file>', "PEM CA certificates trusted for an https:// bank (a private CA), instead of the system's")
  .addHelpText('after', `
Exit codes: 0 ok, 1 refused by the bank or central (the CBDC_ERR code is printed),
2 usage or input error, 3 keystore error (e.g. wrong passphrase), 4 bank unreachable.

Amounts are yuan as people write them: 12.34, 12, 0.5.`);

function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals() as GlobalOpts;
}

function walletFile(g: GlobalOpts): string {
  return path.resolve(g.wallet ?? process.env.CBDC_WALLET ?? path.join(homedir(), '.cbdc', 'wallet.json'));
}

// ------------------------------------------------------------------ output

let jsonMode = process.argv.includes('--json');

function emit(obj: Record<string, unknown>, human: string | string[]): void {
  if (jsonMode) process.stdout.write(JSON.stringify(withYuan(obj)) + '\n');
  else process.stdout.write((Array.isArray(human) ? human.join('\n') : human) + '\n');
}

function note(line: string): void {
  if (!jsonMode) process.stderr.write(line + '\n');
}

// ------------------------------------------------------------------ input

function amountArg(text: string | undefined, what = 'amount'): bigint {
  if (text === undefined) throw new UsageError(`give the ${what} in yuan, like 12.34`);
  const fen = parseYuan(text);
  if (fen === 0n) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE', `the ${what} must be more than 0.00`);
  return fen;
}

function tierArg(text: string): number {
  if (!/^[1-5]$/.test(text)) throw new UsageError(`--tier is 1, 2, 3, 4 or 5 (got "${text.slice(0, 10)}")`, 'CBDC_ERR_KYC_TIER');
  return Number(text);
}

/** A visitor wallet's validity end: a date (2027-03-01, its midnight UTC), ms since the epoch, or +N days from now. */
function validUntilArg(text: string): number {
  if (/^\+[0-9]{1,3}d$/.test(text)) return Date.now() + Number(text.slice(1, -1)) * 86_400_000;
  if (/^[0-9]{10,15}$/.test(text)) return Number(text);
  const t = /^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))?$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--valid-until is a date (2027-03-01), ms since the epoch, or +DAYSd from now (got "${text.slice(0, 30)}")`, 'CBDC_ERR_VISITOR_VALIDITY');
  return t;
}

function countArg(text: string, what: string, max: number): number {
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`${what} must be a whole number from 1 to ${max}`);
  return Number(text);
}

function evidenceOf(o: { phone?: string; name?: string; idNumber?: string; linkedAccount?: string; passport?: string; nationality?: string }): Evidence {
  return {
    ...(o.passport !== undefined ? { passport_number: o.passport } : {}), ...(o.nationality !== undefined ? { nationality: o.nationality } : {}),
    ...(o.phone !== undefined ? { phone: o.phone } : {}), ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.idNumber !== undefined ? { id_number: o.idNumber } : {}), ...(o.linkedAccount !== undefined ? { linked_account: o.linkedAccount } : {}),
  };
}

/** The passphrase: --passphrase-file, else $CBDC_WALLET_PASSPHRASE, else asked (twice when creating). */
async function passphrase(g: GlobalOpts, creating: boolean): Promise<string> {
  if (g.passphraseFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(g.passphraseFile, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read the passphrase file ${g.passphraseFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return text.replace(/\r?\n$/, '');
  }
  const env = process.env.CBDC_WALLET_PASSPHRASE;
  if (env !== undefined && env !== '') return env;
  if (!process.stdin.isTTY) {
    throw new CbdcError('CBDC_ERR_KEYSTORE_PASSPHRASE', 'no passphrase: give --passphrase-file FILE, set CBDC_WALLET_PASSPHRASE, or run in a terminal to be asked');
  }
  const first = await promptHidden(creating ? 'New wallet passphrase: ' : 'Wallet passphrase: ');
  if (creating) {
    const again = await promptHidden('Repeat the passphrase: ');
    if (again !== first) throw new UsageError('the two passphrases differ; nothing was created');
  }
  return first;
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    let buf = '';
    const finish = (): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolve(buf);
          return;
        }
        if (ch === '\u0003') {
          finish();
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('');
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function openWallet(cmd: Command): Promise<Wallet> {
  const g = globals(cmd);
  const file = walletFile(g);
  readKeystoreFile(file); // a missing or malformed file is reported before asking for a passphrase
  const ca = tlsCa(g);
  const ks = UnlockedKeystore.unlock(file, await passphrase(g, false));
  return new Wallet(ks, ca === undefined ? {} : { ca });
}

/** The CA certificates of --tls-ca, read before anything else is asked. */
function tlsCa(g: GlobalOpts): Buffer | undefined {
  if (g.tlsCa === undefined) return undefined;
  let pem: Buffer;
  try {
    pem = readFileSync(g.tlsCa);
  } catch (e) {
    throw new UsageError(`--tls-ca: cannot read ${g.tlsCa} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--tls-ca: ${g.tlsCa} holds no PEM certificate`);
  return pem;
}

/** For commands that need the account: checks there is one before asking for the passphrase. */
async function openAccountWallet(cmd: Command): Promise<Wallet> {
  const file = walletFile(globals(cmd));
  if (readKeystoreFile(file).account === null) {
    throw new CbdcError('CBDC_ERR_WALLET_NO_ACCOUNT', 'this wallet has no account yet; open one with: cbdc-wallet open-account --bank URL --tier 4 --phone +86…');
  }
  return openWallet(cmd);
}

// ------------------------------------------------------------------ what each command is, for refusals

const CONTEXT: Record<string, string> = {
  init: 'wallet creation', 'open-account': 'account opening', 'upgrade-kyc': 'KYC change', balance: 'balance request',
  pay: 'payment', request: 'payment request', watch: 'notification stream', history: 'history request', set: 'alias',
  receipts: 'receipt check', verify: 'receipt check',
  exchange: 'exchange',
  'top-up': 'top-up', 'convert-back': 'conversion back', 'fx-ledger': 'FX ledger request', fx: 'FX table request',
};
let currentCommand = '';
/** Appended to errors of commands that carry an idempotency key (so a person can retry safely). */
let retryHint = '';
/** Appended when the bank says the outcome is pending at central. */
let pendingHint = '';

// ------------------------------------------------------------------ commands

program.command('init')
  .description('create a new key and its encrypted keystore')
  .addOption(new Option('--scrypt-cost <log2N>', 'scrypt cost as log2(N), 10-20 (default 15; lower is faster and weaker, for tests)').default(String(Math.log2(DEFAULT_KDF.n))))
  .action(async (o: { scryptCost: string }, cmd: Command) => {
    const g = globals(cmd);
    const file = walletFile(g);
    if (!/^[0-9]{1,2}$/.test(o.scryptCost) || Number(o.scryptCost) < 10 || Number(o.scryptCost) > 20) throw new UsageError('--scrypt-cost is a whole number from 10 to 20');
    try {
      readKeystoreFile(file);
      throw new CbdcError('CBDC_ERR_KEYSTORE_EXISTS', `a wallet already exists at ${file}; it is never overwritten`);
    } catch (e) {
      if (!(isCbdcError(e) && e.code === 'CBDC_ERR_KEYSTORE_MISSING')) throw e;
    }
    const pass = await passphrase(g, true);
    if ([...pass].length < 8) throw new UsageError('the passphrase must be at least 8 characters');
    const ks = UnlockedKeystore.create(file, pass, { kdf: { ...DEFAULT_KDF, n: 2 ** Number(o.scryptCost) } });
    emit({ wallet: file, public_key: ks.publicKeyHex }, [
      `created wallet ${file}`,
      `public key ${ks.publicKeyHex}`,
      'next: cbdc-wallet open-account --bank http://127.0.0.1:7101 --tier 4 --phone +8613800000000',
    ]);
  });

const evidenceOptions = (c: Command): Command => c
  .option('--phone <number>', 'phone number, + and 6 to 15 digits (every tier; it becomes an alias)')
  .option('--name <name>', 'full name (tiers 3 and 2)')
  .option('--id-number <id>', 'identity document number (tiers 3 and 2)')
  .option('--linked-account <account>', 'a linked bank account number (tier 2)');

evidenceOptions(program.command('open-account')
  .description('open an account at a bank with this wallet\'s key (one account per wallet)')
  .requiredOption('--bank <url>', 'the bank node URL, e.g. http://127.0.0.1:7101')
  .requiredOption('--tier <n>', 'KYC tier: 4 (phone), 3 (+ name, ID number), 2 (+ linked account); 1 is opened in person; 5 a visitor (phone, passport, nationality, validity end)'))
  .option('--merchant <mcc>', 'a merchant account with this four-digit merchant category code')
  .option('--tax-id <code>', "a merchant's tax id (18-character unified social credit code): merchants with one issue receipts")
  .option('--passport <number>', 'tier 5: the passport number (the bank keeps only a keyed hash of it)')
  .option('--nationality <code>', 'tier 5: the passport\'s issuing state, ISO 3166-1 alpha-3 (e.g. FRA)')
  .option('--valid-until <when>', 'tier 5: when the wallet stops receiving: a date (2027-03-01), ms since the epoch, or +DAYSd; at most 180 days ahead')
  .option('--region <code>', 'where the customer lives: an ISO 3166-2:CN code such as CN-GD or CN-BJ (default unknown)')
  .action(async (o: { bank: string; tier: string; merchant?: string; phone?: string; name?: string; idNumber?: string; linkedAccount?: string; passport?: string; nationality?: string; validUntil?: string }, cmd: Command) => {
    const tier = tierArg(o.tier);
    const validUntilMs = o.validUntil !== undefined ? validUntilArg(o.validUntil) : undefined;
    if (tier === 5 && validUntilMs === undefined) throw new UsageError('a visitor (tier 5) wallet needs --valid-until', 'CBDC_ERR_VISITOR_VALIDITY');
    if (tier !== 5 && (validUntilMs !== undefined || o.passport !== undefined || o.nationality !== undefined)) throw new UsageError('--passport, --nationality and --valid-until are for a visitor (tier 5) wallet', 'CBDC_ERR_KYC_EVIDENCE');
    if (!/^https?:\/\/[^/\s]+\/?$/.test(o.bank)) throw new UsageError(`--bank wants the bank node's URL, like http://127.0.0.1:7101 (got "${o.bank.slice(0, 60)}")`);
    if (o.merchant !== undefined && !/^[0-9]{4}$/.test(o.merchant)) throw new UsageError('--merchant wants a four-digit merchant category code', 'CBDC_ERR_MERCHANT_CATEGORY');
    const taxId = (o as { taxId?: string }).taxId;
    if (taxId !== undefined && o.merchant === undefined) throw new UsageError('--tax-id is for a merchant account (--merchant MCC)', 'CBDC_ERR_TAX_ID');
    if (taxId !== undefined && !isValidTaxId(taxId)) throw new UsageError('--tax-id wants an 18-character unified social credit code with a valid check character', 'CBDC_ERR_TAX_ID');
    const region = (o as { region?: string }).region;
    if (region !== undefined && !/^(CN-[A-Z]{2}|unknown)$/.test(region)) throw new UsageError('--region wants an ISO 3166-2:CN code such as CN-GD or CN-BJ', 'CBDC_ERR_REGION');
    const w = await openWallet(cmd);
    const a = await w.openAccount(o.bank, { tier, evidence: evidenceOf(o), ...(o.merchant !== undefined ? { mcc: o.merchant } : {}), ...(validUntilMs !== undefined ? { validUntilMs } : {}), ...(taxId !== undefined ? { taxId } : {}), ...(region !== undefined ? { region } : {}) });
    const acc = w.account;
    emit({ account: a, bank: acc.bank_id, bank_url: acc.bank_url, network: acc.network }, [
      `opened account ${a.id} at ${acc.bank_id} (${a.kind}, tier ${a.tier}${a.visitor ? `, visitor, valid until ${new Date(a.visitor.valid_until_ms).toISOString()}` : ''})`,
      `aliases: ${a.aliases.join(', ')}`,
      ...(a.region !== undefined && a.region !== 'unknown' ? [`region: ${a.region}`] : []),
      `recorded in ${w.keystore.file}`,
    ]);
  });

evidenceOptions(program.command('upgrade-kyc')
  .description('change the KYC tier, giving the evidence the new tier needs')
  .requiredOption('--tier <n>', 'the new tier: 4, 3 or 2'))
  .action(async (o: { tier: string; phone?: string; name?: string; idNumber?: string; linkedAccount?: string }, cmd: Command) => {
    const tier = tierArg(o.tier);
    const w = await openAccountWallet(cmd);
    const a = await w.changeTier(tier, evidenceOf(o));
    emit({ account: a }, [`account ${a.id} is now tier ${a.tier}`, ...formatAccount(a, w.account.bank_id).slice(4)]);
  });

program.command('balance')
  .description('wallet and deposit balances, limits and what is used of them')
  .action(async (_o: unknown, cmd: Command) => {
    const w = await openAccountWallet(cmd);
    const a = await w.balance();
    emit({ account: a, bank: w.account.bank_id }, formatAccount(a, w.account.bank_id));
  });

program.command('pay')
  .description('pay someone: pay <alias|account-id> <amount>, or pay "cbdc:pay?to=…&amount=…"')
  .argument('<payee>', 'an alias (+8613800000000, @handle), an account id (bank-b.0123456789ab) or a payment request string')
  .argument('[amount]', 'in yuan, like 12.34 (optional when the request names it)')
  .option('--bank <id>', "the payee's bank, when paying an alias at another bank")
  .option('--idempotency-key <key>', 'reuse the key of an earlier attempt to retry it safely (it pays once)')
  .action(async (target: string, amountText: string | undefined, o: { bank?: string; idempotencyKey?: string }, cmd: Command) => {
    let payee: Payee;
    let amountFen: bigint;
    let memo: string | undefined;
    let receipt: string | undefined;
    if (isPaymentRequest(target)) {
      const r = parsePaymentRequest(target);
      receipt = r.receipt;
      if (o.bank !== undefined && r.payee.bank !== undefined && o.bank !== r.payee.bank) throw new UsageError(`the request names bank ${r.payee.bank}, --bank says ${o.bank}`);
      payee = o.bank !== undefined && r.payee.bank === undefined ? parsePayee('alias' in r.payee ? r.payee.alias : r.payee.account, o.bank) : r.payee;
      if (amountText !== undefined) {
        const fen = amountArg(amountText);
        if (r.amountFen !== undefined && fen !== r.amountFen) throw new UsageError(`the request asks for ${formatYuan(r.amountFen)}, not ${formatYuan(fen)}`);
        amountFen = fen;
      } else {
        if (r.amountFen === undefined) throw new UsageError('the request names no amount; give it after the request');
        amountFen = r.amountFen;
      }
      memo = r.memo;
    } else {
      payee = parsePayee(target, o.bank);
      amountFen = amountArg(amountText);
    }
    const key = o.idempotencyKey !== undefined ? checkKeyArg(o.idempotencyKey) : newIdempotencyKey();
    retryHint = ` — to retry safely (it pays at most once): cbdc-wallet pay ${shellQuote(target)}${amountText !== undefined ? ` ${amountText}` : ''}${o.bank ? ` --bank ${o.bank}` : ''} --idempotency-key ${key}`;
    pendingHint = ` — to see how it ended (it pays at most once), run again: cbdc-wallet pay ${shellQuote(target)}${amountText !== undefined ? ` ${amountText}` : ''}${o.bank ? ` --bank ${o.bank}` : ''} --idempotency-key ${key}`;
    const w = await openAccountWallet(cmd);
    const { payment, replayed } = await w.pay({ payee, amountFen, idempotencyKey: key, ...(receipt !== undefined ? { receipt } : {}) });
    emit({ status: payment.status, replayed, payment, memo: memo ?? null, receipt: receipt !== undefined }, [
      `${replayed ? 'already paid (same idempotency key; nothing paid again)' : 'paid'} ${yuan(payment.amount_fen)} to ${payeeLabel(payee)}${payment.payee.account && !('account' in payee) ? ` (${payment.payee.account})` : ''}${memo ? ` — ${memo}` : ''}`,
      `payment ${payment.id} · txid ${payment.txid} · key ${key}`,
      ...(receipt !== undefined ? ['receipt: the merchant\'s bank issues it; see it with: cbdc-wallet receipts'] : []),
    ]);
  });

function checkKeyArg(key: string): string {
  try {
    return checkIdempotencyKey(key);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:.,/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

program.command('request')
  .description('print a payment request a payer can paste into "cbdc-wallet pay"')
  .argument('<amount>', 'in yuan, like 12.34')
  .option('--memo <text>', 'what it is for (shown to the payer)')
  .option('--to <alias>', 'be paid at this alias of yours instead of the account id')
  .option('--item <line>', 'a receipt line "description:quantity:unit_price_fen:tax_rate_bp" (repeatable; a merchant with a tax id): the request carries the receipt draft, signed by this wallet', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--merchant-name <name>', 'the trade name printed on the receipt')
  .action(async (amountText: string, o: { memo?: string; to?: string; item: string[]; merchantName?: string }, cmd: Command) => {
    const amountFen = amountArg(amountText);
    if (o.to !== undefined && !ALIAS_PATTERN.test(o.to)) throw new CbdcError('CBDC_ERR_ALIAS_FORMAT', `"${o.to.slice(0, 40)}" is not an alias (+8613800000000 or @handle)`);
    // Needs no passphrase: the account id and bank are recorded in the clear.
    const k = readKeystoreFile(walletFile(globals(cmd)));
    if (k.account === null) throw new CbdcError('CBDC_ERR_WALLET_NO_ACCOUNT', 'this wallet has no account yet; open one with: cbdc-wallet open-account');
    const payee: Payee = o.to !== undefined ? { alias: o.to, bank: k.account.bank_id } : { account: k.account.account_id, bank: k.account.bank_id };
    let receipt: string | undefined;
    if (o.item.length > 0) {
      // The draft is signed with the wallet key: unlocking the keystore needs the passphrase.
      const w = await openAccountWallet(cmd);
      receipt = draftFromItems(w, o.item, amountFen, o.merchantName, (m, code) => new UsageError(m, code));
    } else if (o.merchantName !== undefined) {
      throw new UsageError('--merchant-name goes with --item lines');
    }
    let request: string;
    try {
      request = formatPaymentRequest({ payee, amountFen, ...(o.memo !== undefined ? { memo: o.memo } : {}), ...(receipt !== undefined ? { receipt } : {}) });
      parsePaymentRequest(request); // what we print, we read back
    } catch (e) {
      throw new UsageError((e as Error).message, isCbdcError(e) ? e.code : null);
    }
    emit({ request, to: 'alias' in payee ? payee.alias : payee.account, bank: k.account.bank_id, amount_fen: amountFen.toString(), memo: o.memo ?? null }, request);
  });

program.command('watch')
  .description('show incoming and outgoing entries live, one line each (Ctrl-C to stop)')
  .option('--count <n>', 'exit after this many entries (for scripts)')
  .option('--from <seq>', 'start from this history entry (default: only new ones)')
  .action(async (o: { count?: string; from?: string }, cmd: Command) => {
    const count = o.count !== undefined ? countArg(o.count, '--count', 1_000_000) : undefined;
    if (o.from !== undefined && !/^[0-9]{1,12}$/.test(o.from)) throw new UsageError('--from is a history entry number (0 or more)');
    const w = await openAccountWallet(cmd);
    const from = o.from !== undefined ? Number(o.from) : await w.nextSeq();
    const acc = w.account;
    let seen = 0;
    let connectedBefore = false;
    await new Promise<void>((resolve, reject) => {
      const sub = w.subscribe(from, (e: HistoryEntry) => {
        if (count !== undefined && seen >= count) return;
        seen++;
        emit({ event: 'entry', account: acc.account_id, entry: e }, formatEntry(e));
        if (count !== undefined && seen >= count) {
          sub.close();
        }
      }, (s) => {
        if (s.state === 'connected' && !connectedBefore) {
          connectedBefore = true;
          return;
        }
        if (s.state === 'disconnected') {
          if (jsonMode) emit({ event: 'disconnected', account: acc.account_id, reason: s.reason ?? null, resume_from: s.from }, '');
          note(`connection to ${acc.bank_id} lost (${s.reason ?? 'unknown'}); reconnecting from entry #${s.from}…`);
        } else if (connectedBefore) {
          if (jsonMode) emit({ event: 'reconnected', account: acc.account_id, from: s.from }, '');
          note(`reconnected; resuming from entry #${s.from}`);
        }
      });
      if (jsonMode) emit({ event: 'watching', account: acc.account_id, bank: acc.bank_id, from }, '');
      note(`watching ${acc.account_id} at ${acc.bank_id} from entry #${from}${count !== undefined ? `, until ${count} entr${count === 1 ? 'y' : 'ies'}` : ''} (Ctrl-C to stop)`);
      const stop = (): void => sub.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      sub.done.then(() => resolve(), reject).finally(() => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      });
    });
  });

registerContractCommands(program, { emit, openAccountWallet, amountArg, usage: (m) => new UsageError(m) });

program.command('history')
  .description('the latest history entries, oldest first')
  .option('--limit <n>', 'how many of the latest entries (default 20)', '20')
  .addOption(new Option('--direction <dir>', 'only incoming or only outgoing').choices(['in', 'out']))
  .action(async (o: { limit: string; direction?: 'in' | 'out' }, cmd: Command) => {
    const limit = countArg(o.limit, '--limit', 100_000);
    const w = await openAccountWallet(cmd);
    const entries = await w.history({ last: limit, ...(o.direction ? { direction: o.direction } : {}) });
    if (jsonMode) for (const e of entries) emit({ ...e }, '');
    else process.stdout.write(entries.length === 0 ? '(no entries)\n' : entries.map(formatEntry).join('\n') + '\n');
  });

const alias = program.command('alias').description('aliases other people can pay you at');
alias.command('set')
  .description('add an alias: a phone number (+8613800000000) or a handle (@alice)')
  .argument('<alias>', '+ and 6 to 15 digits, or @ and 3 to 32 of a-z, 0-9, _')
  .action(async (value: string, _o: unknown, cmd: Command) => {
    if (!ALIAS_PATTERN.test(value)) throw new CbdcError('CBDC_ERR_ALIAS_FORMAT', `"${value.slice(0, 40)}" is not an alias: a phone number (+ and 6 to 15 digits) or a handle (@ and 3 to 32 of a-z, 0-9, _)`);
    const w = await openAccountWallet(cmd);
    const a = await w.addAlias(value);
    emit({ account: a }, `${a.id} can now be paid at ${a.aliases.join(', ')}`);
  });

program.command('exchange')
  .description('move money between your bank deposit and your wallet')
  .addArgument(new Argument('<direction>', 'to-wallet (from your deposit) or to-deposit (from your wallet)').choices(['to-wallet', 'to-deposit']))
  .argument('<amount>', 'in yuan, like 100.00')
  .option('--idempotency-key <key>', 'reuse the key of an earlier attempt to retry it safely')
  .action(async (direction: 'to-wallet' | 'to-deposit', amountText: string, o: { idempotencyKey?: string }, cmd: Command) => {
    const amountFen = amountArg(amountText);
    const key = o.idempotencyKey !== undefined ? checkKeyArg(o.idempotencyKey) : newIdempotencyKey();
    retryHint = ` — to retry safely: cbdc-wallet exchange ${direction} ${amountText} --idempotency-key ${key}`;
    // A pending exchange to the wallet settles or is given back by the bank on its own; running it
    // again would start another one (the bank keeps its key only once it settles).
    pendingHint = direction === 'to-wallet' ? ' — check cbdc-wallet balance in a while before trying again' : ` — to see how it ended, run again: cbdc-wallet exchange ${direction} ${amountText} --idempotency-key ${key}`;
    const w = await openAccountWallet(cmd);
    if (direction === 'to-wallet') {
      const r = await w.exchangeToWallet(amountFen, key);
      emit({ direction: 'to_wallet', idempotency_key: key, ...r }, `moved ${yuan(r.amount_fen)} from your deposit to your wallet: wallet ${yuan(r.balance_fen)}, deposit ${yuan(r.deposit_fen)}`);
    } else {
      const { payment, replayed } = await w.exchangeToDeposit(amountFen, key);
      const a = await w.balance();
      emit({ direction: 'to_deposit', idempotency_key: key, replayed, payment, balance_fen: a.balance_fen, deposit_fen: a.deposit_fen },
        `${replayed ? 'already moved (same idempotency key)' : 'moved'} ${yuan(payment.amount_fen)} from your wallet to your deposit: wallet ${yuan(a.balance_fen)}, deposit ${yuan(a.deposit_fen)}`);
    }
  });

registerReceiptCommands(program, { emit, openAccountWallet, usage: (m, code) => new UsageError(m, code ?? null), jsonMode: () => jsonMode });
registerOfflineCommands(program, { emit, note, openAccountWallet, walletFile: (cmd) => walletFile(globals(cmd)), amountArg, checkKeyArg });
registerVisitorCommands(program, { emit, openAccountWallet, amountArg, checkKeyArg, usage: (m, code) => new UsageError(m, code ?? null), retryHint: (h) => { retryHint = h; } });

// ------------------------------------------------------------------ errors and exit codes

function classify(e: unknown): { exit: number; code: string | null; line: string } {
  const context = CONTEXT[currentCommand] ?? 'request';
  if (e instanceof PaymentPending) {
    return { exit: EXIT.REFUSED, code: e.code, line: `${context} not settled yet: it was submitted while the central bank was unreachable (${e.code})${pendingHint}` };
  }
  if (e instanceof BankRefusal) {
    return { exit: EXIT.REFUSED, code: e.code, line: refusalLine(context, e.code, e.message) + (e.code === 'CBDC_ERR_CENTRAL_UNAVAILABLE' ? pendingHint : '') };
  }
  if (e instanceof UsageError) return { exit: EXIT.USAGE, code: e.code, line: e.message + (e.code ? ` (${e.code})` : '') };
  if (isCbdcError(e)) {
    const msg = `${plainSentence(e.message)} (${e.code})`;
    if (e.code.startsWith('CBDC_ERR_KEYSTORE_')) return { exit: EXIT.KEYSTORE, code: e.code, line: msg };
    if (e.code === 'CBDC_ERR_BANK_UNREACHABLE') return { exit: EXIT.NETWORK, code: e.code, line: `${msg}${retryHint}` };
    if (e.code === 'CBDC_ERR_BANK_RESPONSE') return { exit: EXIT.REFUSED, code: e.code, line: `${context} stopped: ${msg}` };
    // Offline: a card or a device refusing is a refusal; no PC/SC stack is like no network.
    if (e.code === 'CBDC_ERR_OFFLINE_REFUSED' || e.code === 'CBDC_ERR_OFFLINE_REVOKED' || e.code === 'CBDC_ERR_OFFLINE_CAP') return { exit: EXIT.REFUSED, code: e.code, line: msg };
    if (e.code === 'CBDC_ERR_NFC_UNAVAILABLE') return { exit: EXIT.NETWORK, code: e.code, line: msg };
    if (e.code === 'CBDC_ERR_AMOUNT_FORMAT' || e.code === 'CBDC_ERR_AMOUNT_RANGE') {
      return { exit: EXIT.USAGE, code: e.code, line: `${plainSentence(e.code === 'CBDC_ERR_AMOUNT_RANGE' && e.message === 'An amount is zero where a positive value is required, or above AMOUNT_FEN_MAX.' ? 'the amount is too large' : e.message)} (${e.code})` };
    }
    return { exit: EXIT.USAGE, code: e.code, line: msg };
  }
  if (e instanceof CommanderError) return { exit: EXIT.USAGE, code: null, line: `${e.message.replace(/^error: /, '').replace(/\n/g, ' ')} (see cbdc-wallet --help)` };
  return { exit: EXIT.INTERNAL, code: null, line: `internal error: ${(e as Error)?.stack ?? String(e)}` };
}

function report(e: unknown): number {
  const c = classify(e);
  if (jsonMode) process.stderr.write(JSON.stringify({ error: { code: c.code, message: c.line, exit_code: c.exit } }) + '\n');
  else process.stderr.write(`cbdc-wallet: ${c.line}\n`);
  return c.exit;
}

program.hook('preAction', (_this, action) => {
  currentCommand = action.name();
  jsonMode = globals(action).json === true;
});

try {
  await program.parseAsync(process.argv);
  process.exitCode = EXIT.OK;
} catch (e) {
  if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) {
    process.exitCode = EXIT.OK;
  } else if (e instanceof CommanderError && e.code === 'commander.help') {
    process.exitCode = EXIT.USAGE; // help shown because a subcommand was missing
  } else {
    process.exitCode = report(e);
  }
}
// Nothing should keep the process alive now; if an idle connection does, do not wait for it.
setTimeout(() => process.exit(), 1_000).unref();
