// Named crash points for the fault tests. Where CBDC_FAULT_POINT names one ("name", or
// "name:N" for the Nth time it is reached), the process SIGKILLs itself there, as a power cut
// would: a test can stop a node at an exact edge (central has settled a payment the bank has
// not yet written; a group of reservations is inside its write transaction) and check what
// survives. Unset, a point costs one comparison.

/** The longest point name, and the largest N, a setting may give. */
const FAULT_POINT_NAME_CHARS_MAX = 64;
const FAULT_POINT_NTH_MAX = 1_000_000;

export interface FaultPointSetting {
  readonly name: string;
  readonly nth: number;
}

/** "name" or "name:N" (1 <= N); anything else is a programmer's error in the test that set it. */
export function parseFaultPoint(value: string | undefined): FaultPointSetting | null {
  if (value === undefined || value === '') return null;
  const m = /^([a-z][a-z0-9-]*)(?::(\d+))?$/.exec(value);
  if (m === null || m[1]!.length > FAULT_POINT_NAME_CHARS_MAX) throw new Error(`CBDC_FAULT_POINT: expected name or name:N, got ${JSON.stringify(value)}`);
  const nth = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isSafeInteger(nth) || nth < 1 || nth > FAULT_POINT_NTH_MAX) throw new Error(`CBDC_FAULT_POINT: N must be 1..${FAULT_POINT_NTH_MAX}`);
  return { name: m[1]!, nth };
}

const armed = parseFaultPoint(process.env.CBDC_FAULT_POINT);
let reached = 0;

/** Kills this process here when the environment arms point `name` and it is its Nth time. */
export function faultPoint(name: string): void {
  if (armed === null || armed.name !== name) return;
  reached++;
  if (reached >= armed.nth) {
    process.stderr.write(`fault point ${name} reached (${reached}): SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
