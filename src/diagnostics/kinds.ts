/**
 * Diagnostic kinds: stable, dotted, lowercase codes. Tests, telemetry metadata and
 * dashboards key on them, so a code never changes meaning once released.
 *
 * | kind                         | what the runner's stderr showed                                 | fields                                        |
 * | ---------------------------- | --------------------------------------------------------------- | --------------------------------------------- |
 * | `metal.gpu_timeout`          | a Metal command buffer failed with a GPU timeout                | code, reason, description                     |
 * | `metal.out_of_memory`        | a Metal command buffer failed for lack of GPU memory            | code, reason, description                     |
 * | `metal.invalid_resource`     | a Metal command buffer used an invalid resource                 | code, reason, description                     |
 * | `metal.command_buffer_error` | any other Metal command buffer failure                          | code, reason, description                     |
 * | `ring.receive_error`         | the MLX ring backend failed to receive from a socket            | socket, errno, errnoName, errnoDescription    |
 * | `ring.send_error`            | the MLX ring backend failed to send to a socket                 | socket, errno, errnoName, errnoDescription    |
 * | `ring.connect_error`         | the ring backend could not connect, bind, listen or accept      | operation, errno, errnoName, errnoDescription |
 * | `ring.transport_abort`       | the ring backend gave up after too many send or receive errors  | —                                             |
 * | `jaccl.error`                | the jaccl (RDMA) backend reported a failure                     | operation, detail, errno, errnoName, ...      |
 * | `nccl.timeout`               | an NCCL collective ran past its timeout                         | rank, opType, seqNum, timeoutMs, elapsedMs    |
 * | `nccl.watchdog_abort`        | the NCCL watchdog ended the process                             | rank, reason                                  |
 * | `gpu.out_of_memory`          | a GPU allocation failed (CUDA or torch, Metal, ggml)            | backend (cuda, metal, ggml), requested, device|
 * | `python.exception`           | an uncaught Python exception with its traceback                 | type, message, file, line, function           |
 * | `python.fatal_error`         | a "Fatal Python error" report, such as a segmentation fault     | error, signal, frames, file, line, function   |
 * | `native.cpp_exception`       | an uncaught C++ exception (`what()`)                            | type, what                                    |
 * | `native.assertion`           | a failed native assertion (GGML_ASSERT, assert(3), CUDA)        | file, line, condition, macro, backend         |
 * | `native.abort`               | an abort notice from the shell or the C++ runtime               | signal, coreDumped, shell, reason             |
 * | `native.segfault`            | a segmentation fault or bus error notice                        | signal, coreDumped, shell                     |
 * | `os.killed`                  | a kill notice from the shell (`Killed`, `zsh: killed`)          | signal, shell                                 |
 * | `runner.hang_timeout`        | the runner itself reported a hang or a watchdog timeout         | detail                                        |
 */
export type DiagnosticKind =
  | 'metal.gpu_timeout'
  | 'metal.out_of_memory'
  | 'metal.invalid_resource'
  | 'metal.command_buffer_error'
  | 'ring.receive_error'
  | 'ring.send_error'
  | 'ring.connect_error'
  | 'ring.transport_abort'
  | 'jaccl.error'
  | 'nccl.timeout'
  | 'nccl.watchdog_abort'
  | 'gpu.out_of_memory'
  | 'python.exception'
  | 'python.fatal_error'
  | 'native.cpp_exception'
  | 'native.assertion'
  | 'native.abort'
  | 'native.segfault'
  | 'os.killed'
  | 'runner.hang_timeout';

/**
 * Specificity of each kind about why a runner ended: the primary cause is the
 * diagnostic with the highest value. A root cause (GPU timeout, ring error) ranks
 * above what it leads to (transport abort, Python exception, abort notice).
 */
export const KIND_SPECIFICITY: Readonly<Record<DiagnosticKind, number>> = {
  'metal.gpu_timeout': 90,
  'metal.out_of_memory': 90,
  'metal.invalid_resource': 90,
  'gpu.out_of_memory': 90,
  'nccl.timeout': 90,
  'ring.receive_error': 85,
  'ring.send_error': 85,
  'ring.connect_error': 85,
  'jaccl.error': 85,
  'runner.hang_timeout': 80,
  'metal.command_buffer_error': 80,
  'nccl.watchdog_abort': 75,
  'ring.transport_abort': 70,
  'python.exception': 60,
  'python.fatal_error': 55,
  'native.cpp_exception': 50,
  'native.assertion': 50,
  'native.segfault': 30,
  'native.abort': 20,
  'os.killed': 20,
};

/** Every kind code. */
export const DIAGNOSTIC_KINDS = Object.keys(KIND_SPECIFICITY) as DiagnosticKind[];
