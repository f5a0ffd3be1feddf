/**
 * Option checks that throw a TypeError or RangeError naming the option, the value and what was
 * expected.
 */

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null)
    return Array.isArray(value) ? 'an array' : 'an object';

  return String(value);
}

function needNumber(name: string, value: unknown, expected: string): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${name} must be ${expected}, got ${show(value)}`);
  }

  return value;
}

/** An integer ≥ `min` (Infinity allowed when `allowInfinity`). */
export function integerOption(
  name: string,
  value: unknown,
  min: number,
  allowInfinity = false,
): number {
  const expected = `an integer >= ${min}${allowInfinity ? ' or Infinity' : ''}`;
  const number = needNumber(name, value, expected);
  if (number === Infinity && allowInfinity) return number;
  if (!Number.isInteger(number) || number < min) {
    throw new RangeError(`${name} must be ${expected}, got ${show(value)}`);
  }

  return number;
}

/** A finite number in [min, max]. */
export function numberOption(name: string, value: unknown, min: number, max = Infinity): number {
  const expected =
    max === Infinity ? `a finite number >= ${min}` : `a number from ${min} to ${max}`;
  const number = needNumber(name, value, expected);
  if (!Number.isFinite(number) || number < min || number > max) {
    throw new RangeError(`${name} must be ${expected}, got ${show(value)}`);
  }

  return number;
}

/** One of a fixed set of strings. */
export function choiceOption<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(value as T)) {
    const expected = choices.map((choice) => `'${choice}'`).join(', ');
    const error = typeof value === 'string' ? RangeError : TypeError;
    throw new error(`${name} must be one of ${expected}, got ${show(value)}`);
  }

  return value as T;
}

export function functionOption(name: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new TypeError(`${name} must be a function, got ${show(value)}`);
  }
}

export function objectOption(name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
}
