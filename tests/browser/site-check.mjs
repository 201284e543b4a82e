// Open every page of the course site in Debian's chromium, with every request that is not to the
// site's own server blocked, and report what each page did.
//
//   node site-check.mjs CONFIG.json
//
// CONFIG: { baseUrl, executablePath, resultsPath, downloadDir, pages: [path, ...],
//           search: { path, query }, notebooks: [{ page, name }] }
// Writes to resultsPath: { pages: [{ path, status, consoleErrors, failedRequests, images, brokenImages,
//   math, mathRendered, mathErrors, links }], blocked: [url, ...], links: [{ from, url, status, fragmentFound }],
//   search: { count, titles }, notebooks: [{ page, colab, download, downloadedTo }] }.
// The checks themselves are made by tests/test_site.py from this report.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const base = new URL(config.baseUrl);
const browser = await chromium.launch({
  executablePath: config.executablePath || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
context.setDefaultTimeout(30_000);
const blocked = [];
await context.route('**/*', (route) => {
  const url = new URL(route.request().url());
  if (url.origin === base.origin) return route.continue();
  blocked.push(url.href);
  return route.abort('blockedbyclient');
});

const report = { pages: [], blocked, links: [], search: null, notebooks: [] };
const linkTargets = new Map(); // url without fragment -> Set of fragments asked for, with the pages asking

try {
  for (const pagePath of config.pages) report.pages.push(await visit(pagePath));
  report.links = await checkLinks();
  report.search = await search(config.search);
  for (const notebook of config.notebooks) report.notebooks.push(await notebookLinks(notebook));
} finally {
  await browser.close();
}
fs.writeFileSync(config.resultsPath, JSON.stringify(report, null, 2));

async function visit(pagePath) {
  const page = await context.newPage();
  const result = { path: pagePath, status: null, consoleErrors: [], failedRequests: [], images: 0, brokenImages: [],
    math: 0, mathRendered: 0, mathErrors: 0, links: 0 };
  page.on('console', (message) => { if (message.type() === 'error') result.consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => result.consoleErrors.push(String(error)));
  page.on('requestfailed', (request) => {
    if (new URL(request.url()).origin === base.origin) result.failedRequests.push(request.url());
  });
  page.on('response', (response) => {
    if (response.status() >= 400) result.failedRequests.push(`${response.status()} ${response.url()}`);
  });
  try {
    const response = await page.goto(new URL(pagePath, base).href, { waitUntil: 'load' });
    result.status = response?.status() ?? null;
    result.math = await page.locator('.math').count();
    if (result.math > 0) {
      // MathJax 3 typesets after load; its startup promise settles when every formula is done.
      await page.waitForFunction(() => window.MathJax?.startup?.promise);
      await page.evaluate(() => window.MathJax.startup.promise);
      result.mathRendered = await page.locator('.math:has(mjx-container)').count();
      result.mathErrors = await page.locator('mjx-merror, [data-mjx-error]').count();
    }
    await page.waitForFunction(() => [...document.images].every((image) => image.complete));
    const images = await page.evaluate(() => [...document.images].map((image) => ({
      src: image.currentSrc || image.src, ok: image.complete && image.naturalWidth > 0,
    })));
    result.images = images.length;
    result.brokenImages = images.filter((image) => !image.ok).map((image) => image.src);
    const hrefs = await page.evaluate(() => [...document.querySelectorAll('a[href]')].map((a) => a.href));
    result.links = hrefs.length;
    for (const href of hrefs) {
      const url = new URL(href);
      if (url.origin !== base.origin) continue;
      const key = url.href.split('#')[0];
      if (!linkTargets.has(key)) linkTargets.set(key, { fragments: new Set(), from: pagePath });
      if (url.hash.length > 1) linkTargets.get(key).fragments.add(decodeURIComponent(url.hash.slice(1)));
    }
  } catch (error) {
    result.consoleErrors.push(`could not check the page: ${error}`);
  } finally {
    await page.close();
  }
  return result;
}

async function checkLinks() {
  const checked = [];
  for (const [url, { fragments, from }] of linkTargets) {
    const response = await context.request.get(url);
    const entry = { from, url, status: response.status(), missingFragments: [] };
    if (fragments.size && (response.headers()['content-type'] || '').includes('html')) {
      const text = await response.text();
      for (const fragment of fragments) {
        const escaped = fragment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        if (!new RegExp(`id=["']${escaped}["']`).test(text)) entry.missingFragments.push(fragment);
      }
    }
    checked.push(entry);
  }
  return checked;
}

async function search({ path: searchPath, query }) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  try {
    await page.goto(new URL(`${searchPath}?q=${encodeURIComponent(query)}`, base).href, { waitUntil: 'load' });
    // Sphinx's search writes one list item per page found, then a summary line.
    await page.waitForFunction(() => {
      const summary = document.querySelector('#search-results .search-summary, #search-results p');
      return summary && summary.textContent.trim().length > 0 && !/Preparing search/.test(summary.textContent);
    });
    const titles = await page.locator('#search-results ul.search li a').allTextContents();
    return { count: titles.length, titles, errors };
  } catch (error) {
    return { count: 0, titles: [], errors: [...errors, String(error)] };
  } finally {
    await page.close();
  }
}

async function notebookLinks({ page: pagePath, name }) {
  const page = await context.newPage();
  const result = { page: pagePath, colab: null, download: null, downloadedTo: null, error: null };
  try {
    await page.goto(new URL(pagePath, base).href, { waitUntil: 'load' });
    result.colab = await page.locator('a.course-colab').first().getAttribute('href');
    const download = page.locator('a.course-download').first();
    result.download = await download.evaluate((a) => a.href);
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    result.downloadedTo = path.join(config.downloadDir, name);
    await file.saveAs(result.downloadedTo);
  } catch (error) {
    result.error = String(error);
  } finally {
    await page.close();
  }
  return result;
}
