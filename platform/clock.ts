// The bank's clock. Every limit uses it in one stated time zone: Asia/Shanghai (UTC+8, no
// daylight saving), so "today" and "this year" mean the same thing for every check.
export const BANK_TIME_ZONE = 'Asia/Shanghai';
const OFFSET_MS = 8 * 3600 * 1000;

export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

const DAY_MS = 86_400_000;

/** The day last formatted: instants within it answer without formatting a date again. */
let lastDay = { startMs: 0, endMs: 0, key: '' };

/** "YYYY-MM-DD" of an instant in the bank's time zone. */
export function dayKey(ms: number): string {
  if (ms >= lastDay.startMs && ms < lastDay.endMs) return lastDay.key;
  const key = new Date(ms + OFFSET_MS).toISOString().slice(0, 10);
  const startMs = Math.floor((ms + OFFSET_MS) / DAY_MS) * DAY_MS - OFFSET_MS;
  lastDay = { startMs, endMs: startMs + DAY_MS, key };
  return key;
}

/** "YYYY" of an instant in the bank's time zone. */
export function yearKey(ms: number): string {
  return dayKey(ms).slice(0, 4);
}

/** The instant a bank-time-zone day starts. */
export function dayStartMs(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`) - OFFSET_MS;
}
