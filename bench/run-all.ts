/**
 * Runs every benchmark row in order and prints one table:
 * `node dist/bench/run-all.js` (what `npm run bench` runs after the build), or
 * `node dist/bench/run-all.js --only 5,6` for some rows. Each file runs once
 * even when it gives several of the rows asked for. A benchmark that fails is
 * shown as a row that did not meet its target, with the error, and the others
 * still run.
 */
import { describeMachine } from './support/machine.js';
import type { BenchRow } from './table.js';
import { formatTable } from './table.js';

/** Benchmark files, in row order, with the rows each one returns. */
const BENCHMARKS: { module: string; rows: string[] }[] = [
  { module: './isolation.js', rows: ['1', '2'] },
  { module: './submit-cost.js', rows: ['3'] },
  { module: './ring-throughput.js', rows: ['4'] },
  { module: './upload-throughput.js', rows: ['5', '6'] },
  { module: './capture.js', rows: ['7'] },
  { module: './burst.js', rows: ['8'] },
  { module: './classifier.js', rows: ['9'] },
];

/** Returns the rows asked for with `--only 1,5,6`, or every row. Throws for an unknown row. */
function selectedRows(argv: string[]): Set<string> {
  const all = BENCHMARKS.flatMap((benchmark) => benchmark.rows);
  const index = argv.indexOf('--only');
  if (index === -1) return new Set(all);

  const wanted = (argv[index + 1] ?? '').split(',').map((row) => row.trim()).filter((row) => row !== '');
  const unknown = wanted.filter((row) => !all.includes(row));
  if (wanted.length === 0 || unknown.length > 0) {
    throw new Error(`invalid --only ${JSON.stringify(argv[index + 1] ?? '')}: expected row numbers from ${all.join(',')}, such as --only 5,6`);
  }
  return new Set(wanted);
}

function failedRows(rows: string[], error: unknown): BenchRow[] {
  const message = error instanceof Error ? error.message : String(error);
  return rows.map((id) => ({ id, measure: 'benchmark failed', ours: '—', baseline: '—', ratio: '—', target: '—', pass: false, notes: message }));
}

async function main(): Promise<void> {
  let wanted: Set<string>;
  try {
    wanted = selectedRows(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
    return;
  }
  console.log(`machine: ${describeMachine()}`);

  const rows: BenchRow[] = [];
  for (const benchmark of BENCHMARKS) {
    if (!benchmark.rows.some((row) => wanted.has(row))) continue;
    const startedAt = Date.now();
    console.log(`running ${benchmark.module} (rows ${benchmark.rows.join(', ')})`);
    try {
      const module = (await import(benchmark.module)) as { run: () => Promise<BenchRow[]> };
      rows.push(...(await module.run()).filter((row) => wanted.has(row.id)));
    } catch (error) {
      rows.push(...failedRows(benchmark.rows.filter((row) => wanted.has(row)), error));
    }
    console.log(`  done in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  }

  console.log(`machine at the end: ${describeMachine()}`);
  console.log();
  console.log(formatTable(rows));
}

await main();
