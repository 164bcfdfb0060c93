// Where the applet's state lives between APDUs. A command's new state is committed before
// its response leaves the card, so a power-off at any instant leaves either the state
// before the command (and no response was sent) or the state after it (and the response
// can be asked for again: PAY and ACCEPT answer a repeated request with the same voucher).
//
// The file store commits with platform/atomic_file.ts: new bytes to a temporary file,
// fsync, rename over the state file, fsync the directory. A crash before the rename keeps
// the old state; after it, the new one. Never a mixture.
import * as fs from 'node:fs';
import path from 'node:path';
import { AtomicFileOps, writeFileAtomic } from '../platform/atomic_file.js';
import { CbdcError } from '../protocol/errors.js';

export interface AppletStore {
  /** The last committed state, or null for a blank card. */
  load(): Buffer | null;
  /** Makes `state` the committed state, atomically; throws when it could not. */
  commit(state: Buffer): void;
}

export const STATE_FILE_NAME = 'applet-state.json';

export class FileAppletStore implements AppletStore {
  readonly file: string;
  constructor(
    dir: string,
    private readonly ops?: AtomicFileOps,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, STATE_FILE_NAME);
  }
  load(): Buffer | null {
    try {
      return fs.readFileSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new CbdcError('CBDC_ERR_OFFLINE_STORE', `cannot read ${this.file}: ${(e as Error).message}`);
    }
  }
  commit(state: Buffer): void {
    writeFileAtomic(this.file, state, this.ops === undefined ? {} : { ops: this.ops });
  }
}

/** Keeps the committed state in memory: for tests, and a card that needs no persistence. */
export class MemoryAppletStore implements AppletStore {
  private bytes: Buffer | null = null;
  load(): Buffer | null {
    return this.bytes === null ? null : Buffer.from(this.bytes);
  }
  commit(state: Buffer): void {
    this.bytes = Buffer.from(state);
  }
}
