/** Formats rows as a plain text table with a header line; columns are padded to fit. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();

  return [line(headers), ...rows.map(line)].join('\n');
}

/** A duration in milliseconds, readable: `850 ms`, `12 s`, `3 min`, `2 h`. */
export function formatAge(ms: number): string {
  if (ms <= 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;

  return `${Math.round(ms / 3_600_000)} h`;
}
