import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';

/**
 * What the browser tests check on any part of the editor: texts translated,
 * no markup shown as text, nothing clipped, and the tray at rest before a
 * screenshot.
 */

/** A raw i18n key of ours on screen: a missing or misspelt translation. */
export const RAW_KEY = /\b(?:node-red-contrib-tenant-broker\/)?tenant-(?:broker|in|out|webhook|admin)\.(?!(?:db|js|json|html|svg)\b)[A-Za-z][\w-]*(?:\.[\w-]+)*/;

/** Markup shown as text: a translation with HTML rendered without `[html]`, or an escaped entity. */
export const VISIBLE_MARKUP = /<\/?[A-Za-z][\w-]*(?:\s[^<>]*)?\/?>|&(?:lt|gt|amp|quot|nbsp|#\d+);/;

/** How the editor logs an error it caught in a node definition (red.js: oneditprepare, "Definition error", failedToAppendNode). */
export const SWALLOWED_ERROR = /^(?:oneditprepare|oneditsave|oneditcancel|oneditdelete|oneditresize)\b|^Definition error: |^\[node-red-contrib-tenant-broker\]/;

/** Every piece of text a person sees in `root`: text, placeholders, titles, options. */
export async function visibleTexts(root: Locator): Promise<string[]> {
  return root.evaluate((el) => {
    const out: string[] = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const parent = n.parentElement;
      if (!parent || parent.closest('script,style,template')) continue;
      const text = (n.textContent ?? '').trim();
      if (text) out.push(text);
    }
    el.querySelectorAll('[placeholder],[title],option').forEach((e) => {
      for (const attr of ['placeholder', 'title']) {
        const value = e.getAttribute(attr);
        if (value) out.push(value);
      }
      if (e.tagName === 'OPTION' && e.textContent) out.push(e.textContent.trim());
    });
    return out;
  });
}

/**
 * `data-i18n` targets that came out empty: Node-RED renders a key missing
 * from the catalog as nothing at all, not as the key.
 */
export async function emptyI18nTargets(root: Locator): Promise<string[]> {
  return root.evaluate((el) => {
    const empty: string[] = [];
    el.querySelectorAll('[data-i18n]').forEach((e) => {
      for (const spec of (e.getAttribute('data-i18n') ?? '').split(';')) {
        const match = /^\s*(?:\[([\w-]+)\])?(.+?)\s*$/.exec(spec);
        if (!match) continue;
        const [, target, key] = match;
        const value = !target || target === 'html' || target === 'prepend' || target === 'append' ? e.textContent : e.getAttribute(target);
        if (!value || !value.trim()) empty.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} ${target ? '[' + target + ']' : ''}${key}`);
      }
    });
    return empty;
  });
}

export async function assertTranslated(root: Locator, where: string): Promise<void> {
  const texts = await visibleTexts(root);
  const raw = texts.filter((t) => RAW_KEY.test(t));
  assert.deepEqual(raw, [], `${where} shows untranslated i18n keys`);
  assert.deepEqual(texts.filter((t) => VISIBLE_MARKUP.test(t)), [], `${where} shows markup as text`);
  assert.deepEqual(await emptyI18nTargets(root), [], `${where} has data-i18n keys that translate to nothing (missing from the catalog?)`);
}

/**
 * Text inputs for ports take \${ENV_VAR}: the longest name the demo uses, and
 * the placeholder, must fit without scrolling.
 */
export async function assertPortFieldsFit(root: Locator, where: string): Promise<void> {
  const clipped = await root.locator('input[type="text"][id$="Port"]:visible, input[type="text"][id$="-port"]:visible').evaluateAll((inputs) =>
    (inputs as HTMLInputElement[]).flatMap((input) => {
      const before = input.value;
      const out: string[] = [];
      for (const text of ['\${MQTT_WS_PORT}', input.placeholder]) {
        input.value = text;
        if (input.scrollWidth > input.clientWidth) out.push(`#${input.id}: "${text}" needs ${input.scrollWidth}px, has ${input.clientWidth}px`);
      }
      input.value = before;
      return out;
    }),
  );
  assert.deepEqual(clipped, [], `${where}: port fields clip their text`);
}

/** The edit tray that is open on top. */
/** The sidebar's content area: an id in Node-RED 4, a class (one per sidebar section) in Node-RED 5. */
export const SIDEBAR_CONTENT = ':is(#red-ui-sidebar-content, .red-ui-sidebar-content)';

export const topTray = (page: Page) => page.locator('.red-ui-tray').last();

/**
 * Waits for the top tray's slide-in to end, so a screenshot shows where it
 * rests. Node-RED builds the tray in place, moves it off-screen, slides it in
 * with a transition on `right`, and 300 ms later raises the editor stack
 * above the sidebar (RED.tray show/finishBuild/raiseTrayZ). Rested: the
 * transition has reached 0, the stack is raised, and the tray's box has not
 * moved since the previous animation frame (polled once per frame).
 */
export async function traySettled(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __trayBox?: string }).__trayBox = '';
  });
  await page.waitForFunction(() => {
    const memo = window as unknown as { __trayBox?: string };
    const trays = document.querySelectorAll('.red-ui-tray');
    const tray = trays[trays.length - 1] as HTMLElement | undefined;
    const stack = document.querySelector('#red-ui-editor-stack') as HTMLElement | null;
    if (!tray || !stack) return false;
    const box = tray.getBoundingClientRect();
    const key = `${box.left},${box.top},${box.width},${box.height}`;
    const still = memo.__trayBox === key;
    memo.__trayBox = key;
    const slidIn = tray.style.transition.includes('right') && tray.style.right === '0px' && getComputedStyle(tray).right === '0px';
    const raised = getComputedStyle(stack).zIndex === '13';
    return still && slidIn && raised && Math.abs(box.right - stack.getBoundingClientRect().left) < 1;
  }, null, { polling: 'raf' });
}

export async function closeTray(page: Page, button: '#node-dialog-cancel' | '#node-config-dialog-ok' | '#node-config-dialog-cancel'): Promise<void> {
  const before = await page.locator('.red-ui-tray').count();
  await page.locator(button).click();
  await page.waitForFunction((n) => document.querySelectorAll('.red-ui-tray').length < n, before);
}


/**
 * Nothing in `root` is cut off or out of reach: `root` lies inside the
 * window; no element scrolls sideways; an element that hides its overflow
 * shows all of it, or ends in an ellipsis with the whole text as its title;
 * every element lies inside each ancestor that clips it (sideways always,
 * and up and down where the ancestor does not scroll: a list that scrolls
 * may hold rows below its fold); a select's chosen option fits the select.
 */
export async function assertNothingClipped(root: Locator, where: string): Promise<void> {
  const problems = await root.evaluate((rootEl) => {
    const out: string[] = [];
    const name = (el: Element) => {
      const cls = typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
      const text = (el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${cls}${text ? ` "${text}"` : ''}`;
    };
    const shown = (el: Element) => {
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      return box.width > 0 && box.height > 0 && style.visibility !== 'hidden';
    };
    const rootBox = rootEl.getBoundingClientRect();
    if (rootBox.left < -1 || rootBox.top < -1 || rootBox.right > window.innerWidth + 1 || rootBox.bottom > window.innerHeight + 1) out.push(`${name(rootEl)} lies outside the window`);
    const canvas = document.createElement('canvas').getContext('2d')!;
    for (const el of [rootEl, ...Array.from(rootEl.querySelectorAll('*'))]) {
      if (!shown(el) || el.closest('script,style,template')) continue;
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      if ((style.position === 'fixed' || style.position === 'absolute') && (box.bottom < 0 || box.top > window.innerHeight || box.right < 0 || box.left > window.innerWidth)) continue;
      if ((style.overflowX === 'auto' || style.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1) out.push(`${name(el)} scrolls sideways (${el.scrollWidth}px in ${el.clientWidth}px)`);
      if ((style.overflowX === 'hidden' || style.overflowX === 'clip') && el.scrollWidth > el.clientWidth + 1 && !(style.textOverflow === 'ellipsis' && el.getAttribute('title') === (el.textContent ?? '').trim())) {
        out.push(`${name(el)} cuts its content (${el.scrollWidth}px in ${el.clientWidth}px)`);
      }
      for (let a = el.parentElement; a && a !== rootEl.parentElement; a = a.parentElement) {
        const as = getComputedStyle(a);
        const ab = a.getBoundingClientRect();
        const clipsY = as.overflowY === 'hidden' || as.overflowY === 'clip';
        if (as.overflowX !== 'visible' && (box.left < ab.left - 1 || box.right > ab.right + 1)) {
          out.push(`${name(el)} sticks out of ${name(a)} sideways`);
          break;
        }
        if (clipsY && (box.top < ab.top - 1 || box.bottom > ab.bottom + 1)) {
          out.push(`${name(el)} is cut by ${name(a)} (top/bottom)`);
          break;
        }
        // inside a container that really scrolls, what lies above or below its view is reached by scrolling
        if ((as.overflowY === 'auto' || as.overflowY === 'scroll') && a.scrollHeight > a.clientHeight + 1) break;
      }
      if (el instanceof HTMLSelectElement && el.selectedIndex >= 0) {
        canvas.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const text = el.options[el.selectedIndex].text;
        const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - (style.appearance === 'none' ? 0 : 14);
        if (canvas.measureText(text).width > room + 1) out.push(`${name(el)} shows "${text}" in too little room (${Math.ceil(canvas.measureText(text).width)}px in ${Math.floor(room)}px)`);
      }
    }
    return out;
  });
  assert.deepEqual(problems, [], `${where}: something is clipped`);
}

/**
 * The row `row` of a list that scrolls can be brought into view whole: the
 * list scrolls to it and then shows all of it.
 */
export async function assertReachable(list: Locator, row: Locator, where: string): Promise<void> {
  await row.scrollIntoViewIfNeeded();
  const [listBox, rowBox] = await Promise.all([list.boundingBox(), row.boundingBox()]);
  assert.ok(listBox && rowBox, `${where}: the list or the row is not shown`);
  assert.ok(rowBox.y >= listBox.y - 1 && rowBox.y + rowBox.height <= listBox.y + listBox.height + 1, `${where}: the row is not wholly inside its list once scrolled to (${JSON.stringify({ listBox, rowBox })})`);
}

/**
 * A list that scrolls uses the height it is given: its bottom is the bottom
 * of `outer` (no fixed-height list with empty space under it).
 */
export async function assertFillsDown(list: Locator, outer: Locator, where: string): Promise<void> {
  const [inner, box] = await Promise.all([list.boundingBox(), outer.boundingBox()]);
  assert.ok(inner && box, `${where}: not shown`);
  const gap = box.y + box.height - (inner.y + inner.height);
  assert.ok(Math.abs(gap) <= 2, `${where}: the list ends ${Math.round(gap)} px above the bottom of its space`);
}
