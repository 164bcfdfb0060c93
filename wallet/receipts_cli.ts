// cbdc-wallet's receipt commands (docs/RECEIPTS.md): a merchant's receipt draft for its payment
// request (`request --item ...`, signed with the wallet key), the wallet's receipts listed and
// each signature checked, a day's export as one JSON document, and an exported file checked
// offline against a bank key given by hand.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isCbdcError } from '../protocol/errors.js';
import { formatYuan } from '../protocol/amount.js';
import { type ReceiptJson, makeDraft, signDraft, verifyReceipt } from '../protocol/receipt.js';
import { BankRefusal } from './client.js';
import type { Wallet } from './wallet.js';

/** What cli.ts lends these commands. */
export interface ReceiptCliKit {
  emit(obj: Record<string, unknown>, human: string | string[]): void;
  openAccountWallet(cmd: Command): Promise<Wallet>;
  usage(message: string, code?: string): Error;
  jsonMode(): boolean;
}

/** Receipts one listing fetches at most (50 pages of 200). */
const RECEIPTS_FETCHED_MAX = 10_000;
/** An export file read at most. */
const EXPORT_BYTES_MAX = 64 * 1024 * 1024;
/** A saved GET /v1/bank/key answer read at most. */
const BANK_KEY_FILE_BYTES_MAX = 4096;

/**
 * The signed draft for `--item "description:quantity:unit_price_fen:tax_rate_bp"` lines (the
 * description may itself hold ":"; the last three fields are whole numbers). Its total must be
 * the requested amount.
 */
export function draftFromItems(w: Wallet, items: string[], amountFen: bigint, merchantName: string | undefined, usage: (m: string, code: string) => Error): string {
  const lines = items.map((it, i) => {
    const m = /^(.+):([0-9]{1,7}):([0-9]{1,19}):([0-9]{1,5})$/.exec(it);
    if (m === null) throw usage(`--item ${i + 1} is "description:quantity:unit_price_fen:tax_rate_bp", e.g. "Flat white:2:1000:600" (got "${it.slice(0, 60)}")`, 'CBDC_ERR_RECEIPT_LINE');
    return { description: m[1]!, quantity: Number(m[2]), unitPriceFen: BigInt(m[3]!), taxRateBp: Number(m[4]) };
  });
  const a = w.account;
  try {
    const d = makeDraft({ network: a.network, merchantAccount: a.account_id, merchantName: merchantName ?? null, lines });
    if (d.totalFen !== amountFen) throw usage(`the lines come to ${formatYuan(d.totalFen)} with tax, not ${formatYuan(amountFen)}: request ${formatYuan(d.totalFen)}`, 'CBDC_ERR_RECEIPT_TOTAL');
    return signDraft(d, w.keystore.secretKey).compact;
  } catch (e) {
    if (isCbdcError(e)) throw usage(e.message, e.code);
    throw e;
  }
}

interface Entry {
  role: 'payer' | 'merchant';
  receipt: ReceiptJson;
}

function receiptLine(e: { role?: string; receipt: ReceiptJson }, ok: boolean): string {
  const r = e.receipt;
  const when = new Date(r.issued_at_ms + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
  const what = r.lines.length === 1 ? r.lines[0]!.description : `${r.lines[0]!.description} +${r.lines.length - 1}`;
  return `${r.receipt_id}  ${when}  ${e.role ?? ''}${e.role ? '  ' : ''}${r.merchant_name ?? r.merchant_account}  ${formatYuan(BigInt(r.total_fen))} (tax ${formatYuan(BigInt(r.tax_fen))})  ${what}  ${ok ? 'ok' : 'BAD'}`;
}

function badReceipts(n: number, of: number): BankRefusal {
  return new BankRefusal('CBDC_ERR_RECEIPT_SIGNATURE', `${n} of ${of} receipt(s) do not verify with their bank's key`, 403, {});
}

export function registerReceiptCommands(program: Command, kit: ReceiptCliKit): void {
  const receipts = program.command('receipts')
    .description("the wallet's receipts (as payer and as merchant), each signature checked: ok or BAD; with --json, one JSON document (an export)")
    .option('--day <YYYY-MM-DD>', 'only receipts issued that day (bank time zone, Asia/Shanghai)')
    .option('--role <role>', 'payer (received) or merchant (issued)')
    .action(async (o: { day?: string; role?: string }, cmd: Command) => {
      if (o.day !== undefined && !/^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/.test(o.day)) throw kit.usage('--day is a date like 2026-12-06');
      if (o.role !== undefined && o.role !== 'payer' && o.role !== 'merchant') throw kit.usage('--role is payer or merchant');
      const w = await kit.openAccountWallet(cmd);
      const c = w.client();
      const id = w.account.account_id;
      const entries: Entry[] = [];
      let after: string | null = null;
      do {
        const q = new URLSearchParams({ limit: '200', ...(o.day ? { day: o.day } : {}), ...(o.role ? { role: o.role } : {}), ...(after ? { after } : {}) });
        const page: { entries: Entry[]; next: string | null } = await c.call('GET', `/v1/accounts/${id}/receipts?${q}`, undefined, { idempotent: true });
        entries.push(...page.entries);
        after = page.next;
      } while (after !== null && entries.length < RECEIPTS_FETCHED_MAX);
      // Each bank's key from this wallet's bank (its own, or another's from central's directory).
      const keys = new Map<string, string>();
      for (const b of new Set(entries.map((e) => e.receipt.bank))) {
        const k: { public_key: string } = await c.call('GET', `/v1/bank/key?bank=${encodeURIComponent(b)}`, undefined, { idempotent: true });
        keys.set(b, k.public_key);
      }
      const ok = entries.map((e) => keys.has(e.receipt.bank) && verifyReceipt(e.receipt, Buffer.from(keys.get(e.receipt.bank)!, 'hex')));
      const bad = ok.filter((x) => !x).length;
      if (kit.jsonMode()) {
        // The export: receipts exactly as the bank signed them (no yuan twins added).
        process.stdout.write(JSON.stringify({
          version: 1, kind: 'cbdc-receipts', account: id, bank: w.account.bank_id, network: w.account.network, day: o.day ?? null, role: o.role ?? null,
          bank_keys: Object.fromEntries(keys), receipts: entries.map((e) => e.receipt), roles: entries.map((e) => e.role), verified: { ok: entries.length - bad, bad },
        }) + '\n');
      } else {
        const lines = entries.map((e, i) => receiptLine(e, ok[i]!));
        process.stdout.write([...lines, `${entries.length} receipt(s)${bad > 0 ? `, ${bad} BAD` : entries.length > 0 ? ', every signature ok' : ''}`].join('\n') + '\n');
      }
      if (bad > 0) throw badReceipts(bad, entries.length);
    });

  receipts.command('verify')
    .description('check the receipts of an exported file offline (no network) against a bank public key')
    .argument('<file>', 'a file written by "cbdc-wallet receipts --json" (or one receipt, or a JSON array of them)')
    .requiredOption('--bank-key <hex|file>', "the issuing bank's public key: 33-byte compressed hex, or a file holding GET /v1/bank/key's answer (then each receipt must name that bank)")
    .action(async (file: string, o: { bankKey: string }) => {
      const issuer = readBankKey(o.bankKey, kit.usage);
      let doc: unknown;
      try {
        const text = readFileSync(file);
        if (text.length > EXPORT_BYTES_MAX) throw new Error('file too large');
        doc = JSON.parse(text.toString('utf8'));
      } catch (e) {
        throw kit.usage(`cannot read ${file} as JSON: ${(e as Error).message}`, 'CBDC_ERR_RECEIPT_FORMAT');
      }
      const list: unknown[] = Array.isArray(doc) ? doc
        : typeof doc === 'object' && doc !== null && Array.isArray((doc as { receipts?: unknown }).receipts) ? (doc as { receipts: unknown[] }).receipts : [doc];
      const ok = list.map((r) => (issuer.bank === null || (r as { bank?: unknown })?.bank === issuer.bank) && verifyReceipt(r, issuer.key));
      const bad = ok.filter((x) => !x).length;
      kit.emit({ file, receipts: list.length, ok: list.length - bad, bad, results: list.map((r, i) => ({ receipt_id: (r as { receipt_id?: unknown })?.receipt_id ?? null, ok: ok[i] })) }, [
        ...list.map((r, i) => (ok[i] ? receiptLine({ receipt: r as ReceiptJson }, true) : `${String((r as { receipt_id?: unknown })?.receipt_id ?? `#${i + 1}`).slice(0, 40)}  BAD`)),
        `${list.length} receipt(s) in ${file}: ${bad === 0 ? 'every signature ok' : `${bad} BAD`}`,
      ]);
      if (bad > 0) throw badReceipts(bad, list.length);
    });
}

/** `--bank-key`: hex, or the path of a saved GET /v1/bank/key answer ({"bank","network","public_key"}). */
function readBankKey(arg: string, usage: (message: string, code: string) => Error): { key: Buffer; bank: string | null } {
  const badKey = (): Error => usage('--bank-key is a 33-byte compressed public key in lowercase hex (66 characters), or a file with GET /v1/bank/key\'s answer', 'CBDC_ERR_BAD_PUBLIC_KEY');
  if (/^(02|03)[0-9a-f]{64}$/.test(arg)) return { key: Buffer.from(arg, 'hex'), bank: null };
  if (/^[0-9a-fA-F]+$/.test(arg) && !existsSync(arg)) throw badKey();
  let j: { bank?: unknown; public_key?: unknown };
  try {
    const text = readFileSync(arg);
    if (text.length > BANK_KEY_FILE_BYTES_MAX) throw new Error('file too large');
    j = JSON.parse(text.toString('utf8')) as typeof j;
  } catch (e) {
    throw usage(`cannot read the bank key file ${arg}: ${(e as Error).message}`, 'CBDC_ERR_BAD_PUBLIC_KEY');
  }
  if (typeof j !== 'object' || j === null || typeof j.bank !== 'string' || typeof j.public_key !== 'string' || !/^(02|03)[0-9a-f]{64}$/.test(j.public_key)) throw badKey();
  return { key: Buffer.from(j.public_key, 'hex'), bank: j.bank };
}
