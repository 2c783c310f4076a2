// Drive headless Chromium (Debian's /usr/bin/chromium) with playwright-core and report what
// STAC Browser shows. Used by tests/test_browse.py; playwright-core comes from
// scripts/build-stac-browser.sh --test-tools (NODE_PATH points at it).
//
//   node tests/browser_check.js spec.json   ->  JSON report on stdout
//
// spec: {"executablePath": "...", "timeoutMs": 30000, "pages": [{"name": "...", "url": "...",
//        "waitText": ["..."], "waitImages": ["suffix.jpg"], "click": ["text"], "waitTextAfterClick": ["..."],
//        "settleMs": 1500, "clickTabs": ["Thumbnails"] (after the clicks),
//        "screenshot": "/path.png"}]}
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
           '--disable-component-update', '--disable-sync', '--no-first-run', ...(spec.extraArgs || [])],
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
        if (p.screenshot) {  // the page as it first shows (map with footprint and thumbnail)
          await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
          await page.screenshot({ path: p.screenshot, fullPage: true });
          entry.screenshot = p.screenshot;
        }
        // Click each text in turn (e.g. expand an asset's details), wait for the matching
        // waitTextAfterClick entry, keep the page text, a screenshot and the map's place after each.
        entry.clickTexts = [];
        entry.clickMapRects = [];
        for (const [i, text] of (p.click || []).entries()) {
          await page.getByText(text, { exact: false }).filter({ visible: true }).first().click({ timeout });
          const want = (p.waitTextAfterClick || [])[i];
          if (want) {
            await page.waitForFunction((t) => document.body.innerText.includes(t), want, { timeout });
          }
          entry.clickTexts.push(await page.evaluate(() => document.body.innerText));
          await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
          await page.waitForTimeout(p.settleMs || 0);  // let the map draw a layer it just added
          entry.clickMapRects.push(await page.evaluate(() => {
            const v = document.querySelector('.ol-viewport');
            if (!v) return null;
            const r = v.getBoundingClientRect();
            return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height };
          }));
          if (p.screenshot) {
            await page.screenshot({ path: p.screenshot.replace(/\.png$/, `-click${i + 1}.png`), fullPage: true });
          }
        }
        for (const name of p.clickTabs || []) {  // e.g. the "Thumbnails" tab beside the map
          await page.getByRole('tab', { name, exact: true }).click({ timeout });
        }
        await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
      } catch (err) {
        if (p.screenshot) {
          await page.screenshot({ path: p.screenshot.replace(/\.png$/, '-failed.png'), fullPage: true }).catch(() => {});
        }
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
      report.pages.push(entry);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
