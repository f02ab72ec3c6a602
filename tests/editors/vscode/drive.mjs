// Drives VS Code (code-server) in headless Chromium as a user would: type -> ghost text -> Tab,
// Ctrl+. -> "Switchboard: Refactor", Ctrl+. -> "Switchboard: Explain" -> the explanation panel.
// Env: CS_URL, ARTIFACTS, PW_DIR (where playwright-core is installed), CHROMIUM (binary).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.PW_DIR, 'package.json'));
const { chromium } = require('playwright-core');

const ART = process.env.ARTIFACTS;
const EXPECT_LINE = '    a + b';
const results = [];
const t0 = Date.now();
const log = (m) => console.error(`[vscode-test ${new Date().toISOString().slice(11, 19)}] ${m}`);

/** How many requests the fake upstream got on a path ending with `suffix`. */
function upstream(suffix) {
  try {
    return fs.readFileSync(process.env.FAKE_RECORD, 'utf8').split('\n').filter((l) => l && JSON.parse(l).path.endsWith(suffix)).length;
  } catch {
    return 0;
  }
}

async function shot(page, name) {
  try {
    await page.screenshot({ path: path.join(ART, `vscode-${name}.png`) });
  } catch (e) {
    log(`screenshot ${name} failed: ${e.message}`);
  }
}

async function check(page, name, fn) {
  const start = Date.now();
  try {
    const detail = await fn();
    results.push([name, true]);
    log(`PASS ${name} (${((Date.now() - start) / 1000).toFixed(2)}s)${detail ? `: ${detail}` : ''}`);
    return true;
  } catch (e) {
    results.push([name, false]);
    log(`FAIL ${name} (${((Date.now() - start) / 1000).toFixed(2)}s): ${e.message.split('\n')[0]}`);
    await shot(page, `fail-${name}`);
    return false;
  }
}

/** The editor's text lines, top to bottom, ghost text removed, NBSPs as spaces. */
async function editorLines(page) {
  return page.evaluate(() => {
    const ed = document.querySelector('.editor-instance .monaco-editor .view-lines');
    if (!ed) return [];
    const lines = [...ed.querySelectorAll('.view-line')].map((l) => {
      const c = l.cloneNode(true);
      c.querySelectorAll('[class*="ghost-text"]').forEach((g) => g.remove());
      return { top: parseFloat(l.style.top || '0'), text: c.textContent.replace(/\u00a0/g, ' ') };
    });
    return lines.sort((a, b) => a.top - b.top).map((l) => l.text);
  });
}

async function waitFor(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

async function runCodeAction(page, title) {
  const item = page.locator('.action-widget .monaco-list-row', { hasText: title }).first();
  let shown = [];
  // Ctrl+. can be swallowed while the editor is still busy with the previous edit: retry a few times.
  for (let attempt = 1; attempt <= 3; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+G');
    await page.keyboard.type('2:5');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(200);
    await page.keyboard.press('Control+.');
    try {
      await item.waitFor({ state: 'visible', timeout: 6000 });
      await shot(page, `menu-${title.replace(/\W+/g, '-').toLowerCase()}`);
      await item.click();
      return;
    } catch {
      shown = await page.locator('.action-widget').allInnerTexts().catch(() => []);
      log(`"${title}" not in the Ctrl+. menu yet (attempt ${attempt}; menu: ${JSON.stringify(shown.join(' | ').slice(0, 200))})`);
    }
  }
  throw new Error(`"${title}" not in the Ctrl+. menu (menu: ${JSON.stringify(shown.join(' | ').slice(0, 300))})`);
}

/** Text of the explanation webview (nested iframes), if any frame has it. */
async function explanationState(page) {
  for (const f of page.frames()) {
    try {
      const s = await f.evaluate(() => {
        const c = document.getElementById('content');
        return c && document.getElementById('state') ? { text: c.innerText, done: c.dataset.done === 'true', error: document.getElementById('error').textContent } : null;
      });
      if (s) return s;
    } catch {
      // detached or cross-origin frame in transition
    }
  }
  return null;
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.setDefaultTimeout(20000);
  try {
    await page.goto(process.env.CS_URL, { timeout: 30000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
    log(`workbench loaded after ${((Date.now() - t0) / 1000).toFixed(1)}s`);

    const opened = await check(page, 'open-file-and-start-server', async () => {
      await page.keyboard.press('Control+P');
      await page.keyboard.type('a.rs');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'a.rs' }).first().waitFor({ timeout: 20000 });
      await page.keyboard.press('Enter');
      await waitFor('the file text in the editor', async () => (await editorLines(page)).some((l) => l.includes('fn add')), 20000);
      const sb = page.locator('.statusbar-item', { hasText: 'Switchboard' }).first();
      await sb.waitFor({ timeout: 20000 });
      await waitFor('the Switchboard status item to leave the "starting" state',
        async () => (await sb.locator('.codicon-loading').count()) === 0, 20000);
      const label = await sb.getAttribute('aria-label');
      if (/error|disconnect/i.test((await sb.innerHTML()) ?? '')) throw new Error(`status item says ${label}`);
      return `status item: ${label}`;
    });
    if (!opened) throw new Error('the editor or the server did not start; skipping the other checks');

    await check(page, 'inline-ghost-text-tab-accept', async () => {
      await page.keyboard.press('Control+G');
      await page.keyboard.type('2:5');
      await page.keyboard.press('Enter');
      await page.keyboard.type('a');
      const start = Date.now();
      const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text').first();
      // Right after start VS Code can drop the automatic inline request of a keystroke that lands while
      // the browser's settings reach the extension host (a burst of configuration events): the provider
      // is never asked, the server never hears of it (seen in about 1 run in 3 on CI). The next keystroke
      // is asked for as usual, so do what a user does: retype the character, and say so in the log.
      const seen = await ghost.waitFor({ state: 'visible', timeout: 6000 }).then(() => true, () => false);
      if (!seen) {
        log(`WARN no ghost text 6s after typing (the fake upstream got ${upstream('/responses')} /v1/responses requests); retyping the character`);
        await page.keyboard.press('Backspace');
        await page.keyboard.type('a');
        await ghost.waitFor({ state: 'visible', timeout: 10000 }).catch((e) => {
          throw new Error(`${e.message.split('\n')[0]}; no ghost text, also after retyping; `
            + `the fake upstream got ${upstream('/responses')} /v1/responses requests`);
        });
      }
      await page.waitForTimeout(200);
      const ghostText = (await page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text-decoration-preview').allInnerTexts())
        .join('').replace(/\u00a0/g, ' ');
      log(`ghost text ${JSON.stringify(ghostText)} after ${Date.now() - start} ms`);
      await shot(page, '1-ghost-text');
      await page.keyboard.press('Tab');
      const line = await waitFor(`line 2 to read ${JSON.stringify(EXPECT_LINE)}`, async () => {
        const l = (await editorLines(page))[1];
        return l === EXPECT_LINE ? l : null;
      }, 5000).catch(async (e) => {
        throw new Error(`${e.message}; lines: ${JSON.stringify((await editorLines(page)).slice(0, 4))}; ghost was ${JSON.stringify(ghostText)}; `
          + `the fake upstream got ${upstream('/responses')} /v1/responses requests`);
      });
      await shot(page, '2-accepted');
      return `ghost ${JSON.stringify(ghostText)}, line 2 = ${JSON.stringify(line)}`;
    });

    await check(page, 'code-action-refactor', async () => {
      await runCodeAction(page, 'Switchboard: Refactor');
      log(`refactor picked; /v1/messages requests so far: ${upstream('/messages')}`);
      await waitFor('the refactor edit ("lhs + rhs" in the editor)', async () => (await editorLines(page)).some((l) => l.includes('lhs + rhs')), 40000)
        .catch(async (e) => {
          throw new Error(`${e.message}; lines: ${JSON.stringify((await editorLines(page)).slice(0, 8))}`);
        });
      const lines = await editorLines(page);
      if (!lines.some((l) => l.startsWith('fn add(lhs: i32, rhs: i32) -> i32 {'))) throw new Error(`lines: ${JSON.stringify(lines)}`);
      if (!lines.some((l) => l.startsWith('fn main()'))) throw new Error(`the edit touched code outside the function: ${JSON.stringify(lines)}`);
      await shot(page, '3-refactored');
    });

    await check(page, 'code-action-explain-panel', async () => {
      await runCodeAction(page, 'Switchboard: Explain');
      const s = await waitFor('the explanation panel to finish streaming', async () => {
        const st = await explanationState(page);
        return st && (st.done || st.error) ? st : null;
      }, 40000).catch(async (e) => {
        throw new Error(`${e.message}; panel: ${JSON.stringify(await explanationState(page))}`);
      });
      await page.waitForTimeout(300);
      await shot(page, '4-explanation');
      if (s.error) throw new Error(`the explanation failed: ${s.error}`);
      if (!s.text.includes('checked_add')) throw new Error(`panel text: ${JSON.stringify(s.text.slice(0, 200))}`);
      return `${s.text.length} chars`;
    });

    // Soft: the status item and the doctor (reported, not failed).
    try {
      const sb = page.locator('.statusbar-item', { hasText: /Switchboard|codex|claude|local/ }).last();
      log(`INFO status bar item: ${await sb.getAttribute('aria-label')}`);
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+Shift+P');
      await page.keyboard.type('Switchboard: Doctor');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Doctor' }).first().waitFor({ timeout: 10000 });
      await page.keyboard.press('Enter');
      await page.waitForTimeout(2500);
      await shot(page, '5-doctor');
      log('INFO doctor output channel shown (vscode-5-doctor.png)');
    } catch (e) {
      log(`WARN soft checks: ${e.message.split('\n')[0]}`);
    }
  } catch (e) {
    log(`FAIL harness: ${e.message.split('\n')[0]}`);
    await shot(page, 'fail-harness');
    if (results.length === 0) results.push(['harness', false]);
  } finally {
    await browser.close().catch(() => undefined);
  }
  const passed = results.filter((r) => r[1]).length;
  const failed = results.length - passed;
  log(`total ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  console.log(`vscode: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((e) => {
  log(`FAIL ${e.stack}`);
  console.log('vscode: 0 passed, 1 failed');
  process.exit(1);
});
