// The first end-to-end test: the real server serves the built app shell, headless Chromium runs
// the wasm, and the Japanese start page renders with no console errors.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { artifacts, launchBrowser, removeDir, startServer, tempDir } from "./lib/harness.mjs";

let server;
let browser;
const dirs = [];

before(async () => {
  const dataDir = await tempDir("data");
  const profileDir = await tempDir("profile");
  dirs.push(dataDir, profileDir);
  server = await startServer({ dataDir });
  browser = await launchBrowser({ profileDir });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

test("the start page renders in Japanese with no console errors", async () => {
  const page = await browser.context.newPage();
  const response = await page.goto(server.url);
  assert.equal(response.status(), 200);
  await page.getByRole("heading", { level: 1, name: "nimo" }).waitFor({ timeout: 20_000 });
  for (const title of ["研修の受付", "入院者訪問支援", "事務局"]) {
    await page.getByRole("heading", { level: 2, name: title }).waitFor();
  }
  assert.equal(await page.getAttribute("html", "lang"), "ja");
  await page.screenshot({ path: path.join(artifacts(), "start-page.png"), fullPage: true });
  assert.deepEqual(browser.errors, [], "no console or page errors");
});

test("index.html is revalidated and hashed assets are immutable", async () => {
  const index = await fetch(server.url);
  assert.equal(index.headers.get("cache-control"), "no-cache");
  const html = await index.text();
  const asset = /src="\/(boot-[0-9a-f]{16}\.js)"/.exec(html);
  assert.ok(asset, `index.html names a hashed boot script:\n${html}`);
  const boot = await fetch(`${server.url}/${asset[1]}`);
  assert.equal(boot.status, 200);
  assert.equal(boot.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const route = await fetch(`${server.url}/sessions/some-client-route`);
  assert.equal(route.status, 200, "a client route falls back to index.html");
  const missing = await fetch(`${server.url}/missing-0123456789abcdef.js`);
  assert.equal(missing.status, 404, "a missing file is not answered with index.html");
});
