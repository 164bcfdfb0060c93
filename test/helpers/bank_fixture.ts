// An in-process network for intermediary tests: one central node (port 0, LMDB in a temp dir,
// nosync, verification on the event loop) and any number of bank nodes (port 0) registered at
// it, each knowing the others as peers. Clients for wallets (proof of possession, then the
// account id), bank staff, compliance and regulator, and helpers to wait for the event stream
// and to snapshot every figure a refused request must leave unchanged.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { readOrCreateKeyFile } from '../../platform/key_file.js';
import { signHashNative } from '../../protocol/sig.js';
import { startCentral, type CentralConfig, type CentralNode } from '../../central/node.js';
import { bankKeyFiles, startBank, type BankNode, type BankNodeConfig } from '../../intermediary/node.js';
import { CENTRAL_LIMITS } from '../../central/api.js';
import type { ServerLimits } from '../../platform/server_limits.js';
import { Client, type HttpResponse, type KeyPair, keyPair, rawRequest } from './http_fixture.js';
import type { AccountJson } from '../../wallet/client.js';

export const NETWORK = 'cbdc-local';

export type BankOptions = NonNullable<BankNodeConfig['bank']>;

export interface TestBank {
  id: string;
  node: BankNode;
  url: string;
  dir: string;
  staff: Client;
  compliance: Client;
  regulator: Client;
  /** A client signing as this bank (for the interbank routes). */
  self: Client;
  /** Every account opened through this fixture at this bank. */
  accounts: string[];
}

export interface Wallet {
  bank: TestBank;
  key: KeyPair;
  id: string;
  /** Signs as the account (signer = account id). */
  client: Client;
  phone: string;
}

export interface TestNetwork {
  dir: string;
  central: CentralNode;
  centralUrl: string;
  operator: Client;
  banks: Map<string, TestBank>;
  bank(id: string): TestBank;
  /** Starts (and registers) another bank on the running central. */
  addBank(id: string, opts?: BankOptions): Promise<TestBank>;
  close(): Promise<void>;
}

/** Default holdings marks: one top-up to the target, never again, never a redemption. */
export const HOLDINGS_TARGET_FEN = 100_000_000n; // 1,000,000 yuan

function holdingsDefaults(o: BankOptions = {}): BankOptions {
  return { holdingsLowFen: 1n, holdingsTargetFen: HOLDINGS_TARGET_FEN, holdingsHighFen: 10n ** 15n, ...o };
}

export async function startNetwork(banks: { id: string; opts?: BankOptions; contracts?: BankNodeConfig['contracts']; analytics?: BankNodeConfig['analytics'] }[], o: { limits?: ServerLimits; centralAnalytics?: CentralConfig['analytics'] } = {}): Promise<TestNetwork> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-banknet-'));
  const op = keyPair('operator');
  const central = await startCentral({
    host: '127.0.0.1', port: 0, dataDir: path.join(dir, 'central'), network: NETWORK,
    operatorPublicKey: op.pk, operatorSecretKey: op.sk,
    durability: 'nosync', verification: 'full', verifyBackend: 'native', verifyThreads: 0,
    ...(o.limits ? { limits: { ...CENTRAL_LIMITS, ...o.limits, bodyBytesMax: CENTRAL_LIMITS.bodyBytesMax } } : {}),
    ...(o.centralAnalytics ? { analytics: o.centralAnalytics } : {}),
  });
  const operator = new Client(central.url, NETWORK, 'operator', op.sk);
  const started = new Map<string, TestBank>();
  // Each bank gets its own peers map (never itself); the Bank keeps the map it is given, so
  // the URLs are filled in once every node listens on its port-0 address.
  const peerMaps = new Map<string, Map<string, string>>();

  const register = async (id: string, bankDir: string): Promise<void> => {
    const kp = readOrCreateKeyFile(bankKeyFiles(bankDir).bank);
    const r = await operator.post('/v1/intermediaries', { id, public_key: kp.publicKey.toString('hex'), quota_fen: (10n ** 15n).toString(), reserve_fen: (10n ** 15n).toString() });
    if (r.status !== 201) throw new Error(`register ${id}: ${r.status} ${r.text}`);
  };

  const launch = async (id: string, opts?: BankOptions, contracts?: BankNodeConfig['contracts'], analytics?: BankNodeConfig['analytics']): Promise<TestBank> => {
    const bankDir = path.join(dir, id);
    const peers = new Map<string, string>();
    peerMaps.set(id, peers);
    const node = await startBank({ id, host: '127.0.0.1', port: 0, dataDir: bankDir, centralUrl: central.url, network: NETWORK, peers, bank: holdingsDefaults(opts), ...(contracts ? { contracts } : {}), ...(analytics ? { analytics } : {}), ...(o.limits ? { limits: o.limits } : {}) });
    const files = bankKeyFiles(bankDir);
    const signer = (name: string, file: string) => new Client(node.url, NETWORK, name, readOrCreateKeyFile(file).secretKey);
    const b: TestBank = {
      id, node, url: node.url, dir: bankDir,
      staff: signer('staff', files.staff), compliance: signer('compliance', files.compliance), regulator: signer('regulator', files.regulator),
      self: signer(id, files.bank), accounts: [],
    };
    started.set(id, b);
    return b;
  };

  const linkPeers = (): void => {
    for (const [id, peers] of peerMaps) {
      peers.clear();
      for (const [other, b] of started) if (other !== id) peers.set(other, b.url);
    }
  };

  for (const b of banks) await register(b.id, path.join(dir, b.id));
  for (const b of banks) await launch(b.id, b.opts, b.contracts, b.analytics);
  linkPeers();
  const net: TestNetwork = {
    dir, central, centralUrl: central.url, operator, banks: started,
    bank(id) {
      const b = started.get(id);
      if (b === undefined) throw new Error(`no bank ${id}`);
      return b;
    },
    async addBank(id, opts) {
      await register(id, path.join(dir, id));
      const b = await launch(id, opts);
      linkPeers();
      return b;
    },
    async close() {
      for (const b of started.values()) await b.node.close().catch(() => undefined);
      await central.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return net;
}

// ---------------------------------------------------------------------------------------
// Waiting

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Totals {
  customers_wallet_fen: string;
  customers_deposit_fen: string;
  holdings_fen: string;
  /** The offline reserve's outputs (money loaded onto offline devices). */
  offline_reserve_fen?: string;
  /** Money under contract locks (schedule pots, prepaid, escrow, subsidies). */
  contracts_fen?: string;
  accounts: number;
  coins: number;
}

export async function totals(b: TestBank): Promise<Totals> {
  const r = await b.staff.get<Totals>('/v1/bank/totals');
  expect(r.status, r.text).toBe(200);
  return r.body;
}

export async function supply(net: TestNetwork): Promise<{ issued_fen: string; redeemed_fen: string; unspent_fen: string; outputs: string; spent: string; batches: string }> {
  const r = await rawRequest(net.centralUrl, 'GET', '/v1/supply');
  expect(r.status).toBe(200);
  return r.body;
}

/**
 * Waits until every bank has applied everything central settled: the banks' holdings plus
 * their customers' wallets equal central's unspent supply (nothing else holds CBDC here).
 */
export async function quiesce(net: TestNetwork, timeoutMs = 10_000): Promise<void> {
  await waitFor('the banks to catch up with central', async () => {
    const s = await supply(net);
    let sum = 0n;
    for (const b of net.banks.values()) {
      const t = await totals(b);
      sum += BigInt(t.holdings_fen) + BigInt(t.customers_wallet_fen) + BigInt(t.offline_reserve_fen ?? '0') + BigInt(t.contracts_fen ?? '0');
    }
    return sum === BigInt(s.unspent_fen);
  }, timeoutMs);
}

/** Tops a bank's holdings up through the staff issuance route and waits until it is applied. */
export async function fundHoldings(net: TestNetwork, b: TestBank, amountFen = HOLDINGS_TARGET_FEN): Promise<void> {
  const before = BigInt((await totals(b)).holdings_fen);
  if (before === 0n) {
    const r = await b.staff.post('/v1/bank/issuance', { amount_fen: amountFen.toString() });
    expect(r.status, r.text).toBe(200);
  }
  await waitFor(`${b.id} holdings`, async () => BigInt((await totals(b)).holdings_fen) > 0n);
  // The bank's own 2 s top-up may have raced the request above; wait for whatever it sent.
  await quiesce(net);
}

// ---------------------------------------------------------------------------------------
// Wallets

let phoneSeq = 0;
/** A phone number unique within this process (and very likely across test files). */
export function nextPhone(): string {
  phoneSeq++;
  return `+86${String(process.pid % 100_000).padStart(5, '0')}${String(phoneSeq).padStart(5, '0')}`;
}

export interface OpenOptions {
  tier?: 1 | 2 | 3 | 4;
  kind?: 'personal' | 'merchant';
  mcc?: string;
  evidence?: Record<string, string>;
  label?: string;
}

let walletSeq = 0;

/** Evidence that satisfies a tier. */
export function evidenceFor(tier: number, phone: string): Record<string, string> {
  const ev: Record<string, string> = { phone };
  if (tier <= 3) Object.assign(ev, { name: `Customer ${phone.slice(-4)}`, id_number: `ID${phone.slice(1)}` });
  if (tier <= 2) ev.linked_account = `ACCT-${phone.slice(-8)}`;
  return ev;
}

/** The client that opens an account: signer "key:<hex>" (proof of possession). */
export function applicantClient(b: TestBank, key: KeyPair): Client {
  return new Client(b.url, NETWORK, `key:${key.pk.toString('hex')}`, key.sk);
}

export async function openWallet(b: TestBank, o: OpenOptions = {}): Promise<Wallet> {
  walletSeq++;
  const key = keyPair(o.label ?? `wallet-${process.pid}-${walletSeq}-${Date.now()}`);
  const tier = o.tier ?? 3;
  const phone = o.evidence?.phone ?? nextPhone();
  const body: Record<string, unknown> = { kind: o.kind ?? 'personal', tier, evidence: o.evidence ?? evidenceFor(tier, phone) };
  if (o.mcc !== undefined) body.mcc = o.mcc;
  let r: HttpResponse;
  if (tier === 1) {
    // Class 1 is opened in person: open as class 2, then staff upgrades it.
    r = await applicantClient(b, key).post('/v1/accounts', { ...body, tier: 2, evidence: evidenceFor(2, phone) });
    expect(r.status, r.text).toBe(201);
    const up = await b.staff.post(`/v1/accounts/${r.body.id}/kyc`, { tier: 1, evidence: {} });
    expect(up.status, up.text).toBe(200);
  } else {
    r = await applicantClient(b, key).post('/v1/accounts', body);
    expect(r.status, r.text).toBe(201);
  }
  b.accounts.push(r.body.id);
  return { bank: b, key, id: r.body.id, client: new Client(b.url, NETWORK, r.body.id, key.sk), phone };
}

export type { AccountJson } from '../../wallet/client.js';

export async function account(w: Wallet): Promise<AccountJson> {
  const r = await w.bank.staff.get<AccountJson>(`/v1/accounts/${w.id}`);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** Teller deposit, then exchange into the wallet; waits until the wallet shows it. */
export async function fundWallet(w: Wallet, amountFen: bigint): Promise<void> {
  const d = await w.bank.staff.post(`/v1/accounts/${w.id}/deposit`, { amount_fen: amountFen.toString() });
  expect(d.status, d.text).toBe(200);
  const before = BigInt((await account(w)).balance_fen);
  const x = await w.client.post(`/v1/accounts/${w.id}/exchange`, { direction: 'to_wallet', amount_fen: amountFen.toString(), idempotency_key: idemKey() });
  expect(x.status, x.text).toBe(200);
  expect(x.body.status).toBe('settled');
  expect(BigInt((await account(w)).balance_fen)).toBe(before + amountFen);
}

let idemSeq = 0;
export function idemKey(): string {
  idemSeq++;
  return `k-${process.pid}-${Date.now()}-${idemSeq}`;
}

export type PayeeBody = { alias?: string; account?: string; bank?: string };

/** Step 1 of a payment (prepare); returns the raw response. */
export function preparePayment(w: Wallet, payee: PayeeBody, amountFen: bigint | string, key = idemKey()): Promise<HttpResponse> {
  return w.client.post(`/v1/accounts/${w.id}/payments`, { idempotency_key: key, payee, amount_fen: amountFen.toString() });
}

/** Step 2: the wallet's signature over the txid. */
export function signPayment(w: Wallet, payment: { id: string; txid: string }, sk: Buffer = w.key.sk): Promise<HttpResponse> {
  return w.client.post(`/v1/accounts/${w.id}/payments/${payment.id}/sign`, { sig: signHashNative(sk, Buffer.from(payment.txid, 'hex')).toString('hex') });
}

/** Prepare and sign; expects a settled payment and returns it. */
export async function pay(w: Wallet, payee: PayeeBody, amountFen: bigint): Promise<any> {
  const p = await preparePayment(w, payee, amountFen);
  expect(p.status, p.text).toBe(200);
  expect(p.body.status).toBe('awaiting_signature');
  const s = await signPayment(w, p.body);
  expect(s.status, s.text).toBe(200);
  expect(s.body.status).toBe('settled');
  return s.body;
}

// ---------------------------------------------------------------------------------------
// Snapshots

export interface Snapshot {
  accounts: Record<string, unknown>;
  histories: Record<string, unknown>;
  totals: Record<string, Totals>;
  supply: unknown;
}

/** Every figure a refused request must leave alone: accounts (with usage), histories, bank totals, central supply. */
export async function snapshot(net: TestNetwork, wallets: readonly Wallet[]): Promise<Snapshot> {
  const s: Snapshot = { accounts: {}, histories: {}, totals: {}, supply: await supply(net) };
  for (const w of wallets) {
    s.accounts[w.id] = await account(w);
    const h = await w.bank.staff.get(`/v1/accounts/${w.id}/history?limit=500`);
    expect(h.status, h.text).toBe(200);
    s.histories[w.id] = h.body;
  }
  for (const b of net.banks.values()) s.totals[b.id] = await totals(b);
  return s;
}
