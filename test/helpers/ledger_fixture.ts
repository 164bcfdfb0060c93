// A small shared fixture for ledger tests: a fresh temp dir with a real LmdbStore and a
// Ledger on it, deterministic keys (operator, banks, wallets), registering intermediaries,
// and building signed issuance, transfer and redemption transactions.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256 } from '../../protocol/hash.js';
import type { Lock } from '../../protocol/lock.js';
import { isValidSecretKey, publicKeyOf, signHash } from '../../protocol/sig.js';
import { type OutPoint, type Tx, txId } from '../../protocol/tx.js';
import { keyLock, makeTx, multiLock, operatorSignTx, signTx } from '../../protocol/tx_builder.js';
import { Ledger, type LedgerOptions, type TxResult, batchMessage } from '../../central/ledger.js';
import type { Durability, Intermediary, LedgerStore } from '../../central/store.js';
import { LmdbStore } from '../../central/store_lmdb.js';
import { SqlStore } from '../../central/store_sql.js';
import { freshDatabaseUrl, storeUnderTest } from './store_under_test.js';
import type { VerifyPool } from '../../central/verify_pool.js';

export const NETWORK = 'cbdc-test';

export interface KeyPair {
  readonly sk: Buffer;
  readonly pk: Buffer;
}

const keyCache = new Map<string, KeyPair>();

/** A deterministic key pair for a label (same label, same key, in every test). */
export function keyPair(label: string): KeyPair {
  let kp = keyCache.get(label);
  if (kp === undefined) {
    const sk = sha256(Buffer.from(`cbdc-test-key/${label}`, 'utf8'));
    if (!isValidSecretKey(sk)) throw new Error(`label ${label} gives an invalid secret key`);
    kp = { sk, pk: publicKeyOf(sk) };
    keyCache.set(label, kp);
  }
  return kp;
}

export const OPERATOR = keyPair('operator');

/** An output the ledger holds, with what a test needs to spend it. */
export interface Coin extends OutPoint {
  readonly value: bigint;
  readonly lock: Lock;
}

export interface OutputSpec {
  readonly value: bigint;
  readonly lock: Lock;
}

export const toKey = (kp: KeyPair): Lock => keyLock(kp.pk);
export const toMulti2 = (a: KeyPair, b: KeyPair): Lock => multiLock(2, [a.pk, b.pk]);

/** An issuance to an intermediary, signed by the operator (or by another key to test refusals). */
export function issueTx(intermediary: string, serial: bigint, outputs: readonly OutputSpec[], signer: KeyPair = OPERATOR): Tx {
  return operatorSignTx(makeTx({ kind: 'issue', network: NETWORK, intermediary, serial, inputs: [], outputs: [...outputs] }), signer.sk);
}

/** A transfer spending coins, signed by each key in `signers`. */
export function transferTx(inputs: readonly OutPoint[], outputs: readonly OutputSpec[], signers: readonly KeyPair[]): Tx {
  const tx = makeTx({ network: NETWORK, inputs: inputs.map((c) => ({ pos: c.pos, id: c.id })), outputs: [...outputs] });
  return signTx(tx, signers.map((s) => s.sk));
}

/** A redemption credited to an intermediary: owners sign the txid, the operator signs too. */
export function redeemTx(
  intermediary: string, inputs: readonly OutPoint[], outputs: readonly OutputSpec[], signers: readonly KeyPair[], operator: KeyPair = OPERATOR,
): Tx {
  const tx = makeTx({ kind: 'redeem', network: NETWORK, intermediary, inputs: inputs.map((c) => ({ pos: c.pos, id: c.id })), outputs: [...outputs] });
  return operatorSignTx(signTx(tx, signers.map((s) => s.sk)), operator.sk);
}

/** A batch attestation by an intermediary's key over the txids of `txs`. */
export function attest(txs: readonly Tx[], signer: KeyPair, network = NETWORK): { key: Buffer; sig: Buffer } {
  return { key: signer.pk, sig: signHash(signer.sk, batchMessage(network, txs.map(txId))) };
}

/** The coins an accepted transaction created. */
export function coinsOf(tx: Tx, result: TxResult): Coin[] {
  if (!result.ok) throw new Error(`expected an accepted transaction, got ${result.code}: ${result.message}`);
  return tx.outputs.map((o, i) => ({ pos: result.firstPos + BigInt(i), id: result.outputIds[i]!, value: o.value, lock: o.lock }));
}

export interface FixtureOptions {
  durability: Durability;
  pool?: VerifyPool | null;
  ledger?: Partial<Omit<LedgerOptions, 'network' | 'operatorPublicKey' | 'pool'>>;
}

/**
 * A Ledger over a real store: LmdbStore in its own temp dir, or (under the `sql` project)
 * SqlStore in its own database. dispose() closes it and removes the dir.
 */
export class LedgerFixture {
  ledger: Ledger;
  private disposed = false;

  private constructor(readonly dir: string, readonly opts: FixtureOptions, public store: LedgerStore, readonly sqlUrl: string | null) {
    this.ledger = LedgerFixture.makeLedger(this.store, opts);
  }

  private static makeLedger(store: LedgerStore, opts: FixtureOptions): Ledger {
    return new Ledger(store, { network: NETWORK, operatorPublicKey: OPERATOR.pk, pool: opts.pool ?? null, ...opts.ledger });
  }

  private static openStore(dir: string, opts: FixtureOptions, sqlUrl: string | null): Promise<LedgerStore> | LedgerStore {
    return sqlUrl !== null ? SqlStore.open({ url: sqlUrl }) : new LmdbStore({ path: dir, durability: opts.durability });
  }

  static async open(opts: FixtureOptions): Promise<LedgerFixture> {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-ledger-'));
    const sqlUrl = storeUnderTest() === 'postgres' ? await freshDatabaseUrl() : null;
    return new LedgerFixture(dir, opts, await LedgerFixture.openStore(dir, opts, sqlUrl), sqlUrl);
  }

  /** Registers an intermediary with its key, quota and reserve. */
  async register(id: string, key: KeyPair, quotaFen: bigint, reserveFen: bigint): Promise<Intermediary> {
    const rec: Intermediary = {
      id, publicKey: key.pk.toString('hex'), quotaFen, reserveFen, issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n, registeredAtMs: 1_700_000_000_000,
    };
    await this.store.registerIntermediary(rec);
    return rec;
  }

  submit(txs: readonly Tx[], attestation?: { key: Buffer; sig: Buffer }): Promise<TxResult[]> {
    return this.ledger.submit(txs, attestation);
  }

  async submitOne(tx: Tx): Promise<TxResult> {
    const [r] = await this.ledger.submit([tx]);
    return r!;
  }

  /** Submits one transaction that must be accepted; returns the coins it created. */
  async accept(tx: Tx): Promise<Coin[]> {
    return coinsOf(tx, await this.submitOne(tx));
  }

  /** Issues to `intermediary` at its next serial and returns the new coins. */
  async issue(intermediary: string, outputs: readonly OutputSpec[]): Promise<Coin[]> {
    const inter = this.store.getIntermediary(intermediary);
    if (inter === undefined) throw new Error(`no intermediary ${intermediary}`);
    return this.accept(issueTx(intermediary, inter.nextSerial, outputs));
  }

  /** Closes ledger and store and opens both again on the same directory (or database). */
  async reopen(): Promise<void> {
    await this.ledger.drain();
    await this.store.close();
    this.store = await LedgerFixture.openStore(this.dir, this.opts, this.sqlUrl);
    this.ledger = LedgerFixture.makeLedger(this.store, this.opts);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.ledger.drain();
      await this.store.close();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
