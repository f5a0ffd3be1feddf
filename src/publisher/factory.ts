import type { Publisher } from './contract.js';
import type { CloudEventsOptions } from './cloudevents.js';
import { HttpPublisher } from './http.js';
import type { HttpPublisherOptions } from './http.js';
import { redactUrl } from './redact.js';
import { StdoutPublisher } from './stdout.js';
import type { StdoutPublisherOptions } from './stdout.js';

/**
 * Options of `createPublisher`: the CloudEvents settings shared by every destination, and one
 * section per destination (only the section of the URL's scheme is read).
 */
export interface CreatePublisherOptions {
  /** CloudEvents source and content mode, for every destination. */
  cloudEvents?: CloudEventsOptions;
  /** For `stdout:`. */
  stdout?: Omit<StdoutPublisherOptions, 'cloudEvents'>;
  /** For `http:` and `https:` webhooks. */
  http?: Omit<HttpPublisherOptions, 'cloudEvents'>;
}

/** The URL schemes `createPublisher` understands. */
export const PUBLISHER_SCHEMES = ['stdout:', 'http:', 'https:'] as const;

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new TypeError(
      `the publisher URL must be a URL such as stdout: or https://host/hook, got ` +
        JSON.stringify(redactUrl(url)),
    );
  }
}

/**
 * Builds the publisher a URL names, by its scheme: `stdout:`, `http://`, `https://`. Throws a
 * TypeError for an unknown scheme or a bad option; the publisher connects on first use.
 */
export function createPublisher(url: string, options: CreatePublisherOptions = {}): Publisher {
  const parsed = parse(url);
  const cloudEvents = options.cloudEvents;
  switch (parsed.protocol) {
    case 'stdout:':
      return new StdoutPublisher({ ...options.stdout, cloudEvents });
    case 'http:':
    case 'https:':
      return new HttpPublisher(parsed, { ...options.http, cloudEvents });
    default:
      throw new TypeError(
        `the publisher URL ${redactUrl(parsed)} has the unknown scheme ${parsed.protocol}: ` +
          `expected one of ${PUBLISHER_SCHEMES.join(', ')}`,
      );
  }
}
