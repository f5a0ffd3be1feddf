/**
 * Returns `url` with any password (and the user name of a token-only URL) replaced by `***`, so
 * that it can appear in an error message or a log line. Input that is not a URL is scrubbed of
 * anything that looks like `user:password@`.
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  try {
    const parsed = new URL(text);
    if (parsed.password !== '') parsed.password = '***';
    else if (parsed.username !== '') parsed.username = '***';

    return parsed.toString();
  } catch {
    return redactText(text);
  }
}

/** Replaces `scheme://user:password@` credentials found anywhere in a message. */
export function redactText(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/gi, '$1$2:***@');
}
