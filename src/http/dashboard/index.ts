import { DASHBOARD_HTML } from './page.js';
import { DASHBOARD_SCRIPT } from './script.js';
import { DASHBOARD_CSS } from './style.js';

/**
 * The dashboard's content security policy: scripts, styles and requests only from the endpoint
 * itself, nothing from elsewhere, no framing.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS: Record<string, { contentType: string; body: string }> = {
  '/': { contentType: 'text/html; charset=utf-8', body: DASHBOARD_HTML },
  '/dashboard.js': { contentType: 'text/javascript; charset=utf-8', body: DASHBOARD_SCRIPT },
  '/dashboard.css': { contentType: 'text/css; charset=utf-8', body: DASHBOARD_CSS },
};

/** The dashboard file served at `path`, if any. */
export function dashboardAsset(path: string): { contentType: string; body: string } | undefined {
  return Object.hasOwn(ASSETS, path) ? ASSETS[path] : undefined;
}
