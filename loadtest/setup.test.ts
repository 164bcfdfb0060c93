// The load test's GETs survive a server closing the connection under them (a kept-alive socket
// reused as the server drops it after a long idle spell), and only GETs are sent again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getWithRetry } from './setup.js';

describe('getWithRetry', () => {
  let server: http.Server;
  let url = '';
  let requests = 0;
  let dropNext = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests++;
      if (dropNext > 0) {
        dropNext--;
        req.socket.destroy();
        return;
      }
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/supply`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends a GET once more when the server closed the connection without answering', async () => {
    requests = 0;
    dropNext = 1;
    const r = await getWithRetry(url);
    expect(await r.text()).toBe('ok');
    expect(requests).toBe(2);
  });

  it('gives up after the second attempt, with the transport error', async () => {
    requests = 0;
    dropNext = 2;
    await expect(getWithRetry(url)).rejects.toThrow(TypeError);
    expect(requests).toBe(2);
  });
});
