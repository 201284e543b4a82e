// Grade a written answer by hand in nbgrader's formgrader with Debian's chromium, as an instructor does:
// Manual Grading → the assignment → its notebook → a submission → a score for the written answer.
//
//   node formgrader.mjs CONFIG.json
//
// CONFIG: { baseUrl, token, executablePath, userDataDir, resultsPath, screenshot,
//           assignment, notebook, gradeId, score }
// Writes to resultsPath: { ok, error, assignments (the list's rows), submissions (the notebook's
// rows), answer (the written answer's text on the grading page), saved (the grade as the server
// stored it) }. tests/test_formgrader.py checks them, and the grades CSV.

import fs from 'node:fs';
import { chromium } from 'playwright-core';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const context = await chromium.launchPersistentContext(config.userDataDir, {
  executablePath: config.executablePath || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(60_000);
const page = await context.newPage();
const result = { ok: false };

async function rows(selector) {
  // Formgrader fills its tables from its API after the page loads ("Loading, please wait...").
  await page.waitForFunction((s) => {
    const cells = [...document.querySelectorAll(s)].map((row) => row.innerText);
    return cells.length && !cells.some((text) => text.includes('Loading'));
  }, selector);
  return page.$$eval(selector, (found) => found.map((row) => row.innerText.replace(/\s+/g, ' ').trim()));
}

try {
  await page.goto(`${config.baseUrl}/formgrader/gradebook?token=${config.token}`);
  result.assignments = await rows('table tbody tr');
  // Each click loads another page: wait for it, or the next lookup reads the page before.
  await page.click(`a[href$="/formgrader/gradebook/${config.assignment}"]`);
  await page.waitForURL(`**/formgrader/gradebook/${config.assignment}`);
  await page.click(`a[href$="/formgrader/gradebook/${config.assignment}/${config.notebook}"]`);
  await page.waitForURL(`**/formgrader/gradebook/${config.assignment}/${config.notebook}`);
  result.submissions = await rows('table tbody tr');
  await page.click('a[href*="/formgrader/submissions/"]');
  await page.waitForURL('**/formgrader/submissions/**');
  const score = page.locator(`input.score#${config.gradeId}`);
  await score.waitFor();
  result.answer = await page.locator(`#${config.gradeId}-cell, .nbgrader_cell:has(input#${config.gradeId})`).first()
    .innerText().catch(() => '');
  result.page = (await page.locator('body').innerText()).slice(0, 20000);
  const stored = page.waitForResponse((response) => response.url().includes('/formgrader/api/grade/')
    && response.request().method() === 'PUT');
  await score.fill(String(config.score));
  await score.press('Tab'); // formgrader saves a score when its field changes
  result.saved = await (await stored).json();
  if (config.screenshot) await page.screenshot({ path: config.screenshot, fullPage: false });
  result.ok = true;
} catch (error) {
  result.error = String(error && error.stack || error);
  if (config.screenshot) await page.screenshot({ path: config.screenshot }).catch(() => {});
}
fs.writeFileSync(config.resultsPath, JSON.stringify(result, null, 1));
await context.close();
