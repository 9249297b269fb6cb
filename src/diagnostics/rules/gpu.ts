import type { DiagnosticKind } from '../kinds.js';
import { type Finding, setDefined } from './finding.js';

/**
 * The error code Metal attaches to a failed command buffer, such as
 * `00000002:kIOGPUCommandBufferCallbackErrorTimeout`. MLX prints it after
 * "[METAL] Command buffer execution failed:", ggml after "error:".
 */
const METAL_CALLBACK_ERROR = /(?:([0-9A-Fa-f]{1,16}):)?kIOGPUCommandBufferCallbackError([A-Za-z]{0,40})/;
const METAL_EXECUTION_FAILED = /command buffer execution failed\W{0,4}([^(\r]{0,160})/i;

const METAL_KIND_BY_CODE: Readonly<Record<string, DiagnosticKind>> = {
  Timeout: 'metal.gpu_timeout',
  OutOfMemory: 'metal.out_of_memory',
  InvalidResource: 'metal.invalid_resource',
};

/** Finds a failed Metal command buffer: GPU timeout, out of memory, invalid resource, or another reason. */
export function matchMetal(text: string, findings: Finding[]): void {
  const failed = METAL_EXECUTION_FAILED.exec(text);
  const callback = text.includes('kIOGPUCommandBuffer') ? METAL_CALLBACK_ERROR.exec(text) : null;
  if (failed === null && callback === null) return;

  const description = failed?.[1]?.trim();
  let kind: DiagnosticKind;
  let reason: string;
  if (callback !== null) {
    reason = callback[2] ?? '';
    kind = METAL_KIND_BY_CODE[reason] ?? 'metal.command_buffer_error';
  } else {
    reason = description ?? '';
    kind = metalKindFromDescription(reason);
  }

  const fields = setDefined({}, { code: callback?.[1], reason: reason || undefined, description });
  const index = failed?.index ?? callback!.index;
  findings.push({ kind, message: metalMessage(kind, description || reason), fields, index });
}

/** Reads the kind from MLX's description when the line lost the Metal error code. */
function metalKindFromDescription(description: string): DiagnosticKind {
  if (/time ?out|timed out/i.test(description)) return 'metal.gpu_timeout';
  if (/out of memory|insufficient memory/i.test(description)) return 'metal.out_of_memory';
  if (/invalid resource/i.test(description)) return 'metal.invalid_resource';
  return 'metal.command_buffer_error';
}

function metalMessage(kind: DiagnosticKind, reason: string): string {
  switch (kind) {
    case 'metal.gpu_timeout':
      return 'Metal GPU timeout';
    case 'metal.out_of_memory':
      return 'Metal command buffer out of memory';
    case 'metal.invalid_resource':
      return 'Metal command buffer invalid resource';
    default:
      return reason === '' ? 'Metal command buffer error' : `Metal command buffer error: ${reason}`;
  }
}

/** CUDA allocation failures as torch, the CUDA runtime and ggml's CUDA backend print them. */
const CUDA_OUT_OF_MEMORY =
  /\bCUDA out of memory\b|\bCUDA error: out of memory\b|\bCUDA_ERROR_OUT_OF_MEMORY\b|\bcudaMalloc failed: out of memory\b|\btorch(?:\.cuda)?\.OutOfMemoryError\b/i;
const MPS_OUT_OF_MEMORY = /\bMPS backend out of memory\b/i;
/** MLX's allocator: a buffer above the device's limit, or too many buffers. */
const METAL_MALLOC_FAILED = /metal::malloc\]?\W{0,3}(?:attempting to allocate|resource limit)/i;
const GGML_ALLOCATION_FAILED = /\bfailed to allocate\b(?: (\S{1,24}) buffer)?/i;
const GGML_NAME = /\bggml|\bllama_/i;

const REQUESTED_SIZE = /tried to allocate ([\d.]{1,16}\s?[KMGTP]?i?B)\b|allocate (\d{1,20}) bytes|size = ([\d.]{1,16}\s?[KMGTP]?i?B)\b/i;
const CUDA_DEVICE = /\bGPU (\d{1,3})\b/;

/** Finds a failed GPU allocation and names the backend that reported it. */
export function matchGpuOutOfMemory(text: string, findings: Finding[]): void {
  let backend: 'cuda' | 'metal' | 'ggml';
  let match: RegExpExecArray | null;
  let device: string | undefined;
  if ((match = CUDA_OUT_OF_MEMORY.exec(text)) !== null) {
    backend = GGML_NAME.test(text) ? 'ggml' : 'cuda';
    device = CUDA_DEVICE.exec(text)?.[1];
  } else if ((match = MPS_OUT_OF_MEMORY.exec(text)) !== null || (match = METAL_MALLOC_FAILED.exec(text)) !== null) {
    backend = 'metal';
  } else if (GGML_NAME.test(text) && (match = GGML_ALLOCATION_FAILED.exec(text)) !== null) {
    backend = 'ggml';
    device = match[1];
  } else {
    return;
  }

  const size = REQUESTED_SIZE.exec(text);
  const requested = size === null ? undefined : (size[1] ?? (size[2] !== undefined ? `${size[2]} bytes` : size[3]));
  const fields = setDefined({ backend }, { requested, device });
  findings.push({ kind: 'gpu.out_of_memory', message: gpuMessage(backend, requested, device), fields, index: match.index });
}

function gpuMessage(backend: 'cuda' | 'metal' | 'ggml', requested: string | undefined, device: string | undefined): string {
  const label = { cuda: 'CUDA', metal: 'Metal', ggml: 'ggml' }[backend];
  const where = backend === 'ggml' && device !== undefined ? `${label}, ${device} buffer` : label;
  const size = requested === undefined ? '' : `: tried to allocate ${requested}`;
  return `GPU out of memory (${where})${size}`;
}
