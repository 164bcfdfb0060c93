// A strict reader of the Prometheus text exposition format (version 0.0.4): every sample
// line must parse, belong to a family declared by # TYPE, and carry well-formed labels; it
// throws on anything else, so a test that reads /metrics also checks the format.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

// Prometheus reads values with Go's strconv.ParseFloat, which takes Inf and NaN in any case
// (prom-client writes "Nan" for a gauge with no observation yet, e.g. event-loop lag).
function parseValue(s: string): number {
  if (/^\+?inf$/i.test(s)) return Infinity;
  if (/^-inf$/i.test(s)) return -Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (!/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(s)) throw new Error(`bad sample value "${s}"`);
  return Number(s);
}

function parseLabels(s: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let at = 0;
  while (at < s.length) {
    const eq = s.indexOf('=', at);
    if (eq < 0) throw new Error(`bad labels "${s}"`);
    const name = s.slice(at, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name "${name}"`);
    if (s[eq + 1] !== '"') throw new Error(`label ${name} is not quoted`);
    let i = eq + 2;
    let value = '';
    for (; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\') {
        const n = s[++i];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`bad escape in label ${name}`);
      } else value += s[i];
    }
    if (s[i] !== '"') throw new Error(`unterminated label ${name}`);
    if (name in labels) throw new Error(`label ${name} repeated`);
    labels[name] = value;
    at = i + 1;
    if (s[at] === ',') at++;
    else if (at !== s.length) throw new Error(`bad labels "${s}"`);
  }
  return labels;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const [, name, ...rest] = line.split(' ').slice(1);
      if (!NAME.test(name!)) throw new Error(`bad HELP name in "${line}"`);
      help.set(name!, rest.join(' '));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const parts = line.split(' ');
      const name = parts[2]!;
      const type = parts[3]!;
      if (!NAME.test(name) || !TYPES.has(type) || parts.length !== 4) throw new Error(`bad TYPE line "${line}"`);
      if (types.has(name)) throw new Error(`family ${name} declared twice`);
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)( -?[0-9]+)?$/.exec(line);
    if (m === null) throw new Error(`bad sample line "${line}"`);
    const name = m[1]!;
    const family = types.has(name) ? name : SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((f) => f !== '' && types.has(f));
    if (family === undefined) throw new Error(`sample ${name} belongs to no declared family`);
    samples.push({ name, labels: m[2] ? parseLabels(m[2]) : {}, value: parseValue(m[3]!) });
  }
  return { types, help, samples };
}

/** The value of the one sample with this name and (a superset of) these labels; undefined if none. */
export function sampleValue(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples match ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

export async function scrape(baseUrl: string): Promise<Exposition & { contentType: string | null }> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(30_000) });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return { ...parseExposition(await res.text()), contentType: res.headers.get('content-type') };
}
