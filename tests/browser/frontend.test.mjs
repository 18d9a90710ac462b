// The web page in frontend/, in headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the real local stack (model server + proxy, started here). Run with
// scripts/test-browser.sh, or `node --test` in this directory with ORT_DYLIB_PATH set.
//
// Every test also fails on a Content-Security-Policy violation, an uncaught page error or a
// console error other than the HTTP errors the test provokes on purpose.

import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { artifactsDir, sharedDir, startStack } from "./stack.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SCREENSHOTS = path.join(artifactsDir, "screenshots");
const IMAGES = path.join(sharedDir, "images");
const HOUSE_FINCH = path.join(IMAGES, "house-finch.jpg");
const CAT = path.join(IMAGES, "cat-chelsea.png");
const ESPRESSO = path.join(IMAGES, "espresso-coffee.png");
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };
const TEST_TIMEOUT = 30_000;

let stack;
let browser;

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Opens the page in a fresh context and collects everything that would mean a broken page. */
async function openPage({ viewport = DESKTOP, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, permissions });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(10_000);
  const page = await context.newPage();
  const seen = { console: [], pageErrors: [], predictRequests: [] };
  page.on("console", (msg) => {
    if (msg.type() === "error") seen.console.push(msg.text());
  });
  page.on("pageerror", (err) => seen.pageErrors.push(err.message));
  page.on("request", (req) => {
    if (isPredict(req.url())) seen.predictRequests.push({ at: Date.now(), request: req });
  });
  // File choosers are intercepted from the start: Playwright turns interception on when the
  // first listener is added, asynchronously, and a picker opened before that would be a real
  // (invisible) dialog that blocks every later one.
  const choosers = [];
  page.on("filechooser", (chooser) => choosers.push(chooser));
  // Init scripts run through the DevTools protocol, outside the page's CSP.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "(inline)"}`);
    }, true);
  });
  const response = await page.goto(`${stack.baseUrl}/`, { waitUntil: "load" });
  assert.equal(response.status(), 200);
  try {
    await page.waitForFunction(() => document.documentElement.classList.contains("js-ready"), null, { timeout: 5000 });
  } catch (err) {
    await context.close();
    throw new Error(`the page script did not start: ${JSON.stringify({ pageErrors: seen.pageErrors, console: seen.console })}`, { cause: err });
  }
  return { context, page, seen, response, choosers };
}

/** Presses `key` and returns the file chooser it opened. */
async function pressForChooser(page, choosers, key) {
  const before = choosers.length;
  await page.keyboard.press(key);
  const deadline = Date.now() + 5000;
  while (choosers.length === before) {
    assert.ok(Date.now() < deadline, `${key} opened no file chooser within 5 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return choosers[before];
}

function isPredict(url) {
  return new URL(url).pathname === "/predict";
}

/**
 * Records the body of every /predict upload and lets it through to the real proxy. (Through a
 * route the body is always visible; a plain request event misses bodies read from files.)
 */
async function recordUploads(page) {
  const uploads = [];
  await page.route((url) => isPredict(url.href), async (route) => {
    uploads.push(route.request().postDataBuffer());
    await route.continue();
  });
  return uploads;
}

/**
 * Fails on CSP violations, page errors, and console errors except the listed HTTP statuses (and
 * a refused connection when `networkErrors`): the errors a test provokes on purpose.
 */
async function assertClean(page, seen, { httpErrors = [], networkErrors = false } = {}) {
  const violations = await page.evaluate(() => window.__cspViolations);
  assert.deepEqual(violations, [], "Content-Security-Policy violations");
  assert.deepEqual(seen.pageErrors, [], "uncaught errors in the page");
  const unexpected = seen.console.filter((text) => {
    const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
    if (networkErrors && /^Failed to load resource: net::ERR_CONNECTION_REFUSED$/.test(text)) return false;
    return !(m && httpErrors.includes(Number(m[1])));
  });
  assert.deepEqual(unexpected, [], "console errors");
}

async function withPage(options, fn) {
  const opened = await openPage(options);
  try {
    await fn(opened);
  } finally {
    await opened.context.close();
  }
}

async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: "disabled" });
}

async function waitForReady(page) {
  await page.locator("#upload-info").filter({ hasText: /Will upload/ }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator("#predict").isEnabled(), true, "Predict is enabled once a photo is ready");
}

async function predictAndWait(page) {
  await page.click("#predict");
  await page.locator("#results").waitFor({ state: "visible", timeout: 15_000 });
}

async function topPrediction(page) {
  const first = page.locator("#predictions li").first();
  return {
    label: (await first.locator(".prediction-label").textContent()).trim(),
    percent: (await first.locator(".prediction-pct").textContent()).trim(),
  };
}

async function errorBox(page) {
  await page.locator("#error").waitFor({ state: "visible", timeout: 15_000 });
  return {
    title: (await page.locator("#error-title").textContent()).trim(),
    text: (await page.locator("#error-text").textContent()).trim(),
    meta: (await page.locator("#error-meta").textContent()).trim(),
  };
}

function assertWords(err) {
  const all = `${err.title} ${err.text} ${err.meta}`;
  assert.ok(err.title.length > 5 && err.text.length > 10, `an explanation in words: ${all}`);
  assert.doesNotMatch(all, /[{}<>]|"error"|"code"/, `no raw JSON or HTML: ${all}`);
}

/** Dispatches `drop` (with dragenter/dragover) or `paste` carrying a file built in the page. */
async function deliverInPage(page, how, file, name, type) {
  const base64 = readFileSync(file).toString("base64");
  await page.evaluate(({ how, base64, name, type }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, { type }));
    if (how === "drop") {
      const zone = document.getElementById("dropzone");
      for (const kind of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: data }));
      }
    } else {
      document.dispatchEvent(new ClipboardEvent("paste", { bubbles: true, cancelable: true, clipboardData: data }));
    }
  }, { how, base64, name, type });
}

/** Width and height from a JPEG's SOF segment. */
function jpegSize(buf) {
  if (buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1];
    if (marker === 0xff) { i += 1; continue; }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { i += 2; continue; }
    const isSof = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (isSof) return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    i += 2 + buf.readUInt16BE(i + 2);
  }
  return null;
}

async function noHorizontalScroll(page, width) {
  await page.setViewportSize({ width, height: 800 });
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `no horizontal scrolling at ${width} px (content is ${scrollWidth} px wide)`);
}

// ---------------------------------------------------------------------------------------------

describe("prediction page in Chromium", { timeout: 120_000 }, () => {
  before(async () => {
    stack = await startStack();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"],
      timeout: 30_000,
    });
  }, { timeout: 90_000 });

  after(async () => {
    try {
      if (browser) await browser.close();
    } finally {
      if (stack) await stack.stop();
    }
  }, { timeout: 20_000 });

  test("empty page: strict CSP header, nothing broken, fits a 360 px phone", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen, response }) => {
      const csp = response.headers()["content-security-policy"] || "";
      assert.match(csp, /script-src 'self'/, "the page is served with the strict CSP");
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(await page.title(), "Image classifier · MobileNet V2");
      assert.equal(await page.locator("#predict").isDisabled(), true, "nothing to predict yet");
      assert.equal(await page.locator("#dropzone").isVisible(), true);
      assert.equal(await page.locator("#output").getAttribute("aria-live"), "polite");
      await screenshot(page, "empty-desktop");
      await page.setViewportSize(PHONE);
      await screenshot(page, "empty-phone");
      await noHorizontalScroll(page, 360);
      await assertClean(page, seen);
    });
  });

  test("the CSP check itself sees a violation (an injected inline script)", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page }) => {
      await page.evaluate(() => {
        const s = document.createElement("script");
        s.textContent = "window.__inlineRan = true;";
        document.head.append(s);
      });
      await page.waitForFunction(() => window.__cspViolations.length > 0, null, { timeout: 5000 });
      assert.equal(await page.evaluate(() => window.__inlineRan === true), false, "inline script blocked");
    });
  });

  test("file input: house-finch.jpg → house finch first, latency, cold start, trace id (copy)", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({ permissions: ["clipboard-read", "clipboard-write"] }, async ({ page, seen }) => {
      const uploads = await recordUploads(page);
      await page.setInputFiles("#file-input", HOUSE_FINCH);
      await waitForReady(page);
      assert.match(await page.locator("#upload-info").textContent(), /original/);
      assert.equal(await page.locator("#preview").isVisible(), true, "preview shown");
      assert.match(await page.locator("#preview").getAttribute("src"), /^blob:/);

      await predictAndWait(page);
      assert.equal(uploads.length, 1);
      assert.ok(readFileSync(HOUSE_FINCH).equals(uploads[0]), "a small photo is sent as it is");
      const request = seen.predictRequests.at(-1).request;
      assert.equal(request.headers()["content-type"], "image/jpeg");

      const top = await topPrediction(page);
      assert.equal(top.label, "house finch");
      assert.match(top.percent, /^\d{1,2}(\.\d)?%$/);
      assert.ok(parseFloat(top.percent) > 90, `probability shown: ${top.percent}`);
      assert.equal(await page.locator("#predictions li").count(), 5);
      const fill = await page.locator("#predictions li .bar-fill").first().evaluate((e) => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width);
      assert.ok(fill > 0.9, `the top bar is almost full (${fill})`);

      assert.match(await page.locator("#latency-total").textContent(), /^\d+(\.\d)?\s(ms|s)$/);
      const rows = await page.locator("#latency-list .latency-label").allTextContents();
      assert.deepEqual(rows, ["Network", "Proxy", "Model call", "Decode", "Preprocess", "Inference"]);
      for (const ms of await page.locator("#latency-list .latency-ms").allTextContents()) {
        assert.match(ms, /^\d+(\.\d)?\s(ms|s)$/);
      }
      assert.match(await page.locator("#cold-proxy").textContent(), /^Proxy: (cold start|warm)$/);
      assert.match(await page.locator("#cold-model").textContent(), /^Model: (cold start|warm)$/);
      assert.match(await page.locator("#model-name").textContent(), /mobilenetv2-int8 · sha256:[0-9a-f]{12}/);
      const traceId = (await page.locator("#trace-id").textContent()).trim();
      assert.match(traceId, /^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
      const response = await request.response();
      assert.equal(response.headers()["x-amzn-trace-id"], `Root=${traceId}`);
      assert.match(await page.locator("#request-id").textContent(), /^[0-9a-f-]{36}$/);

      await page.click("#copy-trace");
      await page.locator("#copy-trace").filter({ hasText: "Copied" }).waitFor({ timeout: 5000 });
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), traceId, "trace id in the clipboard");

      await screenshot(page, "result-desktop");
      await page.setViewportSize(PHONE);
      await screenshot(page, "result-phone");
      await noHorizontalScroll(page, 360);
      await assertClean(page, seen);
    });
  });

  test("drag and drop: cat-chelsea.png onto the drop zone", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      await deliverInPage(page, "drop", CAT, "cat-chelsea.png", "image/png");
      await waitForReady(page);
      assert.equal(await page.locator("#file-name").textContent(), "cat-chelsea.png");
      await predictAndWait(page);
      assert.equal((await topPrediction(page)).label, "Egyptian Mau");
      const labels = await page.locator("#predictions .prediction-label").allTextContents();
      assert.ok(labels.slice(1, 3).every((l) => /cat/.test(l)), `cat classes follow: ${labels}`);
      await assertClean(page, seen);
    });
  });

  test("paste: espresso-coffee.png from the clipboard", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      await deliverInPage(page, "paste", ESPRESSO, "image.png", "image/png");
      await waitForReady(page);
      await predictAndWait(page);
      assert.equal((await topPrediction(page)).label, "espresso");
      assert.equal(seen.predictRequests.at(-1).request.headers()["content-type"], "image/png");
      await assertClean(page, seen);
    });
  });

  test("a text file: refused in words, nothing uploaded", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      await page.setInputFiles("#file-input", {
        name: "notes.txt",
        mimeType: "text/plain",
        buffer: Buffer.from("these are my notes, not a photo\n"),
      });
      const err = await errorBox(page);
      assertWords(err);
      assert.match(err.title, /not a supported image/i);
      assert.match(err.text, /JPEG, PNG, GIF, WebP or BMP/);
      assert.equal(await page.locator("#predict").isDisabled(), true);
      assert.equal(seen.predictRequests.length, 0, "no upload");
      await screenshot(page, "error-desktop");
      await assertClean(page, seen);
    });
  });

  test("a broken JPEG: the server's invalid_image in words", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      const broken = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(200, 0x42)]);
      await page.setInputFiles("#file-input", { name: "broken.jpg", mimeType: "image/jpeg", buffer: broken });
      await waitForReady(page);
      await page.click("#predict");
      const err = await errorBox(page);
      assertWords(err);
      assert.equal(err.title, "The image could not be read");
      assert.match(err.meta, /^HTTP 400 · code invalid_image · request id [0-9a-f-]{36}$/);
      assert.equal(await page.locator("#results").isHidden(), true);
      await assertClean(page, seen, { httpErrors: [400] });
    });
  });

  test("a 4000×3000 photo over 4 MiB is shrunk to 1024 px before upload", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      const uploads = await recordUploads(page);
      const originalSize = await page.evaluate(async () => {
        const canvas = document.createElement("canvas");
        canvas.width = 4000;
        canvas.height = 3000;
        const ctx = canvas.getContext("2d");
        const pixels = ctx.createImageData(4000, 3000);
        const d = pixels.data;
        let seed = 12345;
        for (let i = 0; i < d.length; i += 4) {
          seed = (seed * 1103515245 + 12345) >>> 0; // noise: a JPEG that stays large
          const x = (i / 4) % 4000;
          d[i] = (x / 16 + (seed & 0x7f)) & 0xff;
          d[i + 1] = (seed >>> 8) & 0xff;
          d[i + 2] = (seed >>> 16) & 0xff;
          d[i + 3] = 255;
        }
        ctx.putImageData(pixels, 0, 0);
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.95));
        const data = new DataTransfer();
        data.items.add(new File([blob], "huge.jpg", { type: "image/jpeg" }));
        const input = document.getElementById("file-input");
        input.files = data.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
        return blob.size;
      });
      assert.ok(originalSize > MAX_UPLOAD_BYTES, `the generated photo is over the limit (${originalSize} bytes)`);
      await waitForReady(page);
      assert.match(await page.locator("#file-meta").textContent(), /4000\s×\s3000/);
      assert.match(await page.locator("#upload-info").textContent(), /1024\s×\s768 JPEG/);
      await predictAndWait(page);

      assert.equal(uploads.length, 1);
      const body = uploads[0];
      assert.ok(body && body.length > 0, "the upload body is visible to the test");
      assert.ok(body.length <= MAX_UPLOAD_BYTES, `upload within the limit (${body.length} bytes)`);
      assert.ok(body.length < originalSize / 3, `much smaller than the original (${body.length} vs ${originalSize})`);
      assert.deepEqual(jpegSize(body), { width: 1024, height: 768 }, "a 1024 × 768 JPEG was sent");
      assert.equal(seen.predictRequests.at(-1).request.headers()["content-type"], "image/jpeg");
      assert.equal(await page.locator("#predictions li").count(), 5);
      await assertClean(page, seen);
    });
  });

  test("503 busy: retried after Retry-After, then the real answer", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      let calls = 0;
      await page.route((url) => isPredict(url.href), async (route) => {
        calls += 1;
        if (calls === 1) {
          await route.fulfill({
            status: 503,
            headers: { "Retry-After": "1", "Content-Type": "application/json" },
            body: JSON.stringify({ error: { code: "busy", message: "the service is busy; retry shortly", request_id: "r-1" } }),
          });
        } else {
          await route.continue();
        }
      });
      await page.setInputFiles("#file-input", HOUSE_FINCH);
      await waitForReady(page);
      await page.click("#predict");
      await page.locator("#status").filter({ hasText: /busy\. Retrying in 1 s \(retry 1 of 3\)/ }).waitFor({ timeout: 5000 });
      assert.equal(await page.locator("#predict-label").textContent(), "Predicting…");
      await page.locator("#results").waitFor({ state: "visible", timeout: 10_000 });
      assert.equal((await topPrediction(page)).label, "house finch");
      assert.equal(calls, 2);
      const [first, second] = seen.predictRequests;
      const gap = second.at - first.at;
      assert.ok(gap >= 900 && gap < 5000, `waited about Retry-After (1 s) before retrying: ${gap} ms`);
      assert.match(await page.locator("#status").textContent(), /after 1 retry/);
      assert.equal(await page.locator("#error").isHidden(), true);
      await assertClean(page, seen, { httpErrors: [503] });
    });
  });

  test("error answers in words: bounded busy retries, gateway HTML, 413, 415, 504, network down", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen }) => {
      const answers = [];
      let calls = 0;
      await page.route((url) => isPredict(url.href), async (route) => {
        calls += 1;
        const next = answers[0];
        if (next === "abort") return route.abort("connectionrefused");
        return route.fulfill(next);
      });
      await page.setInputFiles("#file-input", HOUSE_FINCH);
      await waitForReady(page);
      const json = (status, code, headers = {}) => ({
        status,
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify({ error: { code, message: `raw ${code} message`, request_id: "req-123" } }),
      });
      const cases = [
        [json(503, "busy", { "Retry-After": "0" }), /The service is busy/, "HTTP 503 · code busy · request id req-123", 4],
        // A Retry-After longer than the page waits is not cut short: no retry, the wait in words.
        [json(503, "busy", { "Retry-After": "30" }), /The service is busy/, "HTTP 503 · code busy · request id req-123", 1],
        [{ status: 502, headers: { "Content-Type": "text/html" }, body: "<html><body><h1>502 Bad Gateway</h1></body></html>" }, /The service had a problem/, "HTTP 502", 1],
        [{ status: 429, headers: { "Content-Type": "application/json", "Retry-After": "0" }, body: '{"message":"Too Many Requests"}' }, /The service is busy/, "HTTP 429", 4],
        [json(413, "payload_too_large"), /The image is too large/, "HTTP 413 · code payload_too_large · request id req-123", 1],
        [json(415, "unsupported_media_type"), /This file type is not supported/, "HTTP 415 · code unsupported_media_type · request id req-123", 1],
        [json(504, "upstream_timeout"), /did not answer in time/, "HTTP 504 · code upstream_timeout · request id req-123", 1],
        [{ status: 500, headers: { "Content-Type": "text/plain" }, body: "Internal Server Error" }, /The service had a problem/, "HTTP 500", 1],
        ["abort", /cannot be reached/, "", 1],
      ];
      for (const [answer, title, meta, expectedCalls] of cases) {
        answers[0] = answer;
        calls = 0;
        await page.click("#predict");
        await page.locator("#error").waitFor({ state: "visible", timeout: 10_000 });
        await page.locator("#predict:not(.is-busy)").waitFor({ timeout: 5000 });
        const err = await errorBox(page);
        assertWords(err);
        assert.match(err.title, title);
        assert.equal(err.meta, meta);
        assert.doesNotMatch(err.text, /raw .* message/, "the server's developer message is not shown");
        assert.equal(calls, expectedCalls, `requests for ${err.meta || "network error"}`);
      }
      await assertClean(page, seen, { httpErrors: [413, 415, 429, 500, 502, 503, 504], networkErrors: true });
    });
  });

  test("keyboard: Tab to the drop zone, Enter and Space open the picker, Predict, Copy", { timeout: TEST_TIMEOUT }, async () => {
    await withPage({}, async ({ page, seen, choosers }) => {
      const focused = () => page.evaluate(() => document.activeElement && document.activeElement.id);
      for (let i = 0; i < 5 && (await focused()) !== "dropzone"; i += 1) await page.keyboard.press("Tab");
      assert.equal(await focused(), "dropzone");
      const outline = await page.locator("#dropzone").evaluate((e) => {
        const s = getComputedStyle(e);
        return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
      });
      assert.ok(outline.style !== "none" && outline.width >= 2, `visible focus: ${JSON.stringify(outline)}`);

      // Each picker is answered, so that no file chooser stays pending in the browser.
      const spaceChooser = await pressForChooser(page, choosers, "Space");
      assert.equal(spaceChooser.isMultiple(), false);
      await spaceChooser.setFiles(CAT);
      await page.locator("#file-name").filter({ hasText: "cat-chelsea.png" }).waitFor({ timeout: 5000 });
      await waitForReady(page);
      assert.equal(await focused(), "dropzone", "focus stays on the drop zone");
      const chooser = await pressForChooser(page, choosers, "Enter");
      await chooser.setFiles(HOUSE_FINCH);
      await page.locator("#file-name").filter({ hasText: "house-finch.jpg" }).waitFor({ timeout: 5000 });
      await waitForReady(page);

      await page.keyboard.press("Tab");
      assert.equal(await focused(), "predict");
      await page.keyboard.press("Enter");
      await page.locator("#results").waitFor({ state: "visible", timeout: 15_000 });
      assert.equal((await topPrediction(page)).label, "house finch");

      const order = [];
      for (let i = 0; i < 4; i += 1) {
        await page.keyboard.press("Tab");
        order.push(await focused());
      }
      assert.deepEqual(order.slice(0, 2), ["clear", "copy-trace"], `tab order after the result: ${order}`);
      await assertClean(page, seen);
    });
  });
});
