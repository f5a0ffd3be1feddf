/**
 * Replaces the password (and a token-like user name without password) of a URL with `***`, so
 * that it can be logged or shown in an error. Values that are not URLs come back unchanged.
 */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }

  if (url.password !== '') {
    url.password = '***';
  } else if (url.username !== '' && url.username.length > 20) {
    url.username = '***';
  }

  for (const name of [...url.searchParams.keys()]) {
    if (/pass|secret|token|key|auth/i.test(name)) url.searchParams.set(name, '***');
  }

  return url.toString();
}

/** Redacts every URL found in a free text (an error message from a driver, for instance). */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]+/gi, (match) => redactUrl(match));
}
