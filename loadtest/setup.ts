// Before the clock starts: fund the workload at central (operator-signed issuance), spend the
// outputs double spends will reuse, open and fund the e2e wallets' accounts at their banks.
// Nothing here is timed; all of it goes through the real HTTP APIs.
import { randomBytes } from 'node:crypto';
import { type Lock } from '../protocol/lock.js';
import { type Tx, txToJson } from '../protocol/tx.js';
import { multiLock } from '../protocol/tx_builder.js';
import { signHashNative } from '../protocol/sig.js';
import { HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNER, HEADER_TIME, requestMessage } from '../protocol/request_auth.js';
import { FUNDING_TXS_PER_REQUEST, fundingIssuance, type OutPointRef } from './workload.js';

/** Requests the setup keeps in flight at once. */
const SETUP_CONCURRENCY = 16;
/** How long the banks may take to credit the funding from central's event stream. */
const FUNDING_CREDIT_WAIT_MS = 300_000;
/** Per-request timeout during setup. */
const SETUP_REQUEST_TIMEOUT_MS = 120_000;

/** The headers of one signed request (protocol/request_auth.ts), signed with libsecp256k1. */
export function signedHeaders(sk: Uint8Array, network: string, method: string, pathWithQuery: string, body: Uint8Array, signer: string): Record<string, string> {
  const timeMs = Date.now();
  const nonce = randomBytes(16);
  const sig = signHashNative(sk, requestMessage({ network, method, path: pathWithQuery, body, timeMs, nonce, signer }));
  return {
    [HEADER_SIGNER]: signer,
    [HEADER_TIME]: String(timeMs),
    [HEADER_NONCE]: nonce.toString('hex'),
    [HEADER_SIGNATURE]: sig.toString('hex'),
  };
}

/**
 * Whether a fetch failed because the server closed a kept-alive connection as it was reused:
 * after the long idle spells of setup (signing a large workload takes longer than the servers'
 * keep-alive), the first request can meet a socket the server is closing. Nothing reached the
 * server, and a GET may be sent again.
 */
function closedWhileReused(e: unknown): boolean {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return e instanceof TypeError && (cause?.code === 'UND_ERR_SOCKET' || cause?.code === 'ECONNRESET' || cause?.message === 'other side closed');
}

/** GET over fetch, sent once more when the connection it reused had been closed by the server. */
export async function getWithRetry(url: string, init: () => RequestInit = () => ({})): Promise<Response> {
  try {
    return await fetch(url, init());
  } catch (e) {
    if (!closedWhileReused(e)) throw e;
    return fetch(url, init());
  }
}

/** One signed JSON request; resolves with status and parsed body. A GET is signed and sent again if its connection was closed under it. */
export async function signedCall<T>(base: string, network: string, sk: Uint8Array, signer: string, method: 'GET' | 'POST', p: string, json?: unknown): Promise<{ status: number; body: T }> {
  const body = json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(json));
  const init = (): RequestInit => {
    // Signed afresh for each attempt: a nonce is accepted once.
    const headers = signedHeaders(sk, network, method, p, body, signer);
    if (json !== undefined) headers['content-type'] = 'application/json';
    return { method, headers, body: json === undefined ? undefined : body, signal: AbortSignal.timeout(SETUP_REQUEST_TIMEOUT_MS) };
  };
  const res = method === 'GET' ? await getWithRetry(base + p, init) : await fetch(base + p, init());
  const text = await res.text();
  return { status: res.status, body: (text.length > 0 ? JSON.parse(text) : null) as T };
}

/** Runs `work(i)` for i in [0, n) with at most `concurrency` at once. */
export async function forEachLimited(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) await work(next++);
  });
  await Promise.all(lanes);
}

interface BatchAnswer {
  accepted: number;
  rejected: number;
  results: { status: string; txid: string | null; code?: string; message?: string; outputs?: { pos: string; id: string }[] }[];
}

/** Posts transactions to central in batches (signed by `signer`); every one must settle. */
export async function settleAll(centralUrl: string, network: string, sk: Buffer, signer: string, txs: readonly Tx[], perRequest: number, what: string, concurrency = 4): Promise<OutPointRef[][]> {
  const out: OutPointRef[][] = new Array(txs.length);
  const chunks = Math.ceil(txs.length / perRequest);
  await forEachLimited(chunks, concurrency, async (c) => {
    const from = c * perRequest;
    const slice = txs.slice(from, from + perRequest);
    const r = await signedCall<BatchAnswer & { code?: string; message?: string }>(centralUrl, network, sk, signer, 'POST', '/v1/batches', { transactions: slice.map(txToJson) });
    if (r.status !== 200) throw new Error(`${what}: central answered ${r.status} ${r.body.code ?? ''} ${r.body.message ?? ''}`);
    r.body.results.forEach((res, i) => {
      if (res.status !== 'settled') throw new Error(`${what}: transaction ${from + i} was refused: ${res.code} ${res.message}`);
      out[from + i] = res.outputs!.map((o) => ({ pos: BigInt(o.pos), id: Buffer.from(o.id, 'hex') }));
    });
  });
  return out;
}

/**
 * Issues `outputs` at central (operator-signed, 64 outputs per issuance) and returns each
 * output's position and id, in order. Issuance serials of one intermediary must arrive in
 * order, so each funder intermediary is one lane of requests, one at a time; the lanes run
 * side by side.
 */
export async function fund(centralUrl: string, network: string, operatorSk: Buffer, funderIds: readonly string[], outputs: readonly { value: bigint; lock: Lock }[]): Promise<OutPointRef[]> {
  const per = Math.ceil(outputs.length / funderIds.length / 64) * 64;
  const lanes = await Promise.all(funderIds.map((id, lane) => {
    const txs = fundingIssuance(network, id, 0n, outputs.slice(lane * per, (lane + 1) * per), operatorSk);
    return settleAll(centralUrl, network, operatorSk, 'operator', txs, FUNDING_TXS_PER_REQUEST, 'funding', 1);
  }));
  return lanes.flat(2);
}

// -------------------------------------------------------------------------------------------
// e2e: accounts at the banks

export interface WalletAccount {
  wallet: number;
  bank: string;
  bankUrl: string;
  accountId: string;
  sk: Buffer;
  pub: Buffer;
}

/** Opens each wallet's account (tier 4 by the wallet key), then staff raise it to class 1 (no caps). */
export async function openAccounts(network: string, wallets: { bank: string; bankUrl: string; sk: Buffer; pub: Buffer; staffSk: Buffer }[], seed: string): Promise<WalletAccount[]> {
  const out: WalletAccount[] = new Array(wallets.length);
  // Phone numbers must be unique per bank: derive them from the seed and the wallet number.
  const prefix = 13_000_000_000 + (parseInt(seed.length > 0 ? Buffer.from(seed).toString('hex').slice(0, 6) : '0', 16) % 1_000) * 1_000_000;
  await forEachLimited(wallets.length, SETUP_CONCURRENCY, async (w) => {
    const x = wallets[w]!;
    const signer = `key:${x.pub.toString('hex')}`;
    const opened = await signedCall<{ id?: string; code?: string; message?: string }>(x.bankUrl, network, x.sk, signer, 'POST', '/v1/accounts', {
      kind: 'personal', tier: 4, evidence: { phone: `+86${prefix + w}` },
    });
    if (opened.status !== 201 || opened.body.id === undefined) throw new Error(`opening wallet ${w}'s account at ${x.bank}: ${opened.status} ${opened.body.code} ${opened.body.message}`);
    const id = opened.body.id;
    const kyc = await signedCall<{ tier?: number; code?: string; message?: string }>(x.bankUrl, network, x.staffSk, 'staff', 'POST', `/v1/accounts/${id}/kyc`, {
      tier: 1, evidence: { name: `Load Test ${w}`, id_number: `LT${String(w).padStart(8, '0')}`, linked_account: `LT-${w}` },
    });
    if (kyc.status !== 200 || kyc.body.tier !== 1) throw new Error(`raising ${id} to class 1: ${kyc.status} ${kyc.body.code} ${kyc.body.message}`);
    out[w] = { wallet: w, bank: x.bank, bankUrl: x.bankUrl, accountId: id, sk: x.sk, pub: x.pub };
  });
  return out;
}

/** The lock a bank's customer's money sits under: multi(2, [wallet key, bank key]). */
export function customerLock(walletPub: Buffer, bankPub: Buffer): Lock {
  return multiLock(2, [walletPub, bankPub]);
}

/** Waits until each bank's customers' wallets add up to what was issued to them. */
export async function waitForCredit(network: string, banks: { id: string; url: string; staffSk: Buffer; expectedFen: bigint }[]): Promise<void> {
  const deadline = Date.now() + FUNDING_CREDIT_WAIT_MS;
  for (const b of banks) {
    for (;;) {
      const r = await signedCall<{ customers_wallet_fen: string }>(b.url, network, b.staffSk, 'staff', 'GET', '/v1/bank/totals');
      if (r.status === 200 && BigInt(r.body.customers_wallet_fen) === b.expectedFen) break;
      if (r.status === 200 && BigInt(r.body.customers_wallet_fen) > b.expectedFen) throw new Error(`${b.id} credits ${r.body.customers_wallet_fen} fen, more than the ${b.expectedFen} issued`);
      if (Date.now() > deadline) throw new Error(`${b.id} did not credit the funding within ${FUNDING_CREDIT_WAIT_MS} ms (${r.status} ${JSON.stringify(r.body)})`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }
}

/** Each account's wallet balance at its bank (read by staff). */
export async function balances(network: string, accounts: readonly WalletAccount[], staffSk: Map<string, Buffer>): Promise<bigint[]> {
  const out: bigint[] = new Array(accounts.length);
  await forEachLimited(accounts.length, SETUP_CONCURRENCY, async (i) => {
    const a = accounts[i]!;
    const r = await signedCall<{ balance_fen: string }>(a.bankUrl, network, staffSk.get(a.bank)!, 'staff', 'GET', `/v1/accounts/${a.accountId}`);
    if (r.status !== 200) throw new Error(`reading ${a.accountId}: ${r.status}`);
    out[i] = BigInt(r.body.balance_fen);
  });
  return out;
}
