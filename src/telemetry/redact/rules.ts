import { emailRule, ipv4Rule, ipv6Rule } from './address-rules.js';
import { homeDirRule, nameRule } from './identity-rules.js';
import type { RedactOptions } from './options.js';
import type { Rule } from './rule.js';
import { SECRET_RULES } from './secret-rules.js';

/**
 * Builds the rules for one set of local names, in the priority order of
 * REDACTION_KINDS. Private key blocks come before all of them and are handled by
 * `findPrivateKeys`, since they span lines.
 */
export function createRules(options: RedactOptions): Rule[] {
  const rules: Rule[] = [...SECRET_RULES, emailRule, homeDirRule(options.homeDirs ?? []), ipv6Rule, ipv4Rule];

  const host = nameRule('host', options.hostNames);
  if (host !== undefined) rules.push(host);
  const user = nameRule('user', options.userNames);
  if (user !== undefined) rules.push(user);

  return rules;
}
