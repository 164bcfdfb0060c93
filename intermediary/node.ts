// Starts an intermediary bank node: its LMDB store, its link to central, the bank, the API.
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { readOrCreateKeyFile } from '../platform/key_file.js';
import { BankStore } from './store.js';
import { CentralLink } from './central_link.js';
import { Bank, type BankConfig } from './bank.js';
import { buildBankApi, type StaffKeys } from './api.js';
import { OfflineService } from './offline/reserve.js';
import { createMetricsRegistry } from '../platform/metrics.js';
import { registerBankMetrics } from './metrics.js';
import { ContractServices, type ContractServicesOptions } from './contracts/services.js';
import { ReceiptService, type ReceiptServiceOptions } from './receipts/service.js';
import type { ServerLimits, TlsConfig } from '../platform/server_limits.js';
import { VisitorService, type VisitorOptions } from './visitors/service.js';
import { BankAnalytics, type BankAnalyticsOptions } from './analytics/service.js';

export interface BankNodeConfig {
  id: string;
  host: string;
  port: number;
  dataDir: string;
  centralUrl: string;
  network: string;
  peers?: Map<string, string>;
  /** Attest each batch sent to central (see CentralLink). */
  attest?: boolean;
  /** The least time between two batches to central (CentralLink; default BATCH_INTERVAL_MS_DEFAULT). */
  batchIntervalMs?: number;
  logLevel?: string;
  /** Client limits of the bank's API (default: SERVER_LIMITS_DEFAULT). */
  limits?: ServerLimits;
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsConfig;
  /** PEM certificates trusted for central and peer banks over HTTPS. */
  tlsCa?: Buffer;
  bank?: Partial<Omit<BankConfig, 'id' | 'network' | 'secretKey' | 'publicKey' | 'peers'>>;
  contracts?: ContractServicesOptions;
  /** Receipt delivery: queue bound and retry pacing (intermediary/receipts/service.ts). */
  receipts?: Pick<ReceiptServiceOptions, 'queueMax' | 'retryMaxMs' | 'tickMs'>;
  /** Visitor wallets: the FX table and fee (defaults in intermediary/visitors/acquirer.ts). */
  visitors?: VisitorOptions;
  /** Private analytics: contribution bounds, minimum group size, privacy budget (intermediary/analytics/service.ts). */
  analytics?: BankAnalyticsOptions;
}

export interface BankNode {
  app: FastifyInstance;
  bank: Bank;
  offline: OfflineService;
  contracts: ContractServices;
  visitors: VisitorService;
  receipts: ReceiptService;
  analytics: BankAnalytics;
  url: string;
  close(): Promise<void>;
}

/** The node's key files under its data directory (created on first start). */
export function bankKeyFiles(dataDir: string): { bank: string; staff: string; compliance: string; regulator: string; offlineReserve: string; visitorPepper: string; tax: string } {
  return {
    // The secret key of this file is the HMAC key passports and card numbers are hashed under (never a signing key).
    visitorPepper: path.join(dataDir, 'visitor-pepper.key'),
    offlineReserve: path.join(dataDir, 'offline-reserve.key'),
    bank: path.join(dataDir, 'bank.key'),
    staff: path.join(dataDir, 'staff.key'),
    compliance: path.join(dataDir, 'compliance.key'),
    regulator: path.join(dataDir, 'regulator.key'),
    // The tax authority's key: it reads merchants' receipts, nothing else (intermediary/receipts/).
    tax: path.join(dataDir, 'tax.key'),
  };
}

export async function startBank(c: BankNodeConfig): Promise<BankNode> {
  mkdirSync(c.dataDir, { recursive: true });
  const files = bankKeyFiles(c.dataDir);
  const key = readOrCreateKeyFile(files.bank);
  const staff: StaffKeys = {
    staff: { publicKey: readOrCreateKeyFile(files.staff).publicKey, role: 'staff' },
    compliance: { publicKey: readOrCreateKeyFile(files.compliance).publicKey, role: 'compliance' },
    regulator: { publicKey: readOrCreateKeyFile(files.regulator).publicKey, role: 'regulator' },
    tax: { publicKey: readOrCreateKeyFile(files.tax).publicKey, role: 'tax' },
  };
  const store = new BankStore(path.join(c.dataDir, 'bank.mdb'));
  const link = new CentralLink(c.centralUrl, c.network, c.id, key.secretKey, c.attest ?? false, c.tlsCa, c.batchIntervalMs);
  const bank = new Bank(store, link, { ...(c.bank ?? {}), id: c.id, network: c.network, secretKey: key.secretKey, publicKey: key.publicKey, peers: c.peers ?? new Map() });

  let bankKeys = new Map<string, Buffer>();
  const refreshBankKeys = async (): Promise<void> => {
    const d = await link.call<{ intermediaries: { id: string; public_key: string }[] }>('GET', '/v1/directory');
    bankKeys = new Map(d.intermediaries.filter((i) => i.id !== c.id).map((i) => [i.id, Buffer.from(i.public_key, 'hex')]));
  };
  await refreshBankKeys();
  bank.peerKeyOf = (id) => bankKeys.get(id);
  const offline = new OfflineService(bank, { bankSecretKey: key.secretKey, reserveKey: readOrCreateKeyFile(files.offlineReserve), peerKeys: () => bankKeys, refreshPeerKeys: refreshBankKeys });
  const metrics = createMetricsRegistry();
  registerBankMetrics(metrics, bank);
  const contracts = new ContractServices(bank, c.contracts);
  const receipts = new ReceiptService(bank, { ...(c.receipts ?? {}), secretKey: key.secretKey, peerKey: (id) => bankKeys.get(id), refreshPeerKeys: refreshBankKeys, ...(c.tlsCa ? { tlsCa: c.tlsCa } : {}) });
  const visitors = new VisitorService(bank, readOrCreateKeyFile(files.visitorPepper).secretKey, c.visitors);
  const analytics = new BankAnalytics(bank, key.secretKey, () => bankKeys, refreshBankKeys, c.analytics);
  const app = await buildBankApi({
    bank, staff, bankKeys: () => bankKeys, refreshBankKeys, offline, metrics, contracts, visitors, receipts, analytics, ...(c.logLevel ? { logLevel: c.logLevel } : {}),
    ...(c.limits ? { limits: c.limits } : {}), ...(c.tls ? { tls: c.tls } : {}),
  });
  await bank.start();
  await offline.start();
  contracts.start();
  receipts.start();
  await app.listen({ host: c.host, port: c.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : c.port;
  let closing: Promise<void> | null = null;
  return {
    app, bank, offline, contracts, visitors, receipts, analytics, url: `${c.tls ? 'https' : 'http'}://${c.host}:${port}`,
    close() {
      closing ??= (async () => {
        await app.close();
        await offline.stop();
        await contracts.stop();
        await receipts.stop();
        await bank.stop();
        await store.close();
      })();
      return closing;
    },
  };
}
