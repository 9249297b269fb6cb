/** Reads a positive number from the environment, so quick runs can shrink a benchmark. */
export function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`invalid ${name} ${JSON.stringify(text)}: expected a positive number`);
  }
  return value;
}

/** Reads an on/off switch from the environment: 0, false or off turn it off. */
export function envFlag(name: string, fallback: boolean): boolean {
  const text = process.env[name]?.trim().toLowerCase();
  if (text === undefined || text === '') return fallback;
  return !['0', 'false', 'off', 'no'].includes(text);
}
