// Account regions: ISO 3166-2:CN subdivision codes (the 34 provincial-level divisions, with the
// letter codes of the 2017 revision), or "unknown" when none was given.
import { CbdcError } from './errors.js';

export const REGION_PATTERN = '^(CN-[A-Z]{2}|unknown)$';
export const UNKNOWN_REGION = 'unknown';

export const CN_REGIONS: readonly string[] = [
  'CN-AH', 'CN-BJ', 'CN-CQ', 'CN-FJ', 'CN-GD', 'CN-GS', 'CN-GX', 'CN-GZ', 'CN-HA', 'CN-HB', 'CN-HE', 'CN-HI',
  'CN-HK', 'CN-HL', 'CN-HN', 'CN-JL', 'CN-JS', 'CN-JX', 'CN-LN', 'CN-MO', 'CN-NM', 'CN-NX', 'CN-QH', 'CN-SC',
  'CN-SD', 'CN-SH', 'CN-SN', 'CN-SX', 'CN-TJ', 'CN-TW', 'CN-XJ', 'CN-XZ', 'CN-YN', 'CN-ZJ',
];

/** Every region an account can have, in a fixed order (the analytics' group domain). */
export const REGIONS: readonly string[] = [...CN_REGIONS, UNKNOWN_REGION];

const known = new Set(REGIONS);

export function parseRegion(v: unknown): string {
  if (v === undefined || v === null) return UNKNOWN_REGION;
  if (typeof v !== 'string' || !known.has(v)) throw new CbdcError('CBDC_ERR_REGION', `region must be one of the ISO 3166-2:CN codes (CN-GD, CN-BJ, ...) or "unknown"`);
  return v;
}

/** An account's region; records from before regions existed read as unknown. */
export function regionOf(a: { region?: string }): string {
  return a.region ?? UNKNOWN_REGION;
}
