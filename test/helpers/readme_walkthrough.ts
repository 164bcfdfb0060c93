// A README walkthrough followed literally: the `sh` blocks of one README section, each command
// run as typed by bash in a folder laid out like the repository after `npm start` (data/central,
// data/bank-a, ... are the network's data directories; dist/ is the build; `cbdc-wallet` is on
// PATH as `npm link` puts it), and each `#   …` line under a command checked against what it
// printed. Only the nodes' URLs differ from what a person types: the test network listens on
// free ports, so http://127.0.0.1:7100 (central), :7101, :7102 (the banks) are rewritten.
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from './central_process.js';
import type { NetworkProcess } from './network_process.js';
import { type CliResult, WALLET_CLI, runProcess } from './wallet_fixture.js';

export interface Step {
  command: string;
  /** The lines shown under the command (`#   ` taken off). */
  expected: string[];
}

/** The commands of the README section under `heading` (e.g. "### Electronic receipts"), in order. */
export function readmeSteps(heading: string): Step[] {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, `the README has the section ${heading}`).toBeGreaterThan(0);
  const rest = readme.slice(start + heading.length + 2);
  const next = /\n(##+ |<!--)/.exec(rest);
  const section = next === null ? rest : rest.slice(0, next.index);
  const steps: Step[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.split('\n');
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      if (line.startsWith('#   ')) {
        steps.at(-1)!.expected.push(line.slice(4));
        continue;
      }
      if (line.trim() === '') continue;
      while (line.endsWith('\\')) line = line.slice(0, -1) + lines[++i]!.trim();
      steps.push({ command: line.trim(), expected: [] });
    }
  }
  return steps;
}

/**
 * A shown output line as a pattern: "…" stands for anything, a run of two or more spaces for
 * any run of spaces (columns), and a time "YYYY-MM-DD HH:MM" for any such time (the README
 * shows the day it was written).
 */
export function expectedLineRe(expected: string): RegExp {
  const part = (p: string): string => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}/g, '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}')
    .replace(/ {2,}/g, ' +');
  return new RegExp('^' + expected.split('…').map(part).join('.*') + '$');
}

/** A refusal line the README shows: the program's name, then its message (on stderr, exit 1). */
const REFUSAL = /^cbdc-[a-z]+: /;

/** The folder a walkthrough runs in, with the network's data under data/. */
export class Walkthrough {
  /** Shell variables set by `NAME=$(...)` steps, handed to later steps. */
  private readonly vars: Record<string, string> = {};

  constructor(readonly dir: string, readonly passphrase: string, private readonly net: () => NetworkProcess) {
    mkdirSync(path.join(dir, 'bin'), { recursive: true });
    symlinkSync(path.join(REPO_ROOT, 'dist'), path.join(dir, 'dist'));
    const shim = path.join(dir, 'bin', 'cbdc-wallet');
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${WALLET_CLI}" "$@"\n`);
    chmodSync(shim, 0o755);
  }

  /** Where the network keeps its data: hand this to NetworkProcess as its root. */
  get networkRoot(): string {
    return path.join(this.dir, 'data');
  }

  /** One command as typed (URLs rewritten), by bash in the walkthrough's folder. `init` gets a cheap scrypt cost. */
  async run(command: string): Promise<CliResult> {
    const net = this.net();
    let c = command.replaceAll('http://127.0.0.1:7100', net.central.url);
    for (const [i, id] of ['bank-a', 'bank-b'].entries()) if (net.banks.has(id)) c = c.replaceAll(`http://127.0.0.1:${7101 + i}`, net.bank(id).url);
    if (/^cbdc-wallet (--wallet \S+ )?init$/.test(c)) c += ' --scrypt-cost 10';
    const assign = /^([A-Z_][A-Z0-9_]*)=\$\((.*)\)$/.exec(c);
    const r = await runProcess('bash', ['-c', assign === null ? c : assign[2]!], {
      cwd: this.dir,
      env: { PATH: `${path.join(this.dir, 'bin')}:${process.env.PATH ?? ''}`, HOME: this.dir, CBDC_WALLET_PASSPHRASE: this.passphrase, ...this.vars },
    });
    if (assign !== null && r.code === 0) this.vars[assign[1]!] = r.stdout.replace(/\n$/, '');
    return r;
  }

  /** Runs every step; one showing a refusal must exit 1 with it on stderr, any other exit 0 with its lines on stdout. */
  async follow(steps: readonly Step[]): Promise<void> {
    for (const step of steps) {
      const r = await this.run(step.command);
      const refused = step.expected.some((e) => REFUSAL.test(e));
      expect(r.code, `${step.command}\n${r.stdout}${r.stderr}`).toBe(refused ? 1 : 0);
      const printed = (refused ? r.stderr : r.stdout).trimEnd().split('\n');
      for (const e of step.expected) {
        expect(printed.some((l) => expectedLineRe(e).test(l)), `${step.command}: "${e}" in\n${printed.join('\n')}`).toBe(true);
      }
    }
  }
}
