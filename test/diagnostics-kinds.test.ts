import { expect } from 'chai';

import { primaryDiagnostic } from '../src/diagnostics/cause.js';
import { classifyLog, StderrClassifier, TAIL_LINES } from '../src/diagnostics/classifier.js';
import { DIAGNOSTIC_KINDS } from '../src/diagnostics/kinds.js';
import type { Diagnostic, StderrReport } from '../src/diagnostics/types.js';

/** Classifies lines given without their newlines. */
function classify(...lines: string[]): StderrReport {
  return classifyLog(lines.join('\n'));
}

function kindsOf(report: StderrReport): string[] {
  return report.diagnostics.map((diagnostic) => diagnostic.kind);
}

function only(report: StderrReport, kind: string): Diagnostic {
  const found = report.diagnostics.filter((diagnostic) => diagnostic.kind === kind);
  expect(found, `diagnostics of kind ${kind} in ${JSON.stringify(kindsOf(report))}`).to.have.lengthOf(1);
  return found[0]!;
}

const ESC = '\x1b';

describe('diagnostic kinds', () => {
  describe('Metal', () => {
    it('timeout wrapped in ANSI colors', () => {
      const report = classify(
        `${ESC}[1;31mlibc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed: Caused GPU Timeout Error (00000002:kIOGPUCommandBufferCallbackErrorTimeout)${ESC}[0m`,
      );

      const timeout = only(report, 'metal.gpu_timeout');
      expect(timeout.evidence[0]).not.to.include(ESC);
      expect(timeout.evidence[0]).to.match(/^libc\+\+abi/);
    });

    it('out of memory behind lost escapes', () => {
      const report = classify(
        '[31mRuntimeError: [METAL] Command buffer execution failed: Insufficient Memory (00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)[0m',
      );

      const outOfMemory = only(report, 'metal.out_of_memory');
      expect(outOfMemory.evidence[0]).to.match(/^RuntimeError: \[METAL\]/);
      expect(outOfMemory.evidence[0]).not.to.include('[0m');
    });

    it('invalid resource in lowercase', () => {
      const report = classify('error: metal command buffer execution failed: Invalid Resource (00000004:kIOGPUCommandBufferCallbackErrorInvalidResource)');

      expect(only(report, 'metal.invalid_resource').fields.code).to.equal('00000004');
    });

    it('other failure with mangled tag', () => {
      const report = classify('METAL] Command buffer execution failed: Caused GPU Hang Error (00000003:kIOGPUCommandBufferCallbackErrorHang)');

      const failure = only(report, 'metal.command_buffer_error');
      expect(failure.fields.reason).to.equal('Hang');
      expect(failure.message).to.equal('Metal command buffer error: Caused GPU Hang Error');
    });

    it('timeout without the error code', () => {
      const report = classify('RuntimeError: [METAL] Command buffer execution failed: the GPU timed out on slot 4');

      expect(kindsOf(report)).to.deep.equal(['metal.gpu_timeout']);
    });

    it('crash glued to a progress bar', () => {
      const report = classify(
        ' 12%|█▏        | 8/67 [00:09<01:06,  1.13s/it]\r 13%|█▎        | 9/67 [00:10<01:05,  1.12s/it]libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed: Caused GPU Timeout Error (00000002:kIOGPUCommandBufferCallbackErrorTimeout)',
      );

      const timeout = only(report, 'metal.gpu_timeout');
      expect(timeout.evidence[0]).to.match(/^13%/);
      expect(timeout.evidence[0]).not.to.include('12%');
      expect(report.lastLines[0]).to.match(/^13%/);
    });
  });

  describe('ring', () => {
    it('receive error behind a rank prefix', () => {
      const report = classify('(rank 2) [ring] Receiving from socket 7 failed with errno 104');

      const receive = only(report, 'ring.receive_error');
      expect(receive.fields).to.include({ socket: 7, errno: 104, errnoName: 'ECONNRESET', errnoDescription: 'connection reset by peer' });
    });

    it('send error with mangled tag', () => {
      const report = classify('ring] Sending to socket 12 failed with errno=32');

      expect(only(report, 'ring.send_error').fields).to.include({ errno: 32, errnoName: 'EPIPE' });
    });

    it('connect failure with its errno', () => {
      const report = classify("RuntimeError: [ring] Couldn't connect (error: 111)");

      const connect = only(report, 'ring.connect_error');
      expect(connect.fields).to.include({ operation: 'connect', errno: 111, errnoName: 'ECONNREFUSED' });
      expect(connect.message).to.equal('ring could not connect: errno 111 (ECONNREFUSED, connection refused)');
    });

    it('transport abort in color', () => {
      const report = classify(`${ESC}[33m[ring] Too many send/recv errors. Aborting...${ESC}[0m`);

      expect(kindsOf(report)).to.deep.equal(['ring.transport_abort']);
    });

    it('folds only consecutive repeats', () => {
      const receive = '[ring] Receiving from socket 4 failed with errno 14';
      const report = classify(receive, receive, receive, 'step 12 done', '[ring] Sending to socket 4 failed with errno 14', receive, receive);

      expect(kindsOf(report)).to.deep.equal(['ring.receive_error', 'ring.send_error', 'ring.receive_error']);
      expect(report.diagnostics.map((diagnostic) => diagnostic.count)).to.deep.equal([3, 1, 2]);
    });

    it('keeps the latest repeat as evidence', () => {
      const report = classify('[ring] Receiving from socket 4 failed with errno 14', '[ring] Receiving from socket 9 failed with errno 14');

      const receive = only(report, 'ring.receive_error');
      expect(receive.count).to.equal(2);
      expect(receive.fields.socket).to.equal(9);
      expect(receive.evidence).to.deep.equal(['[ring] Receiving from socket 9 failed with errno 14']);
    });
  });

  describe('jaccl', () => {
    it('queue pair failure with errno', () => {
      const report = classify('ValueError: [jaccl] Changing queue pair to RTR failed with errno 22');

      const jaccl = only(report, 'jaccl.error');
      expect(jaccl.fields).to.include({ errno: 22, errnoName: 'EINVAL' });
      expect(jaccl.message).to.equal('jaccl backend failure: errno 22 (EINVAL, invalid argument)');
    });

    it('failure without errno near the end', () => {
      const report = classify("[jaccl] Couldn't allocate protection domain");

      expect(only(report, 'jaccl.error').message).to.equal("jaccl error: Couldn't allocate protection domain");
    });

    it('ignores a plain jaccl progress line', () => {
      expect(kindsOf(classify('[jaccl] tcp coordinator group rank=1 size=2 ready'))).to.deep.equal([]);
    });
  });

  describe('NCCL', () => {
    it('collective timeout with its numbers', () => {
      const report = classify(
        '[rank3]:[E1203 08:14:55.123456789 ProcessGroupNCCL.cpp:632] [Rank 3] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=42, OpType=ALLREDUCE, NumelIn=4096, NumelOut=4096, Timeout(ms)=1800000) ran for 1800417 milliseconds before timing out.',
      );

      const timeout = only(report, 'nccl.timeout');
      expect(timeout.fields).to.include({ rank: 3, opType: 'ALLREDUCE', seqNum: 42, timeoutMs: 1800000, elapsedMs: 1800417 });
      expect(timeout.message).to.equal('NCCL collective timeout: ALLREDUCE ran for 1800417 ms (timeout 1800000 ms)');
    });

    it('watchdog abort of a process group', () => {
      const report = classify(
        '[rank3]:[E1203 08:14:56 ProcessGroupNCCL.cpp:1595] [PG ID 0 PG GUID 0(default_pg) Rank 3] Process group watchdog thread terminated with exception: NCCL error: unhandled system error',
      );

      const abort = only(report, 'nccl.watchdog_abort');
      expect(abort.fields.rank).to.equal(3);
      expect(abort.fields.reason).to.equal('NCCL error: unhandled system error');
    });

    it('ignores a watchdog that ended normally', () => {
      expect(kindsOf(classify('[Rank 0] NCCL watchdog thread terminated normally'))).to.deep.equal([]);
    });
  });

  describe('GPU out of memory', () => {
    it('CUDA runtime error', () => {
      const report = classify('RuntimeError: CUDA error: out of memory');

      expect(only(report, 'gpu.out_of_memory').fields.backend).to.equal('cuda');
    });

    it('ggml CUDA allocation', () => {
      const report = classify('ggml_backend_cuda_buffer_type_alloc_buffer: allocating 9216.00 MiB on device 0: cudaMalloc failed: out of memory');

      expect(only(report, 'gpu.out_of_memory').fields.backend).to.equal('ggml');
    });

    it('ggml graph allocator with its device', () => {
      const report = classify('ggml_gallocr_reserve_n: failed to allocate CUDA0 buffer of size 4831838208');

      expect(only(report, 'gpu.out_of_memory').fields).to.include({ backend: 'ggml', device: 'CUDA0' });
    });

    it('MLX Metal allocator', () => {
      const report = classify(
        'RuntimeError: [metal::malloc] Attempting to allocate 25769803776 bytes which is greater than the maximum allowed buffer size of 22906503168 bytes.',
      );

      expect(only(report, 'gpu.out_of_memory').fields).to.include({ backend: 'metal', requested: '25769803776 bytes' });
    });

    it('torch on Apple MPS', () => {
      const report = classify(
        'RuntimeError: MPS backend out of memory (MPS allocated: 17.80 GB, other allocations: 1.03 GB, max allowed: 18.13 GB). Tried to allocate 256.00 MB on private pool.',
      );

      expect(only(report, 'gpu.out_of_memory').fields).to.include({ backend: 'metal', requested: '256.00 MB' });
    });
  });

  describe('Python exception', () => {
    it('traceback behind a changing prefix', () => {
      const prefix = (second: number) => `(EngineCore_DP0 pid=4711) ERROR 11-02 09:30:0${second} [core.py:710] `;
      const report = classify(
        `${prefix(1)}EngineCore failed to start.`,
        `${prefix(1)}Traceback (most recent call last):`,
        `${prefix(1)}  File "/opt/venv/lib/python3.12/site-packages/engine/core.py", line 701, in run_engine_core`,
        `${prefix(1)}    engine_core = EngineCoreProc(*args, **kwargs)`,
        `${prefix(2)}                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^`,
        `${prefix(2)}  File "/opt/venv/lib/python3.12/site-packages/engine/loader.py", line 88, in load_weights`,
        `${prefix(2)}    raise KeyError(name)`,
        `${prefix(3)}KeyError: 'model.layers.0.mlp.gate.weight'`,
      );

      const exception = only(report, 'python.exception');
      expect(exception.fields).to.include({
        type: 'KeyError',
        message: "'model.layers.0.mlp.gate.weight'",
        file: '/opt/venv/lib/python3.12/site-packages/engine/loader.py',
        line: 88,
        function: 'load_weights',
      });
      expect(exception.evidence[0]).to.include('Traceback (most recent call last)');
      expect(exception.evidence.at(-1)).to.include("KeyError: 'model.layers.0.mlp.gate.weight'");
    });

    it('annotation lines and an interleaved writer', () => {
      const report = classify(
        'Traceback (most recent call last):',
        '  File "serve.py", line 40, in <module>',
        '    main()',
        'INFO: heartbeat from worker 2',
        '  File "serve.py", line 31, in main',
        '    total = weights[idx] / scale',
        '            ~~~~~~~~~~~~~^~~~~~~',
        'ZeroDivisionError: float division by zero',
      );

      const exception = only(report, 'python.exception');
      expect(exception.fields).to.include({ type: 'ZeroDivisionError', line: 31, function: 'main' });
      expect(exception.message).to.equal('Python ZeroDivisionError: float division by zero');
    });

    it('qualified class without a message', () => {
      const report = classify('Traceback (most recent call last):', '  File "run.py", line 9, in step', 'mlx_runner.errors.PrefillCancelled');

      expect(only(report, 'python.exception').fields.type).to.equal('mlx_runner.errors.PrefillCancelled');
    });

    it('chained exceptions, the last one primary', () => {
      const report = classify(
        'Traceback (most recent call last):',
        '  File "cache.py", line 12, in fetch',
        "KeyError: 'shard-3'",
        '',
        'During handling of the above exception, another exception occurred:',
        '',
        'Traceback (most recent call last):',
        '  File "cache.py", line 15, in fetch',
        'OSError: [Errno 28] No space left on device',
      );

      expect(kindsOf(report)).to.deep.equal(['python.exception', 'python.exception']);
      expect(primaryDiagnostic(report)?.fields.type).to.equal('OSError');
    });

    it('traceback cut off by the end', () => {
      const report = classify('Traceback (most recent call last):', '  File "worker.py", line 77, in generate', '    logits = model(tokens)');

      const exception = only(report, 'python.exception');
      expect(exception.fields).to.include({ file: 'worker.py', line: 77, function: 'generate' });
      expect(exception.fields.type).to.equal(undefined);
      expect(exception.message).to.equal('Python traceback cut off before its exception (in generate at worker.py:77)');
    });

    it('ignores source lines inside a traceback', () => {
      const report = classify(
        'Traceback (most recent call last):',
        '  File "guard.py", line 5, in check',
        '    os.abort()  # Killed on purpose when assert fails',
        'ValueError: limit exceeded',
      );

      expect(kindsOf(report)).to.deep.equal(['python.exception']);
    });
  });

  describe('Python fatal error', () => {
    it('frames of the crashed thread only', () => {
      const report = classify(
        'Fatal Python error: Aborted',
        'Thread 0x00007f3a11bfe640 (most recent call first):',
        '  File "/opt/app/loader.py", line 12 in prefetch',
        'Current thread 0x00007f3a2c5d8740 (most recent call first):',
        '  File "/opt/app/kernels.py", line 301 in attention',
        '  File "/opt/app/model.py", line 88 in forward',
        'Extension modules: numpy.core._multiarray_umath, torch._C (total: 2)',
      );

      const fatal = only(report, 'python.fatal_error');
      expect(fatal.fields).to.include({ error: 'Aborted', signal: 'SIGABRT', file: '/opt/app/kernels.py', line: 301, function: 'attention' });
      expect(String(fatal.fields.frames).split('\n')).to.deep.equal(['/opt/app/kernels.py:301 in attention', '/opt/app/model.py:88 in forward']);
    });
  });

  describe('native', () => {
    it('C++ exception whose type says no error', () => {
      const report = classify(
        "terminate called after throwing an instance of 'std::out_of_range'",
        '  what():  vector::_M_range_check: __n (which is 5) >= this->size() (which is 2)',
      );

      const exception = only(report, 'native.cpp_exception');
      expect(exception.fields).to.include({ type: 'std::out_of_range', what: 'vector::_M_range_check: __n (which is 5) >= this->size() (which is 2)' });
      expect(exception.evidence).to.have.lengthOf(2);
    });

    it('C++ exception from libc++ on one line', () => {
      const report = classify('libc++abi: terminating due to uncaught exception of type nlohmann::detail::parse_error: unexpected end of input');

      expect(only(report, 'native.cpp_exception').fields).to.include({ type: 'nlohmann::detail::parse_error', what: 'unexpected end of input' });
    });

    it('ggml assertion, newer form', () => {
      const report = classify('/tmp/llama.cpp/ggml/src/ggml-metal.m:1841: GGML_ASSERT(ne00 % 4 == 0) failed');

      const assertion = only(report, 'native.assertion');
      expect(assertion.fields).to.include({ file: '/tmp/llama.cpp/ggml/src/ggml-metal.m', line: 1841, condition: 'ne00 % 4 == 0' });
      expect(assertion.message).to.equal('assertion failure at ggml-metal.m:1841: ne00 % 4 == 0');
    });

    it('glibc assert(3)', () => {
      const report = classify("python3: ../csrc/kernels.cu:88: void launch(int): Assertion `n > 0' failed.");

      expect(only(report, 'native.assertion').fields).to.include({ file: '../csrc/kernels.cu', line: 88, condition: 'n > 0' });
    });

    it('macOS assert(3)', () => {
      const report = classify('Assertion failed: (offset < size), function copy_block, file buffer.cpp, line 57.');

      expect(only(report, 'native.assertion').fields).to.include({ file: 'buffer.cpp', line: 57, condition: 'offset < size' });
    });

    it('abort notices', () => {
      for (const line of ['Abort trap: 6', 'Aborted', 'bash: line 1: 31337 Aborted                 (core dumped) python3 serve.py']) {
        expect(kindsOf(classify(line)), line).to.deep.equal(['native.abort']);
      }
    });

    it('segmentation fault and bus error notices', () => {
      expect(only(classify('Segmentation fault (core dumped)'), 'native.segfault').fields).to.include({ signal: 'SIGSEGV', coreDumped: true });
      expect(only(classify('zsh: segmentation fault  python3 serve.py'), 'native.segfault').fields).to.include({ shell: 'zsh' });
      expect(only(classify('Bus error: 10'), 'native.segfault').fields.signal).to.equal('SIGBUS');
    });
  });

  describe('killed and hangs', () => {
    it('kill notices of shells', () => {
      for (const line of ['Killed', 'Killed: 9', 'zsh: killed     python3 -m exo', '/bin/sh: line 1:  4242 Killed                  python3 serve.py']) {
        const killed = only(classify(line), 'os.killed');
        expect(killed.fields.signal, line).to.equal('SIGKILL');
      }
    });

    it('watchdog expiry reported by the runner', () => {
      const report = classify('WARNING runner watchdog expired after 300 s without a new token; exiting');

      expect(only(report, 'runner.hang_timeout').fields.detail).to.equal('WARNING runner watchdog expired after 300 s without a new token; exiting');
    });

    it('hang reported in words', () => {
      expect(kindsOf(classify('engine loop appears to be hung: no step completed in 120 s'))).to.deep.equal(['runner.hang_timeout']);
    });

    it('checks shell notices only near the end', () => {
      const filler = Array.from({ length: TAIL_LINES }, (_, index) => `step ${index} ok`);

      expect(kindsOf(classify('Killed', ...filler))).to.deep.equal([]);
      expect(kindsOf(classify(...filler, 'Killed'))).to.deep.equal(['os.killed']);
    });

    it('orders tail findings by line', () => {
      const report = classify('[ring] Receiving from socket 4 failed with errno 14', 'Killed', '[ring] Too many send/recv errors. Aborting...');

      expect(kindsOf(report)).to.deep.equal(['ring.receive_error', 'os.killed', 'ring.transport_abort']);
    });
  });

  describe('words that are not diagnostics', () => {
    const ordinary = [
      'INFO 04-19 12:21:04 [engine.py:210] Added request chatcmpl-1; timeout=30',
      'killed 3 stale workers after reconnect',
      'Killed 3 stale workers after reconnect',
      'self-test: no assertion failed',
      'assert_allclose passed for 128 tensors',
      'watchdog timeout=600 s, heartbeat every 5 s',
      'error budget: errors_total=0 errno_last=0',
      'Segmentation faults are rare on this build',
      'see the Traceback section of the guide',
      'abort_on_error=false',
      'terminate_timeout=10',
      'connection to 10.0.0.2 stable; ring allreduce latency 0.4 ms',
      'out of memory retries: 0',
      'User prompt: "Why did the GPU hang?"',
    ];

    for (const line of ordinary) {
      it(`ignores "${line.slice(0, 40)}"`, () => {
        expect(kindsOf(classify(line))).to.deep.equal([]);
      });
    }
  });

  describe('messy input', () => {
    it('invalid UTF-8 before a notice', () => {
      const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' weights\nSegmentation fault (core dumped)\n')]);

      const report = classifyLog(bytes);

      expect(kindsOf(report)).to.deep.equal(['native.segfault']);
      expect(report.lastLines[0]).to.include('\ufffd');
    });

    it('last line without newline', () => {
      expect(kindsOf(classifyLog('loading\nKilled'))).to.deep.equal(['os.killed']);
    });

    it('CRLF line endings', () => {
      const report = classifyLog('[ring] Sending to socket 3 failed with errno 22\r\n[ring] Too many send/recv errors. Aborting...\r\n');

      expect(kindsOf(report)).to.deep.equal(['ring.send_error', 'ring.transport_abort']);
      expect(report.diagnostics[0]!.evidence[0]).not.to.include('\r');
    });

    it('crash at the end of a multi-KB line', () => {
      const line = `${'loading shard '.repeat(400)}torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 1 has a total capacity of 79.15 GiB`;

      const outOfMemory = only(classify(line), 'gpu.out_of_memory');

      expect(line.length).to.be.above(5000);
      expect(outOfMemory.fields).to.include({ requested: '2.00 GiB', device: '1' });
      expect(outOfMemory.evidence[0]!.length).to.be.at.most(400);
      expect(outOfMemory.evidence[0]).to.include('CUDA out of memory');
    });

    it('crash at the end of a 1 MB line', () => {
      const line = `${'#'.repeat(1024 * 1024)}[ring] Receiving from socket 5 failed with errno 14`;

      expect(kindsOf(classify(line))).to.deep.equal(['ring.receive_error']);
    });
  });

  describe('bounds', () => {
    it('keeps first and latest diagnostics', () => {
      const classifier = new StderrClassifier();
      for (let i = 0; i < 10_000; i++) {
        classifier.push(`[ring] Receiving from socket 1 failed with errno ${i % 2 === 0 ? 14 : 22}`);
      }

      const report = classifier.finish();

      expect(report.diagnostics).to.have.lengthOf(64);
      expect(report.omittedDiagnostics).to.equal(10_000 - 64);
      expect(report.diagnostics[0]!.fields.errno).to.equal(14);
      expect(report.diagnostics.at(-1)!.fields.errno).to.equal(22);
    });

    it('keeps a long traceback short', () => {
      const frames = Array.from({ length: 50_000 }, (_, index) => `  File "recursion.py", line ${index + 1}, in descend`);
      const report = classify('Traceback (most recent call last):', ...frames, 'RecursionError: maximum recursion depth exceeded');

      const exception = only(report, 'python.exception');
      expect(exception.evidence).to.have.lengthOf(4);
      expect(exception.fields.line).to.equal(50_000);
    });

    it('caps evidence and last lines', () => {
      const long = `Killed${' '.repeat(2)}${'python3 serve.py --flag '.repeat(100)}`;
      const report = classify(long);

      expect(report.diagnostics[0]!.evidence[0]!.length).to.be.at.most(400);
      expect(report.lastLines[0]!.length).to.be.at.most(400);
      expect(report.lastLines[0]!.endsWith('…')).to.equal(true);
    });

    it('ignores lines after finish', () => {
      const classifier = new StderrClassifier();
      classifier.push('Killed');
      const report = classifier.finish();
      classifier.push('Segmentation fault');

      expect(classifier.finish()).to.deep.equal(report);
    });
  });

  it('documents every kind the rules produce', () => {
    expect(DIAGNOSTIC_KINDS).to.have.lengthOf(20);
    for (const kind of DIAGNOSTIC_KINDS) expect(kind).to.match(/^[a-z]+\.[a-z_]+$/);
  });
});
