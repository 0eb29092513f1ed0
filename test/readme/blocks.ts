/**
 * The READMEs' `ts` code blocks and the files they show. Each block is preceded by a marker line and must be
 * byte-identical to the file it names:
 * - `<!-- example: examples/NAME.ts … -->`: an example that runs as written (test/readme/readme.test.ts runs
 *   it and checks what it prints);
 * - `<!-- sketch: examples/sketches/NAME.ts … -->`: a fragment that uses the reader's own values (a bot
 *   token, an API client, their code), type-checked against the package's types with those values declared
 *   in examples/sketches/context.ts, not run.
 * `npx tsx test/readme/sync.ts` rewrites the blocks from the files.
 */

import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';

export interface Block {
  /** The file the marker names, relative to the package root. */
  file: string | undefined;
  /** What the marker says the block is. */
  kind: 'example' | 'sketch' | undefined;
  /** The block's text: the lines between the fences, each ending with a newline. */
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

const MARKER = /^<!-- (example|sketch): (\S+)(?: [^>]*)? -->$/;
/** Where sketches live (and examples do not). */
export const SKETCHES = 'examples/sketches/';

/** Every ```ts block of a Markdown text, with the file named on the line before it (if any). */
export function tsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('```')) continue;
    const lang = lines[i]!.slice(3).trim();
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    if (lang === 'ts' || lang === 'typescript') {
      const marker = i > 0 ? MARKER.exec(lines[i - 1]!) : null;
      const body = lines.slice(i + 1, end);
      blocks.push({
        file: marker?.[2],
        kind: marker?.[1] as Block['kind'],
        code: body.map((l) => `${l}\n`).join(''),
        line: i + 1,
      });
    }
    i = end;
  }
  return blocks;
}

/**
 * What is wrong between a README's blocks and the files they show (empty when they agree); `files` must
 * each be shown in it. `name` is the README's path, for the messages.
 */
export function mismatches(
  markdown: string,
  read: (file: string) => string | undefined,
  files: string[],
  name = 'README.md',
): string[] {
  const problems: string[] = [];
  const shown = new Set<string>();
  for (const block of tsBlocks(markdown)) {
    if (!block.file) {
      problems.push(
        `${name}:${block.line}: a ts block without an "<!-- example: examples/….ts -->" (or "<!-- sketch: ${SKETCHES}….ts -->") line before it`,
      );
      continue;
    }
    shown.add(block.file);
    if ((block.kind === 'sketch') !== block.file.startsWith(SKETCHES)) {
      problems.push(
        `${name}:${block.line - 1}: ${block.kind === 'sketch' ? 'a sketch must be a file under' : 'an example that runs must not be under'} ${SKETCHES}`,
      );
    }
    const text = read(block.file);
    if (text === undefined) problems.push(`${name}:${block.line}: ${block.file} does not exist`);
    else if (text !== block.code) {
      const a = block.code.split('\n');
      const b = text.split('\n');
      let k = 0;
      while (k < a.length && a[k] === b[k]) k++;
      problems.push(
        `${name}:${block.line + 1 + k}: the block differs from ${block.file}:${k + 1}\n` +
          `  README:  ${JSON.stringify(a[k] ?? '(end)')}\n  example: ${JSON.stringify(b[k] ?? '(end)')}`,
      );
    }
  }
  for (const file of files) if (!shown.has(file)) problems.push(`${file} is not shown in ${name}`);
  return problems;
}

/** The README with every marked block replaced by its file's text. */
export function synced(markdown: string, read: (file: string) => string | undefined): string {
  const lines = markdown.split('\n');
  for (const block of tsBlocks(markdown).reverse()) {
    const text = block.file === undefined ? undefined : read(block.file);
    if (text === undefined) continue;
    const bodyLines = block.code === '' ? 0 : block.code.split('\n').length - 1;
    lines.splice(block.line, bodyLines, ...text.replace(/\n$/, '').split('\n'));
  }
  return lines.join('\n');
}

/** The package's READMEs: README.md and every README.md under src/, relative to `root`, sorted. */
export function readmes(root: string): string[] {
  const found = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f === 'README.md' || f.endsWith(`${sep}README.md`))
    .map((f) => `src/${f.split(sep).join('/')}`);
  return ['README.md', ...found.sort()];
}
