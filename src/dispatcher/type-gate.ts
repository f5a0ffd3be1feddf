/**
 * Per-type concurrency inside the global limit. Each limit is keyed by an exact event type or a
 * glob pattern (`*` matches any run of characters, `order.*`). A type is governed by its exact
 * entry if there is one, else by the longest matching pattern, else by nothing.
 */
export class TypeGate {
  private readonly limits = new Map<string, number>();
  private readonly active = new Map<string, number>();
  private readonly patterns: { pattern: string; regex: RegExp }[] = [];
  private readonly governing = new Map<string, string | null>();

  constructor(limits: Readonly<Record<string, number>> = {}) {
    for (const [pattern, limit] of Object.entries(limits)) {
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(
          `typeConcurrency["${pattern}"] must be a positive integer, got ${String(limit)}`,
        );
      }

      this.limits.set(pattern, limit);
      if (pattern.includes('*')) this.patterns.push({ pattern, regex: globToRegex(pattern) });
    }
    this.patterns.sort((a, b) => b.pattern.length - a.pattern.length);
  }

  /** Whether any limit is configured. */
  get enabled(): boolean {
    return this.limits.size > 0;
  }

  /** The limit entry that governs `type`, or `null`. */
  entryOf(type: string): string | null {
    const cached = this.governing.get(type);
    if (cached !== undefined) return cached;

    const entry = this.limits.has(type)
      ? type
      : (this.patterns.find(({ regex }) => regex.test(type))?.pattern ?? null);
    if (this.governing.size < 10_000) this.governing.set(type, entry);

    return entry;
  }

  /** Takes a slot for an event of `type`; `false` when its entry is at its limit. */
  tryEnter(type: string): boolean {
    const entry = this.entryOf(type);
    if (entry === null) return true;

    const active = this.active.get(entry) ?? 0;
    if (active >= (this.limits.get(entry) ?? Infinity)) return false;

    this.active.set(entry, active + 1);

    return true;
  }

  /** Gives back the slot taken by `tryEnter(type)`. */
  leave(type: string): void {
    const entry = this.entryOf(type);
    if (entry === null) return;

    this.active.set(entry, Math.max(0, (this.active.get(entry) ?? 0) - 1));
  }

  /** Of the given types, those whose entry is at its limit (not worth claiming now). */
  saturated(types: Iterable<string>): string[] {
    const full: string[] = [];
    for (const type of types) {
      const entry = this.entryOf(type);
      if (entry === null) continue;

      if ((this.active.get(entry) ?? 0) >= (this.limits.get(entry) ?? Infinity)) full.push(type);
    }

    return full;
  }

  /** Active events per entry, for the status. */
  snapshot(): Record<string, { active: number; limit: number }> {
    const shown: Record<string, { active: number; limit: number }> = {};
    for (const [entry, limit] of this.limits) {
      shown[entry] = { active: this.active.get(entry) ?? 0, limit };
    }

    return shown;
  }
}

function globToRegex(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');

  return new RegExp(`^${escaped}$`);
}
