// Hostile command APDUs (ISO 7816-4 §5.1) against the offline applet, directly and through the
// vpcd framing layer (offline/vpcd_card.ts). fast-check generates malformed and boundary
// frames: random bytes, random CLA/INS/P1/P2 over every length case (1, 2S, 3S, 4S, 2E, 3E,
// 4E) with Lc/Le that agree or not, frames shorter than a header and longer than the longest
// command, valid headers with garbage data, valid commands truncated, extended, bit-flipped,
// and valid commands (recorded from a real payment, load and sync) replayed out of order.
// For every frame: the applet neither throws nor crashes, the answer ends in a status word
// offline/README.md documents, a refusal carries no data, and the card's committed state (the
// bytes its store holds: balance, counter, logs, keys) is byte for byte unchanged by a refusal.
//
// FAULTS_APDU sets the number of frames (default 24,000 direct, plus 2,000 through vpcd);
// FAULTS_SEED the seed.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as net from 'node:net';
import { Applet, encodeInitialise } from '../../offline/applet.js';
import { type DeviceCertificate, encodeCertificate } from '../../offline/certificate.js';
import { MemoryAppletStore } from '../../offline/applet_store.js';
import { CardClient } from '../../offline/card_client.js';
import {
  CLA_ISO, CLA_PROPRIETARY, COMMAND_APDU_BYTES_MAX, INS, OFFLINE_AID, SW, encodeCommandApdu, parseResponseApdu, swHex,
} from '../../offline/apdu.js';
import { CARD_ATR, FrameReader, VPCD_CTRL, encodeFrame, serveCardOverVpcd } from '../../offline/vpcd_card.js';
import { NET, NOW_MS, TRUST, authorise, makeCard, revocationList } from '../helpers/offline_fixture.js';

const SEED = Number(process.env.FAULTS_SEED ?? 7_250_001);
const FRAMES = Number(process.env.FAULTS_APDU ?? 24_000);
const VPCD_FRAMES = Math.max(500, Math.floor(FRAMES / 12));

/** Every status word offline/README.md lists. */
const DOCUMENTED = new Set<number>(Object.values(SW));

const figures: Record<string, unknown> = {};
afterAll(() => {
  process.stdout.write(`faults/apdu ${JSON.stringify(figures)}\n`);
});

/** A card whose store is in memory and whose committed bytes can be read back. */
class Card {
  readonly store = new MemoryAppletStore();
  applet: Applet;
  constructor() {
    this.applet = Applet.open(this.store);
  }
  bytes(): Buffer {
    return this.store.load() ?? Buffer.alloc(0);
  }
}

/** Three cards in three life-cycle states (blank; a payer that paid; a payee that took it), and the valid frames that got them there. */
async function cards(): Promise<{ blank: Card; payer: Card; payee: Card; valid: Buffer[]; payerCert: DeviceCertificate }> {
  const valid: Buffer[] = [];
  const recorded = (applet: Applet) => new CardClient({ transmit: async (c) => { valid.push(Buffer.from(c)); return applet.process(c); } });
  const payerStore = new MemoryAppletStore();
  const payeeStore = new MemoryAppletStore();
  const payer = await makeCard('bank-a', {}, payerStore);
  const payee = await makeCard('bank-b', {}, payeeStore);
  const pc = recorded(payer.applet);
  const qc = recorded(payee.applet);
  await pc.select();
  await qc.select();
  await pc.load(authorise(payer, 'load', 40_000n));
  const ch = await qc.challenge(1_234n, NOW_MS);
  await qc.checkPayer(await pc.certificate(), NOW_MS);
  const v = await pc.pay(ch);
  await qc.accept(payer.cert, v);
  await pc.status();
  await pc.exportLog();
  await qc.exportReceived();
  await pc.sync(authorise(payer, 'sync', 0n, 1n));
  await pc.unload(authorise(payer, 'unload', 100n));
  await qc.installRevocationList(revocationList('bank-a', 1n, [999n]));
  // Personalisation frames too (INITIALISE a blank card; INSTALL CERTIFICATE a renewal).
  valid.push(encodeCommandApdu({ cla: CLA_PROPRIETARY, ins: INS.INITIALISE, p1: 0, p2: 0, data: encodeInitialise(NET, TRUST), ne: 65536 }));
  valid.push(encodeCommandApdu({ cla: CLA_PROPRIETARY, ins: INS.INSTALL_CERTIFICATE, p1: 0, p2: 0, data: encodeCertificate(payer.cert), ne: 65536 }));
  // Fresh cards from the stores those cards committed to (their applets start unselected).
  const from = (store: MemoryAppletStore): Card => {
    const c = new Card();
    c.store.commit(store.load()!);
    c.applet = Applet.open(c.store);
    return c;
  };
  return { blank: new Card(), payer: from(payerStore), payee: from(payeeStore), valid, payerCert: payer.cert };
}

const byte = fc.integer({ min: 0, max: 255 });
const bytesArb = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max }).map((a) => Buffer.from(a));
const header = fc.record({ cla: fc.oneof(byte, fc.constantFrom(CLA_ISO, CLA_PROPRIETARY)), ins: fc.oneof(byte, fc.constantFrom(...Object.values(INS))), p1: fc.oneof(byte, fc.constant(0)), p2: fc.oneof(byte, fc.constant(0)) });
const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

/** A frame from one of the hostile families, with its family's name. */
function frameArb(valid: Buffer[]): fc.Arbitrary<{ family: string; frame: Buffer }> {
  const h = (x: { cla: number; ins: number; p1: number; p2: number }) => Buffer.from([x.cla, x.ins, x.p1, x.p2]);
  const validArb = fc.constantFrom(...valid);
  const tag = (family: string) => (frame: Buffer) => ({ family, frame });
  return fc.oneof(
    // Random bytes, mostly short (shorter than a header included).
    bytesArb(24).map(tag('random bytes')),
    bytesArb(600).map(tag('random bytes')),
    // Every length case, with Lc and Le that agree with the data or miss it by a little.
    fc.tuple(header, bytesArb(300), fc.integer({ min: -2, max: 2 }), fc.option(byte, { nil: undefined })).map(([x, data, skew, le]) => {
      const lc = Math.max(0, Math.min(255, data.length + skew));
      return Buffer.concat([h(x), Buffer.from([lc]), data.subarray(0, Math.min(255, data.length)), le === undefined ? Buffer.alloc(0) : Buffer.from([le])]);
    }).map(tag('short Lc/Le')),
    fc.tuple(header, bytesArb(700), fc.integer({ min: -3, max: 3 }), fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined })).map(([x, data, skew, le]) => {
      const lc = Math.max(0, Math.min(0xffff, data.length + skew));
      return Buffer.concat([h(x), Buffer.from([0]), u16(lc), data, le === undefined ? Buffer.alloc(0) : u16(le)]);
    }).map(tag('extended Lc/Le')),
    fc.tuple(header, fc.constantFrom(0, 1, 2, 3)).map(([x, n]) => Buffer.concat([h(x), Buffer.alloc(n)])).map(tag('header and Le only')),
    // Known commands of the proprietary class, P1P2 00 00, with garbage data (short or extended).
    fc.tuple(fc.constantFrom(...Object.values(INS)), bytesArb(400), fc.boolean()).map(([ins, data, ext]) => {
      const cla = ins === INS.SELECT ? CLA_ISO : CLA_PROPRIETARY;
      const p1 = ins === INS.SELECT ? 4 : 0;
      const ne = ext ? 65536 : data.length > 255 ? 65536 : 256;
      return encodeCommandApdu({ cla, ins, p1, p2: 0, data, ne });
    }).map(tag('valid header, garbage data')),
    // Valid commands cut short, extended by garbage, or with one byte changed.
    fc.tuple(validArb, fc.nat()).map(([v, at]) => v.subarray(0, at % v.length)).map(tag('truncated valid')),
    fc.tuple(validArb, bytesArb(40)).map(([v, extra]) => Buffer.concat([v, extra.length === 0 ? Buffer.from([0]) : extra])).map(tag('valid with trailing bytes')),
    fc.tuple(validArb, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([v, at, x]) => {
      const b = Buffer.from(v);
      b[at % b.length] = b[at % b.length]! ^ x;
      return b;
    }).map(tag('valid with a byte flipped')),
    // Valid commands, replayed in any order.
    validArb.map(tag('valid out of order')),
    // Longer than any command (each is generated cheaply from a fill byte).
    fc.tuple(header, fc.integer({ min: 1, max: 64 }), byte).map(([x, over, fill]) => Buffer.concat([h(x), Buffer.alloc(COMMAND_APDU_BYTES_MAX - 4 + over, fill)])).map(tag('oversized')),
  );
}

const SELECT = encodeCommandApdu({ cla: CLA_ISO, ins: INS.SELECT, p1: 4, p2: 0, data: OFFLINE_AID, ne: 0 });

interface Tally {
  frames: number;
  refused: number;
  accepted: number;
  bySw: Record<string, number>;
  byFamily: Record<string, number>;
}

function tallyNew(): Tally {
  return { frames: 0, refused: 0, accepted: 0, bySw: {}, byFamily: {} };
}

/** Checks one answer against the state bytes before it; returns its status word. */
function judge(card: Card, before: Buffer, response: Buffer, family: string, t: Tally): number {
  expect(response.length, family).toBeGreaterThanOrEqual(2);
  const sw = response.readUInt16BE(response.length - 2);
  expect(DOCUMENTED.has(sw), `${family}: undocumented status word ${swHex(sw)}`).toBe(true);
  t.frames++;
  t.bySw[swHex(sw)] = (t.bySw[swHex(sw)] ?? 0) + 1;
  t.byFamily[family] = (t.byFamily[family] ?? 0) + 1;
  if (sw === SW.OK) {
    t.accepted++;
  } else {
    t.refused++;
    expect(response.length, `${family}: a refusal carries no data`).toBe(2);
    const after = card.bytes();
    if (!after.equals(before)) expect.fail(`${family}: refused with ${swHex(sw)} but the card's state changed`);
  }
  return sw;
}

describe('APDU frames against the offline applet', () => {
  it('answers every malformed, boundary or out-of-order frame with a documented status word; a refusal changes no byte of the card', async () => {
    const { blank, payer, payee, valid, payerCert } = await cards();
    const all = [blank, payer, payee];
    const samples = fc.sample(fc.tuple(frameArb(valid), fc.nat({ max: 2 }), fc.nat({ max: 9 })), { numRuns: FRAMES, seed: SEED });
    const t = tallyNew();
    for (const [{ family, frame }, which, selectFirst] of samples) {
      const card = all[which]!;
      // Most frames find the applet selected, so they reach the command they name.
      if (selectFirst > 0) card.applet.process(SELECT);
      const before = card.bytes();
      let response: Buffer;
      try {
        response = card.applet.process(frame);
      } catch (e) {
        expect.fail(`${family}: the applet threw on ${frame.subarray(0, 16).toString('hex')}…: ${(e as Error).message}`);
      }
      judge(card, before, response, family, t);
    }
    // The cards still work: after a sync (the fuzz may have used up its payments before sync,
    // paying challenges it made up) and a load, a payment from the payer to the payee goes through.
    const pc = new CardClient({ transmit: async (c) => payer.applet.process(c) });
    const qc = new CardClient({ transmit: async (c) => payee.applet.process(c) });
    await pc.select();
    await qc.select();
    const card = { cert: payerCert, applet: payer.applet };
    await pc.sync(authorise(card, 'sync', 0n, payer.applet.committed.counter));
    await pc.load(authorise(card, 'load', 1n));
    const balance = (await pc.status()).balanceFen;
    const ch = await qc.challenge(1n, NOW_MS);
    const v = await pc.pay(ch);
    await qc.accept(await pc.certificate(), v);
    expect((await pc.status()).balanceFen).toBe(balance - 1n);
    expect(t.frames).toBe(FRAMES);
    expect(t.refused).toBeGreaterThan(FRAMES * 0.8);
    figures.direct = { seed: SEED, ...t };
  }, 300_000);

  it('through the vpcd framing layer: split and joined frames, control codes, an empty frame and a frame cut by the connection ending', async () => {
    const { payer, valid } = await cards();
    const server = net.createServer();
    const conns: net.Socket[] = [];
    const answers: Buffer[] = [];
    const waiters: (() => void)[] = [];
    server.on('connection', (s) => {
      conns.push(s);
      const frames = new FrameReader();
      s.on('data', (d) => {
        answers.push(...frames.push(d));
        for (const w of waiters.splice(0)) w();
      });
      s.on('error', () => undefined);
      for (const w of waiters.splice(0)) w();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const errors: string[] = [];
    const handle = serveCardOverVpcd(payer.applet, { port, onError: (e) => errors.push((e as { code?: string }).code ?? e.message) });
    const waitFor = async (f: () => boolean): Promise<void> => {
      while (!f()) await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200).unref(); });
    };
    try {
      await handle.connected;
      await waitFor(() => conns.length >= 1);
      const t = tallyNew();
      // Commands only (a 1-byte payload is a control code): frames of 2 bytes or more, each at most the frame bound.
      const samples = fc.sample(fc.tuple(frameArb(valid), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })), { numRuns: VPCD_FRAMES, seed: SEED + 1 })
        .filter(([f]) => f.frame.length >= 2 && f.frame.length <= 0xffff);
      for (let i = 0; i < samples.length;) {
        // A burst of 1-4 frames, written in 1-3 pieces split anywhere (frames joined and split).
        const [, n, pieces] = samples[i]!;
        const burst = samples.slice(i, i + n).map(([f]) => f);
        i += burst.length;
        const before = payer.bytes();
        const wire = Buffer.concat([encodeFrame(SELECT), ...burst.map((f) => encodeFrame(f.frame))]);
        const cuts = [...new Set(Array.from({ length: pieces - 1 }, (_, k) => Math.floor((wire.length * (k + 1)) / pieces)))];
        const expected = answers.length + 1 + burst.length;
        let from = 0;
        for (const c of [...cuts, wire.length]) {
          conns[0]!.write(wire.subarray(from, c));
          from = c;
        }
        await waitFor(() => answers.length >= expected);
        const got = answers.slice(expected - burst.length, expected);
        // Judge the burst as a whole: the state may change only if some frame was accepted.
        let anyOk = false;
        for (let k = 0; k < burst.length; k++) {
          const sw = got[k]!.readUInt16BE(got[k]!.length - 2);
          expect(DOCUMENTED.has(sw), `vpcd ${burst[k]!.family}: ${swHex(sw)}`).toBe(true);
          if (sw === SW.OK) anyOk = true;
          else expect(got[k]!.length).toBe(2);
          t.frames++;
          t.bySw[swHex(sw)] = (t.bySw[swHex(sw)] ?? 0) + 1;
          if (sw === SW.OK) t.accepted++;
          else t.refused++;
        }
        if (!anyOk) expect(payer.bytes().equals(before), 'a burst refused whole changed the card').toBe(true);
      }
      // Control codes: ATR, and power off/on (which drop the selection).
      conns[0]!.write(encodeFrame(Buffer.from([VPCD_CTRL.ATR])));
      await waitFor(() => answers.some((a) => a.equals(CARD_ATR)));
      // An empty frame: the bridge reports it, closes the connection and connects again.
      const before = payer.bytes();
      conns[0]!.write(Buffer.from([0, 0]));
      await waitFor(() => conns.length >= 2);
      // A frame cut short by the connection ending: dropped whole (the applet never sees it).
      conns[1]!.write(encodeFrame(SELECT));
      conns[1]!.end(Buffer.concat([Buffer.from([0, 40]), Buffer.alloc(10, 0x80)]));
      await waitFor(() => conns.length >= 3);
      expect(payer.bytes().equals(before)).toBe(true);
      expect(errors.filter((c) => c === 'CBDC_ERR_VPCD_FRAME').length).toBeGreaterThanOrEqual(2);
      // The card still answers on the new connection.
      const n0 = answers.length;
      conns[2]!.write(encodeFrame(SELECT));
      await waitFor(() => answers.length > n0);
      expect(parseResponseApdu(answers[n0]!).sw).toBe(SW.OK);
      const { byFamily: _unused, ...vt } = t;
      void _unused;
      figures.vpcd = { seed: SEED + 1, ...vt, frameErrors: errors.filter((c) => c === 'CBDC_ERR_VPCD_FRAME').length };
    } finally {
      await handle.close();
      for (const s of conns) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 300_000);
});
