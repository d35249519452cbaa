// The trainer in a hall with no signal (issue #5's proof): the app installs its service worker
// online, then the server process is stopped – offline is a dead server, not a flag. The app
// opens from its cache, records a session and its check-ins, survives a browser restart on the
// same profile, and everything reaches the server's database once it is back. Then two phones
// check in different people to one session while the server is down and both end with the union.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  addUser,
  artifacts,
  launchBrowser,
  logIn,
  querySqlite,
  removeDir,
  serviceWorkerReady,
  startServer,
  tempDir,
} from "./lib/harness.mjs";

const TRAINER = { login: "onagawa1", name: "女川 講師", role: "trainer", team: "女川", password: "a-long-trainer-passphrase-1" };
const PARTNER = { login: "onagawa2", name: "石巻 講師", role: "trainer", team: "女川", password: "a-long-trainer-passphrase-2" };

let dataDir;
let server;
let listen;
const dirs = [];
const browsers = [];

before(async () => {
  dataDir = await tempDir("offline-data");
  dirs.push(dataDir);
  await addUser(dataDir, TRAINER);
  await addUser(dataDir, PARTNER);
  server = await startServer({ dataDir });
  listen = server.listen;
});

after(async () => {
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

async function browserOn(profileDir, viewport) {
  const browser = await launchBrowser({ profileDir, viewport });
  browsers.push(browser);
  return browser;
}

function unexpectedErrors(browser) {
  // With the server stopped, the sync driver's fetches and socket fail by design.
  return browser.errors.filter(
    (e) => !/favicon|ERR_CONNECTION_REFUSED|Failed to load resource|WebSocket connection/.test(e),
  );
}

const dbPath = () => path.join(dataDir, "nimo.sqlite3");

async function createSession(page, venue) {
  await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
  await page.getByLabel("対象（心のサポーター養成研修のみ）").selectOption({ label: "地域住民" });
  await page.getByLabel("日付").fill("2026-11-20");
  await page.getByLabel("会場", { exact: true }).fill(venue);
  await page.getByLabel("会場の市町村").selectOption("女川町");
  await page.getByRole("button", { name: "作成する" }).click();
  await page.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);
  return new URL(page.url()).pathname.split("/").pop();
}

async function addPerson(page, name, kana) {
  await page.getByLabel("氏名").fill(name);
  await page.getByLabel("ふりがな").fill(kana);
  await page.getByRole("button", { name: "追加する" }).click();
  await page.getByRole("button", { name: `${name} を受付` }).waitFor();
}

async function checkIn(page, name) {
  await page.getByRole("button", { name: `${name} を受付` }).click();
  await page.getByRole("button", { name: `${name} を受付` }).waitFor({ state: "detached" });
}

test("installed once online, the app works with the server stopped and syncs when it returns", async () => {
  const profileDir = await tempDir("offline-profile");
  dirs.push(profileDir);
  let browser = await browserOn(profileDir, { width: 360, height: 800 });
  let page = await browser.context.newPage();

  // 1. Online: log in; the service worker installs and takes over.
  await page.goto(`${server.url}/trainer`);
  await logIn(page, TRAINER);
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  await serviceWorkerReady(page);

  // 2. The server process stops. A reload comes from the service worker's cache.
  await server.stop();
  await page.reload();
  await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 20_000 });
  await page.getByText(/^オフライン/).waitFor({ timeout: 20_000 });
  const docId = await createSession(page, "女川町まちなか交流館");
  await addPerson(page, "宮城 花子", "みやぎ はなこ");
  await addPerson(page, "石巻 太郎", "いしのまき たろう");
  await addPerson(page, "牡鹿 次郎", "おしか じろう");
  for (const name of ["宮城 花子", "石巻 太郎", "牡鹿 次郎"]) await checkIn(page, name);
  await page.getByText("この端末のみ").first().waitFor();
  await page.getByText(/オフライン（1件の変更が未送信）/).waitFor();

  // 3. The browser closes and starts again on the same profile, still without a server.
  await browser.close();
  browser = await browserOn(profileDir, { width: 360, height: 800 });
  page = await browser.context.newPage();
  await page.goto(`${server.url}/sessions/${docId}`);
  await page.getByText("女川町まちなか交流館", { exact: false }).first().waitFor({ timeout: 20_000 });
  await page.getByText("この端末のみ").waitFor();
  assert.equal(await page.getByText(/受付済み$/).count(), 3, "three people checked in");
  await page.screenshot({ path: path.join(artifacts(), "offline-restarted-360.png"), fullPage: true });

  // 4. The server comes back where the page expects it: the device syncs within seconds.
  server = await startServer({ dataDir, listen });
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  await page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  const rows = await querySqlite(
    dbPath(),
    `SELECT s.venue_municipality, COUNT(a.attendee_id), SUM(a.checked_in)
       FROM proj_sessions s JOIN proj_attendees a ON a.doc_id = s.doc_id
      WHERE s.doc_id = '${docId}' GROUP BY s.doc_id`,
  );
  assert.deepEqual(rows, [["女川町", 3, 3]], "the server holds the session with three check-ins");
  assert.deepEqual(unexpectedErrors(browser), []);
});
