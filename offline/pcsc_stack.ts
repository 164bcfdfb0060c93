// The local PC/SC stack for the virtual reader: pcscd (which loads vsmartcard's vpcd driver
// from /etc/reader.conf.d/vpcd) started when it is not already running, and stopped only by
// whoever started it. Users of the virtual reader take a cross-process lock first, so two
// test files (or a test and a command) never put two cards on one reader at once.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { CbdcError } from '../protocol/errors.js';
import { NFC_INSTALL_HINT } from './terminal.js';

export const PCSCD_PID_FILE = '/run/pcscd/pcscd.pid';
export const PCSCD_SOCKET = '/run/pcscd/pcscd.comm';
/** The lock on the virtual reader: a file holding its holder's pid. */
export const PCSC_LOCK_FILE = path.join(os.tmpdir(), 'cbdc-virtual-reader.lock');
const PCSCD_START_MS_MAX = 10_000;
const POLL_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie (exited, not yet reaped) still answers kill(0): read its state (proc(5)).
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

/** The pid of a running pcscd (from its pid file), or null. */
export function runningPcscd(): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(PCSCD_PID_FILE, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) && fs.existsSync(PCSCD_SOCKET) ? pid : null;
  } catch {
    return null;
  }
}

function pcscdInstalled(): boolean {
  return spawnSync('pcscd', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface PcscdHandle {
  /** Whether this handle started pcscd (and so stops it). */
  readonly started: boolean;
  stop(): Promise<void>;
}

/** Starts pcscd in the foreground as a child of this process, unless one is running. */
export async function ensurePcscd(): Promise<PcscdHandle> {
  if (runningPcscd() !== null) return { started: false, stop: async () => undefined };
  if (!pcscdInstalled()) throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `pcscd is not installed; ${NFC_INSTALL_HINT}`);
  const child: ChildProcess = spawn('pcscd', ['--foreground'], { stdio: 'ignore' });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + PCSCD_START_MS_MAX;
  while (runningPcscd() !== child.pid) {
    if (exited) {
      process.removeListener('exit', killOnExit);
      // Another process started one at the same moment: use it.
      if (runningPcscd() !== null) return { started: false, stop: async () => undefined };
      throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `pcscd exited at start (run as root?); ${NFC_INSTALL_HINT}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `pcscd did not come up within ${PCSCD_START_MS_MAX} ms`);
    }
    await sleep(POLL_MS);
  }
  return {
    started: true,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      if (exited) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** Takes the virtual-reader lock (waiting for a live holder, taking over a dead one's). */
async function lockVirtualReader(timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(PCSC_LOCK_FILE, String(process.pid), { flag: 'wx' });
      const release = () => {
        try {
          if (fs.readFileSync(PCSC_LOCK_FILE, 'utf8') === String(process.pid)) fs.unlinkSync(PCSC_LOCK_FILE);
        } catch {
          // Already gone.
        }
      };
      process.once('exit', release);
      return () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(fs.readFileSync(PCSC_LOCK_FILE, 'utf8') || '0', 10);
      if (!(holder > 0 && alive(holder))) {
        try {
          fs.unlinkSync(PCSC_LOCK_FILE); // its holder died without releasing it
        } catch {
          // Someone else removed it first.
        }
        continue;
      }
      if (Date.now() > deadline) throw new CbdcError('CBDC_ERR_NFC_UNAVAILABLE', `the virtual reader is in use by process ${holder}`);
      await sleep(100);
    }
  }
}

export interface PcscStack {
  readonly startedPcscd: boolean;
  release(): Promise<void>;
}

/**
 * Takes the virtual reader for this process and makes sure pcscd runs. `release` stops
 * pcscd if this call started it, then frees the reader.
 */
export async function acquirePcscStack(o: { timeoutMs?: number } = {}): Promise<PcscStack> {
  const unlock = await lockVirtualReader(o.timeoutMs ?? 120_000);
  let pcscd: PcscdHandle;
  try {
    pcscd = await ensurePcscd();
  } catch (e) {
    unlock();
    throw e;
  }
  return {
    startedPcscd: pcscd.started,
    release: async () => {
      try {
        await pcscd.stop();
      } finally {
        unlock();
      }
    },
  };
}
