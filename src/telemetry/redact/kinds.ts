/**
 * The kinds of text that redaction replaces, in priority order: when two findings
 * overlap, the one whose kind comes first wins and the other is dropped. These names
 * appear in `[REDACTED:kind]` markers and as keys of the counts in report metadata,
 * so they are stable.
 */
export const REDACTION_KINDS = [
  'private_key',
  'url_credentials',
  'jwt',
  'hf_token',
  'github_token',
  'openai_key',
  'aws_access_key_id',
  'aws_secret_access_key',
  'authorization',
  'secret',
  'email',
  'home_dir',
  'ipv6',
  'ipv4',
  'host',
  'user',
] as const;

export type RedactionKind = (typeof REDACTION_KINDS)[number];

/** Number of replacements per kind. Kinds that were not found are absent. */
export type RedactionCounts = Record<string, number>;

/** Returns the text that replaces a finding of `kind`: `~` for a home directory, else `[REDACTED:kind]`. */
export function replacementFor(kind: RedactionKind): string {
  return kind === 'home_dir' ? '~' : `[REDACTED:${kind}]`;
}
