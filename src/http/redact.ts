/**
 * The message of an unknown throwable, safe to show: passwords in URLs (`//user:***@host`) and
 * bearer tokens are hidden.
 */
export function redactSecrets(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);

  return message
    .replace(/(\/\/[^:/@\s]*:)[^@/\s]*@/g, '$1***@')
    .replace(/(bearer\s+)[^\s"']+/gi, '$1***');
}
