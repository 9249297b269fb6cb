import fs from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';

import type { DiagnoseResult } from '../src/cli/commands/diagnose.js';
import { runCli } from './helpers/cli.js';
import { fixturesDir } from './helpers/paths.js';
import { makeTempDir } from './helpers/temp-dir.js';

/** The kind each fixture's README row names. */
const FIXTURE_KINDS: Record<string, string> = {
  'metal-gpu-timeout': 'metal.gpu_timeout',
  'tqdm-metal-timeout-abort': 'metal.gpu_timeout',
  'cpp-runtime-error-abort': 'native.cpp_exception',
  'ggml-assert-abort': 'native.assertion',
  'python-import-error': 'python.exception',
  'jaccl-recv-frozen-app': 'jaccl.error',
  'ring-receive-errno-abort': 'ring.receive_error',
  'ring-send-errno-abort': 'ring.send_error',
  'torch-cuda-oom': 'gpu.out_of_memory',
  'python-fatal-segfault': 'python.fatal_error',
  'invalid-utf8-no-newline': 'native.segfault',
};

function fixturePath(name: string): string {
  return path.join(fixturesDir, `${name}.stderr.log`);
}

/** Splits the CLI's combined output into the JSON array and what came before or after it. */
function parseJsonOutput(output: string): { results: DiagnoseResult[]; rest: string } {
  const start = output.indexOf('[\n');
  const end = output.lastIndexOf('\n]') + 2;
  return { results: JSON.parse(output.slice(start, end)) as DiagnoseResult[], rest: output.slice(0, start) + output.slice(end) };
}

describe('exo diagnose', () => {
  let temp: { dir: string; remove: () => Promise<void> };

  beforeEach(async () => {
    temp = await makeTempDir('exo-diagnose-');
  });

  afterEach(async () => {
    await temp.remove();
  });

  it('--json names each fixture kind', async () => {
    const names = Object.keys(FIXTURE_KINDS);

    const { code, output } = await runCli(['diagnose', '--json', ...names.map(fixturePath)]);

    expect(code).to.equal(0);
    const { results } = parseJsonOutput(output);
    expect(results.map((result) => result.path)).to.deep.equal(names.map(fixturePath));
    for (const result of results) {
      const name = path.basename(result.path, '.stderr.log');
      expect(result.diagnostics.map((diagnostic) => diagnostic.kind), name).to.include(FIXTURE_KINDS[name]);
      expect(result.primaryCause, name).to.be.a('string').and.not.equal('no known cause');
      expect(result.lastLines, name).to.be.an('array').that.is.not.empty;
    }
  });

  it('prints the primary cause for a person', async () => {
    const { code, output } = await runCli(['diagnose', fixturePath('tqdm-metal-timeout-abort')]);

    expect(code).to.equal(0);
    expect(output).to.include(`${fixturePath('tqdm-metal-timeout-abort')}\n  primary cause: Metal GPU timeout\n`);
    expect(output).to.include('  metal.gpu_timeout: Metal GPU timeout\n');
    expect(output).to.include('    | zsh: abort      python3 ./test.py\n');
  });

  it('shows repeats and fields', async () => {
    const { output } = await runCli(['diagnose', fixturePath('ring-receive-errno-abort')]);

    expect(output).to.include('  ring.receive_error: ring receive error: errno 14 (EFAULT, bad address) (5 times)\n');
    expect(output).to.include('    socket=51 errno=14 errnoName=EFAULT errnoDescription="bad address"\n');
  });

  it('says plainly when nothing is known', async () => {
    const log = path.join(temp.dir, 'quiet.stderr.log');
    await fs.writeFile(log, 'loading shard 1/2\nloading shard 2/2\nserver listening on 127.0.0.1:52415\n');

    const { code, output } = await runCli(['diagnose', log]);

    expect(code).to.equal(0);
    expect(output).to.include('  primary cause: no known cause\n');
    expect(output).to.include('  no diagnostics found; last lines:\n    | loading shard 1/2\n');
  });

  it('reports a missing file and goes on', async () => {
    const missing = path.join(temp.dir, 'gone.stderr.log');

    const { code, output } = await runCli(['diagnose', '--json', missing, fixturePath('metal-gpu-timeout')]);

    expect(code).to.equal(1);
    const { results, rest } = parseJsonOutput(output);
    expect(results.map((result) => result.path)).to.deep.equal([fixturePath('metal-gpu-timeout')]);
    expect(rest).to.include(`exo diagnose: cannot read ${missing}: file not found (ENOENT)`);
  });

  it('rejects a call without files', async () => {
    const { code, output } = await runCli(['diagnose']);

    expect(code).to.equal(2);
    expect(output).to.include('exo: ');
  });

  it('describes --json in the help', async () => {
    const { code, output } = await runCli(['diagnose', '--help']);

    expect(code).to.equal(0);
    expect(output).to.match(/--json\s+Print one JSON array/);
  });
});
