// Writing a file so that a crash at any instant leaves either the old file or the new one,
// never a half-written one: the bytes go to a temporary file in the same directory (created
// exclusively, mode 0600), are fsync'd, and only then is the temporary file renamed over the
// target (rename(2) within one directory is atomic on POSIX file systems); last, the
// directory is fsync'd so the rename itself survives a power cut.
//
// A crash before the rename leaves the target untouched and, at worst, a stray temporary
// file whose name matches TEMP_NAME_PATTERN (the next write does not care; it is never read).
import * as fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** The file system calls the writer makes, in order; tests pass their own to watch or break them. */
export interface AtomicFileOps {
  open(file: string, flags: string, mode: number): number;
  write(fd: number, data: Buffer): void;
  fsync(fd: number): void;
  close(fd: number): void;
  rename(from: string, to: string): void;
  /** For exclusive creation: link(2) fails with EEXIST when the target exists. */
  link(from: string, to: string): void;
  unlink(file: string): void;
  fsyncDir(dir: string): void;
}

export const nodeFileOps: AtomicFileOps = {
  open: (file, flags, mode) => fs.openSync(file, flags, mode),
  write: (fd, data) => {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
  },
  fsync: (fd) => fs.fsyncSync(fd),
  close: (fd) => fs.closeSync(fd),
  rename: (from, to) => fs.renameSync(from, to),
  link: (from, to) => fs.linkSync(from, to),
  unlink: (file) => fs.unlinkSync(file),
  fsyncDir: (dir) => {
    let fd: number | undefined;
    try {
      fd = fs.openSync(dir, 'r');
      fs.fsyncSync(fd);
    } catch {
      // Some file systems refuse fsync on a directory; the rename is still atomic there.
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  },
};

/** Temporary files are `.<name>.tmp-<pid>-<8 hex>` next to the target. */
export const TEMP_NAME_PATTERN = /^\..+\.tmp-[0-9]+-[0-9a-f]{8}$/;

export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0600: keystores and keys are for the owner only). */
  mode?: number;
  /** Create only: fail with an EEXIST error when the target already exists (never overwrite). */
  exclusive?: boolean;
  ops?: AtomicFileOps;
}

/**
 * Writes `data` to `file` atomically. On any failure before the file is in place, the
 * temporary file is removed and the error rethrown; the target is then exactly as before.
 */
export function writeFileAtomic(file: string, data: Buffer | string, o: AtomicWriteOptions = {}): void {
  const ops = o.ops ?? nodeFileOps;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempNameFor(file);
  let placed = false;
  try {
    const fd = ops.open(tmp, 'wx', o.mode ?? 0o600);
    try {
      ops.write(fd, bytes);
      ops.fsync(fd);
    } finally {
      ops.close(fd);
    }
    if (o.exclusive) {
      // link(2) refuses an existing target, so two processes creating the same file at once
      // cannot both win; the temporary name is then removed.
      ops.link(tmp, file);
      placed = true;
      try {
        ops.unlink(tmp);
      } catch {
        // The target is in place; a leftover temporary name is harmless.
      }
    } else {
      ops.rename(tmp, file);
      placed = true;
    }
  } catch (e) {
    if (!placed) {
      try {
        ops.unlink(tmp);
      } catch {
        // It was never created, or is already gone.
      }
    }
    throw e;
  }
  ops.fsyncDir(path.dirname(file));
}
