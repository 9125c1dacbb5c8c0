/**
 * The transcript format of the Raft interaction tests (STYLE rule 18), after etcd-raft's
 * datadriven files: a script is a sequence of blocks, each an optional preamble of `#` comment
 * and blank lines, one command line, a `----` line, and the command's output up to the next
 * blank line. Formatting a parsed script with fresh outputs reproduces the file byte for byte
 * when nothing changed, so the test compares whole files and REWRITE=1 writes them back.
 */

/** ScriptBlock is one command with the comment lines above it and its expected output. */
export interface ScriptBlock {
  /** preamble holds the comment and blank lines before the command, verbatim. */
  readonly preamble: readonly string[];
  readonly command: string;
  /** lineNumber is the command's 1-based line in the file, for error messages. */
  readonly lineNumber: number;
  /** expected is the output recorded in the file; empty when the `----` section is missing. */
  readonly expected: readonly string[];
}

export interface Script {
  readonly blocks: readonly ScriptBlock[];
  /** trailer holds comment and blank lines after the last block. */
  readonly trailer: readonly string[];
}

export const OUTPUT_SEPARATOR = '----';

function isPreambleLine(line: string): boolean {
  return line.trim() === '' || line.startsWith('#');
}

/** parseScript splits a transcript into blocks; a command without `----` expects no output yet. */
export function parseScript(text: string): Script {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const blocks: ScriptBlock[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (isPreambleLine(line)) {
      preamble.push(line);
      i++;
      continue;
    }
    const lineNumber = i + 1;
    const expected: string[] = [];
    i++;
    if (lines[i] === OUTPUT_SEPARATOR) {
      i++;
      while (i < lines.length && (lines[i] ?? '') !== '') expected.push(lines[i++] ?? '');
      i++; // the blank line that ends the output
    } else if ((lines[i] ?? '') === '') {
      i++; // a command not yet run: its blank line ends it, as output will
    }
    blocks.push({ preamble, command: line, lineNumber, expected });
    preamble = [];
  }
  return { blocks, trailer: preamble };
}

/** formatScript writes a script back with `outputs[k]` as the output of block k. */
export function formatScript(script: Script, outputs: readonly (readonly string[])[]): string {
  const out: string[] = [];
  script.blocks.forEach((b, k) => {
    const output = outputs[k];
    if (output === undefined) throw new Error(`no output for block ${k} (line ${b.lineNumber})`);
    if (output.length === 0) throw new Error(`empty output for line ${b.lineNumber}: print "ok" instead`);
    const blank = output.findIndex((l) => l.trim() === '');
    if (blank >= 0) throw new Error(`blank output line for line ${b.lineNumber}: it would end the block`);
    out.push(...b.preamble, b.command, OUTPUT_SEPARATOR, ...output, '');
  });
  out.push(...script.trailer);
  return `${out.join('\n')}${script.trailer.length > 0 ? '\n' : ''}`;
}

/** CommandArgs is one parsed command line: `name pos1 pos2 key=value key=(a b c)`. */
export class CommandArgs {
  private readonly used = new Set<string>();

  constructor(
    readonly name: string,
    readonly positional: readonly string[],
    private readonly named: ReadonlyMap<string, string>,
  ) {}

  static parse(line: string): CommandArgs {
    const tokens = line.match(/[^\s=]+=\([^)]*\)|\([^)]*\)|\S+/g) ?? [];
    const [name, ...rest] = tokens;
    if (name === undefined) throw new Error('empty command');
    const positional: string[] = [];
    const named = new Map<string, string>();
    for (const t of rest) {
      const eq = t.indexOf('=');
      if (eq > 0) named.set(t.slice(0, eq), t.slice(eq + 1));
      else positional.push(t);
    }
    return new CommandArgs(name, positional, named);
  }

  /** keys lists every named argument, for commands such as `check` that take any key. */
  keys(): string[] {
    return [...this.named.keys()];
  }

  has(key: string): boolean {
    return this.named.has(key);
  }

  str(key: string): string | null {
    this.used.add(key);
    return this.named.get(key) ?? null;
  }

  int(key: string, fallback: number): number {
    const v = this.str(key);
    if (v === null) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new Error(`${this.name}: ${key}=${v} is not an integer`);
    return n;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.str(key);
    if (v === null) return fallback;
    if (v !== 'true' && v !== 'false') throw new Error(`${this.name}: ${key}=${v} is not true|false`);
    return v === 'true';
  }

  /** list reads `key=(a b)` or `key=(a,b)` or `key=a`; null when absent. */
  list(key: string): string[] | null {
    const v = this.str(key);
    return v === null ? null : parseGroup(v);
  }

  /** assertAllUsed rejects misspelled options, which would otherwise be silently ignored. */
  assertAllUsed(): void {
    const unknown = [...this.named.keys()].filter((k) => !this.used.has(k));
    if (unknown.length > 0) throw new Error(`${this.name}: unknown option(s) ${unknown.join(', ')}`);
  }
}

/** parseGroup reads `(a b c)`, `(a,b)` or a bare `a` into its members. */
export function parseGroup(token: string): string[] {
  const inner = token.startsWith('(') && token.endsWith(')') ? token.slice(1, -1) : token;
  return inner.split(/[\s,]+/).filter((s) => s !== '');
}
