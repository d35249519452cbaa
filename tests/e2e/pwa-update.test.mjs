// A new version of the app installs in the background and waits; the page offers the update only
// when no change could be lost, and applying it swaps the cached shell for the new one.
// The "new version" is the same build with another version string in its service worker script,
// served from a copy of dist/: to the browser that is a new worker, exactly as after a deploy.
import assert from "node:assert/strict";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  addUser,
  launchBrowser,
  logIn,
  removeDir,
  serviceWorkerReady,
  startServer,
  tempDir,
} from "./lib/harness.mjs";

const TRAINER = { login: "kesennuma1", name: "気仙沼 講師", role: "trainer", team: "気仙沼", password: "update-test-passphrase-1" };

let dataDir;
let distDir;
let server;
let browser;
const dirs = [];

before(async () => {
  dataDir = await tempDir("update-data");
  distDir = await tempDir("update-dist");
  const profileDir = await tempDir("update-profile");
  dirs.push(dataDir, distDir, profileDir);
  await cp(process.env.NIMO_DIST_DIR, distDir, { recursive: true });
  await addUser(dataDir, TRAINER);
  server = await startServer({ dataDir, distDir });
  browser = await launchBrowser({ profileDir });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

/** Publishes a "new version": another version string in sw.js (its .br twin removed). */
async function deployNextVersion() {
  const file = path.join(distDir, "sw.js");
  const script = await readFile(file, "utf8");
  const next = script.replace(/const VERSION = "([0-9a-f]+)";/, 'const VERSION = "$1-next";');
  assert.notEqual(next, script, "sw.js carries a version");
  await writeFile(file, next);
  await rm(`${file}.br`, { force: true });
  return /const VERSION = "([^"]+)";/.exec(next)[1];
}

const cacheNames = (page) => page.evaluate(() => caches.keys());

test("an update waits while a change is unsent and takes over once everything is synced", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/trainer`);
  await logIn(page, TRAINER);
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  await serviceWorkerReady(page);
  const [first] = await cacheNames(page);
  assert.match(first, /^nimo-shell-[0-9a-f]+$/);

  // Offline with a change only on this device: the new version is found later but must wait.
  const listen = server.listen;
  await server.stop();
  await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
  await page.getByLabel("日付").fill("2026-12-01");
  await page.getByLabel("会場", { exact: true }).fill("気仙沼市民会館");
  await page.getByLabel("会場の市町村").selectOption("気仙沼市");
  await page.getByRole("button", { name: "作成する" }).click();
  await page.waitForURL(/\/sessions\//);
  await page.getByText("この端末のみ").waitFor();

  const version = await deployNextVersion();
  // The server is back but this device cannot reach sync yet (its tickets are refused), so the
  // change stays unsent while the browser finds and installs the new worker.
  await page.route("**/api/sync/ticket", (route) => route.abort());
  server = await startServer({ dataDir, distDir, listen });
  await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    await registration.update();
  });
  await page.getByText("新しいバージョンがあります。").waitFor({ timeout: 30_000 });
  await page.getByText("未送信の変更があるため、同期が終わると更新できます。").waitFor();
  assert.equal(await page.getByRole("button", { name: "更新する" }).count(), 0, "no update while unsent");

  // Once the change is stored on the server, the update may be applied.
  await page.unroute("**/api/sync/ticket");
  await page.getByText("サーバーに保存済み").waitFor({ timeout: 90_000 });
  const apply = page.getByRole("button", { name: "更新する" });
  await apply.waitFor({ timeout: 10_000 });
  await Promise.all([page.waitForEvent("load"), apply.click()]);
  await page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  assert.deepEqual(await cacheNames(page), [`nimo-shell-${version}`], "the old shell's cache is gone");
  const unexpected = browser.errors.filter(
    (e) => !/favicon|ERR_CONNECTION_REFUSED|Failed to load resource|WebSocket connection/.test(e),
  );
  assert.deepEqual(unexpected, []);
});
