// Node key files: one secp256k1 key pair as JSON, written atomically with mode 0600.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateSecretKey, isValidSecretKey, publicKeyOf } from '../protocol/sig.js';

export interface KeyPair {
  secretKey: Buffer;
  publicKey: Buffer;
}

export function readKeyFile(file: string): KeyPair {
  const j = JSON.parse(readFileSync(file, 'utf8')) as { secret_key?: unknown };
  if (typeof j.secret_key !== 'string' || !/^[0-9a-f]{64}$/.test(j.secret_key)) throw new Error(`${file}: secret_key must be 64 hex digits`);
  const secretKey = Buffer.from(j.secret_key, 'hex');
  if (!isValidSecretKey(secretKey)) throw new Error(`${file}: not a valid secp256k1 secret key`);
  return { secretKey, publicKey: publicKeyOf(secretKey) };
}

export function writeKeyFile(file: string, kp: KeyPair = newKeyPair()): KeyPair {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ secret_key: kp.secretKey.toString('hex'), public_key: kp.publicKey.toString('hex') }) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
  return kp;
}

export function newKeyPair(): KeyPair {
  const secretKey = generateSecretKey();
  return { secretKey, publicKey: publicKeyOf(secretKey) };
}

/** Reads the key file, creating it with a fresh key pair when it does not exist. */
export function readOrCreateKeyFile(file: string): KeyPair {
  try {
    return readKeyFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return writeKeyFile(file);
    throw e;
  }
}
