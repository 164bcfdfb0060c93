import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCbdcError } from '../protocol/errors.js';
import { generateSecretKey, publicKeyOf } from '../protocol/sig.js';
import { type AtomicFileOps, TEMP_NAME_PATTERN, nodeFileOps, writeFileAtomic } from '../platform/atomic_file.js';
import { type KdfParams, type WalletAccount, KEYSTORE_TYPE, UnlockedKeystore, readKeystoreFile } from './keystore.js';

// Tests use the lowest cost the reader accepts (2^10): the format, not the cost, is under test.
const FAST: KdfParams = { n: 1024, r: 8, p: 1 };
const PASS = 'correct horse battery staple';

let dir: string;
let seq = 0;
const fresh = (name = 'w') => path.join(dir, `${name}-${seq++}.json`);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cbdc-keystore-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function account(n = 1): WalletAccount {
  const wallet = publicKeyOf(generateSecretKey()).toString('hex');
  const bank = publicKeyOf(generateSecretKey()).toString('hex');
  return {
    bank_url: `http://127.0.0.1:${7100 + n}`, bank_id: 'bank-a', network: 'cbdc-local', account_id: `bank-a.${'0'.repeat(11)}${n}`,
    lock: { multi: { k: 2, keys: [wallet, bank] } }, opened_at: '2026-01-01T00:00:00.000Z',
  };
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected an error');
}

/** Rewrites one field of the file's JSON. */
function tamper(file: string, edit: (j: Record<string, any>) => void): void {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  edit(j);
  writeFileSync(file, JSON.stringify(j));
}

const flipHex = (h: string, at = 0): string => h.slice(0, at) + (h[at] === '0' ? '1' : '0') + h.slice(at + 1);

describe('keystore', () => {
  it('round-trips: the key and the account come back with the right passphrase', () => {
    const file = fresh();
    const sk = generateSecretKey();
    const ks = UnlockedKeystore.create(file, PASS, { kdf: FAST, secretKey: sk });
    expect(ks.publicKeyHex).toBe(publicKeyOf(sk).toString('hex'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const k = readKeystoreFile(file);
    expect(k.type).toBe(KEYSTORE_TYPE);
    expect(k.kdf).toMatchObject({ name: 'scrypt', n: 1024, r: 8, p: 1 });
    expect(k.kdf.salt).toMatch(/^[0-9a-f]{32}$/);
    expect(k.cipher.nonce).toMatch(/^[0-9a-f]{24}$/);
    expect(readFileSync(file, 'utf8')).not.toContain(sk.toString('hex'));

    const again = UnlockedKeystore.unlock(file, PASS);
    expect(again.secretKey.equals(sk)).toBe(true);
    expect(again.account).toBeNull();

    const a = account();
    again.setAccount(a);
    const third = UnlockedKeystore.unlock(file, PASS);
    expect(third.account).toEqual(a);
    expect(third.secretKey.equals(sk)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Re-sealing uses a fresh nonce under the same derived key.
    expect(readKeystoreFile(file).cipher.nonce).not.toBe(k.cipher.nonce);
  });

  it('a generated key is a fresh valid key, different every time', () => {
    const a = UnlockedKeystore.create(fresh(), PASS, { kdf: FAST });
    const b = UnlockedKeystore.create(fresh(), PASS, { kdf: FAST });
    expect(a.publicKeyHex).not.toBe(b.publicKeyHex);
    expect(publicKeyOf(a.secretKey).toString('hex')).toBe(a.publicKeyHex);
  });

  it('a wrong passphrase is CBDC_ERR_KEYSTORE_PASSPHRASE, and changes nothing', () => {
    const file = fresh();
    UnlockedKeystore.create(file, PASS, { kdf: FAST });
    const before = readFileSync(file, 'utf8');
    expect(codeOf(() => UnlockedKeystore.unlock(file, PASS + '!'))).toBe('CBDC_ERR_KEYSTORE_PASSPHRASE');
    expect(codeOf(() => UnlockedKeystore.unlock(file, ''))).toBe('CBDC_ERR_KEYSTORE_PASSPHRASE');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('normalizes the passphrase (NFKC), so the same words typed two ways unlock', () => {
    const file = fresh();
    UnlockedKeystore.create(file, 'caf\u00e9 au lait', { kdf: FAST });
    expect(() => UnlockedKeystore.unlock(file, 'cafe\u0301 au lait')).not.toThrow();
  });

  it('detects a tampered ciphertext, tag, nonce, public key or account record (CBDC_ERR_KEYSTORE_CORRUPT)', () => {
    const edits: [string, (j: Record<string, any>) => void][] = [
      ['ciphertext', (j) => { j.cipher.ciphertext = flipHex(j.cipher.ciphertext, 10); }],
      ['tag', (j) => { j.cipher.tag = flipHex(j.cipher.tag, 31); }],
      ['nonce', (j) => { j.cipher.nonce = flipHex(j.cipher.nonce); }],
      ['public key', (j) => { j.public_key = publicKeyOf(generateSecretKey()).toString('hex'); }],
      ['bank url', (j) => { j.account.bank_url = 'http://evil.example:7101'; }],
      ['account id', (j) => { j.account.account_id = 'bank-a.ffffffffffff'; }],
      ['created_at', (j) => { j.created_at = '1999-01-01T00:00:00.000Z'; }],
    ];
    for (const [what, edit] of edits) {
      const file = fresh();
      UnlockedKeystore.create(file, PASS, { kdf: FAST }).setAccount(account());
      tamper(file, edit);
      expect(codeOf(() => UnlockedKeystore.unlock(file, PASS)), what).toBe('CBDC_ERR_KEYSTORE_CORRUPT');
    }
  });

  it('refuses files that are not keystores it reads (CBDC_ERR_KEYSTORE_FORMAT) before any KDF work', () => {
    const cases: [string, (j: Record<string, any>) => void][] = [
      ['version', (j) => { j.version = 2; }],
      ['type', (j) => { j.type = 'something-else'; }],
      ['cipher', (j) => { j.cipher.name = 'aes-128-cbc'; }],
      ['kdf name', (j) => { j.kdf.name = 'pbkdf2'; }],
      ['huge N', (j) => { j.kdf.n = 2 ** 30; }],
      ['N not a power of two', (j) => { j.kdf.n = 1000; }],
      ['short salt', (j) => { j.kdf.salt = 'abcd'; }],
      ['uppercase hex', (j) => { j.cipher.tag = j.cipher.tag.toUpperCase().replace(/[0-9]/g, 'A'); }],
      ['bad lock', (j) => { j.account = { ...account(), lock: { nope: 1 } }; }],
    ];
    for (const [what, edit] of cases) {
      const file = fresh();
      UnlockedKeystore.create(file, PASS, { kdf: FAST });
      tamper(file, edit);
      expect(codeOf(() => UnlockedKeystore.unlock(file, PASS)), what).toBe('CBDC_ERR_KEYSTORE_FORMAT');
    }
    const notJson = fresh();
    writeFileSync(notJson, '{"type": "cbdc-wallet-keys');
    expect(codeOf(() => UnlockedKeystore.unlock(notJson, PASS))).toBe('CBDC_ERR_KEYSTORE_FORMAT');
  });

  it('a missing file is CBDC_ERR_KEYSTORE_MISSING; an existing one is never overwritten (CBDC_ERR_KEYSTORE_EXISTS)', () => {
    expect(codeOf(() => UnlockedKeystore.unlock(path.join(dir, 'nope.json'), PASS))).toBe('CBDC_ERR_KEYSTORE_MISSING');
    const file = fresh();
    const first = UnlockedKeystore.create(file, PASS, { kdf: FAST });
    const before = readFileSync(file, 'utf8');
    expect(codeOf(() => UnlockedKeystore.create(file, 'another passphrase', { kdf: FAST }))).toBe('CBDC_ERR_KEYSTORE_EXISTS');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(UnlockedKeystore.unlock(file, PASS).publicKeyHex).toBe(first.publicKeyHex);
    expect(readdirSync(dir).filter((f) => TEMP_NAME_PATTERN.test(f))).toEqual([]);
  });

  it('creates the wallet directory when it does not exist', () => {
    const file = path.join(dir, `nested-${seq++}`, 'deeper', 'wallet.json');
    UnlockedKeystore.create(file, PASS, { kdf: FAST });
    expect(UnlockedKeystore.unlock(file, PASS).account).toBeNull();
  });
});

describe('atomic writes', () => {
  /** Records every call, then does it for real. */
  function recorder(log: string[]): AtomicFileOps {
    const name = (p: string) => path.basename(p);
    return {
      open: (f, flags, mode) => { log.push(`open ${name(f)} ${flags} ${mode.toString(8)}`); return nodeFileOps.open(f, flags, mode); },
      write: (fd, d) => { log.push(`write ${d.length}`); nodeFileOps.write(fd, d); },
      fsync: (fd) => { log.push('fsync'); nodeFileOps.fsync(fd); },
      close: (fd) => { log.push('close'); nodeFileOps.close(fd); },
      rename: (a, b) => { log.push(`rename ${name(a)} ${name(b)}`); nodeFileOps.rename(a, b); },
      link: (a, b) => { log.push(`link ${name(a)} ${name(b)}`); nodeFileOps.link(a, b); },
      unlink: (f) => { log.push(`unlink ${name(f)}`); nodeFileOps.unlink(f); },
      fsyncDir: (d) => { log.push('fsyncDir'); nodeFileOps.fsyncDir(d); },
    };
  }

  it('writes a temporary file (0600, exclusive), fsyncs it, and renames it over the target last', () => {
    const file = fresh('atomic');
    const log: string[] = [];
    const ks = UnlockedKeystore.create(file, PASS, { kdf: FAST, ops: recorder(log) });
    // Creation: link(2) so an existing file is never replaced.
    expect(log.map((l) => l.split(' ')[0])).toEqual(['open', 'write', 'fsync', 'close', 'link', 'unlink', 'fsyncDir']);
    log.length = 0;
    ks.setAccount(account());
    expect(log.map((l) => l.split(' ')[0])).toEqual(['open', 'write', 'fsync', 'close', 'rename', 'fsyncDir']);
    const [open, , , , rename] = log;
    const tmp = open!.split(' ')[1]!;
    expect(tmp).toMatch(TEMP_NAME_PATTERN);
    expect(tmp).not.toBe(path.basename(file));
    expect(open).toBe(`open ${tmp} wx 600`);
    expect(rename).toBe(`rename ${tmp} ${path.basename(file)}`);
    // The target itself is never opened for writing: it changes only by the rename.
    expect(log.some((l) => l.startsWith('open') && l.includes(` ${path.basename(file)} `))).toBe(false);
    expect(UnlockedKeystore.unlock(file, PASS).account).toEqual(ks.account);
  });

  it('a failure at any step before the rename leaves the old file intact and no temporary file', () => {
    for (const step of ['open', 'write', 'fsync', 'close', 'rename'] as const) {
      const file = fresh('fail');
      const ks = UnlockedKeystore.create(file, PASS, { kdf: FAST });
      const old = account(1);
      ks.setAccount(old);
      const before = readFileSync(file);
      const broken: AtomicFileOps = { ...nodeFileOps, [step]: () => { throw Object.assign(new Error(`disk says no at ${step}`), { code: 'EIO' }); } };
      const again = UnlockedKeystore.unlock(file, PASS, { ops: broken });
      expect(() => again.setAccount(account(2)), step).toThrow(/disk says no/);
      expect(readFileSync(file).equals(before), step).toBe(true);
      expect(UnlockedKeystore.unlock(file, PASS).account, step).toEqual(old);
      expect(readdirSync(dir).filter((f) => TEMP_NAME_PATTERN.test(f)), step).toEqual([]);
    }
  });

  it('a crash (no cleanup at all) at any step leaves the target old-or-new, never partial; only temp names are left over', () => {
    class Crash extends Error {}
    const steps = ['open', 'write', 'fsync', 'close', 'rename', 'fsyncDir'] as const;
    for (const [i, step] of steps.entries()) {
      const sub = mkdtempSync(path.join(dir, 'crash-'));
      const file = path.join(sub, 'wallet.json');
      const ks = UnlockedKeystore.create(file, PASS, { kdf: FAST });
      const old = account(1);
      ks.setAccount(old);
      // From the crash on, the process is dead: no call (not even the cleanup unlink) happens.
      let dead = false;
      const ops = {} as AtomicFileOps;
      for (const k of Object.keys(nodeFileOps) as (keyof AtomicFileOps)[]) {
        (ops as any)[k] = (...args: unknown[]) => {
          if (dead) throw new Crash('dead');
          if (k === step) {
            dead = true;
            // A crash mid-write leaves half the bytes in the temporary file.
            if (k === 'write') nodeFileOps.write(args[0] as number, (args[1] as Buffer).subarray(0, 10));
            throw new Crash(`crash at ${k}`);
          }
          return (nodeFileOps as any)[k](...args);
        };
      }
      const next = account(2);
      expect(() => UnlockedKeystore.unlock(file, PASS, { ops }).setAccount(next)).toThrow(Crash);
      const left = readdirSync(sub);
      for (const f of left) if (f !== 'wallet.json') expect(f, `step ${step}`).toMatch(TEMP_NAME_PATTERN);
      const got = UnlockedKeystore.unlock(file, PASS).account;
      // Before the rename the old file stands; from the rename on, the new one.
      expect(got, `step ${step}`).toEqual(i >= steps.indexOf('fsyncDir') ? next : old);
    }
  });

  it('survives SIGKILL at random moments of processes rewriting it: the file always unlocks whole', async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    // Three writers at once (one process start-up's worth of time), each on its own file.
    const rounds = await Promise.all([0, 1, 2].map(async (round) => {
      const sub = mkdtempSync(path.join(dir, 'kill-'));
      const file = path.join(sub, 'wallet.json');
      UnlockedKeystore.create(file, PASS, { kdf: FAST });
      const script = `
        import { UnlockedKeystore } from ${JSON.stringify(path.join(here, 'keystore.ts'))};
        const ks = UnlockedKeystore.unlock(${JSON.stringify(file)}, ${JSON.stringify(PASS)});
        const key = ks.publicKeyHex;
        const other = (key.startsWith('02') ? '03' : '02') + key.slice(2);
        for (let i = 1; ; i++) {
          ks.setAccount({ bank_url: 'http://127.0.0.1:' + (1000 + (i % 60000)), bank_id: 'bank-a', network: 'cbdc-local',
            account_id: 'bank-a.' + i.toString(16).padStart(12, '0'), lock: { multi: { k: 2, keys: [key, other] } },
            opened_at: new Date().toISOString() });
          if (i === 1) process.stdout.write('writing\\n');
        }`;
      const scriptFile = path.join(sub, 'writer.mts');
      writeFileSync(scriptFile, script);
      const child = spawn(process.execPath, ['--import', 'tsx', scriptFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err += String(d); });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`writer exited (${code}): ${err}`)));
      });
      await new Promise((r) => setTimeout(r, 20 + round * 70 + Math.floor(Math.random() * 50)));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      return { sub, file };
    }));
    for (const { sub, file } of rounds) {
      const ks = UnlockedKeystore.unlock(file, PASS);
      expect(ks.account?.account_id).toMatch(/^bank-a\.[0-9a-f]{12}$/);
      for (const f of readdirSync(sub)) if (!['wallet.json', 'writer.mts'].includes(f)) expect(f).toMatch(TEMP_NAME_PATTERN);
    }
  }, 30_000);

  it('writeFileAtomic with exclusive refuses an existing target and leaves it as it was', () => {
    const file = fresh('excl');
    writeFileAtomic(file, 'first\n', { exclusive: true });
    expect(() => writeFileAtomic(file, 'second\n', { exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    writeFileAtomic(file, 'third\n');
    expect(readFileSync(file, 'utf8')).toBe('third\n');
    expect(readdirSync(dir).filter((f) => TEMP_NAME_PATTERN.test(f))).toEqual([]);
  });
});
