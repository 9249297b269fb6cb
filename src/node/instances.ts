import fs from 'node:fs/promises';
import path from 'node:path';

import { UsageError } from '../errors.js';
import { ID_PATTERN } from './log-dir.js';

export const DEFAULT_MAX_RETRIES = 5;

export interface RunnerSpec {
  runnerId: string;
  /** Program and arguments, spawned without a shell. */
  command: string[];
  /** Added to the node's environment. */
  env: Record<string, string>;
  /** Absolute working directory. A relative `cwd` in the file is resolved against the file's folder. */
  cwd: string;
}

export interface InstanceSpec {
  instanceId: string;
  /** Restarts allowed per runner before the instance is marked failed. */
  maxRetries: number;
  runners: RunnerSpec[];
}

/** Collects the reason an instances file cannot be used, with the JSON path of the bad value. */
class InstancesFileError extends UsageError {
  constructor(file: string, jsonPath: string, problem: string) {
    super('ERR_INVALID_INSTANCES_FILE', `invalid instances file ${file}: ${jsonPath} ${problem}`);
  }
}

type Json = unknown;

function isPlainObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeType(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Rejects keys that the format does not define, so a typo such as "maxRetry" is not silently ignored. */
function rejectUnknownKeys(file: string, jsonPath: string, value: Record<string, Json>, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InstancesFileError(file, `${jsonPath}.${key}`, `is not a known field: expected one of ${known.join(', ')}`);
    }
  }
}

function readId(file: string, jsonPath: string, value: Json): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new InstancesFileError(
      file,
      jsonPath,
      `is ${JSON.stringify(value) ?? 'missing'}: expected a string of 1 to 128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
  return value;
}

function readRunner(file: string, jsonPath: string, value: Json, baseDir: string): RunnerSpec {
  if (!isPlainObject(value)) {
    throw new InstancesFileError(file, jsonPath, `is ${describeType(value)}: expected an object with runnerId and command`);
  }
  rejectUnknownKeys(file, jsonPath, value, ['runnerId', 'command', 'env', 'cwd']);
  const runnerId = readId(file, `${jsonPath}.runnerId`, value.runnerId);

  const command = value.command;
  if (!Array.isArray(command) || command.length === 0) {
    throw new InstancesFileError(file, `${jsonPath}.command`, `is ${command === undefined ? 'missing' : describeType(command)}: expected a non-empty array of strings, such as ["python3", "serve.py"]`);
  }
  command.forEach((part, index) => {
    if (typeof part !== 'string' || part === '' || part.includes('\0')) {
      throw new InstancesFileError(file, `${jsonPath}.command[${index}]`, `is ${JSON.stringify(part)}: expected a non-empty string without NUL bytes`);
    }
  });

  const env: Record<string, string> = {};
  if (value.env !== undefined) {
    if (!isPlainObject(value.env)) {
      throw new InstancesFileError(file, `${jsonPath}.env`, `is ${describeType(value.env)}: expected an object of string values`);
    }
    for (const [key, entry] of Object.entries(value.env)) {
      if (key === '' || key.includes('=') || key.includes('\0') || typeof entry !== 'string' || entry.includes('\0')) {
        throw new InstancesFileError(file, `${jsonPath}.env.${key}`, 'is invalid: expected a name without "=" and a string value without NUL bytes');
      }
      env[key] = entry;
    }
  }

  let cwd = baseDir;
  if (value.cwd !== undefined) {
    if (typeof value.cwd !== 'string' || value.cwd === '') {
      throw new InstancesFileError(file, `${jsonPath}.cwd`, `is ${JSON.stringify(value.cwd)}: expected a non-empty path string`);
    }
    cwd = path.resolve(baseDir, value.cwd);
  }

  return { runnerId, command: command as string[], env, cwd };
}

function readInstance(file: string, jsonPath: string, value: Json, baseDir: string): InstanceSpec {
  if (!isPlainObject(value)) {
    throw new InstancesFileError(file, jsonPath, `is ${describeType(value)}: expected an object with instanceId and runners`);
  }
  rejectUnknownKeys(file, jsonPath, value, ['instanceId', 'maxRetries', 'runners']);
  const instanceId = readId(file, `${jsonPath}.instanceId`, value.instanceId);

  let maxRetries = DEFAULT_MAX_RETRIES;
  if (value.maxRetries !== undefined) {
    if (typeof value.maxRetries !== 'number' || !Number.isInteger(value.maxRetries) || value.maxRetries < 0 || value.maxRetries > 1000) {
      throw new InstancesFileError(file, `${jsonPath}.maxRetries`, `is ${JSON.stringify(value.maxRetries)}: expected an integer from 0 to 1000`);
    }
    maxRetries = value.maxRetries;
  }

  if (!Array.isArray(value.runners) || value.runners.length === 0) {
    throw new InstancesFileError(file, `${jsonPath}.runners`, `is ${value.runners === undefined ? 'missing' : describeType(value.runners)}: expected a non-empty array of runners`);
  }
  const runners = value.runners.map((runner, index) => readRunner(file, `${jsonPath}.runners[${index}]`, runner, baseDir));
  const seen = new Set<string>();
  runners.forEach((runner, index) => {
    if (seen.has(runner.runnerId)) {
      throw new InstancesFileError(file, `${jsonPath}.runners[${index}].runnerId`, `repeats ${JSON.stringify(runner.runnerId)}: runner ids must be unique within an instance`);
    }
    seen.add(runner.runnerId);
  });
  return { instanceId, maxRetries, runners };
}

/** Validates the parsed contents of an instances file. `file` is used in messages and to resolve `cwd`. */
export function parseInstances(file: string, document: Json): InstanceSpec[] {
  const baseDir = path.dirname(path.resolve(file));
  if (!isPlainObject(document)) {
    throw new InstancesFileError(file, '$', `is ${describeType(document)}: expected an object with an "instances" array`);
  }
  rejectUnknownKeys(file, '$', document, ['instances']);
  if (!Array.isArray(document.instances)) {
    throw new InstancesFileError(file, '$.instances', `is ${document.instances === undefined ? 'missing' : describeType(document.instances)}: expected an array of instances`);
  }
  const instances = document.instances.map((instance, index) => readInstance(file, `$.instances[${index}]`, instance, baseDir));
  const seen = new Set<string>();
  instances.forEach((instance, index) => {
    if (seen.has(instance.instanceId)) {
      throw new InstancesFileError(file, `$.instances[${index}].instanceId`, `repeats ${JSON.stringify(instance.instanceId)}: instance ids must be unique`);
    }
    seen.add(instance.instanceId);
  });
  return instances;
}

/** Reads and validates an instances file. Every problem is a UsageError naming the file and the JSON path. */
export async function loadInstancesFile(file: string): Promise<InstanceSpec[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message;
    throw new UsageError('ERR_INSTANCES_FILE_UNREADABLE', `cannot read instances file ${file}: ${reason}; pass an existing JSON file to --instances`);
  }
  let document: Json;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new UsageError('ERR_INVALID_INSTANCES_FILE', `invalid instances file ${file}: not valid JSON (${(error as Error).message})`);
  }
  const instances = parseInstances(file, document);
  await checkWorkingDirectories(file, instances);
  return instances;
}

/** Rejects a runner whose `cwd` is not an existing folder, since spawn would report it as a missing command. */
async function checkWorkingDirectories(file: string, instances: InstanceSpec[]): Promise<void> {
  for (const [instanceIndex, instance] of instances.entries()) {
    for (const [runnerIndex, runner] of instance.runners.entries()) {
      const stats = await fs.stat(runner.cwd).catch(() => undefined);
      if (stats === undefined || !stats.isDirectory()) {
        throw new InstancesFileError(
          file,
          `$.instances[${instanceIndex}].runners[${runnerIndex}].cwd`,
          `is ${JSON.stringify(runner.cwd)}: expected an existing folder (a relative cwd is resolved against the instances file's folder)`,
        );
      }
    }
  }
}
