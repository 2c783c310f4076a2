// Drive headless Chromium (Debian's /usr/bin/chromium) with playwright-core and report what
// STAC Browser shows. Used by tests/test_browse.py; playwright-core comes from
// scripts/build-stac-browser.sh --test-tools (NODE_PATH points at it).
//
//   node tests/browser_check.js spec.json   ->  JSON report on stdout
//
// spec: {"executablePath": "...", "timeoutMs": 30000, "pages": [{"name": "...", "url": "...",
//        "waitText": ["..."], "waitImages": ["suffix.jpg"], "screenshot": "/path.png"}]}
// Every request to a host other than 127.0.0.1/localhost is recorded and aborted: nothing may
// come from the internet (basemap tiles are expected to fail and are reported as such).
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const timeout = spec.timeoutMs || 30000;
  const browser = await chromium.launch({
    executablePath: spec.executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const report = { pages: [], external: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US' });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !LOOPBACK.test(url.hostname)) {
        report.external.push(route.request().url());
        return route.abort('internetdisconnected');
      }
      return route.continue();
    });
    for (const p of spec.pages) {
      const page = await context.newPage();
      const consoleErrors = [];
      const failed = [];
      page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
      page.on('requestfailed', (r) => failed.push(r.url()));
      const t0 = Date.now();
      const entry = { name: p.name, url: p.url, ok: true, error: null };
      try {
        await page.goto(p.url, { waitUntil: 'load', timeout });
        for (const text of p.waitText || []) {
          await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), text, { timeout });
        }
        for (const suffix of p.waitImages || []) {
          await page.waitForFunction((s) => Array.from(document.images).some(
            (i) => i.currentSrc.endsWith(s) && i.complete && i.naturalWidth > 0), suffix, { timeout });
        }
        await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
      } catch (err) {
        entry.ok = false;
        entry.error = String(err.message || err).split('\n')[0];
      }
      entry.seconds = (Date.now() - t0) / 1000;
      entry.text = await page.evaluate(() => document.body ? document.body.innerText : '');
      entry.title = await page.title();
      entry.images = await page.evaluate(() => Array.from(document.images).map((i) => ({
        src: i.currentSrc, alt: i.alt, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
        complete: i.complete, width: i.getBoundingClientRect().width, height: i.getBoundingClientRect().height })));
      entry.links = await page.evaluate(() => Array.from(document.querySelectorAll('a[href]')).map((a) => ({
        href: a.href, text: a.innerText.trim() })));
      entry.mapCanvases = await page.evaluate(() => document.querySelectorAll('.ol-viewport canvas, .ol-layer canvas').length);
      entry.consoleErrors = consoleErrors;
      entry.failedRequests = failed;
      if (p.screenshot) {
        await page.screenshot({ path: p.screenshot, fullPage: true });
        entry.screenshot = p.screenshot;
      }
      report.pages.push(entry);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
