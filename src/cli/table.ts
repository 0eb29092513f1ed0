/** Formats rows as an aligned text table (for people; `--json` is for scripts). */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>): string {
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: ReadonlyArray<unknown>) =>
    r
      .map((c, i) => String(c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value.length > 60 ? `${value.slice(0, 57)}...` : value;
  return String(value);
}

/** A timestamp (ms) as ISO text, or '-'. */
export function when(ms: number | null | undefined): string {
  return typeof ms === 'number' ? new Date(ms).toISOString() : '-';
}

/** Writes a line to stdout. */
export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
