// The payment challenge: what the payee's device asks the payer's card to pay. The payee's
// own applet makes it (fresh random nonce, remembered until used once), the payer's applet
// signs a voucher that repeats payee, amount, nonce and time, so a voucher answers exactly
// one challenge and a replayed voucher finds its nonce already spent.
//
//   challenge = version u8 || kind u8 (=2) || network str8 || payee bank str8
//               || payee serial u64 || amount_fen u64 || nonce [16] || time_ms u64
import { ByteWriter } from '../protocol/bytes.js';
import {
  DeviceRef,
  NONCE_BYTES,
  OFFLINE_FORMAT_VERSION,
  checkAmount,
  checkBankId,
  checkNetwork,
  checkU64,
  readAmount,
  readDevice,
  writeDevice,
  openMessage,
} from './codec.js';

const KIND_CHALLENGE = 2;
export const CHALLENGE_BYTES_MAX = 1 + 1 + 33 + 33 + 8 + 8 + NONCE_BYTES + 8;

export interface PaymentChallenge {
  readonly network: string;
  readonly payee: DeviceRef;
  readonly amountFen: bigint;
  readonly nonce: Buffer;
  /** The payee's clock when it made the challenge (ms since the Unix epoch). */
  readonly timeMs: bigint;
}

export function encodeChallenge(c: PaymentChallenge): Buffer {
  checkNetwork(c.network);
  checkBankId(c.payee.bank);
  checkU64(c.payee.serial);
  checkAmount(c.amountFen, true);
  checkU64(c.timeMs);
  if (c.nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 16 bytes');
  const w = new ByteWriter(CHALLENGE_BYTES_MAX).u8(OFFLINE_FORMAT_VERSION).u8(KIND_CHALLENGE).str8(c.network);
  writeDevice(w, c.payee);
  return w.u64(c.amountFen).bytes(c.nonce).u64(c.timeMs).finish();
}

export function decodeChallenge(bytes: Uint8Array): PaymentChallenge {
  const { r, network } = openMessage(bytes, 'payment challenge', KIND_CHALLENGE);
  const payee = readDevice(r, 'payee');
  const amountFen = readAmount(r, 'amount', true);
  const nonce = r.bytes(NONCE_BYTES, 'nonce');
  const timeMs = r.u64('time');
  r.end();
  return { network, payee, amountFen, nonce, timeMs };
}
