// The emulated card joined to a real PC/SC stack through vsmartcard's vpcd driver. pcscd
// loads vpcd, which listens on a TCP port (35963 for "Virtual PCD 00 00", 35964 for
// "Virtual PCD 00 01" in Debian's /etc/reader.conf.d/vpcd); the card connects to it, and
// for PC/SC the card is present while the connection is open (a tap) and gone when it
// closes (the card lifted). Each frame either way is a 2-byte big-endian length and a
// payload. From vpcd, a 1-byte payload is a control code (0 power off, 1 power on, 2 reset,
// 4 get ATR, answered with the ATR); any longer payload is a command APDU, answered with the
// response APDU.
//
// Bad frames are refused, never half-processed: a zero-length frame closes the connection
// with CBDC_ERR_VPCD_FRAME; a frame cut short by the connection ending is dropped whole (the
// applet never sees part of a command) and reported the same way. A frame is buffered only
// up to its announced length, which 2 bytes bound to 65535.
import * as net from 'node:net';
import { CbdcError, assert } from '../protocol/errors.js';
import { COMMAND_APDU_BYTES_MAX } from './apdu.js';

export const VPCD_HOST = '127.0.0.1';
/** vpcd's port for the first virtual reader ("Virtual PCD 00 00"); the next reader is + 1. */
export const VPCD_PORT = 35963;
/** vpcd's control codes (vsmartcard vpcd.h: VPCD_CTRL_OFF, _ON, _RESET, _ATR). */
export const VPCD_CTRL = { OFF: 0, ON: 1, RESET: 2, ATR: 4 } as const;
/** The longest payload a frame can carry (its length is 2 bytes); one command APDU at most. */
export const VPCD_FRAME_PAYLOAD_MAX = Math.min(0xffff, COMMAND_APDU_BYTES_MAX);
/**
 * ATR (ISO 7816-3 §8): TS 3B direct convention; T0 80 (TD1 follows, no historical bytes);
 * TD1 80 (TD2 follows, T=0); TD2 01 (T=1, which carries extended-length APDUs); TCK 01.
 */
export const CARD_ATR = Buffer.from('3B80800101', 'hex');
/** Reconnect delays after the reader side goes away (ms), growing to the last. */
const RECONNECT_DELAYS_MS = [50, 100, 250, 500, 1000] as const;

/** What the bridge needs of a card: a command in, a response out; a reset on power events. */
export interface VirtualCard {
  process(command: Uint8Array): Buffer;
  reset(): void;
}

export interface VpcdCardOptions {
  host?: string;
  port?: number;
  /** Connect again when vpcd closes the connection or is not there yet (default true). */
  reconnect?: boolean;
  /** Told of every refused frame and connection error (they never throw out of the bridge). */
  onError?: (e: CbdcError | Error) => void;
  /** Told each time the card is connected to vpcd (present on the reader). */
  onConnect?: () => void;
}

export interface VpcdCardHandle {
  /** Resolves once connected the first time. */
  readonly connected: Promise<void>;
  /** Lifts the card: closes the connection and stops reconnecting. */
  close(): Promise<void>;
}

/** Splits a byte stream into frames; keeps an incomplete tail until more bytes come. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Appends bytes; returns the complete payloads, or throws CBDC_ERR_VPCD_FRAME. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (len === 0) throw new CbdcError('CBDC_ERR_VPCD_FRAME', 'vpcd frame with an empty payload');
      assert(len <= VPCD_FRAME_PAYLOAD_MAX, 'a 2-byte length is within the payload bound');
      if (this.buf.length < 2 + len) break;
      out.push(Buffer.from(this.buf.subarray(2, 2 + len)));
      this.buf = this.buf.subarray(2 + len);
    }
    return out;
  }
  /** Bytes of a frame begun but not finished. */
  get pending(): number {
    return this.buf.length;
  }
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length === 0 || payload.length > 0xffff) throw new RangeError('frame payload length');
  const out = Buffer.alloc(2 + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, 2);
  return out;
}

/** Connects a card to vpcd and serves it until closed. */
export function serveCardOverVpcd(card: VirtualCard, o: VpcdCardOptions = {}): VpcdCardHandle {
  const host = o.host ?? VPCD_HOST;
  const port = o.port ?? VPCD_PORT;
  const reconnect = o.reconnect ?? true;
  const report = (e: CbdcError | Error) => o.onError?.(e);
  let closing = false;
  let socket: net.Socket | null = null;
  let attempt = 0;
  let timer: NodeJS.Timeout | null = null;
  let resolveConnected!: () => void;
  const connected = new Promise<void>((r) => (resolveConnected = r));
  let closedResolve: (() => void) | null = null;

  const handlePayload = (s: net.Socket, payload: Buffer): void => {
    if (payload.length === 1) {
      const code = payload[0]!;
      if (code === VPCD_CTRL.OFF || code === VPCD_CTRL.RESET) card.reset();
      else if (code === VPCD_CTRL.ON) card.reset();
      else if (code === VPCD_CTRL.ATR) s.write(encodeFrame(CARD_ATR));
      else report(new CbdcError('CBDC_ERR_VPCD_FRAME', `unknown vpcd control code ${code}`));
      return;
    }
    s.write(encodeFrame(card.process(payload)));
  };

  const connect = (): void => {
    if (closing) return;
    const s = net.createConnection({ host, port });
    socket = s;
    const frames = new FrameReader();
    let broken = false;
    s.setNoDelay(true);
    s.on('connect', () => {
      attempt = 0;
      o.onConnect?.();
      resolveConnected();
    });
    s.on('data', (chunk: Buffer) => {
      if (broken) return;
      let payloads: Buffer[];
      try {
        payloads = frames.push(chunk);
      } catch (e) {
        broken = true;
        report(e as CbdcError);
        s.destroy();
        return;
      }
      for (const p of payloads) handlePayload(s, p);
    });
    s.on('error', (e) => {
      if (!closing) report(e);
    });
    s.on('close', () => {
      if (frames.pending > 0 && !broken) {
        report(new CbdcError('CBDC_ERR_VPCD_FRAME', `vpcd connection ended inside a frame (${frames.pending} bytes dropped)`));
      }
      // A lifted card loses its selection (and any RAM state), as on a real contactless card.
      card.reset();
      socket = null;
      if (closing) {
        closedResolve?.();
        return;
      }
      if (!reconnect) return;
      const delay = RECONNECT_DELAYS_MS[Math.min(attempt++, RECONNECT_DELAYS_MS.length - 1)]!;
      timer = setTimeout(connect, delay);
    });
  };
  connect();

  return {
    connected,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        if (timer !== null) clearTimeout(timer);
        if (socket === null) return resolve();
        closedResolve = resolve;
        socket.end();
        // A peer that does not close its side is cut off.
        setTimeout(() => socket?.destroy(), 200).unref();
      }),
  };
}
