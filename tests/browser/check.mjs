// Headless Chromium over a built Pharos site: every page in light and dark mode at phone
// and desktop widths, a full-page screenshot of each, no request leaving 127.0.0.1, no
// script or console error, and axe-core with no serious or critical violation.
//
//   node check.mjs <site dir> <screenshot dir> <path,path,...>
//
// Run by tests/testsuite/browser.rs; needs `npm ci` here and /usr/bin/chromium.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve, launch } from './serve.mjs';

const [site, out, list] = process.argv.slice(2);
const { server, base } = await serve(site);
const browser = await chromium.launch(launch);
const axe = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
fs.mkdirSync(out, { recursive: true });
const problems = [];
const report = [];
for (const scheme of ['light', 'dark']) {
  for (const [device, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1280, height: 900 }]]) {
    // bypassCSP lets the test inject axe-core; the pages' own policy forbids scripts.
    const context = await browser.newContext({ viewport, colorScheme: scheme, bypassCSP: true });
    const page = await context.newPage();
    let current = '';
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1') problems.push(`${current}: a request left this machine: ${r.url()}`);
    });
    page.on('pageerror', (e) => problems.push(`${current}: script error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`${current}: console error: ${m.text()}`); });
    for (const p of list.split(',')) {
      current = `${p} (${scheme}, ${device})`;
      const response = await page.goto(base + p, { waitUntil: 'load' });
      if (!response || response.status() !== 200) problems.push(`${current}: HTTP ${response && response.status()}`);
      // Every stylesheet applied (a CSP or a wrong origin leaves the page unstyled).
      const unstyled = await page.evaluate(() => [...document.querySelectorAll('link[rel=stylesheet]')].filter((l) => !l.sheet).map((l) => l.href));
      for (const href of unstyled) problems.push(`${current}: stylesheet not applied: ${href}`);
      const name = (p.replace(/^\/|\/$/g, '').replace(/\//g, '_') || 'index') + `-${scheme}-${device}.png`;
      await page.screenshot({ path: path.join(out, name), fullPage: true });
      await page.addScriptTag({ content: axe });
      const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of result.violations) {
        if (v.impact === 'serious' || v.impact === 'critical') {
          problems.push(`${current}: ${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
        }
      }
      report.push(`${current}: ${result.violations.length} axe finding(s)${result.violations.length ? ' ' + result.violations.map((v) => `${v.id}/${v.impact}`).join(', ') : ''}`);
    }
    await context.close();
  }
}
await browser.close();
server.close();
console.log(report.join('\n'));
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
