// The vpcd bridge against a stand-in for the vpcd driver: a TCP server in this test that
// speaks vpcd's framing, so malformed and truncated frames can be sent on purpose.
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { CbdcError, isCbdcError } from '../protocol/errors.js';
import { CARD_ATR, FrameReader, VPCD_CTRL, VpcdCardHandle, encodeFrame, serveCardOverVpcd } from './vpcd_card.js';
import { CLA_PROPRIETARY, INS, OFFLINE_AID, encodeCommandApdu, parseResponseApdu } from './apdu.js';
import { encodeChallenge } from './challenge.js';
import { NOW_MS, authorise, digest, makeCard } from '../test/helpers/offline_fixture.js';

/** A vpcd stand-in: accepts the card's connections and reads its frames. */
class FakeVpcd {
  readonly server: net.Server;
  private conns: { socket: net.Socket; frames: FrameReader; inbox: Buffer[]; waiters: (() => void)[] }[] = [];
  private connWaiters: (() => void)[] = [];
  constructor() {
    this.server = net.createServer((socket) => {
      const c = { socket, frames: new FrameReader(), inbox: [] as Buffer[], waiters: [] as (() => void)[] };
      socket.on('data', (d) => {
        c.inbox.push(...c.frames.push(d));
        for (const w of c.waiters.splice(0)) w();
      });
      socket.on('error', () => undefined);
      this.conns.push(c);
      for (const w of this.connWaiters.splice(0)) w();
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }
  async connection(n: number) {
    while (this.conns.length < n) await new Promise<void>((r) => this.connWaiters.push(r));
    return this.conns[n - 1]!;
  }
  /** Sends raw bytes on connection n and waits for the next response frame. */
  async exchange(n: number, raw: Buffer): Promise<Buffer> {
    const c = await this.connection(n);
    c.socket.write(raw);
    while (c.inbox.length === 0) await new Promise<void>((r) => c.waiters.push(r));
    return c.inbox.shift()!;
  }
  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const select = encodeFrame(encodeCommandApdu({ cla: 0, ins: INS.SELECT, p1: 4, p2: 0, data: OFFLINE_AID, ne: 0 }));
const status = encodeFrame(encodeCommandApdu({ cla: CLA_PROPRIETARY, ins: INS.GET_STATUS, p1: 0, p2: 0, data: Buffer.alloc(0), ne: 256 }));

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function setup() {
  const vpcd = new FakeVpcd();
  const port = await vpcd.listen();
  const payer = await makeCard('bank-a');
  await payer.client.load(authorise(payer, 'load', 10_000n));
  const errors: (CbdcError | Error)[] = [];
  const handle: VpcdCardHandle = serveCardOverVpcd(payer.applet, { port, onError: (e) => errors.push(e) });
  await handle.connected;
  cleanup.push(() => handle.close(), () => vpcd.close());
  return { vpcd, payer, errors };
}

const frameCodes = (errors: (CbdcError | Error)[]) => errors.map((e) => (isCbdcError(e) ? e.code : e.message));

describe('the vpcd bridge', () => {
  it('answers the control codes and APDUs: ATR, power on/off (which drops the selection), commands', async () => {
    const { vpcd, errors } = await setup();
    expect(await vpcd.exchange(1, encodeFrame(Buffer.from([VPCD_CTRL.ATR])))).toEqual(CARD_ATR);
    expect(parseResponseApdu(await vpcd.exchange(1, select)).sw).toBe(0x9000);
    expect(parseResponseApdu(await vpcd.exchange(1, status)).sw).toBe(0x9000);
    (await vpcd.connection(1)).socket.write(encodeFrame(Buffer.from([VPCD_CTRL.OFF])));
    (await vpcd.connection(1)).socket.write(encodeFrame(Buffer.from([VPCD_CTRL.ON])));
    expect(parseResponseApdu(await vpcd.exchange(1, status)).sw).toBe(0x6985); // selection lost at power-off
    expect(errors).toEqual([]);
  });

  it('reassembles frames split across reads and several frames in one read', async () => {
    const { vpcd, payer } = await setup();
    const c = await vpcd.connection(1);
    for (const byte of select) c.socket.write(Buffer.from([byte]));
    while (c.inbox.length === 0) await new Promise<void>((r) => c.waiters.push(r));
    expect(parseResponseApdu(c.inbox.shift()!).sw).toBe(0x9000);
    const payee = await makeCard('bank-b');
    const ch = await payee.client.challenge(100n, NOW_MS);
    const pay = encodeFrame(encodeCommandApdu({ cla: CLA_PROPRIETARY, ins: INS.PAY, p1: 0, p2: 0, data: encodeChallenge(ch), ne: 256 }));
    c.socket.write(Buffer.concat([status, pay.subarray(0, 10)]));
    c.socket.write(pay.subarray(10));
    while (c.inbox.length < 2) await new Promise<void>((r) => c.waiters.push(r));
    expect(c.inbox.map((r) => parseResponseApdu(r).sw)).toEqual([0x9000, 0x9000]);
    expect(payer.applet.committed.balanceFen).toBe(9_900n);
  });

  it('a frame cut short by the connection ending is dropped whole: nothing paid, the error coded, the card reconnects', async () => {
    const { vpcd, payer, errors } = await setup();
    expect(parseResponseApdu(await vpcd.exchange(1, select)).sw).toBe(0x9000);
    const payee = await makeCard('bank-b');
    const ch = await payee.client.challenge(100n, NOW_MS);
    const pay = encodeFrame(encodeCommandApdu({ cla: CLA_PROPRIETARY, ins: INS.PAY, p1: 0, p2: 0, data: encodeChallenge(ch), ne: 256 }));
    const before = digest(payer);
    const c1 = await vpcd.connection(1);
    c1.socket.end(pay.subarray(0, pay.length - 1)); // the last byte never comes
    await vpcd.connection(2); // the card is back
    expect(digest(payer)).toBe(before);
    expect(frameCodes(errors)).toEqual(['CBDC_ERR_VPCD_FRAME']);
    expect(errors[0]!.message).toMatch(/ended inside a frame/);
    // On the new connection the whole command works, once.
    expect(parseResponseApdu(await vpcd.exchange(2, select)).sw).toBe(0x9000);
    expect(parseResponseApdu(await vpcd.exchange(2, pay)).sw).toBe(0x9000);
    expect(payer.applet.committed.balanceFen).toBe(9_900n);
  });

  it('an empty frame, or a long frame cut off, closes the connection with CBDC_ERR_VPCD_FRAME and changes nothing', async () => {
    const { vpcd, payer, errors } = await setup();
    const before = digest(payer);
    (await vpcd.connection(1)).socket.write(Buffer.from([0x00, 0x00, 0x01]));
    const c2 = await vpcd.connection(2);
    c2.socket.end(Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(1000, 0x80)])); // announces 65535 bytes, sends 1000
    await vpcd.connection(3);
    expect(frameCodes(errors)).toEqual(['CBDC_ERR_VPCD_FRAME', 'CBDC_ERR_VPCD_FRAME']);
    expect(errors[0]!.message).toMatch(/empty/);
    expect(errors[1]!.message).toMatch(/ended inside a frame \(1002 bytes dropped\)/);
    expect(digest(payer)).toBe(before);
    // An unknown control code is reported and ignored; the connection stays.
    (await vpcd.connection(3)).socket.write(encodeFrame(Buffer.from([9])));
    expect(parseResponseApdu(await vpcd.exchange(3, select)).sw).toBe(0x9000);
    expect(frameCodes(errors).length).toBe(3);
  });

  it('a malformed APDU inside a good frame is answered with its status word', async () => {
    const { vpcd } = await setup();
    expect(parseResponseApdu(await vpcd.exchange(1, encodeFrame(Buffer.from([0x80, 0x10])))).sw).toBe(0x6700);
    expect(parseResponseApdu(await vpcd.exchange(1, encodeFrame(Buffer.from([0x80, 0x10, 0, 0, 4, 1])))).sw).toBe(0x6700);
  });
});
