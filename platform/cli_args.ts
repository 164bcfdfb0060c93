// Argument parsers for the command-line tools (commander): a bad value is refused with
// commander's own message naming the option.
import { InvalidArgumentError } from 'commander';

/** A whole number >= 1; underscores may group digits (1_000_000). */
export function positiveInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** A whole number >= 0; underscores may group digits. */
export function nonNegativeInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** A share, 0 to 1. */
export function share(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('must be a share, 0 to 1');
  return n;
}
