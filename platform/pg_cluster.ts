// A throw-away PostgreSQL set on loopback for tests, benchmarks and local runs: one primary
// and, when asked, two streaming standbys that the primary waits for before a commit returns
// (synchronous_commit = on, synchronous_standby_names = 'ANY 1 (s1, s2)': a commit is
// acknowledged once it is on the primary and at least one standby, 2 of 3 nodes).
// It uses Debian's `postgresql` binaries; as root, every server runs as the `postgres` OS
// user the package creates, since PostgreSQL refuses to run as root.
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free_port.js';

const execFile = promisify(execFileCb);

/** The superuser every cluster is created with (trust auth on loopback only). */
export const PG_SUPERUSER = 'cbdc';
const STANDBY_NAMES = ['s1', 's2'] as const;
/** The set's layout (names, ports, folders, roles), kept so the same folder reopens. */
const CLUSTER_FILE = 'pg_cluster.json';
const REPLICATION_WAIT_MS_MAX = 30_000;
const COMMAND_TIMEOUT_MS = 60_000;

export interface PgNode {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  /** 'primary' | 'standby'; a promoted standby becomes 'primary'. */
  role: 'primary' | 'standby';
  alive: boolean;
}

export interface PgClusterOptions {
  /** A folder of the caller's; the cluster's data folders go below it. */
  readonly dir: string;
  /** 0 (one node) or 2 (primary + 2 synchronous standbys, ANY 1). */
  readonly standbys?: 0 | 2;
  /** fsync off trades crash safety of the OS for speed; on by default (real durability). */
  readonly fsync?: boolean;
  /** Ports the caller will listen on itself (its own servers): no node is put on them. */
  readonly avoidPorts?: readonly number[];
}

/** The folder of Debian's PostgreSQL server binaries (newest major version), or null. */
export function pgBinDir(): string | null {
  const fromEnv = process.env.CBDC_PG_BIN;
  if (fromEnv) return existsSync(path.join(fromEnv, 'initdb')) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(root, versions[0]!, 'bin') : null;
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly user: string;
}

function runAsUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error("pg_cluster: running as root needs the 'postgres' OS user (Debian's postgresql package creates it; run scripts/setup.sh)");
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), user: 'postgres' };
}

export class PgCluster {
  readonly nodes: PgNode[];
  private readonly bin: string;
  private readonly runAs: RunAs | null;
  private savedAt: string | null = null;

  private constructor(bin: string, runAs: RunAs | null, nodes: PgNode[]) {
    this.bin = bin;
    this.runAs = runAs;
    this.nodes = nodes;
  }

  static async start(opts: PgClusterOptions): Promise<PgCluster> {
    const bin = pgBinDir();
    if (bin === null) throw new Error("pg_cluster: PostgreSQL is not installed (Debian package 'postgresql'; scripts/setup.sh installs it)");
    const runAs = runAsUser();
    mkdirSync(opts.dir, { recursive: true });
    // The server user must reach its data folders below the caller's folder: every folder on
    // the way gets the traverse bit for others (never read), e.g. a 0700 temp folder.
    if (runAs !== null) allowTraverse(path.resolve(opts.dir));
    const saved = path.join(opts.dir, CLUSTER_FILE);
    if (existsSync(saved)) return PgCluster.reopen(bin, runAs, saved);
    const standbys = opts.standbys ?? 0;
    const nodes: PgNode[] = [];
    for (let i = 0; i <= standbys; i++) {
      nodes.push({
        name: i === 0 ? 'p0' : STANDBY_NAMES[i - 1]!,
        port: await uniquePort(nodes, opts.avoidPorts ?? []),
        dataDir: path.join(opts.dir, `pg${i}`),
        role: i === 0 ? 'primary' : 'standby',
        alive: false,
      });
    }
    const cluster = new PgCluster(bin, runAs, nodes);
    try {
      await cluster.initPrimary(nodes[0]!, standbys, opts.fsync ?? true);
      for (const standby of nodes.slice(1)) await cluster.initStandby(standby, nodes[0]!);
      if (standbys > 0) await cluster.waitForStandbys(nodes[0]!, standbys);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    cluster.save(saved);
    return cluster;
  }

  /** A set made earlier in the same folder comes back on its own ports with its data. */
  private static async reopen(bin: string, runAs: RunAs | null, saved: string): Promise<PgCluster> {
    const nodes = (JSON.parse(readFileSync(saved, 'utf8')) as PgNode[]).map((n) => ({ ...n, alive: false }));
    const cluster = new PgCluster(bin, runAs, nodes);
    cluster.savedAt = saved;
    try {
      for (const n of nodes) await cluster.startNode(n);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  private save(file: string): void {
    this.savedAt = file;
    writeFileSync(file, JSON.stringify(this.nodes.map(({ name, port, dataDir, role }) => ({ name, port, dataDir, role })), null, 2) + '\n');
  }

  /** The current primary (after a promotion, the promoted standby). */
  get primary(): PgNode {
    const p = this.nodes.find((n) => n.role === 'primary' && n.alive);
    if (p === undefined) throw new Error('pg_cluster: no live primary');
    return p;
  }

  /** postgres:// URL of the primary's `postgres` database. */
  get url(): string {
    return this.urlFor('postgres');
  }

  urlFor(database: string, node: PgNode = this.primary): string {
    return `postgres://${PG_SUPERUSER}@127.0.0.1:${node.port}/${encodeURIComponent(database)}`;
  }

  /** Creates an empty database on the primary and returns its URL. */
  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`pg_cluster: database name ${JSON.stringify(name)} is not a plain identifier`);
    await this.query(this.primary, `CREATE DATABASE ${name}`);
    return this.urlFor(name);
  }

  /** SIGKILLs node i's postmaster and every backend it forked: the machine is lost. */
  kill(i: number): void {
    const node = this.nodeAt(i);
    const pid = postmasterPid(node.dataDir);
    if (pid !== null) {
      const children = childPids(pid);
      for (const p of [pid, ...children]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    node.alive = false;
  }

  /** The live standby that has received the most WAL: the one to promote (no rewind needed). */
  async mostAdvancedStandby(): Promise<number> {
    let best = -1;
    let bestLsn = -1n;
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i]!;
      if (n.role !== 'standby' || !n.alive) continue;
      const rows = await this.query(n, 'SELECT pg_last_wal_receive_lsn() AS lsn, pg_last_wal_replay_lsn() AS replay');
      const lsn = lsnValue(String(rows[0]?.lsn ?? rows[0]?.replay ?? '0/0'));
      if (lsn > bestLsn) {
        bestLsn = lsn;
        best = i;
      }
    }
    if (best < 0) throw new Error('pg_cluster: no live standby to promote');
    return best;
  }

  /**
   * Promotes standby i to primary and points the other live standbys at it, so commits on the
   * new primary again wait for a standby (its synchronous_standby_names names both standbys).
   */
  async promote(i: number): Promise<void> {
    const node = this.nodeAt(i);
    if (node.role !== 'standby' || !node.alive) throw new Error(`pg_cluster: node ${node.name} is not a live standby`);
    await this.run('pg_ctl', ['-D', node.dataDir, '-w', '-t', '60', 'promote']);
    for (const old of this.nodes) if (old.role === 'primary') old.role = 'standby';
    node.role = 'primary';
    for (const other of this.nodes) {
      if (other === node || !other.alive) continue;
      appendFileSync(path.join(other.dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo(node, other.name)}'\n`);
      await this.run('pg_ctl', ['-D', other.dataDir, 'reload']);
    }
    if (this.savedAt !== null) this.save(this.savedAt);
  }

  /**
   * Stops every live node: `immediate` (the default) for throw-away data, `fast` for a set
   * that will be reopened (a clean shutdown, no crash recovery at the next start).
   */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    for (const n of this.nodes) {
      if (!existsSync(path.join(n.dataDir, 'postmaster.pid'))) continue;
      try {
        await this.run('pg_ctl', ['-D', n.dataDir, '-m', mode, '-w', 'stop']);
      } catch {
        this.kill(this.nodes.indexOf(n));
      }
      n.alive = false;
    }
  }

  async query(node: PgNode, sql: string): Promise<Record<string, unknown>[]> {
    const client = new pg.Client({ connectionString: this.urlFor('postgres', node) });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }

  private nodeAt(i: number): PgNode {
    const node = this.nodes[i];
    if (node === undefined) throw new Error(`pg_cluster: no node ${i}`);
    return node;
  }

  private async initPrimary(node: PgNode, standbys: number, fsync: boolean): Promise<void> {
    this.makeDir(node.dataDir);
    await this.run('initdb', ['-D', node.dataDir, '-U', PG_SUPERUSER, '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    const conf = [
      `port = ${node.port}`,
      "listen_addresses = '127.0.0.1'",
      // No Unix socket: the folder's path may exceed the socket path limit; TCP is enough.
      "unix_socket_directories = ''",
      'max_connections = 100',
      'shared_buffers = 128MB',
      `fsync = ${fsync ? 'on' : 'off'}`,
      'synchronous_commit = on',
      'wal_level = replica',
      'max_wal_senders = 10',
      'wal_keep_size = 256MB',
      'hot_standby = on',
      "log_min_messages = 'warning'",
      standbys > 0 ? `synchronous_standby_names = 'ANY 1 (${STANDBY_NAMES.join(', ')})'` : '',
    ];
    appendFileSync(path.join(node.dataDir, 'postgresql.conf'), conf.filter(Boolean).join('\n') + '\n');
    await this.startNode(node);
  }

  private async initStandby(node: PgNode, primary: PgNode): Promise<void> {
    this.makeDir(node.dataDir);
    await this.run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', PG_SUPERUSER, '-D', node.dataDir, '-X', 'stream', '-R', '--no-sync']);
    appendFileSync(path.join(node.dataDir, 'postgresql.auto.conf'), `port = ${node.port}\nprimary_conninfo = '${conninfo(primary, node.name)}'\n`);
    await this.startNode(node);
  }

  private async startNode(node: PgNode): Promise<void> {
    await this.run('pg_ctl', ['-D', node.dataDir, '-l', path.join(node.dataDir, 'server.log'), '-w', '-t', '60', 'start']);
    node.alive = true;
  }

  private async waitForStandbys(primary: PgNode, count: number): Promise<void> {
    const deadline = Date.now() + REPLICATION_WAIT_MS_MAX;
    for (;;) {
      const rows = await this.query(primary, "SELECT application_name, sync_state FROM pg_stat_replication WHERE state = 'streaming'");
      if (rows.filter((r) => r.sync_state === 'quorum' || r.sync_state === 'sync').length >= count) return;
      if (Date.now() > deadline) throw new Error(`pg_cluster: standbys not streaming after ${REPLICATION_WAIT_MS_MAX} ms: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private makeDir(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (this.runAs !== null) chownSync(dir, this.runAs.uid, this.runAs.gid);
  }

  private async run(cmd: string, args: string[]): Promise<void> {
    const file = path.join(this.bin, cmd);
    const [exe, argv] = this.runAs === null ? [file, args] : ['runuser', ['-u', this.runAs.user, '--', file, ...args]];
    try {
      await execFile(exe, argv, { timeout: COMMAND_TIMEOUT_MS, cwd: '/' });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`pg_cluster: ${cmd} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
    }
  }
}

/** Starts a throw-away cluster below `opts.dir`; call `stop()` when done. */
export function startPgCluster(opts: PgClusterOptions): Promise<PgCluster> {
  return PgCluster.start(opts);
}

function allowTraverse(dir: string): void {
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statSync(d).mode & 0o777;
    if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
    if (path.dirname(d) === d) return;
  }
}

function conninfo(primary: PgNode, applicationName: string): string {
  return `host=127.0.0.1 port=${primary.port} user=${PG_SUPERUSER} application_name=${applicationName}`;
}

async function uniquePort(taken: readonly PgNode[], avoid: readonly number[]): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (!taken.some((n) => n.port === p) && !avoid.includes(p)) return p;
  }
}

function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Direct children of `pid` from /proc (the postmaster's backends and helpers). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** An LSN 'X/Y' as one number, to compare how far two nodes got. */
function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi ?? '0'}`) << 32n) | BigInt(`0x${lo ?? '0'}`);
}
