import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the dashboard serves: its bytes and content type. */
export interface Asset {
  body: Buffer;
  type: string;
}

/** The dashboard's files by URL path (below `/dashboard/`), plus the page's HTML template. */
export interface DashboardAssets {
  /** `index.html` with the `__AUTH__` placeholder still in it. */
  page: string;
  files: ReadonlyMap<string, Asset>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The folder of the page, script and styles: next to this module in src/ and in dist/ (copied by postbuild). */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** uPlot's `dist/` folder, resolved from the installed package at run time (no CDN: works offline). */
export function uplotDir(): string {
  return dirname(createRequire(import.meta.url).resolve('uplot'));
}

function read(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`dashboard: cannot read ${path} (${(error as Error).message}); is the package built?`, {
      cause: error,
    });
  }
}

function asset(path: string): Asset {
  const ext = path.slice(path.lastIndexOf('.'));
  return { body: read(path), type: TYPES[ext] ?? 'application/octet-stream' };
}

/** Reads every file once; the routes then answer from memory. */
export function loadAssets(): DashboardAssets {
  const vendor = uplotDir();
  return {
    page: read(join(PUBLIC_DIR, 'index.html')).toString('utf8'),
    files: new Map([
      ['app.js', asset(join(PUBLIC_DIR, 'app.js'))],
      ['style.css', asset(join(PUBLIC_DIR, 'style.css'))],
      ['vendor/uPlot.esm.js', asset(join(vendor, 'uPlot.esm.js'))],
      ['vendor/uPlot.min.css', asset(join(vendor, 'uPlot.min.css'))],
    ]),
  };
}
