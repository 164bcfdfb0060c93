// What a call came to, as a string tests can compare: 'ok', or the coded refusal it threw
// (its code, and with `message` its message after a space). Anything but a CbdcError is a
// fault of the code under test and propagates.
import { isCbdcError } from '../../protocol/errors.js';

export function outcome(f: () => unknown, o: { message?: boolean } = {}): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!isCbdcError(e)) throw e;
    return o.message === true ? `${e.code} ${e.message}` : e.code;
  }
}
