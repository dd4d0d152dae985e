/**
 * The Dockerfile read as data, for the lint and build-simulation tests: stages
 * with their instructions in order (continuation lines joined, comments dropped).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): { stages: Stage[]; global: Instruction[] } {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      line = line.replace(/\\\s*$/, ' ') + next.trim();
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile line ${start + 1}: not an instruction: ${line}`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start + 1 });
  }
  const stages: Stage[] = [];
  const global: Instruction[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args) ?? [];
      stages.push({ name: name ?? String(stages.length), from: from ?? '', instructions: [] });
    } else if (stages.length === 0) global.push(instruction);
    else stages.at(-1)!.instructions.push(instruction);
  }
  return { stages, global };
}

export function readDockerfile(root: string, file = 'Dockerfile') {
  return parseDockerfile(readFileSync(join(root, file), 'utf8'));
}

/** `KEY=value KEY2="v 2"` (the ENV and ARG forms this repository uses) as pairs. */
export function parseAssignments(args: string): [string, string | undefined][] {
  const pairs: [string, string | undefined][] = [];
  const pattern = /([A-Za-z_][A-Za-z0-9_]*)(?:=("([^"]*)"|\S*))?/g;
  for (const m of args.matchAll(pattern)) pairs.push([m[1]!, m[2] === undefined ? undefined : (m[3] ?? m[2])]);
  // Legacy `ENV KEY value` form.
  if (pairs.length >= 2 && !args.includes('=')) return [[pairs[0]![0], args.slice(pairs[0]![0].length).trim()]];
  return pairs;
}

export interface Copy {
  from: string | null;
  sources: string[];
  destination: string;
}

/** COPY [--from=stage] [--chown=...] src... dest (shell form; this repository uses no JSON-form COPY). */
export function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  let from: string | null = null;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const destination = words.pop()!;
  return { from, sources: words, destination };
}

/** CMD/ENTRYPOINT/HEALTHCHECK CMD in exec (JSON) form, or null when it is in shell form. */
export function execForm(args: string): string[] | null {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? (parsed as string[]) : null;
  } catch {
    return null;
  }
}

/**
 * .dockerignore as a predicate on context-relative paths (forward slashes): `*` within one path segment, `**`
 * across any, a pattern excluding a folder excludes what it holds; `!` re-includes. Enough for this repository's file.
 */
export function dockerIgnore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((segment) => (segment === '**' ? '\u0000' : segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\u0000\//g, '(?:.*/)?')
        .replace(/\u0000/g, '.*');
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(path)) ignored = !rule.negate;
    return ignored;
  };
}
