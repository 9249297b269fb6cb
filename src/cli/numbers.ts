import { UsageError } from '../errors.js';

/**
 * Checks a numeric option and returns it. yargs turns a non-number into NaN, so
 * NaN is rejected here with the option's name, its unit and the accepted range.
 */
export function checkNumberOption(
  name: string,
  value: number,
  range: { min: number; max: number; integer?: boolean; unit?: string },
): number {
  const unit = range.unit === undefined ? '' : ` ${range.unit}`;
  if (Number.isNaN(value)) {
    throw new UsageError('ERR_INVALID_OPTION', `invalid --${name} (not a number): expected ${range.integer === true ? 'an integer' : 'a number'} from ${range.min} to ${range.max}${unit}`);
  }
  if (!Number.isFinite(value) || value < range.min || value > range.max || (range.integer === true && !Number.isInteger(value))) {
    const kind = range.integer === true ? 'an integer' : 'a number';
    throw new UsageError(
      'ERR_INVALID_OPTION',
      `invalid --${name} ${String(value)}: expected ${kind} from ${range.min} to ${range.max}${unit}`,
    );
  }
  return value;
}
