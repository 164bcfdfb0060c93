// A loopback port for a node that must come back on the same address after a restart.
import { createServer } from 'node:net';

/** A port the OS says is free right now (bound on 127.0.0.1 with port 0, then released). */
export function freePort(): Promise<number> {
  return listenOnce(0);
}

/** The first of `count` consecutive ports that are all free right now (each bound, then released). */
export async function freePortRun(count: number): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const first = await freePort();
    if (first + count - 1 > 65_535) continue;
    let ok = true;
    for (let p = first + 1; p < first + count && ok; p++) ok = await listenOnce(p).then(() => true, () => false);
    if (ok) return first;
  }
  throw new Error(`no run of ${count} free ports in 100 tries`);
}

/** Binds `port` on 127.0.0.1 (0: the OS picks), releases it, and resolves with the port bound. */
function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(bound));
    });
  });
}
