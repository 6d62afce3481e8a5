// Drives the dashboard in Debian's chromium (playwright-core, never a downloaded browser) for
// tests/server/dashboard_test.cpp. Env: KUAI_URL (the gateway), KUAI_KEY (its admin_key),
// SCREENSHOT (optional PNG path). Every request the page makes outside the gateway is blocked and
// counted (the page must work without the network). Prints one JSON line of findings; exits 1 on error.
import { chromium } from 'playwright-core';

const base = process.env.KUAI_URL, key = process.env.KUAI_KEY;
const out = { outside_requests: [], console_errors: [] };
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith(base)) return route.continue();
    out.outside_requests.push(route.request().url());
    return route.abort();
  });
  // The login page itself answers 401 (expected); anything else the console reports is a finding.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('status of 401')) out.console_errors.push(m.text()); });
  page.on('pageerror', (e) => out.console_errors.push(String(e)));

  // Without the key: the login form; a wrong key is refused.
  await page.goto(base + '/dashboard');
  out.login_form = await page.locator('#key').count() === 1;
  await page.fill('#key', 'not-the-key');
  await Promise.all([page.waitForLoadState(), page.click('#login')]);
  out.wrong_key_message = (await page.textContent('#login-message')).trim();

  await page.fill('#key', key);
  await Promise.all([page.waitForURL(base + '/dashboard'), page.click('#login')]);
  await page.waitForSelector('#conn.on', { timeout: 10000 });
  const cookies = await page.context().cookies();
  const c = cookies.find((x) => x.name === 'kuai_dashboard');
  out.cookie = c ? { httpOnly: c.httpOnly, sameSite: c.sameSite } : null;

  // Traffic while the page is open: the same question three times (a miss, then cache hits), one bad request.
  const ask = (content) => fetch(base + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer test' },
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content }] }) });
  for (let i = 0; i < 3; ++i) await ask('Hello! What is the capital of France?');
  await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });

  // A background chat job and a flow run: their panels appear.
  await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', background: true, messages: [{ role: 'user', content: 'Write a report.' }] }) });
  const flow = await fetch(base + '/v1/flows/compare/runs', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: { question: 'Which is faster?', a: 'Redis', b: 'SQLite' } }) });
  out.flow_status = flow.status;
  await page.waitForSelector('#jobs-panel:not([hidden]) #jobs-bars .bar', { timeout: 15000 });
  await page.waitForSelector('#flows-panel:not([hidden]) #flows tbody tr', { timeout: 15000 });
  out.flows_row = (await page.textContent('#flows tbody tr')).replace(/\s+/g, ' ');
  out.jobs_bars = await page.locator('#jobs-bars .bar').allTextContents();

  await page.waitForFunction(() => Number(document.getElementById('kpi-total').textContent) >= 6, null, { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll('#requests tbody tr').length >= 4, null, { timeout: 15000 });
  out.total = Number(await page.textContent('#kpi-total'));
  out.request_rows = await page.locator('#requests tbody tr').count();
  out.cache_hits = Number(await page.locator('#cache-bars .bar[data-name="hit"]').getAttribute('data-value') ?? 0);
  out.errors_rows = await page.locator('#errors tbody tr').count();
  out.stage_rows = await page.locator('#stages tbody tr').allTextContents();
  out.pipeline = (await page.textContent('#pipeline')).trim();
  // The waterfall of the newest answered request (a cache hit).
  await page.locator('#requests tbody tr').filter({ hasText: 'gpt-test' })
    .filter({ has: page.locator('td', { hasText: /^200$/ }) }).first().click();
  out.detail = (await page.textContent('#detail')).replace(/\s+/g, ' ');
  await page.waitForTimeout(1500);  // let the charts draw a few seconds
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
} catch (e) {
  out.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(out.error ? 1 : 0);
