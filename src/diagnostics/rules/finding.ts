import type { DiagnosticKind } from '../kinds.js';

export type Fields = Record<string, string | number | boolean>;

/** A match of one rule on one line, before it becomes a Diagnostic with evidence. */
export interface Finding {
  kind: DiagnosticKind;
  message: string;
  fields: Fields;
  /** Offset of the finding's words in the line, so the evidence shows that part. */
  index: number;
}

/** Reads a decimal group of a match as a number, or undefined when the group did not take part. */
export function toNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number.parseInt(text, 10);
  return Number.isFinite(value) ? value : undefined;
}

/** Copies the defined entries of `values` into `fields`. */
export function setDefined(fields: Fields, values: Record<string, string | number | boolean | undefined>): Fields {
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== '') fields[key] = value;
  }
  return fields;
}
