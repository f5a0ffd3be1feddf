import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error the endpoint answers with its status code and message. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly isHttpError = true;

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function isHttpError(error: unknown): error is HttpError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isHttpError?: unknown }).isHttpError === true
  );
}

/** Headers every answer carries: nothing is cached, sniffed, framed or referred. */
const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The most bytes a JSON request body may have. */
const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON object body; an empty body reads as `{}`. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, `the request body exceeds ${MAX_BODY_BYTES} bytes`);
    }

    chunks.push(chunk);
  }

  if (size === 0) {
    return {};
  }

  if (!/^application\/json\b/i.test(type)) {
    throw new HttpError(415, 'send the request body as application/json');
  }

  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON');
  }

  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object');
  }

  return body as Record<string, unknown>;
}
