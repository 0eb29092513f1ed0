import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerDashboard } from '../../src/server/dashboard/index.js';

const apps: FastifyInstance[] = [];

async function served(tokens: string[] = []) {
  const app = Fastify();
  apps.push(app);
  registerDashboard(app, { config: { auth: { tokens } } });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, get: (path: string) => fetch(`${url}${path}`) };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('registerDashboard', () => {
  it('serves the page at / without auth, locked to its own origin', async () => {
    const { get } = await served(['secret']);
    const response = await get('/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await response.text();
    expect(html).toContain('<script type="module" src="dashboard/app.js"></script>');
    expect(html).toContain('data-auth="required"'); // tokens configured: the page asks for one up front
    expect(html).not.toContain('secret');
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN: works offline
  });

  it('tells the page when no token is needed', async () => {
    const html = await (await (await served()).get('/')).text();
    expect(html).toContain('data-auth="none"');
  });

  it('serves the script, the styles and uPlot from the installed package', async () => {
    const { get } = await served();
    const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
    const script = await get('/dashboard/vendor/uPlot.esm.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toBe(readFileSync(join(uplot, 'uPlot.esm.js'), 'utf8'));
    const css = await get('/dashboard/vendor/uPlot.min.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toBe(readFileSync(join(uplot, 'uPlot.min.css'), 'utf8'));
    const app = await (await get('/dashboard/app.js')).text();
    expect(app).toContain("import uPlot from './vendor/uPlot.esm.js'");
    expect((await get('/dashboard/style.css')).status).toBe(200);
    expect((await get('/dashboard/../package.json')).status).toBe(404);
    expect((await get('/dashboard/nothing.js')).status).toBe(404);
  });
});
