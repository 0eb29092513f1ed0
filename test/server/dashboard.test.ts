import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { registerDashboard } from '../../src/server/dashboard/index.js';
import { DemoUpstream } from '../../src/server/demo-upstream.js';
import { createServer } from '../../src/server/index.js';

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

const CHROMIUM = '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const noChromium = !IN_CI && !existsSync(CHROMIUM);
if (noChromium) {
  console.warn(
    `\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n` +
      `!!! SKIPPED: the dashboard browser test needs ${CHROMIUM} (apt-get install -y chromium);\n` +
      `!!! .ci/run installs it, and with CI=true this test runs (and fails without it).\n` +
      `!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`,
  );
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The number a counter element shows (`1,234` → 1234), NaN while it shows a dash. */
async function shown(page: Page, id: string): Promise<number> {
  return Number(((await page.textContent(`#${id}`)) ?? '').replace(/,/g, ''));
}

/** The page polls once a second; these polls read what it shows (no script evaluated in the page: its CSP forbids that). */
const poll = { timeout: 20_000, interval: 200 };
const textOf = async (page: Page, id: string) => (await page.textContent(`#${id}`)) ?? '';

describe.skipIf(noChromium)('the dashboard in headless Chromium', () => {
  it('loads, asks for the token, and its numbers move while messages flow; replay works', async () => {
    const upstream = new DemoUpstream({
      global: { limit: 40, window: '1s' },
      perChat: { limit: 1, window: '1s' },
    });
    await upstream.listen();
    cleanups.push(() => upstream.close());
    const dir = mkdtempSync(join(tmpdir(), 'rk-dashboard-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // The headroom covers the time between a decision and the upstream reading the request: upstream,
    // service, page and test share this process and, in CI, two cores with the other test files (stalls
    // of 0.6 s seen there). A 429's retry is charged again like any send (test/server/delivery.test.ts).
    const limits = upstream.serviceLimits(1000);
    const server = createServer({
      listen: '127.0.0.1:0',
      backend: `sqlite:${join(dir, 'rk.db')}`,
      log: { level: 'silent' },
      auth: { tokens: ['dashboard-token'] },
      manager: { capacity: 100_000, duration: '1m', scopes: limits.scopes },
      targets: { demo: limits.target },
    });
    const url = await server.listen();
    cleanups.push(() => server.close());
    const post = (body: unknown) =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer dashboard-token' },
        body: JSON.stringify(body),
      });
    // One message the upstream refuses for good (not a JSON object: 400): a dead letter to replay.
    expect((await post({ target: 'demo', messages: [{ id: 'bad-1', payload: [1, 2, 3] }] })).status).toBe(
      200,
    );
    let n = 0;
    const feed = setInterval(() => {
      for (let k = 0; k < 4; k++, n++) {
        const chat = n % 20;
        void post({
          target: 'demo',
          priority: (['critical', 'normal', 'optional'] as const)[n % 3],
          messages: [{ id: `m${n}`, payload: { chat_id: chat, id: `m${n}` }, scopes: `chat:${chat}` }],
        }).catch(() => {});
      }
    }, 200);
    cleanups.push(() => clearInterval(feed));

    const profile = mkdtempSync(join(tmpdir(), 'rk-chromium-'));
    cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
      viewport: { width: 1280, height: 1100 },
    });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    const elsewhere: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('request', (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith('data:')) elsewhere.push(request.url());
    });

    await page.goto(url);
    // Tokens are configured: the page loads without one, then says it needs one.
    await page.waitForSelector('#auth-needed:not([hidden])');
    await expect.poll(() => textOf(page, 'status'), poll).toBe('token needed');
    await page.fill('#token', 'dashboard-token');
    await page.click('#token-form button');
    await expect.poll(() => page.getAttribute('#status', 'class'), poll).toContain('live');
    expect(await page.isHidden('#auth-needed')).toBe(true);
    expect((await browser.storageState()).origins[0]?.localStorage).toContainEqual({
      name: 'ratekeeper.token',
      value: 'dashboard-token',
    });
    expect(await shown(page, 'quota-total')).toBe(100_000);

    // Numbers change while messages flow.
    await expect.poll(() => shown(page, 'sent-total'), poll).toBeGreaterThan(0);
    const first = await shown(page, 'sent-total');
    await expect.poll(() => shown(page, 'sent-total'), poll).toBeGreaterThan(first);
    expect(await shown(page, 'quota-remaining')).toBeLessThan(100_000);
    expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0); // uPlot drew, from the package
    expect(await page.textContent('#scopes')).toContain('target:demo#0');

    // The dead letter shows up and replays from the page.
    await page.waitForSelector('#dead-letters button', { timeout: 20_000 });
    expect(await page.textContent('#dead-letters')).toContain('bad-1');
    expect(await page.textContent('#dead-letters')).toContain('answered 400');
    await page.click('#dead-letters button');
    await expect.poll(() => textOf(page, 'dlq-result'), poll).toBe('1 replayed');
    await expect.poll(() => shown(page, 'sent-rate'), poll).toBeGreaterThan(0);

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: join('test-results', 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(elsewhere).toEqual([]); // nothing from a CDN: the page works offline
    expect(upstream.stats()).toMatchObject({ tooManyRequests: 0, duplicates: 0 });
    expect(await shown(page, 'tmr-total')).toBe(0);
  }, 90_000);
});
