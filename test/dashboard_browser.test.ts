// The live dashboard in a real browser: Debian's chromium (headless, driven by playwright-core)
// opens /dashboard on a central node running as its own process, while this test drives a
// load of transfers through the signed API. The page must show the settled rate, the
// settlement count, the supply and the bank's issuance move, list the recent settlements,
// draw its charts, and do all that under its Content-Security-Policy with no console errors.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CentralProcess, killAllCentralProcesses } from './helpers/central_process.js';
import {
  Client, type Coin, type SettledJson, coinsFrom, issueTx, json, keyPair, rawRequest, transferTx,
} from './helpers/http_fixture.js';

// Functions passed to page.waitForFunction run in the browser; the tests' TypeScript has no
// DOM library, so this names the little of it they use.
declare const document: {
  body: { dataset: Record<string, string | undefined> };
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): { textContent: string | null } | null;
};

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
/** Coins issued for the load (in issuances of ISSUE_OUTPUTS_MAX): each is spent once by one transfer. */
const LOAD_COINS = 600;
const ISSUE_OUTPUTS_MAX = 60;
const LOAD_GROUP_TXS = 20;

const alice = keyPair('dash-alice');
const bob = keyPair('dash-bob');
const bankKey = keyPair('dash-bank');

let dir: string;
let central: CentralProcess;
let op: Client;
let bank: Client;
let browser: Browser | null = null;
let page: Page;
const pageProblems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the dashboard test needs Debian's chromium package (scripts/setup.sh installs it: apt-get install chromium)`);
  }
  dir = await mkdtemp(path.join(tmpdir(), 'cbdc-dashboard-'));
  central = new CentralProcess({ dataDir: dir, durability: 'sync', verifyThreads: 1, startTimeoutMs: 60_000 });
  await central.start();
  const operator = central.operatorKey();
  op = new Client(central.url, central.network, 'operator', operator.sk);
  const r = await op.post('/v1/intermediaries', { id: 'dash-bank', public_key: bankKey.pk.toString('hex'), quota_fen: '100000000000', reserve_fen: '100000000000' });
  expect(r.status, r.text).toBe(201);
  bank = new Client(central.url, central.network, 'dash-bank', bankKey.sk);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') pageProblems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => pageProblems.push(`page error: ${e.message}`));
  page.on('response', (res) => { if (res.status() >= 400) pageProblems.push(`${res.status()} for ${res.url()}`); });
  page.on('requestfailed', (q) => pageProblems.push(`request failed: ${q.url()} ${q.failure()?.errorText ?? ''}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await killAllCentralProcesses();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Operator-signed issuance of `count` outputs of `valueFen` to `owner`. */
async function issue(count: number, valueFen: bigint, owner = alice): Promise<Coin[]> {
  const info = await op.get<{ next_serial: string }>('/v1/intermediaries/dash-bank');
  expect(info.status, info.text).toBe(200);
  const outs = Array.from({ length: count }, () => ({ value: valueFen, owner }));
  const tx = issueTx(central.network, central.operatorKey(), 'dash-bank', BigInt(info.body.next_serial), outs);
  const r = await op.post<SettledJson>('/v1/transactions', json(tx));
  expect(r.status, r.text).toBe(200);
  return coinsFrom(r.body, outs);
}

/** "123456" fen -> "1,234.56", as the page writes it. */
function yuan(fen: string): string {
  const s = fen.padStart(3, '0');
  return `${s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${s.slice(-2)}`;
}

const text = (id: string): Promise<string> => page.locator(`#${id}`).innerText();
const tick = async (): Promise<number> => Number(await page.evaluate(() => document.body.dataset.tick ?? '0'));

describe('the live dashboard', () => {
  it('serves a self-contained page under a strict Content-Security-Policy, and the feed only over websocket', async () => {
    const r = await rawRequest(central.url, 'GET', '/dashboard');
    expect(r.status).toBe(200);
    const csp = (await fetch(`${central.url}/dashboard`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    // Nothing from another host, no inline script.
    expect(r.text).not.toMatch(/https?:\/\//);
    expect(r.text).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*src=)[^>]*>/);
    for (const asset of ['/dashboard/app.js', '/dashboard/style.css', '/dashboard/uplot.js', '/dashboard/uplot.css']) {
      const a = await rawRequest(central.url, 'GET', asset);
      expect(a.status, asset).toBe(200);
      expect(a.text.length, asset).toBeGreaterThan(100);
    }
    const plain = await rawRequest(central.url, 'GET', '/dashboard/feed');
    expect(plain.status).toBe(404);
    expect(plain.body.code).toBe('CBDC_ERR_NOT_FOUND');
  });

  it('shows the live figures move while a load of transfers runs', async () => {
    await issue(1, 500_000n);
    await page.goto(`${central.url}/dashboard`, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 30_000 });
    // The first tick fills the figures.
    await page.waitForFunction(() => Number(document.body.dataset.tick ?? '0') > 0, undefined, { timeout: 30_000 });
    const supplyBefore = (await rawRequest(central.url, 'GET', '/v1/supply')).body;
    await page.waitForFunction((want) => document.getElementById('supply-issued')?.textContent === want, yuan(supplyBefore.issued_fen), { timeout: 30_000 });
    const settledBefore = Number((await text('settled-total')).replace(/,/g, ''));
    expect(await page.locator('#chart-tps canvas').count()).toBe(1);
    expect(await page.locator('#chart-latency canvas').count()).toBe(1);

    // The load: new coins (the supply moves), then transfers in groups, until the page has
    // shown a non-zero rate or the coins run out.
    const coins: Coin[] = [];
    while (coins.length < LOAD_COINS) coins.push(...await issue(ISSUE_OUTPUTS_MAX, 1_000n));
    const supplyAfterIssue = (await rawRequest(central.url, 'GET', '/v1/supply')).body;
    let sawRate = false;
    let settled = 0;
    const watch = page.waitForFunction(() => Number(document.getElementById('tps')?.textContent ?? '0') > 0, undefined, { timeout: 120_000, polling: 50 })
      .then(() => { sawRate = true; });
    for (let at = 0; at < coins.length && !sawRate; at += LOAD_GROUP_TXS) {
      const group = coins.slice(at, at + LOAD_GROUP_TXS).map((c) => json(transferTx(central.network, [c], [{ value: 600n, owner: bob }, { value: 400n, owner: alice }])));
      const r = await bank.post('/v1/batches', { transactions: group });
      expect(r.status, r.text).toBe(200);
      expect(r.body.accepted).toBe(group.length);
      settled += group.length;
      await new Promise((res) => setTimeout(res, 50));
    }
    await watch;
    expect(sawRate).toBe(true);
    expect(settled).toBeGreaterThan(0);

    // Settled count: every transfer and issuance, once the ticks catch up.
    const wantTotal = settledBefore + LOAD_COINS / ISSUE_OUTPUTS_MAX + settled;
    await page.waitForFunction((want) => Number((document.getElementById('settled-total')?.textContent ?? '0').replace(/,/g, '')) >= want, wantTotal, { timeout: 30_000 });
    expect(Number((await text('settled-total')).replace(/,/g, ''))).toBe(wantTotal);

    // Supply: the new issuance shows, in yuan, as GET /v1/supply has it (transfers leave it unchanged).
    expect(supplyAfterIssue.issued_fen).not.toBe(supplyBefore.issued_fen);
    await page.waitForFunction((want) => document.getElementById('supply-issued')?.textContent === want, yuan(supplyAfterIssue.issued_fen), { timeout: 30_000 });
    expect(await text('supply-unspent')).toBe(yuan(supplyAfterIssue.unspent_fen));

    // Issuance per bank: the bank's row shows what central records for it.
    const rec = (await op.get('/v1/intermediaries/dash-bank')).body;
    await page.waitForFunction((want) => document.querySelector('#banks tbody tr td:nth-child(2)')?.textContent === want, yuan(rec.issued_fen), { timeout: 30_000 });
    expect(await page.locator('#banks tbody tr td:first-child').first().innerText()).toBe('dash-bank');

    // Latency figures are numbers; recent settlements list the transfers.
    await page.waitForFunction(() => /^[0-9.]+$/.test(document.getElementById('p50')?.textContent ?? ''), undefined, { timeout: 30_000 });
    expect(Number(await text('p99'))).toBeGreaterThanOrEqual(Number(await text('p50')));
    const kinds = await page.locator('#recent tbody tr td:nth-child(3)').allInnerTexts();
    expect(kinds.length).toBeGreaterThan(0);
    expect(kinds).toContain('transfer');
    const values = await page.locator('#recent tbody tr td:nth-child(6)').allInnerTexts();
    expect(values).toContain('10.00');

    // Idle again: the rate falls back to zero on a later tick, while the totals stay.
    const t = await tick();
    await page.waitForFunction((after) => Number(document.body.dataset.tick) > after + 1 && document.getElementById('tps')?.textContent === '0.0', t, { timeout: 30_000 });
    expect(Number((await text('settled-total')).replace(/,/g, ''))).toBe(wantTotal);

    expect(pageProblems).toEqual([]);
  });
});
