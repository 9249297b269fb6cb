/**
 * One row of the benchmark table. Every row compares two things measured side
 * by side in the same run, because absolute times on these machines are noisy.
 */
export interface BenchRow {
  /** Row number in the benchmark table, such as "3". */
  id: string;
  /** Quantity measured, such as "submit() median cost per call". */
  measure: string;
  /** Our figure, with its unit, such as "0.21 µs". */
  ours: string;
  /** The figure it is compared with, with its unit; "—" when the target is absolute. */
  baseline: string;
  /** The ratio the target is stated on, as printed, such as "0.18". */
  ratio: string;
  /** The target as written, such as "≤ 0.25". */
  target: string;
  pass: boolean;
  /** Extra figures: throughput, the limit, what bounds a missed target. */
  notes?: string;
}

/** Formats rows as a Markdown table, the same text printed and kept in docs/benchmarks.md. */
export function formatTable(rows: BenchRow[]): string {
  const header = ['#', 'measure', 'ours', 'compared with', 'ratio', 'target', 'met', 'notes'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) {
    const cells = [row.id, row.measure, row.ours, row.baseline, row.ratio, row.target, row.pass ? 'yes' : 'no', row.notes ?? ''];
    lines.push(`| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Returns the value at quantile `q` (0 to 1) of `values`, which it sorts in place. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  const index = Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1));
  return values[index]!;
}

/** Formats a number with `digits` significant digits, for table cells. */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  return Number(value.toPrecision(digits)).toString();
}
