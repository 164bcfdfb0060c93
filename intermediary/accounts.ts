// Accounts: opening one (tiered KYC evidence, aliases, a visitor's passport hash, a merchant's
// tax id, a region), changing its tier, freezing, closing, aliases, and the teller's deposits
// and withdrawals. Each change is one check-then-write LMDB transaction (bank.atomic).
import { randomBytes } from 'node:crypto';
import { fail } from '../protocol/errors.js';
import { AMOUNT_FEN_MAX } from '../protocol/amount.js';
import { encodeLock } from '../protocol/lock.js';
import { checkTaxId } from '../protocol/receipt.js';
import { UNKNOWN_REGION, parseRegion } from '../protocol/regions.js';
import { type Evidence, type Tier, checkEvidence } from './tiers.js';
import { type AccountRec, type VisitorRec, SWEEP_PREFIX, fen } from './store.js';
import type { Bank } from './bank.js';

const ALIAS_PATTERN = /^(\+[0-9]{6,15}|@[a-z0-9_]{3,32})$/;
const MCC_PATTERN = /^[0-9]{4}$/;

/**
 * Refuses an account that cannot act now (pay, fund, convert): frozen or closed, each with its
 * own code. `message` says what was refused where the plain code does not.
 */
export function checkActive(a: AccountRec, message?: string): void {
  if (a.status !== 'active') fail(a.status === 'frozen' ? 'CBDC_ERR_ACCOUNT_FROZEN' : 'CBDC_ERR_ACCOUNT_CLOSED', message);
}

/** The account, refused if closed: what every change below starts from, inside its transaction. */
function notClosed(bank: Bank, id: string): AccountRec {
  const a = bank.account(id);
  if (a.status === 'closed') fail('CBDC_ERR_ACCOUNT_CLOSED');
  return a;
}

/** `visitor`: a tier-5 wallet's facts (intermediary/visitors/service.ts); its passport hash is unique among open accounts. */
export async function openAccount(bank: Bank, o: { walletKey: Buffer; kind: 'personal' | 'merchant'; mcc?: string | null; tier: Tier; evidence: Evidence; staff: string | null; visitor?: VisitorRec; taxId?: string | null; region?: string }): Promise<AccountRec> {
  if (o.tier === 1 && o.staff === null) fail('CBDC_ERR_KYC_TIER', 'class 1 accounts are opened in person by bank staff');
  if ((o.tier === 5) !== (o.visitor !== undefined)) fail('CBDC_ERR_VISITOR_VALIDITY', o.tier === 5 ? 'a visitor wallet is opened with its validity end' : 'only a visitor (tier 5) wallet has a validity end');
  const evidence = checkEvidence(o.tier, o.evidence);
  if (o.tier === 1) evidence.verified_in_person_by ??= o.staff!;
  const mcc = o.mcc ?? null;
  if ((o.kind === 'merchant') !== (mcc !== null) || (mcc !== null && !MCC_PATTERN.test(mcc))) fail('CBDC_ERR_MERCHANT_CATEGORY');
  const taxId = o.taxId ?? null;
  if (taxId !== null && o.kind !== 'merchant') fail('CBDC_ERR_TAX_ID', 'only a merchant account records a tax id');
  if (taxId !== null) checkTaxId(taxId);
  const region = parseRegion(o.region);
  const walletHex = o.walletKey.toString('hex');
  const lockHex = encodeLock(bank.customerLock(o.walletKey)).toString('hex');
  const sweepLockHex = encodeLock(bank.sweepLock(o.walletKey)).toString('hex');
  const phone = evidence.phone!;
  return bank.atomic(() => {
    if (bank.store.walletKeys.get(walletHex) !== undefined) fail('CBDC_ERR_ACCOUNT_EXISTS');
    if (bank.store.aliases.get(phone) !== undefined) fail('CBDC_ERR_ALIAS_TAKEN', `${phone} belongs to another account`);
    if (o.visitor !== undefined && bank.store.visitorPassports.get(o.visitor.passportHash) !== undefined) fail('CBDC_ERR_VISITOR_EXISTS');
    const id = `${bank.id}.${randomBytes(6).toString('hex')}`;
    const rec: AccountRec = {
      id, kind: o.kind, mcc, tier: o.tier, status: 'active', walletKey: walletHex, lockHex, sweepLockHex, aliases: [phone],
      evidence, balanceFen: '0', depositFen: '0', historyNext: 0, createdAtMs: bank.now(), kycHistory: [],
      ...(o.visitor !== undefined ? { visitor: o.visitor } : {}),
      ...(region !== UNKNOWN_REGION ? { region } : {}),
      ...(taxId !== null ? { taxId } : {}),
    };
    if (taxId !== null) bank.receipts?.taxIdSet(id, taxId);
    if (o.visitor !== undefined) bank.store.visitorPassports.putSync(o.visitor.passportHash, id);
    bank.store.accounts.putSync(id, rec);
    bank.store.walletKeys.putSync(walletHex, id);
    bank.store.aliases.putSync(phone, id);
    bank.store.locks.putSync(lockHex, id);
    bank.store.locks.putSync(sweepLockHex, SWEEP_PREFIX + id);
    return rec;
  });
}

/** Upgrade or downgrade, with the evidence the new tier needs (recorded, not verified). */
export async function changeTier(bank: Bank, id: string, tier: Tier, evidence: Evidence, by: string, byStaff: boolean): Promise<AccountRec> {
  if (tier === 1 && !byStaff) fail('CBDC_ERR_KYC_TIER', 'class 1 needs in-person verification by bank staff');
  // A visitor who becomes resident opens a resident account (and a resident never becomes a visitor).
  if (tier === 5 || bank.account(id).tier === 5) fail('CBDC_ERR_VISITOR_TIER_CHANGE');
  const merged = { ...bank.account(id).evidence, ...evidence };
  if (tier === 1) merged.verified_in_person_by ??= by;
  const checked = checkEvidence(tier, merged);
  return bank.atomic(() => {
    const a = notClosed(bank, id);
    const cap = bank.tierLimits(tier).balanceCapFen;
    if (cap !== null && fen(a.balanceFen) > cap) fail('CBDC_ERR_BALANCE_CAP', 'the wallet holds more than the new tier allows; move money out first');
    const next: AccountRec = {
      ...a, tier, evidence: { ...a.evidence, ...checked },
      kycHistory: [...a.kycHistory, { atMs: bank.now(), from: a.tier, to: tier, by, evidence: checked }],
    };
    bank.store.accounts.putSync(id, next);
    return next;
  });
}

export async function setStatus(bank: Bank, id: string, status: 'active' | 'frozen'): Promise<AccountRec> {
  return bank.atomic(() => {
    const a = notClosed(bank, id);
    const next = { ...a, status };
    bank.store.accounts.putSync(id, next);
    return next;
  });
}

export async function close(bank: Bank, id: string): Promise<AccountRec> {
  return bank.atomic(() => {
    const a = notClosed(bank, id);
    if (fen(a.balanceFen) !== 0n || fen(a.depositFen) !== 0n) fail('CBDC_ERR_ACCOUNT_NOT_EMPTY');
    const next: AccountRec = { ...a, status: 'closed' };
    bank.store.accounts.putSync(id, next);
    for (const al of a.aliases) bank.store.aliases.removeSync(al);
    // One open visitor wallet per passport: a closed one frees it.
    if (a.visitor !== undefined) bank.store.visitorPassports.removeSync(a.visitor.passportHash);
    return next;
  });
}

export async function addAlias(bank: Bank, id: string, alias: string): Promise<AccountRec> {
  if (!ALIAS_PATTERN.test(alias)) fail('CBDC_ERR_ALIAS_FORMAT');
  return bank.atomic(() => {
    const a = notClosed(bank, id);
    const owner = bank.store.aliases.get(alias);
    if (owner !== undefined && owner !== id) fail('CBDC_ERR_ALIAS_TAKEN');
    if (owner === id) return a;
    const next = { ...a, aliases: [...a.aliases, alias] };
    bank.store.accounts.putSync(id, next);
    bank.store.aliases.putSync(alias, id);
    return next;
  });
}

/** Teller: cash (or a transfer from elsewhere) into the customer's bank deposit. */
export async function creditDeposit(bank: Bank, id: string, amountFen: bigint): Promise<AccountRec> {
  return bank.atomic(() => {
    const a = notClosed(bank, id);
    const d = fen(a.depositFen) + amountFen;
    if (d > AMOUNT_FEN_MAX) fail('CBDC_ERR_AMOUNT_OVERFLOW');
    const next = { ...a, depositFen: d.toString() };
    bank.store.accounts.putSync(id, next);
    return next;
  });
}

/** Teller: cash out of the deposit. */
export async function debitDeposit(bank: Bank, id: string, amountFen: bigint): Promise<AccountRec> {
  return bank.atomic(() => {
    const a = bank.account(id);
    if (fen(a.depositFen) < amountFen) fail('CBDC_ERR_INSUFFICIENT_FUNDS', 'the deposit does not cover that');
    const next = { ...a, depositFen: (fen(a.depositFen) - amountFen).toString() };
    bank.store.accounts.putSync(id, next);
    return next;
  });
}
