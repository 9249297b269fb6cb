import { baseName } from '../text.js';
import { type Finding, setDefined, toNumber } from './finding.js';

/** libstdc++ (Linux) prints the exception type here and its `what()` on the next line. */
const TERMINATE_AFTER_THROW = /terminate called after throwing an instance of ['‘`]?([^'’`\s]{1,300})/;
const WHAT_LINE = /^\s*what\(\):\s*(.*)$/;
/** libc++ (macOS) prints type and message on one line. */
const LIBCXXABI_UNCAUGHT = /libc\+\+abi: terminating (?:due to|with) uncaught exception of type /;
const TERMINATE_WITHOUT_EXCEPTION = /terminate called (without an active exception|recursively)|libc\+\+abi: terminating\s*$/;

/** The start of an uncaught C++ exception whose `what()` may follow on the next line. */
export interface PendingCppException {
  type: string;
  evidence: string;
}

/** Recognizes libstdc++'s "terminate called after throwing an instance of 'T'". */
export function matchTerminateAfterThrow(text: string): { type: string; index: number } | undefined {
  const match = TERMINATE_AFTER_THROW.exec(text);
  return match === null ? undefined : { type: match[1]!, index: match.index };
}

/** Returns the message of a `  what():  message` line, or undefined for another line. */
export function matchWhatLine(text: string): string | undefined {
  return WHAT_LINE.exec(text)?.[1]?.trim();
}

export function cppExceptionFinding(type: string | undefined, what: string | undefined, index: number): Finding {
  const name = type ?? 'of unknown type';
  const message = what === undefined || what === '' ? `uncaught C++ exception ${name}` : `uncaught C++ exception ${name}: ${what}`;
  return { kind: 'native.cpp_exception', message, fields: setDefined({}, { type, what }), index };
}

/** Finds libc++'s one-line uncaught exception and a std::terminate without an exception. */
export function matchCppTermination(text: string, findings: Finding[]): void {
  const uncaught = LIBCXXABI_UNCAUGHT.exec(text);
  if (uncaught !== null) {
    // "of type std::runtime_error: message": type names contain "::" but never ": ".
    const rest = text.slice(uncaught.index + uncaught[0].length);
    const separator = rest.indexOf(': ');
    const type = (separator === -1 ? rest : rest.slice(0, separator)).trim().slice(0, 300);
    const what = separator === -1 ? undefined : rest.slice(separator + 2).trim();
    findings.push(cppExceptionFinding(type, what, uncaught.index));
    return;
  }

  const bare = TERMINATE_WITHOUT_EXCEPTION.exec(text);
  if (bare !== null) {
    const reason = bare[1] === undefined ? 'libc++abi terminating' : `terminate called ${bare[1]}`;
    findings.push({ kind: 'native.abort', message: `abort notice: ${reason}`, fields: { signal: 'SIGABRT', reason }, index: bare.index });
  }
}

/** ggml before 2024: "GGML_ASSERT: path/ggml.c:621: condition". */
const GGML_ASSERT_OLD = /GGML_ASSERT:\s*([^:\s][^:]{0,500}):(\d{1,7}):\s*(.{0,300})/;
/** ggml since 2024: "path/ggml.c:621: GGML_ASSERT(condition) failed". */
const GGML_ASSERT_NEW = /GGML_ASSERT\((.{0,300}?)\) failed/;
/** glibc assert(3): "prog: file.c:12: func: Assertion `condition' failed.". */
const GLIBC_ASSERTION = /Assertion [`'‘](.{0,500}?)['’] failed/;
/** macOS assert(3): "Assertion failed: (condition), function f, file x.c, line 12.". */
const DARWIN_ASSERTION = 'Assertion failed: (';
const CUDA_DEVICE_ASSERT = /device-side assert(?:ion)? triggered/i;
/** A "file:line:" location, searched in the text before an assertion. */
const LOCATION = /([^\s:'"`]{1,500}):(\d{1,7}):/;
const LOCATION_AT_END = /(\S{1,500}):(\d{1,7}):\s*$/;

/** Finds a failed native assertion with its file, line and condition when printed. */
export function matchAssertion(text: string, findings: Finding[]): void {
  let match: RegExpExecArray | null;
  if ((match = GGML_ASSERT_OLD.exec(text)) !== null) {
    findings.push(assertionFinding('GGML_ASSERT', match[1]!, match[2]!, match[3]!.trim(), match.index));
  } else if ((match = GGML_ASSERT_NEW.exec(text)) !== null) {
    const before = text.slice(Math.max(0, match.index - 600), match.index);
    const location = LOCATION_AT_END.exec(before);
    findings.push(assertionFinding('GGML_ASSERT', location?.[1], location?.[2], match[1]!, match.index));
  } else if ((match = GLIBC_ASSERTION.exec(text)) !== null) {
    const location = LOCATION.exec(text.slice(Math.max(0, match.index - 600), match.index));
    findings.push(assertionFinding('assert', location?.[1], location?.[2], match[1]!, match.index));
  } else if (text.includes(DARWIN_ASSERTION)) {
    findings.push(parseDarwinAssertion(text));
  } else if ((match = CUDA_DEVICE_ASSERT.exec(text)) !== null) {
    findings.push({
      kind: 'native.assertion',
      message: 'CUDA device-side assertion failure',
      fields: { macro: 'device-side assert', backend: 'cuda' },
      index: match.index,
    });
  }
}

/** Splits the macOS form at its fixed words with indexOf, which cannot backtrack. */
function parseDarwinAssertion(text: string): Finding {
  const index = text.indexOf(DARWIN_ASSERTION);
  const rest = text.slice(index + DARWIN_ASSERTION.length);
  const functionAt = rest.indexOf('), function ');
  const fileAt = rest.indexOf(', file ', Math.max(0, functionAt));
  const lineAt = rest.indexOf(', line ', Math.max(0, fileAt));
  const condition = functionAt === -1 ? rest.slice(0, 300) : rest.slice(0, functionAt);
  const file = fileAt === -1 || lineAt === -1 ? undefined : rest.slice(fileAt + ', file '.length, lineAt);
  const line = lineAt === -1 ? undefined : /^\d{1,7}/.exec(rest.slice(lineAt + ', line '.length))?.[0];
  return assertionFinding('assert', file, line, condition, index);
}

function assertionFinding(macro: string, file: string | undefined, line: string | undefined, condition: string, index: number): Finding {
  const lineNumber = toNumber(line);
  const where = file === undefined ? '' : ` at ${baseName(file)}${lineNumber === undefined ? '' : `:${lineNumber}`}`;
  const what = condition === '' ? '' : `: ${condition}`;
  return {
    kind: 'native.assertion',
    message: `assertion failure${where}${what}`,
    fields: setDefined({ macro }, { file, line: lineNumber, condition }),
    index,
  };
}
