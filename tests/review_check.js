// Drive the review page (`sen12stac review`) in headless Chromium with playwright-core, step
// by step, and report what it showed. Used by tests/test_review.py (NODE_PATH as for
// tests/browser_check.js).
//
//   node tests/review_check.js spec.json   ->  JSON report on stdout
//
// spec: {"executablePath": "...", "timeoutMs": 30000, "url": "...", "steps": [
//          {"waitSelector": "css"}, {"fill": "css", "value": "text"}, {"click": "css"},
//          {"waitText": "text"}, {"texts": "css", "as": "name"}, {"screenshot": "/path.png"}]}
// Every request to a host other than 127.0.0.1/localhost is recorded and aborted.
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const timeout = spec.timeoutMs || 30000;
  const browser = await chromium.launch({
    executablePath: spec.executablePath, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const report = { ok: true, error: null, step: null, results: {}, external: [], consoleErrors: [], failedRequests: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !LOOPBACK.test(url.hostname)) {
        report.external.push(route.request().url());
        return route.abort('internetdisconnected');
      }
      return route.continue();
    });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
    page.on('requestfailed', (r) => report.failedRequests.push(r.url()));
    try {
      await page.goto(spec.url, { waitUntil: 'load', timeout });
      for (const [i, s] of spec.steps.entries()) {
        report.step = i;
        if (s.waitSelector) await page.waitForSelector(s.waitSelector, { timeout });
        if (s.fill) await page.fill(s.fill, s.value, { timeout });
        if (s.click) await page.click(s.click, { timeout });
        if (s.waitText) {
          await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), s.waitText, { timeout });
        }
        if (s.texts) report.results[s.as] = await page.$$eval(s.texts, (els) => els.map((e) => e.innerText));
        if (s.images) {
          report.results[s.as] = await page.$$eval(s.images, (els) => els.map((i) => ({
            src: i.currentSrc, complete: i.complete, naturalWidth: i.naturalWidth })));
        }
        if (s.screenshot) await page.screenshot({ path: s.screenshot, fullPage: true });
      }
      report.step = null;
    } catch (err) {
      report.ok = false;
      report.error = String(err.message || err).split('\n')[0];
    }
    report.text = await page.evaluate(() => document.body ? document.body.innerText : '');
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
