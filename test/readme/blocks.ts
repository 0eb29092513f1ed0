/**
 * The README's `ts` code blocks and the example files they show. Each block is preceded by a marker line
 * `<!-- example: examples/NAME.ts … -->` and must be byte-identical to that file, so that every example in
 * the README runs as written (test/readme/readme.test.ts runs the files). `npx tsx test/readme/sync.ts`
 * rewrites the blocks from the files.
 */

export interface Block {
  /** The example file the marker names, relative to the package root. */
  file: string | undefined;
  /** The block's text: the lines between the fences, each ending with a newline. */
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

const MARKER = /^<!-- example: (\S+)(?: [^>]*)? -->$/;

/** Every ```ts block of a Markdown text, with the example file named on the line before it (if any). */
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
      blocks.push({ file: marker?.[1], code: body.map((l) => `${l}\n`).join(''), line: i + 1 });
    }
    i = end;
  }
  return blocks;
}

/** What is wrong between the README's blocks and the example files (empty when they agree). */
export function mismatches(
  markdown: string,
  read: (file: string) => string | undefined,
  files: string[],
): string[] {
  const problems: string[] = [];
  const shown = new Set<string>();
  for (const block of tsBlocks(markdown)) {
    if (!block.file) {
      problems.push(
        `README.md:${block.line}: a ts block without an "<!-- example: examples/….ts -->" line before it`,
      );
      continue;
    }
    shown.add(block.file);
    const text = read(block.file);
    if (text === undefined) problems.push(`README.md:${block.line}: ${block.file} does not exist`);
    else if (text !== block.code) {
      const a = block.code.split('\n');
      const b = text.split('\n');
      let k = 0;
      while (k < a.length && a[k] === b[k]) k++;
      problems.push(
        `README.md:${block.line + 1 + k}: the block differs from ${block.file}:${k + 1}\n` +
          `  README:  ${JSON.stringify(a[k] ?? '(end)')}\n  example: ${JSON.stringify(b[k] ?? '(end)')}`,
      );
    }
  }
  for (const file of files) if (!shown.has(file)) problems.push(`${file} is not shown in README.md`);
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
