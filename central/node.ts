// Starts a central bank node: ledger store (LMDB, or SQL with `store`), verification pool,
// ledger, HTTP and ws API.
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { NETWORK_ID_PATTERN } from '../protocol/tx.js';
import { verifierByName } from '../protocol/sig.js';
import { LmdbStore } from './store_lmdb.js';
import { SqlStore } from './store_sql.js';
import { Ledger, type VerificationMode } from './ledger.js';
import { VerifyPool, type VerifierBackend } from './verify_pool.js';
import { buildCentralApi } from './api.js';
import { createMetricsRegistry } from '../platform/metrics.js';
import { registerCentralMetrics } from './metrics.js';
import type { Durability, LedgerStore } from './store.js';
import type { ServerLimits, TlsConfig } from '../platform/server_limits.js';
import { readOrCreateKeyFile } from '../platform/key_file.js';
import { CentralAnalytics, type CentralAnalyticsOptions } from './analytics.js';

export interface CentralConfig {
  host: string;
  port: number;
  dataDir: string;
  network: string;
  operatorPublicKey: Buffer;
  /** Held by the node to authorize intermediaries' issuance and redemption requests. */
  operatorSecretKey?: Buffer;
  durability: Durability;
  verification: VerificationMode;
  verifyBackend: VerifierBackend;
  /** Verification worker threads (0: verify on the event loop; for tests only). */
  verifyThreads?: number;
  batchTxMax?: number;
  mapSizeBytes?: number;
  /** A postgres:// URL: the ledger lives in that SQL database (store_sql.ts) instead of LMDB under dataDir. */
  store?: string;
  logLevel?: string;
  /** How often the dashboard pushes figures (default one second). */
  dashboardIntervalMs?: number;
  /** Client limits of the API (default: CENTRAL_LIMITS). */
  limits?: ServerLimits;
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsConfig;
  /** Private analytics: minimum group size, privacy budget (central/analytics.ts); its keys and budget live under dataDir. */
  analytics?: CentralAnalyticsOptions;
}

export interface CentralNode {
  app: FastifyInstance;
  ledger: Ledger;
  store: LedgerStore;
  analytics: CentralAnalytics;
  url: string;
  close(): Promise<void>;
}

export async function startCentral(c: CentralConfig): Promise<CentralNode> {
  if (!NETWORK_ID_PATTERN.test(c.network)) throw new Error(`bad network id "${c.network}"`);
  mkdirSync(c.dataDir, { recursive: true });
  const store: LedgerStore = c.store !== undefined
    ? await SqlStore.open({ url: c.store })
    : new LmdbStore({ path: path.join(c.dataDir, 'ledger.mdb'), durability: c.durability, ...(c.mapSizeBytes ? { mapSizeBytes: c.mapSizeBytes } : {}) });
  const pool = c.verifyThreads === 0 ? null : new VerifyPool({ backend: c.verifyBackend, ...(c.verifyThreads ? { threads: c.verifyThreads } : {}) });
  const verifier = verifierByName(c.verifyBackend);
  const ledger = new Ledger(store, {
    network: c.network, operatorPublicKey: c.operatorPublicKey, pool, verifier, ...(c.batchTxMax ? { batchTxMax: c.batchTxMax } : {}),
  });
  const metrics = createMetricsRegistry();
  registerCentralMetrics(metrics, { ledger, store });
  // The regulator's key (it queries; its secret stays with the regulator's tools) and the
  // analytics coordinator's (central signs its requests to banks with it), created on first start.
  const analytics = new CentralAnalytics(c.dataDir, c.network, store, readOrCreateKeyFile(path.join(c.dataDir, 'coordinator.key')),
    readOrCreateKeyFile(path.join(c.dataDir, 'regulator.key')).publicKey, c.analytics);
  const app = await buildCentralApi({
    ledger, store, network: c.network, operatorPublicKey: c.operatorPublicKey, verifier, verification: c.verification,
    metrics, dashboard: { ledger, store, network: c.network, ...(c.dashboardIntervalMs ? { intervalMs: c.dashboardIntervalMs } : {}) },
    ...(c.logLevel ? { logLevel: c.logLevel } : {}),
    ...(c.limits ? { limits: c.limits } : {}), ...(c.tls ? { tls: c.tls } : {}),
    ...(c.operatorSecretKey ? { operatorSecretKey: c.operatorSecretKey } : {}),
    analytics,
  });
  await app.listen({ host: c.host, port: c.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : c.port;
  let closing: Promise<void> | null = null;
  return {
    app, ledger, store, analytics, url: `${c.tls ? 'https' : 'http'}://${c.host.includes(':') ? `[${c.host}]` : c.host}:${port}`,
    close() {
      closing ??= (async () => {
        await app.close();
        await ledger.drain();
        await pool?.close();
        await store.close();
        await analytics.close();
      })();
      return closing;
    },
  };
}

/**
 * V8 flags a central node runs with (npm start, the load tests; the ledger benchmark's npm
 * script names them too): semi-spaces of 64 MiB, so that a batch's short-lived objects (one
 * per transaction, input and output) die before a scavenge instead of being copied. Measured
 * in BENCHMARKS.md.
 */
export const CENTRAL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
