import { expect } from 'chai';

import { causeFromDiagnostics, describeExit, NO_KNOWN_CAUSE, primaryCause, primaryDiagnostic } from '../src/diagnostics/cause.js';
import { classifyLog } from '../src/diagnostics/classifier.js';
import { formatErrno, lookupErrno } from '../src/diagnostics/errno.js';
import type { Diagnostic, StderrReport } from '../src/diagnostics/types.js';

function report(...diagnostics: Array<Pick<Diagnostic, 'kind' | 'message'>>): StderrReport {
  return {
    diagnostics: diagnostics.map((diagnostic) => ({ ...diagnostic, evidence: [], fields: {}, count: 1 })),
    lastLines: [],
  };
}

const METAL_TIMEOUT = { kind: 'metal.gpu_timeout', message: 'Metal GPU timeout' };
const ABORT_NOTICE = { kind: 'native.abort', message: 'abort notice' };

describe('describeExit', () => {
  it('exit code', () => {
    expect(describeExit({ exitCode: 3, signal: null })).to.equal('exit code 3');
  });

  it('signal with its number', () => {
    expect(describeExit({ exitCode: null, signal: 'SIGSEGV' })).to.equal('signal 11 (SIGSEGV)');
    expect(describeExit({ exitCode: null, signal: 'SIGABRT' })).to.equal('signal 6 (SIGABRT)');
    expect(describeExit({ exitCode: null, signal: 'SIGKILL' })).to.equal('signal 9 (SIGKILL)');
  });

  it('neither code nor signal', () => {
    expect(describeExit({ exitCode: null, signal: null })).to.equal('unknown exit status');
  });
});

describe('primaryCause', () => {
  it('signal after a Metal timeout', () => {
    expect(primaryCause({ exitCode: null, signal: 'SIGABRT' }, report(METAL_TIMEOUT, ABORT_NOTICE))).to.equal(
      'signal 6 (SIGABRT) after a Metal GPU timeout',
    );
  });

  it('exit code with a Python exception', () => {
    const found = report(ABORT_NOTICE, { kind: 'python.exception', message: 'Python ImportError: libmlx.so: cannot open shared object file' });

    expect(primaryCause({ exitCode: 1, signal: null }, found)).to.equal('exit code 1: Python ImportError: libmlx.so: cannot open shared object file');
  });

  it('clean end whatever stderr showed', () => {
    expect(primaryCause({ exitCode: 0, signal: null }, report(METAL_TIMEOUT))).to.equal('exit code 0');
  });

  it('exit alone without diagnostics', () => {
    expect(primaryCause({ exitCode: null, signal: 'SIGTERM' }, report())).to.equal('signal 15 (SIGTERM)');
  });

  it('picks "an" by sound', () => {
    const cases: Array<[kind: string, message: string, article: string]> = [
      ['nccl.timeout', 'NCCL collective timeout: ALLREDUCE timed out', 'an'],
      ['native.cpp_exception', 'uncaught C++ exception std::bad_alloc', 'an'],
      ['native.assertion', 'assertion failure at ggml.c:12', 'an'],
      ['gpu.out_of_memory', 'GPU out of memory (CUDA)', 'a'],
      ['native.segfault', 'segmentation fault', 'a'],
    ];
    for (const [kind, message, article] of cases) {
      expect(primaryCause({ exitCode: null, signal: 'SIGABRT' }, report({ kind, message }))).to.equal(`signal 6 (SIGABRT) after ${article} ${message}`);
    }
  });
});

describe('primaryDiagnostic', () => {
  it('root cause over its consequences', () => {
    const found = report(
      { kind: 'ring.receive_error', message: 'ring receive error: errno 14 (EFAULT, bad address)' },
      { kind: 'ring.transport_abort', message: 'ring transport abort after too many send/receive errors' },
      { kind: 'python.exception', message: 'Python RuntimeError: [ring] transport aborted' },
      ABORT_NOTICE,
    );

    expect(primaryDiagnostic(found)?.kind).to.equal('ring.receive_error');
  });

  it('Python exception over an abort notice', () => {
    expect(primaryDiagnostic(report(ABORT_NOTICE, { kind: 'python.exception', message: 'Python ValueError: bad shape' }))?.kind).to.equal('python.exception');
  });

  it('Metal timeout over the warning after it', () => {
    const found = classifyLog(
      [
        'libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed: Caused GPU Timeout Error (00000002:kIOGPUCommandBufferCallbackErrorTimeout)',
        'zsh: abort      python3 serve.py',
        '/usr/lib/python3.12/multiprocessing/resource_tracker.py:254: UserWarning: resource_tracker: There appear to be 2 leaked semaphore objects to clean up at shutdown',
      ].join('\n'),
    );

    expect(primaryDiagnostic(found)?.kind).to.equal('metal.gpu_timeout');
  });

  it('the first of equals, the last Python exception', () => {
    const first = { kind: 'native.assertion', message: 'assertion failure at a.c:1' };
    const second = { kind: 'native.cpp_exception', message: 'uncaught C++ exception std::logic_error' };
    expect(primaryDiagnostic(report(first, second))?.message).to.equal(first.message);

    const older = { kind: 'python.exception', message: "Python KeyError: 'a'" };
    const newer = { kind: 'python.exception', message: 'Python OSError: disk full' };
    expect(primaryDiagnostic(report(older, newer))?.message).to.equal(newer.message);
  });
});

describe('causeFromDiagnostics', () => {
  it('message of the primary diagnostic', () => {
    expect(causeFromDiagnostics(report(ABORT_NOTICE, METAL_TIMEOUT))).to.equal('Metal GPU timeout');
  });

  it('says so when nothing was found', () => {
    expect(causeFromDiagnostics(report())).to.equal(NO_KNOWN_CAUSE);
    expect(NO_KNOWN_CAUSE).to.equal('no known cause');
  });
});

describe('errno table', () => {
  it('names and describes common values', () => {
    expect(lookupErrno(14)).to.deep.equal({ errno: 14, name: 'EFAULT', description: 'bad address' });
    expect(lookupErrno(22)).to.deep.equal({ errno: 22, name: 'EINVAL', description: 'invalid argument' });
    expect(formatErrno(lookupErrno(2))).to.equal('errno 2 (ENOENT, no such file or directory)');
  });

  it('keeps an unknown number bare', () => {
    expect(lookupErrno(4321)).to.deep.equal({ errno: 4321 });
    expect(formatErrno(lookupErrno(4321))).to.equal('errno 4321');
  });
});
