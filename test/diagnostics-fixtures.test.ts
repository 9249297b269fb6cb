import fs from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';

import { primaryCause, primaryDiagnostic } from '../src/diagnostics/cause.js';
import { classifyLog, StderrClassifier } from '../src/diagnostics/classifier.js';
import type { Diagnostic, StderrReport } from '../src/diagnostics/types.js';
import { fixturesDir } from './helpers/paths.js';

function classifyFixture(name: string): StderrReport {
  return classifyLog(fs.readFileSync(path.join(fixturesDir, `${name}.stderr.log`)));
}

function only(report: StderrReport, kind: string): Diagnostic {
  const found = report.diagnostics.filter((diagnostic) => diagnostic.kind === kind);
  expect(found, `diagnostics of kind ${kind}`).to.have.lengthOf(1);
  return found[0]!;
}

function kindsOf(report: StderrReport): string[] {
  return report.diagnostics.map((diagnostic) => diagnostic.kind);
}

const ABORTED = { exitCode: null, signal: 'SIGABRT' as const };
const EXIT_1 = { exitCode: 1, signal: null };

describe('runner-stderr fixtures', () => {
  it('lists a README row for each fixture', () => {
    const readme = fs.readFileSync(path.join(fixturesDir, 'README.md'), 'utf8');
    const files = fs.readdirSync(fixturesDir).filter((name) => name.endsWith('.stderr.log'));
    expect(files).to.have.lengthOf(11);
    for (const file of files) expect(readme).to.include(`| ${file.replace('.stderr.log', '')} |`);
  });

  it('metal-gpu-timeout: Metal GPU timeout', () => {
    const report = classifyFixture('metal-gpu-timeout');

    const timeout = only(report, 'metal.gpu_timeout');
    expect(timeout.message).to.equal('Metal GPU timeout');
    expect(timeout.fields.code).to.equal('00000002');
    expect(primaryCause(ABORTED, report)).to.equal('signal 6 (SIGABRT) after a Metal GPU timeout');
  });

  it('tqdm-metal-timeout-abort: timeout, warning is noise', () => {
    const report = classifyFixture('tqdm-metal-timeout-abort');

    const timeout = only(report, 'metal.gpu_timeout');
    expect(primaryDiagnostic(report)?.kind).to.equal('metal.gpu_timeout');
    expect(primaryCause(ABORTED, report)).to.equal('signal 6 (SIGABRT) after a Metal GPU timeout');
    expect(timeout.evidence[0]).to.match(/^libc\+\+abi: terminating/);
    expect(kindsOf(report)).to.deep.equal(['metal.gpu_timeout', 'native.cpp_exception', 'native.abort']);
    expect(report.diagnostics.flatMap((diagnostic) => diagnostic.evidence).join('\n')).not.to.include('semaphore');
  });

  it('cpp-runtime-error-abort: C++ exception with what()', () => {
    const report = classifyFixture('cpp-runtime-error-abort');

    const exception = only(report, 'native.cpp_exception');
    expect(exception.fields.type).to.equal('std::runtime_error');
    expect(exception.fields.what).to.equal('[Matmul::eval_cpu] Currently only supports float32.');
    expect(primaryDiagnostic(report)).to.equal(exception);
    expect(kindsOf(report)).to.include('native.abort');
  });

  it('ggml-assert-abort: assertion with file and line', () => {
    const report = classifyFixture('ggml-assert-abort');

    const assertion = only(report, 'native.assertion');
    expect(assertion.fields.file).to.equal('/__w/WasmEdge/WasmEdge/plugins/wasi_nn/thirdparty/ggml/llama.cpp');
    expect(assertion.fields.line).to.equal(621);
    expect(assertion.fields.condition).to.equal('data');
    expect(primaryDiagnostic(report)).to.equal(assertion);
  });

  it('python-import-error: ImportError and its message', () => {
    const report = classifyFixture('python-import-error');

    const exception = only(report, 'python.exception');
    expect(exception.fields.type).to.equal('ImportError');
    expect(exception.fields.message).to.equal('libmlx.so: cannot open shared object file: No such file or directory');
    expect(exception.fields.line).to.equal(4);
    expect(exception.fields.function).to.equal('<module>');
    expect(primaryCause(EXIT_1, report)).to.equal(
      'exit code 1: Python ImportError: libmlx.so: cannot open shared object file: No such file or directory',
    );
  });

  it('jaccl-recv-frozen-app: RuntimeError and jaccl errno', () => {
    const report = classifyFixture('jaccl-recv-frozen-app');

    const exception = only(report, 'python.exception');
    expect(exception.fields.type).to.equal('RuntimeError');
    expect(exception.fields.file).to.equal('exo/worker/engines/mlx/utils_mlx.py');
    expect(exception.fields.line).to.equal(142);
    expect(exception.fields.function).to.equal('mlx_distributed_init');
    const jaccl = only(report, 'jaccl.error');
    expect(jaccl.fields.operation).to.equal('receive');
    expect(jaccl.fields.errno).to.equal(2);
    expect(jaccl.fields.errnoName).to.equal('ENOENT');
  });

  it('ring-receive-errno-abort: folded errors, then abort', () => {
    const report = classifyFixture('ring-receive-errno-abort');

    expect(kindsOf(report)).to.deep.equal(['ring.receive_error', 'ring.transport_abort']);
    const receive = report.diagnostics[0]!;
    expect(receive.count).to.equal(5);
    expect(receive.fields).to.include({ errno: 14, errnoName: 'EFAULT', errnoDescription: 'bad address', socket: 51 });
    expect(receive.message).to.equal('ring receive error: errno 14 (EFAULT, bad address)');
    expect(receive.evidence).to.deep.equal(['[ring] Receiving from socket 51 failed with errno 14']);
  });

  it('ring-send-errno-abort: send errors, then abort', () => {
    const report = classifyFixture('ring-send-errno-abort');

    expect(kindsOf(report)).to.deep.equal(['ring.send_error', 'ring.transport_abort']);
    expect(report.diagnostics[0]!.count).to.equal(3);
    expect(report.diagnostics[0]!.fields).to.include({ errno: 22, errnoName: 'EINVAL', errnoDescription: 'invalid argument' });
  });

  it('torch-cuda-oom: GPU out of memory', () => {
    const report = classifyFixture('torch-cuda-oom');

    const outOfMemory = only(report, 'gpu.out_of_memory');
    expect(outOfMemory.fields).to.include({ backend: 'cuda', requested: '72.00 MiB', device: '0' });
    expect(outOfMemory.evidence[0]!.length).to.be.at.most(400);
    expect(outOfMemory.evidence[0]).to.include('CUDA out of memory');
  });

  it('python-fatal-segfault: segfault with Python frames', () => {
    const report = classifyFixture('python-fatal-segfault');

    const fatal = only(report, 'python.fatal_error');
    expect(fatal.fields).to.include({ error: 'Segmentation fault', signal: 'SIGSEGV', line: 514, function: 'begin_forward' });
    expect(String(fatal.fields.frames).split('\n')).to.deep.equal([
      '/usr/local/lib/python3.10/dist-packages/flashinfer/decode.py:514 in begin_forward',
      '/usr/local/lib/python3.10/dist-packages/vllm/attention/backends/flashinfer.py:149 in begin_forward',
    ]);
  });

  it('invalid-utf8-no-newline: partial last line classified', () => {
    const bytes = fs.readFileSync(path.join(fixturesDir, 'invalid-utf8-no-newline.stderr.log'));
    expect(bytes[bytes.length - 1]).not.to.equal(0x0a);

    const report = classifyLog(bytes);

    const segfault = only(report, 'native.segfault');
    expect(segfault.fields.signal).to.equal('SIGSEGV');
    expect(segfault.evidence[0]).to.match(/^Segmentation fault: 11 while reading/);
    expect(report.lastLines).to.have.lengthOf(2);
    expect(report.lastLines[0]).to.include('\ufffd');
  });

  it('keeps the last four lines', () => {
    const report = classifyFixture('python-import-error');

    expect(report.lastLines).to.deep.equal([
      'from exo.worker.engines.mlx.patches.opt_batch_gen import apply_batch_gen_patch',
      'File "/home/<user>/exo/src/exo/worker/engines/mlx/patches/opt_batch_gen.py", line 4, in <module>',
      'import mlx.core as mx',
      'ImportError: libmlx.so: cannot open shared object file: No such file or directory',
    ]);
  });

  it('streaming matches the whole-log result', () => {
    for (const name of fs.readdirSync(fixturesDir).filter((file) => file.endsWith('.stderr.log'))) {
      const bytes = fs.readFileSync(path.join(fixturesDir, name));
      const classifier = new StderrClassifier();
      for (const raw of bytes.toString('utf8').split('\n')) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line !== '') classifier.push(line);
      }
      expect(classifier.finish(), name).to.deep.equal(classifyLog(bytes));
    }
  });
});
