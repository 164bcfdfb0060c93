// cbdc-wallet's commands for the bank's contract services (docs/CONTRACTS.md): scheduled and
// recurring payments, and prepaid, escrow, hash-locked and subsidy contracts. Each creation is
// funded by a payment the wallet checks and signs like any other; each action on a contract is
// a proposal whose txid the wallet checks (the hash of the transaction shown) and signs.
import { Command, Option } from 'commander';
import { CbdcError } from '../protocol/errors.js';
import { formatYuan, parseYuan } from '../protocol/amount.js';
import { signHash } from '../protocol/sig.js';
import { parseTx, txId, type TxJson } from '../protocol/tx.js';
import type { PaymentJson } from './client.js';
import type { Wallet } from './wallet.js';
import { newIdempotencyKey } from './wallet.js';

type Body = Record<string, any>;

/** What cli.ts lends these commands: its output, its wallet opening and its argument checks. */
export interface CliKit {
  emit(obj: Record<string, unknown>, human: string | string[]): void;
  openAccountWallet(cmd: Command): Promise<Wallet>;
  amountArg(text: string | undefined, what?: string): bigint;
  usage(message: string): Error;
}

/** A time: an ISO 8601 date-time, ms since the epoch, or +N (seconds from now). */
function timeArg(kit: CliKit, text: string, what: string): number {
  if (/^\+[0-9]{1,9}$/.test(text)) return Date.now() + Number(text.slice(1)) * 1000;
  if (/^[0-9]{10,15}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw kit.usage(`${what} is a time: 2026-05-01T09:00:00+08:00, ms since the epoch, or +SECONDS from now`);
  return t;
}

function intArg(kit: CliKit, text: string, what: string, min: number, max: number): number {
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) < min || Number(text) > max) throw kit.usage(`${what} must be a whole number from ${min} to ${max}`);
  return Number(text);
}

async function call(w: Wallet, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Body> {
  return w.client().call<Body>(method, path, body, { idempotent: method === 'GET' || (typeof body === 'object' && body !== null && 'idempotency_key' in body) });
}

/** Checks that a proposal's txid is the hash of the transaction it shows, then signs it. */
async function signSpend(w: Wallet, cid: string, spend: { id: string; txid: string; tx: TxJson }): Promise<Body> {
  const tx = parseTx({ ...spend.tx, witness: {} }, w.account.network, { witnessLater: true });
  const id = txId(tx);
  if (id.toString('hex') !== spend.txid) throw new CbdcError('CBDC_ERR_BANK_RESPONSE', "the proposal's txid is not the hash of its transaction");
  const sig = signHash(w.keystore.secretKey, id).toString('hex');
  return call(w, 'POST', `/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig });
}

export function registerContractCommands(program: Command, kit: CliKit): void {
  const schedule = program.command('schedule').description('scheduled and recurring payments, run by your bank');
  schedule.command('create')
    .description('set money aside now and pay <payee> <amount> at --at (and every --every seconds, --count times)')
    .argument('<payee>', "the payee's account id at your bank or another")
    .argument('<amount>', 'each payment, in yuan')
    .requiredOption('--at <time>', 'the first payment: 2026-05-01T09:00:00+08:00, ms since the epoch, or +SECONDS')
    .option('--every <seconds>', 'repeat every this many seconds')
    .option('--count <n>', 'how many payments in all', '1')
    .option('--fund <yuan>', 'set aside this much now (default: amount x count)')
    .option('--idempotency-key <key>', 'reuse the key of an earlier attempt')
    .action(async (payee: string, amountText: string, o: { at: string; every?: string; count: string; fund?: string; idempotencyKey?: string }, cmd: Command) => {
      const amount = kit.amountArg(amountText);
      const count = intArg(kit, o.count, '--count', 1, 1000);
      const intervalMs = o.every === undefined ? 0 : intArg(kit, o.every, '--every', 1, 366 * 86_400) * 1000;
      const w = await kit.openAccountWallet(cmd);
      const r = await call(w, 'POST', `/v1/accounts/${w.account.account_id}/schedules`, {
        idempotency_key: o.idempotencyKey ?? newIdempotencyKey(), payee: { account: payee }, amount_fen: amount.toString(),
        first_at_ms: timeArg(kit, o.at, '--at'), interval_ms: intervalMs, count, ...(o.fund !== undefined ? { fund_fen: parseYuan(o.fund).toString() } : {}),
      });
      const paid = await w.signPrepared(r.payment as PaymentJson, BigInt(r.schedule.fund_fen));
      kit.emit({ schedule: r.schedule, funding: paid.payment }, [
        `schedule ${r.schedule.id}: ${formatYuan(amount)} to ${payee}, ${count} time${count === 1 ? '' : 's'}${intervalMs ? ` every ${intervalMs / 1000} s` : ''}, from ${new Date(r.schedule.first_at_ms).toISOString()}`,
        `set aside ${formatYuan(BigInt(r.schedule.fund_fen))} (payment ${paid.payment.id})`,
      ]);
    });
  schedule.command('list').description('your schedules').action(async (_o: unknown, cmd: Command) => {
    const w = await kit.openAccountWallet(cmd);
    const r = await call(w, 'GET', `/v1/accounts/${w.account.account_id}/schedules`);
    kit.emit(r, (r.schedules as Body[]).map((s) => `${s.id}  ${s.status}  ${formatYuan(BigInt(s.amount_fen))} x ${s.count}  settled ${s.settled}, refused ${s.refused}, missed ${s.missed}  set aside ${formatYuan(BigInt(s.pot_fen))}`));
  });
  schedule.command('show').argument('<id>').description('one schedule and its slots').action(async (id: string, _o: unknown, cmd: Command) => {
    const w = await kit.openAccountWallet(cmd);
    const r = await call(w, 'GET', `/v1/accounts/${w.account.account_id}/schedules/${id}`);
    kit.emit(r, [`${r.schedule.id}  ${r.schedule.status}`, ...(r.slots as Body[]).map((s) => `  slot ${s.slot}  due ${new Date(s.due_at_ms).toISOString()}  ${s.status}${s.code ? ` (${s.code})` : ''}`)]);
  });
  schedule.command('cancel').argument('<id>').description('no more payments; what is set aside comes back').action(async (id: string, _o: unknown, cmd: Command) => {
    const w = await kit.openAccountWallet(cmd);
    const r = await call(w, 'POST', `/v1/accounts/${w.account.account_id}/schedules/${id}/cancel`, {});
    kit.emit(r, `schedule ${id} is ${r.schedule.status}; what is left comes back to your wallet`);
  });

  const contract = program.command('contract').description('prepaid, escrow, hash-locked and subsidy contracts at your bank');
  const create = contract.command('create').description('make a contract and fund it from your wallet');
  const created = async (w: Wallet, kind: string, body: Body): Promise<void> => {
    const r = await call(w, 'POST', `/v1/accounts/${w.account.account_id}/contracts/${kind}`, { idempotency_key: newIdempotencyKey(), ...body });
    const paid = await w.signPrepared(r.payment as PaymentJson, BigInt(r.contract.amount_fen));
    kit.emit({ contract: r.contract, funding: paid.payment }, `${kind} contract ${r.contract.id}: ${formatYuan(BigInt(r.contract.amount_fen))} locked (payment ${paid.payment.id})`);
  };
  create.command('prepaid').description('prepay a merchant, released unit by unit as you confirm')
    .requiredOption('--merchant <account>', "the merchant's account id").requiredOption('--unit <yuan>', 'price of one unit').requiredOption('--units <n>', 'how many units')
    .requiredOption('--deadline <time>', 'after this, what is left comes back').option('--delegate-key <hex>', 'a key that may confirm units for you')
    .action(async (o: { merchant: string; unit: string; units: string; deadline: string; delegateKey?: string }, cmd: Command) => {
      const body = { merchant: o.merchant, unit_fen: kit.amountArg(o.unit, '--unit').toString(), units: intArg(kit, o.units, '--units', 1, 10_000), deadline_ms: timeArg(kit, o.deadline, '--deadline'), ...(o.delegateKey ? { delegate_key: o.delegateKey } : {}) };
      await created(await kit.openAccountWallet(cmd), 'prepaid', body);
    });
  create.command('escrow').description('pay into escrow: released or refunded when two of buyer, seller and arbiter agree')
    .requiredOption('--seller <account>').requiredOption('--arbiter <account>').requiredOption('--amount <yuan>')
    .action(async (o: { seller: string; arbiter: string; amount: string }, cmd: Command) => {
      await created(await kit.openAccountWallet(cmd), 'escrow', { seller: o.seller, arbiter: o.arbiter, amount_fen: kit.amountArg(o.amount).toString() });
    });
  create.command('hashlock').description('pay against the preimage of a hash, refunded after a timeout')
    .requiredOption('--payee <account>').requiredOption('--amount <yuan>').requiredOption('--hash <hex>', 'sha256 of the 32-byte preimage').requiredOption('--timeout <time>')
    .action(async (o: { payee: string; amount: string; hash: string; timeout: string }, cmd: Command) => {
      await created(await kit.openAccountWallet(cmd), 'hashlock', { payee: o.payee, amount_fen: kit.amountArg(o.amount).toString(), hash: o.hash, timeout_ms: timeArg(kit, o.timeout, '--timeout') });
    });
  create.command('subsidy').description('pay many recipients money spendable only at given merchant categories until an expiry')
    .requiredOption('--recipient <account=yuan...>', 'a recipient and its amount (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .requiredOption('--mcc <code...>', 'an allowed merchant category code (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .requiredOption('--expires <time>')
    .action(async (o: { recipient: string[]; mcc: string[]; expires: string }, cmd: Command) => {
      const recipients = o.recipient.map((r) => {
        const [account, y] = r.split('=');
        if (!account || !y) throw kit.usage('--recipient wants account=yuan');
        return { account, amount_fen: kit.amountArg(y).toString() };
      });
      await created(await kit.openAccountWallet(cmd), 'subsidy', { recipients, mccs: o.mcc, expires_at_ms: timeArg(kit, o.expires, '--expires') });
    });
  contract.command('list').description('contracts you are a party to').action(async (_o: unknown, cmd: Command) => {
    const w = await kit.openAccountWallet(cmd);
    const r = await call(w, 'GET', `/v1/accounts/${w.account.account_id}/contracts`);
    kit.emit(r, (r.contracts as Body[]).map((c) => `${c.id}  ${c.kind}  ${c.status}  ${formatYuan(BigInt(c.amount_fen))}, holds ${formatYuan(BigInt(c.held_fen))}`));
  });
  contract.command('show').argument('<id>').action(async (id: string, _o: unknown, cmd: Command) => {
    const w = await kit.openAccountWallet(cmd);
    const r = await call(w, 'GET', `/v1/contracts/${id}`);
    kit.emit(r, [`${r.contract.id}  ${r.contract.kind}  ${r.contract.status}  holds ${formatYuan(BigInt(r.contract.held_fen))}`, ...(r.spends as Body[]).map((s) => `  ${s.id}  ${s.action}  ${s.status}${s.code ? ` (${s.code})` : ''}  signed ${s.signed_by.length}/${s.need}`)]);
  });
  contract.command('act')
    .description('propose an action and sign it: release, refund, resolve, claim or spend')
    .argument('<id>').addOption(new Option('--units <n>')).addOption(new Option('--outcome <o>').choices(['release', 'refund']))
    .option('--preimage <hex>').option('--merchant <account>').option('--amount <yuan>')
    .argument('<action>')
    .action(async (id: string, action: string, o: { units?: string; outcome?: string; preimage?: string; merchant?: string; amount?: string }, cmd: Command) => {
      const w = await kit.openAccountWallet(cmd);
      const body = {
        ...(o.units ? { units: intArg(kit, o.units, '--units', 1, 10_000) } : {}), ...(o.outcome ? { outcome: o.outcome } : {}), ...(o.preimage ? { preimage: o.preimage } : {}),
        ...(o.merchant ? { merchant: o.merchant } : {}), ...(o.amount ? { amount_fen: kit.amountArg(o.amount).toString() } : {}),
      };
      const p = await call(w, 'POST', `/v1/contracts/${id}/${action}`, body);
      const mine = (p.spend.signers as { key: string }[]).some((s) => s.key === w.keystore.publicKeyHex);
      const r = p.spend.status === 'awaiting_signatures' && mine ? await signSpend(w, id, p.spend) : p;
      kit.emit(r, `${action} on ${id}: ${r.spend.status}${r.spend.status === 'awaiting_signatures' ? ` (signed ${r.spend.signed_by.length} of ${r.spend.need}; proposal ${r.spend.id})` : ''}`);
    });
  contract.command('sign').argument('<id>').argument('<proposal>').description("sign another party's proposal")
    .action(async (id: string, spendId: string, _o: unknown, cmd: Command) => {
      const w = await kit.openAccountWallet(cmd);
      const s = await call(w, 'GET', `/v1/contracts/${id}/spends/${spendId}`);
      const r = await signSpend(w, id, s.spend);
      kit.emit(r, `signed ${spendId}: ${r.spend.status}`);
    });
}
