import type { FastifyInstance } from 'fastify';
import { loadAssets } from './assets.js';

/** What {@link registerDashboard} needs from the server. */
export interface DashboardOptions {
  /**
   * The service's manager. The page reads only the public routes (`/v1/quota`, `/queue/stats`,
   * `/v1/dead-letters`, `/metrics`), like any other client, so nothing is read from it here.
   */
  manager?: unknown;
  /** The service config: when `auth.tokens` is not empty, the page asks for a token up front. */
  config?: { auth?: { tokens?: readonly string[] } };
}

/** Only this origin; uPlot sets element styles from script, hence `'unsafe-inline'` for styles. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves the dashboard: `GET /` is the page, `GET /dashboard/*` its script, styles and uPlot (from the
 * installed package, so the page works offline). The page itself never needs auth; it polls the data
 * routes once a second with the token the user typed (kept in localStorage, sent as `Bearer`).
 */
export function registerDashboard(app: FastifyInstance, options: DashboardOptions = {}): void {
  const assets = loadAssets();
  const authRequired = (options.config?.auth?.tokens?.length ?? 0) > 0;
  const page = assets.page.replace('__AUTH__', authRequired ? 'required' : 'none');

  app.get('/', async (_request, reply) => {
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .send(page);
  });

  for (const [path, file] of assets.files) {
    app.get(`/dashboard/${path}`, async (_request, reply) => {
      return reply
        .header('content-type', file.type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .send(file.body);
    });
  }
}
