// Headless Chromium over a site built from hostile input: every listed page is loaded
// with the page's Content-Security-Policy bypassed (so escaping, not the policy, is what
// is tested), alert/confirm/prompt and window.__xss are watched, and the parsed DOM is
// searched for anything that could run: script elements, on* attributes, javascript:,
// vbscript: and data:text/html URLs, frames, objects, <base>, refresh or link headers.
//
//   node xss.mjs <site dir> <path,path,...> [host]
//
// Requests never leave 127.0.0.1; the only one allowed to be attempted is a stylesheet
// from `host` (404.html links the public base_url, as it is served at any depth).
//
// Run by tests/testsuite/hostile.rs; needs `npm ci` here and /usr/bin/chromium.
import { chromium } from 'playwright-core';
import { serve, launch } from './serve.mjs';

const [site, list, host] = process.argv.slice(2);
const { server, base } = await serve(site);
const browser = await chromium.launch(launch);
const context = await browser.newContext({ bypassCSP: true, javaScriptEnabled: true });
await context.addInitScript(() => {
  globalThis.__ran = [];
  for (const name of ['alert', 'confirm', 'prompt', 'print']) {
    globalThis[name] = (...a) => { globalThis.__ran.push(`${name}(${a.join(',')})`); };
  }
  Object.defineProperty(globalThis, '__xss', { set(v) { globalThis.__ran.push(`__xss=${v}`); } });
});
await context.route('**', (route) => {
  const u = new URL(route.request().url());
  if (u.protocol === 'data:' || u.hostname === '127.0.0.1') route.continue(); else route.abort();
});
const problems = [];
const page = await context.newPage();
let current = '';
page.on('dialog', (d) => { problems.push(`${current}: a dialog opened: ${d.message()}`); d.dismiss(); });
page.on('request', (r) => {
  const u = new URL(r.url());
  const allowed = u.hostname === host && r.resourceType() === 'stylesheet';
  if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1' && !allowed) problems.push(`${current}: a request left this machine: ${r.url()}`);
});
let pages = 0;
for (const p of list.split(',')) {
  current = p;
  const response = await page.goto(base + p, { waitUntil: 'load' });
  if (!response || response.status() !== 200) problems.push(`${p}: HTTP ${response && response.status()}`);
  // Hover and focus everything once, as a reader's pointer would.
  await page.evaluate(() => {
    for (const el of document.querySelectorAll('body *')) {
      for (const type of ['mouseover', 'focus', 'click', 'toggle', 'load', 'error']) {
        if (type === 'click' && el.closest('a')) continue; // links navigate; checked below
        el.dispatchEvent(new Event(type));
      }
    }
  });
  await page.waitForTimeout(30);
  const found = await page.evaluate(() => {
    const bad = [...globalThis.__ran];
    const risky = /^\s*(javascript|vbscript|data:text\/html)/i;
    for (const el of document.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      if (['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'base', 'applet', 'form', 'input', 'button', 'meta'].includes(tag)
        && !(tag === 'meta' && !el.getAttribute('http-equiv'))
        && !(tag === 'meta' && el.getAttribute('http-equiv').toLowerCase() === 'content-security-policy')) {
        bad.push(`<${tag}> element: ${el.outerHTML.slice(0, 120)}`);
      }
      for (const a of el.attributes) {
        if (a.name.startsWith('on')) bad.push(`${a.name} attribute on <${tag}>`);
        if (['href', 'src', 'action', 'formaction', 'data', 'xlink:href', 'background', 'dynsrc', 'lowsrc'].includes(a.name)
          && risky.test(a.value)) bad.push(`${a.name}="${a.value.slice(0, 60)}" on <${tag}>`);
        if (a.name === 'style' && /expression|javascript|url\(/i.test(a.value)) bad.push(`style="${a.value.slice(0, 60)}" on <${tag}>`);
      }
    }
    return bad;
  });
  for (const f of found) problems.push(`${p}: ${f}`);
  pages += 1;
}
await browser.close();
server.close();
console.log(`${pages} page(s) checked`);
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
