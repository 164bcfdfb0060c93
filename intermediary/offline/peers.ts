// Other banks' revocation lists, so a device revoked by one bank is refused at every bank and
// by every bank's devices. Each bank publishes its own signed list (GET /v1/offline/revocations);
// this bank fetches the list of every peer bank (--peer id=url) whose key central's directory
// names, verifies it with that key, and keeps the newest (a list's sequence only grows, so an
// old list fetched late never replaces a newer one). The lists are kept in the offline
// sub-database, so a restart still refuses what it knew, and handed to this bank's devices at
// each sync with its own list.
import { isCbdcError } from '../../protocol/errors.js';
import { SignedClient } from '../../platform/signed_client.js';
import { decodeRevocationList, isRevoked, verifyRevocationList } from '../../offline/revocation.js';
import type { OfflineStore } from './devices.js';

/** How often the lists are fetched in the background. */
export const PEER_LISTS_REFRESH_MS = 5_000;
/** An upload fetches them first when the last fetch is older than this. */
export const PEER_LISTS_FRESH_MS = 1_000;
/** How long one fetch from a peer may take. */
const PEER_FETCH_TIMEOUT_MS = 3_000;
/** Banks whose lists are kept (the card keeps as many). */
export const PEER_LISTS_MAX = 16;

export interface PeerList {
  bank: string;
  sequence: string;
  hex: string;
  serials: string[];
}

export interface PeerListsConfig {
  store: OfflineStore;
  network: string;
  selfId: string;
  secretKey: Buffer;
  /** Peer banks: id -> URL. */
  peers: ReadonlyMap<string, string>;
  /** Other banks' keys from central's directory, and a way to read the directory again. */
  keys: () => ReadonlyMap<string, Buffer>;
  refreshKeys: () => Promise<void>;
  ca?: Buffer;
}

export class PeerRevocationLists {
  private lastFetchMs = 0;
  private busy: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly c: PeerListsConfig) {}

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), PEER_LISTS_REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.busy;
  }

  /** The lists held, one per peer bank (no order promised). */
  lists(): PeerList[] {
    const out: PeerList[] = [];
    for (const bank of this.c.peers.keys()) {
      const l = this.c.store.meta<PeerList>(`peer-list/${bank}`);
      if (l !== undefined) out.push(l);
    }
    return out;
  }

  /** Whether bank `bank`'s newest list held here names `serial`. */
  revoked(bank: string, serial: bigint): boolean {
    const l = this.c.store.meta<PeerList>(`peer-list/${bank}`);
    return l !== undefined && isRevoked({ serials: l.serials.map((s) => BigInt(s)) }, serial);
  }

  /** Fetches again unless a fetch finished within PEER_LISTS_FRESH_MS. */
  async refreshIfStale(): Promise<void> {
    if (Date.now() - this.lastFetchMs < PEER_LISTS_FRESH_MS) return;
    await this.refresh();
  }

  /** One fetch round (one at a time). A peer that does not answer keeps its last list. */
  refresh(): Promise<void> {
    this.busy ??= this.fetchAll().finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private async fetchAll(): Promise<void> {
    const peers = [...this.c.peers].slice(0, PEER_LISTS_MAX);
    if (peers.some(([id]) => !this.c.keys().has(id))) await this.c.refreshKeys().catch(() => undefined);
    await Promise.all(peers.map(([id, url]) => this.fetchOne(id, url)));
    this.lastFetchMs = Date.now();
  }

  private async fetchOne(bank: string, url: string): Promise<void> {
    const key = this.c.keys().get(bank);
    if (key === undefined) return; // not in central's directory: its word is worth nothing here
    let hex: string;
    try {
      const client = new SignedClient(url, this.c.network, this.c.selfId, this.c.secretKey, PEER_FETCH_TIMEOUT_MS, this.c.ca);
      const r = await client.get<{ list?: unknown }>('/v1/offline/revocations');
      if (r.status !== 200 || typeof r.body?.list !== 'string' || !/^([0-9a-f]{2})+$/.test(r.body.list)) return;
      hex = r.body.list;
    } catch {
      return; // unreachable now; the next round tries again
    }
    try {
      const list = decodeRevocationList(Buffer.from(hex, 'hex'));
      if (list.bank !== bank) return;
      verifyRevocationList(list, { network: this.c.network, keys: new Map([[bank, key]]) });
      const held = this.c.store.meta<PeerList>(`peer-list/${bank}`);
      if (held !== undefined && BigInt(held.sequence) >= list.sequence) return;
      const next: PeerList = { bank, sequence: list.sequence.toString(), hex, serials: list.serials.map(String) };
      await this.c.store.bankStore.root.transaction(() => {
        const cur = this.c.store.meta<PeerList>(`peer-list/${bank}`);
        if (cur === undefined || BigInt(cur.sequence) < list.sequence) this.c.store.setMeta(`peer-list/${bank}`, next);
      });
    } catch (e) {
      if (isCbdcError(e)) return; // malformed or badly signed: ignored, the last good list stays
      throw e;
    }
  }
}
