// Open notebooks in a running JupyterLab with Debian's chromium, run every cell as a
// student does (Shift+Enter, one cell after another), save, and report what the page shows.
//
//   node run-notebooks.mjs CONFIG.json
//
// CONFIG: { baseUrl, token, userDataDir, resultsPath, concurrency, cellTimeoutMs,
//           notebooks: [{ id, path, after, screenshots: { figure, widgets, failure } }] }
// Writes to resultsPath one entry per notebook: { id, path, ok, error, seconds, cells,
// screenshots, sliderRedraws }, where cells lists, per cell, its type, what its outputs rendered and
// how many seconds it took.
// The checks themselves (which errors are allowed, which figures must show) are made
// by tests/test_browser.py from the saved notebook and this report.

import fs from 'node:fs';
import { chromium } from 'playwright-core';

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Interactive ipywidgets controls: what a widget view is made of (tqdm bars are not).
const CONTROLS = [
  '.widget-slider', '.widget-dropdown', '.widget-toggle-buttons', '.widget-radio-box',
  '.widget-select', '.widget-button', '.widget-checkbox', '.widget-play', '.widget-text',
].join(', ');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const executablePath = config.executablePath || '/usr/bin/chromium';

const context = await chromium.launchPersistentContext(config.userDataDir, {
  executablePath,
  headless: true,
  args: CHROMIUM_FLAGS,
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(120_000);

// A job may name another (after) that must finish first: a notebook that reads what an
// earlier one saved. Workers take the first job whose predecessor is done.
const queue = [...config.notebooks];
const finished = new Set();
const results = [];
// Each worker is a tab that keeps JupyterLab loaded and opens its notebooks one after another,
// as a student does; after a failure it starts again from a fresh tab.
async function worker(tab) {
  let page = null;
  while (queue.length) {
    const ready = queue.findIndex((job) => !job.after || finished.has(job.after)
      || !config.notebooks.some((other) => other.id === job.after));
    if (ready < 0) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    const [job] = queue.splice(ready, 1);
    page = page || await openLab(tab);
    const result = await runNotebook(page, job);
    results.push(result);
    finished.add(job.id);
    if (!result.ok) {
      await page.close().catch(() => {});
      page = null;
    }
  }
  if (page) await page.close().catch(() => {});
}
try {
  await Promise.all(Array.from({ length: Math.max(1, config.concurrency || 1) }, (_, tab) => worker(tab)));
} finally {
  await context.close();
}
fs.writeFileSync(config.resultsPath, JSON.stringify(results, null, 2));

async function openLab(tab) {
  const page = await context.newPage();
  // A workspace per tab, so parallel tabs never restore each other's documents.
  await page.goto(`${config.baseUrl}/lab/workspaces/tab-${tab}?reset&token=${config.token}`);
  await page.waitForFunction(() => window.jupyterapp?.commands?.hasCommand('docmanager:open'));
  // Opened before the workspace is restored, a notebook can lose its place as the current widget.
  await page.evaluate(() => window.jupyterapp.restored);
  return page;
}

async function runNotebook(page, job) {
  const started = Date.now();
  const result = { id: job.id, path: job.path, ok: false, error: null, cells: [], screenshots: {} };
  try {
    await page.evaluate((path) => { window.jupyterapp.commands.execute('docmanager:open', { path }); }, job.path);
    // Wait for the notebook's tab, and make it the current widget should anything else have taken focus.
    await page.waitForFunction((path) => {
      const shell = window.jupyterapp.shell;
      const widget = [...shell.widgets('main')].find((candidate) => candidate.context?.path === path);
      if (!widget) return false;
      if (shell.currentWidget !== widget) shell.activateById(widget.id);
      return shell.currentWidget === widget && widget.content?.widgets?.length > 0;
    }, job.path);
    await page.evaluate(async () => {
      const panel = window.jupyterapp.shell.currentWidget;
      await panel.context.ready;
      await panel.sessionContext.ready;
    });
    await waitForIdleKernel(page);
    const timings = await runEveryCell(page, config.cellTimeoutMs || 300_000);
    await waitForIdleKernel(page);
    await waitForImages(page);
    await save(page);
    result.cells = (await describeCells(page)).map((cell, i) => ({ ...cell, seconds: timings[i] ?? 0 }));
    result.screenshots = await takeScreenshots(page, job.screenshots || {});
    result.sliderRedraws = await moveFirstSlider(page);
    result.ok = true;
  } catch (error) {
    result.error = String(error?.stack || error);
    if (job.screenshots?.failure) {
      await page.screenshot({ path: job.screenshots.failure, fullPage: true }).catch(() => {});
      result.screenshots.failure = job.screenshots.failure;
    }
  } finally {
    result.seconds = (Date.now() - started) / 1000;
    // Close the notebook and stop its kernel, so that the tab's next notebook starts alone.
    await page.evaluate(async () => {
      const panel = window.jupyterapp.shell.currentWidget;
      if (panel?.sessionContext) await panel.sessionContext.shutdown();
      panel?.dispose();
    }).catch(() => {});
  }
  return result;
}

async function waitForIdleKernel(page) {
  await page.waitForFunction(() => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
    return kernel?.status === 'idle';
  });
}

// Shift+Enter on each cell in turn, waiting for a code cell to finish before the next,
// so that an error in one cell never cancels the cells queued after it. The last cell
// runs with Ctrl+Enter: Shift+Enter there would add an empty cell to the notebook.
async function runEveryCell(page, cellTimeoutMs) {
  const cells = await page.evaluate(() => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    notebook.mode = 'command';
    notebook.activeCellIndex = 0;
    notebook.node.focus();
    return notebook.widgets.map((widget) => ({
      type: widget.model.type,
      empty: widget.model.sharedModel.getSource().trim() === '',
    }));
  });
  const timings = [];
  for (const [index, cell] of cells.entries()) {
    const cellStarted = Date.now();
    await page.keyboard.press(index < cells.length - 1 ? 'Shift+Enter' : 'Control+Enter');
    if (cell.type === 'code' && !cell.empty) {
      try {
        await page.waitForFunction((index) => {
          const widget = window.jupyterapp.shell.currentWidget.content.widgets[index];
          const prompt = widget.node.querySelector('.jp-InputPrompt')?.textContent || '';
          return /\[\d+\]/.test(prompt);
        }, index, { timeout: cellTimeoutMs, polling: 25 });
      } catch (error) {
        throw new Error(`cell ${index} did not finish within ${cellTimeoutMs / 1000} s`);
      }
    }
    timings[index] = (Date.now() - cellStarted) / 1000;
  }
  const active = await page.evaluate(() => window.jupyterapp.shell.currentWidget.content.activeCellIndex);
  if (active !== cells.length - 1) {
    throw new Error(`Shift+Enter went astray: the run ended on cell ${active} of ${cells.length}`);
  }
  return timings;
}

async function waitForImages(page) {
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img')]
      .every((img) => img.complete), undefined, { timeout: 30_000 });
}

async function save(page) {
  await page.keyboard.press('Control+s');
  await page.waitForFunction(() => !window.jupyterapp.shell.currentWidget.context.model.dirty,
    undefined, { timeout: 60_000 });
}

async function describeCells(page) {
  return page.evaluate((controls) => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    return notebook.widgets.map((widget, index) => {
      const outputs = widget.node.querySelector('.jp-OutputArea');
      const images = outputs ? [...outputs.querySelectorAll('img')] : [];
      const text = outputs?.textContent || '';
      return {
        index,
        type: widget.model.type,
        images: images.filter((img) => img.complete && img.naturalWidth > 0).length,
        brokenImages: images.filter((img) => !(img.complete && img.naturalWidth > 0)).length,
        widgets: outputs ? outputs.querySelectorAll('.jupyter-widgets').length : 0,
        controls: outputs ? outputs.querySelectorAll(controls).length : 0,
        widgetErrors: (text.match(/Error displaying widget[^\n]*/g) || []),
      };
    });
  }, CONTROLS);
}

// As a student would: press the right arrow on the first slider of a widget view, and
// see whether the figure beside it is drawn again. null: no slider with a figure.
async function moveFirstSlider(page) {
  // The figure that the widgets redraw lives inside the widget view itself; a static figure
  // displayed by the same cell, before the view, must not be mistaken for it.
  const WIDGET_IMG = '.widget-interact img, .widget-output img';
  const panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const view = panel.locator('.jp-Cell-outputWrapper')
    .filter({ has: page.locator('.widget-slider .noUi-handle') })
    .filter({ has: page.locator(WIDGET_IMG) }).first();
  if (!(await view.count())) return null;
  const before = await view.locator(WIDGET_IMG).first().getAttribute('src');
  await view.locator('.widget-slider .noUi-handle').first().focus();
  await page.keyboard.press('ArrowRight');
  try {
    await page.waitForFunction(([node, before, selector]) => {
      const img = node.querySelector(selector);
      return img && img.complete && img.naturalWidth > 0 && img.getAttribute('src') !== before;
    }, [await view.elementHandle(), before, WIDGET_IMG], { timeout: 60_000, polling: 200 });
    return true;
  } catch {
    return false;
  }
}

async function takeScreenshots(page, wanted) {
  const taken = {};
  const panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (wanted.figure) {
    const figure = panel.locator('.jp-OutputArea-output img').first();
    if (await figure.count()) {
      await figure.scrollIntoViewIfNeeded();
      await figure.screenshot({ path: wanted.figure });
      taken.figure = wanted.figure;
    }
  }
  if (wanted.widgets) {
    const view = panel.locator('.jp-Cell-outputWrapper').filter({ has: page.locator(CONTROLS) }).first();
    if (await view.count()) {
      await view.scrollIntoViewIfNeeded();
      await view.screenshot({ path: wanted.widgets });
      taken.widgets = wanted.widgets;
    }
  }
  return taken;
}
