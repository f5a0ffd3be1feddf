import type { OutboxEvent } from '../event.js';

/**
 * Routing by event type. A route map's keys are an exact type (`order.created`), a prefix
 * pattern (`order.*`, any type starting with `order.`) or `*` (every type). The exact match
 * wins, then the longest matching prefix pattern, then `*`, then the publisher's default.
 */
export type RouteMap<R> = Readonly<Record<string, R>>;

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PLACEHOLDERS = new Set(['type', 'key']);
const MAX_CACHED_TYPES = 10_000;

/** Checks that a template only uses `{type}` and `{key}`; throws a TypeError naming `option`. */
export function validateTemplate(template: unknown, option: string): string {
  if (typeof template !== 'string' || template.length === 0) {
    throw new TypeError(`${option} must be a non-empty string, got ${JSON.stringify(template)}`);
  }

  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!PLACEHOLDERS.has(match[1]!)) {
      throw new TypeError(
        `${option} uses the unknown placeholder {${match[1]}} in ${JSON.stringify(template)}: ` +
          'only {type} and {key} are replaced',
      );
    }
  }

  return template;
}

type Render = (event: OutboxEvent) => string;

/** Templates turned into functions once: the hot path only concatenates. */
const compiled = new Map<string, Render>();

function compile(template: string): Render {
  if (!template.includes('{')) return () => template;
  if (template === '{type}') return (event) => event.type;

  // Literal text at even indexes, placeholder names at odd ones.
  const parts = template.split(PLACEHOLDER);

  return (event) => {
    let out = parts[0]!;
    for (let index = 1; index < parts.length; index += 2) {
      out += parts[index] === 'type' ? event.type : (event.key ?? '_');
      out += parts[index + 1]!;
    }

    return out;
  };
}

/** Replaces `{type}` and `{key}` (`_` when the event has no key). */
export function renderTemplate(template: string, event: OutboxEvent): string {
  let render = compiled.get(template);
  if (render === undefined) {
    render = compile(template);
    if (compiled.size < MAX_CACHED_TYPES) compiled.set(template, render);
  }

  return render(event);
}

/** Resolves an event type to its route, caching the answer per type. */
export class RouteTable<R, In = R> {
  readonly #exact = new Map<string, R>();
  readonly #prefixes: Array<[string, R]> = [];
  readonly #fallback: R;
  readonly #cache = new Map<string, R>();

  /**
   * @param option the option's name, for error messages (`amqp.routes`)
   * @param routes the configured map, may be undefined
   * @param fallback the route of types the map does not name
   * @param validate checks one route and returns it normalised; throws a TypeError naming where
   */
  constructor(
    option: string,
    routes: RouteMap<In> | undefined,
    fallback: R,
    validate: (route: In, where: string) => R,
  ) {
    if (routes !== undefined && (typeof routes !== 'object' || routes === null)) {
      throw new TypeError(`${option} must be an object mapping event types to routes`);
    }

    let fallbackRoute = fallback;
    for (const [pattern, route] of Object.entries(routes ?? {})) {
      const where = `${option}[${JSON.stringify(pattern)}]`;
      const checked = validate(route, where);
      if (pattern === '*') fallbackRoute = checked;
      else if (pattern.endsWith('.*')) this.#prefixes.push([pattern.slice(0, -1), checked]);
      else if (pattern.length > 0 && !pattern.includes('*')) this.#exact.set(pattern, checked);
      else {
        throw new TypeError(
          `${option} has the pattern ${JSON.stringify(pattern)}: expected an event type, ` +
            '"prefix.*" or "*"',
        );
      }
    }

    this.#prefixes.sort((a, b) => b[0].length - a[0].length);
    this.#fallback = fallbackRoute;
  }

  /** Every configured route, the fallback first (for start-up checks). */
  routes(): R[] {
    return [this.#fallback, ...this.#exact.values(), ...this.#prefixes.map((entry) => entry[1])];
  }

  resolve(type: string): R {
    const cached = this.#cache.get(type);
    if (cached !== undefined) return cached;

    let route = this.#exact.get(type);
    route ??= this.#prefixes.find(([prefix]) => type.startsWith(prefix))?.[1];
    route ??= this.#fallback;
    if (this.#cache.size >= MAX_CACHED_TYPES) this.#cache.clear();
    this.#cache.set(type, route);

    return route;
  }
}
