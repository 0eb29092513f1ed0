// The ratekeeper dashboard: polls the service's JSON routes and /metrics once a second and draws what it
// reads. Plain ES module, no build step; uPlot is served by the service from its own node_modules.
import uPlot from './vendor/uPlot.esm.js';

const POLL_MS = 1000;
/** Points kept on the chart: five minutes at one per second. */
const HISTORY = 300;
const TOKEN_KEY = 'ratekeeper.token';

/** Prometheus families the page reads (src/server/metrics.ts). */
const METRIC = {
  sent: 'ratekeeper_sent_total',
  retries: 'ratekeeper_retries_total',
  tooManyRequests: 'ratekeeper_upstream_429_total',
  /** Per limiter scope, labels `scope` and `target` (`''` for the manager's own quota). */
  scopeRemaining: 'ratekeeper_quota_remaining',
  scopeLimit: 'ratekeeper_quota_limit',
};

const $ = (id) => document.getElementById(id);

class AuthRequired extends Error {}

// ---- token ------------------------------------------------------------------------------------------

/** Used when localStorage is unavailable (private mode, disabled storage): the token lasts for this page. */
let pageToken = '';

function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return pageToken;
  }
}

function storeToken(value) {
  pageToken = value;
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: pageToken keeps it
  }
}

function headers(extra = {}) {
  const token = storedToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function request(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers), cache: 'no-store' });
  if (response.status === 401) throw new AuthRequired(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response;
}

const getJson = async (path) => (await request(path)).json();
const getText = async (path) => (await request(path)).text();

// ---- Prometheus text --------------------------------------------------------------------------------

/** `name{a="1",b="x"} 12` lines → [{ name, labels, value }]; comments and malformed lines are skipped. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let m = labelPattern.exec(match[3] ?? ''); m !== null; m = labelPattern.exec(match[3] ?? '')) {
      labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    samples.push({ name: match[1], labels, value: Number(match[4]) });
  }
  return samples;
}

const sumOf = (samples, name) =>
  samples
    .filter((s) => s.name === name)
    .reduce((total, s) => total + (Number.isFinite(s.value) ? s.value : 0), 0);

// ---- rendering --------------------------------------------------------------------------------------

const number = new Intl.NumberFormat('en');

function setText(id, value) {
  const text = typeof value === 'number' ? number.format(value) : String(value);
  const element = $(id);
  if (element.textContent !== text) element.textContent = text;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function replaceRows(tbody, rows, columns, emptyText) {
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(emptyText, 'empty');
    td.colSpan = columns;
    tr.append(td);
    tbody.replaceChildren(tr);
    return;
  }
  tbody.replaceChildren(...rows);
}

function renderQuota(quota) {
  setText('quota-remaining', quota.remaining);
  setText('quota-total', quota.total);
  const share = quota.total > 0 ? Math.max(0, Math.min(1, quota.remaining / quota.total)) : 0;
  $('quota-bar').style.width = `${(share * 100).toFixed(1)}%`;
}

function renderQueue(body) {
  const stats = body.stats;
  setText('queued-critical', stats.critical);
  setText('queued-normal', stats.normal);
  setText('queued-optional', stats.optional);
  setText('queued-retry', stats.retry);
  setText('queued-dlq', stats.dlq);
}

function renderScopes(samples) {
  const limits = new Map();
  for (const s of samples) {
    if (s.name === METRIC.scopeLimit) limits.set(`${s.labels.scope}\u0000${s.labels.target ?? ''}`, s.value);
  }
  const rows = samples
    .filter((s) => s.name === METRIC.scopeRemaining)
    .sort((a, b) => String(a.labels.scope).localeCompare(String(b.labels.scope)))
    .map((s) => {
      const limit = limits.get(`${s.labels.scope}\u0000${s.labels.target ?? ''}`);
      const tr = document.createElement('tr');
      const bar = document.createElement('td');
      if (limit !== undefined && limit > 0) {
        const outer = document.createElement('div');
        outer.className = 'bar';
        const inner = document.createElement('div');
        inner.style.width = `${Math.max(0, Math.min(100, (s.value / limit) * 100)).toFixed(1)}%`;
        outer.append(inner);
        bar.append(outer);
      }
      tr.append(
        cell(s.labels.scope ?? ''),
        cell(s.labels.target ? s.labels.target : 'manager quota'),
        cell(number.format(s.value), 'num'),
        cell(limit === undefined ? '' : number.format(limit), 'num'),
        bar,
      );
      return tr;
    });
  replaceRows($('scopes'), rows, 5, 'no scoped limits in use yet');
}

/** Dead letters listed at most (oldest failure first, as the route answers). */
const DLQ_LIMIT = 50;

function renderDeadLetters(body) {
  const rows = body.deadLetters.map((letter) => {
    const tr = document.createElement('tr');
    const ids = letter.messages.map((m) => m.id);
    const shown = ids.length > 3 ? `${ids.slice(0, 3).join(', ')} +${ids.length - 3}` : ids.join(', ');
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Replay';
    button.addEventListener('click', () => replay({ jobIds: [letter.jobId] }));
    action.append(button);
    tr.append(
      cell(new Date(letter.failedAt).toLocaleTimeString()),
      cell(letter.jobId),
      cell(letter.priority),
      cell(shown),
      cell(String(letter.attempts), 'num'),
      cell(letter.lastError ?? '', 'error'),
      action,
    );
    return tr;
  });
  replaceRows($('dead-letters'), rows, 7, 'none');
  setText('dlq-shown', rows.length >= DLQ_LIMIT ? `the oldest ${DLQ_LIMIT} batches shown` : '');
  $('replay-all').disabled = rows.length === 0;
}

async function replay(filter) {
  try {
    const response = await request('v1/dead-letters/replay', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(filter),
    });
    const { replayed } = await response.json();
    setText('dlq-result', `${replayed} replayed`);
    await poll();
  } catch (error) {
    setText(
      'dlq-result',
      error instanceof AuthRequired ? 'a token is needed' : String(error.message ?? error),
    );
  }
}

// ---- the chart ----------------------------------------------------------------------------------------

const series = { time: [], rate: [], queued: [] };
let chart;

function chartWidth() {
  return Math.max(300, $('chart').clientWidth);
}

function makeChart() {
  chart = new uPlot(
    {
      width: chartWidth(),
      height: 240,
      scales: { x: { time: true }, rate: { auto: true }, queued: { auto: true } },
      axes: [
        {},
        { scale: 'rate', label: 'sent / s' },
        { scale: 'queued', side: 1, label: 'queued', grid: { show: false } },
      ],
      series: [
        {},
        { label: 'sent / s', scale: 'rate', stroke: '#2f6fde', width: 2, fill: 'rgba(47,111,222,0.08)' },
        { label: 'queued', scale: 'queued', stroke: '#c2410c', width: 1.5, dash: [4, 3] },
      ],
    },
    [series.time, series.rate, series.queued],
    $('chart'),
  );
  window.addEventListener('resize', () => chart.setSize({ width: chartWidth(), height: 240 }));
}

let previous;

function recordPoint(samples, queued) {
  const now = Date.now();
  const sent = sumOf(samples, METRIC.sent);
  let rate = null;
  if (previous && now > previous.at && sent >= previous.sent) {
    rate = ((sent - previous.sent) * 1000) / (now - previous.at);
  }
  previous = { at: now, sent };
  setText('sent-total', sent);
  setText('sent-rate', rate === null ? '–' : rate.toFixed(1));
  setText('retries-total', sumOf(samples, METRIC.retries));
  setText('tmr-total', sumOf(samples, METRIC.tooManyRequests));
  series.time.push(now / 1000);
  series.rate.push(rate);
  series.queued.push(queued);
  if (series.time.length > HISTORY) {
    series.time.shift();
    series.rate.shift();
    series.queued.shift();
  }
  chart?.setData([series.time, series.rate, series.queued]);
}

// ---- polling --------------------------------------------------------------------------------------------

function setStatus(kind, text) {
  const status = $('status');
  status.className = `status ${kind}`;
  status.textContent = text;
}

let polling = false;

async function poll() {
  if (polling) return;
  polling = true;
  try {
    const [quota, queue, deadLetters, metrics] = await Promise.all([
      getJson('v1/quota'),
      getJson('queue/stats'),
      getJson(`v1/dead-letters?limit=${DLQ_LIMIT}`),
      getText('metrics'),
    ]);
    const samples = parseMetrics(metrics);
    renderQuota(quota);
    renderQueue(queue);
    renderScopes(samples);
    renderDeadLetters(deadLetters);
    recordPoint(samples, queue.total_queued);
    $('auth-needed').hidden = true;
    setStatus('live', `live · ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (error instanceof AuthRequired) {
      $('auth-needed').hidden = false;
      setStatus('down', 'token needed');
    } else {
      setStatus('down', `unreachable · ${new Date().toLocaleTimeString()}`);
    }
  } finally {
    polling = false;
  }
}

function start() {
  const input = $('token');
  input.value = storedToken();
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    storeToken(input.value.trim());
    void poll();
  });
  $('replay-all').addEventListener('click', () => replay({}));
  if (document.body.dataset.auth === 'required' && !storedToken()) $('auth-needed').hidden = false;
  makeChart();
  void poll();
  setInterval(poll, POLL_MS);
}

start();
