export { REDACTION_KINDS, replacementFor, type RedactionCounts, type RedactionKind } from './kinds.js';
export { COMMON_NAMES, MIN_NAME_LENGTH, localRedactOptions, type RedactOptions } from './options.js';
export { redactFile, type RedactFileRange, type RedactResult } from './redact-file.js';
export { LINE_CAP_BYTES, MAX_BUFFERED_BYTES, Redactor, WINDOW_OVERLAP_BYTES, redactText, type RedactorStreamOptions } from './redactor.js';
