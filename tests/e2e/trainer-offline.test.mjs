// The trainer in a hall with no signal (issue #5's proof): the app installs its service worker
// online, then the server process is stopped – offline is a dead server, not a flag. The app
// opens from its cache, records a session and its check-ins, survives a browser restart on the
// same profile, and everything reaches the server's database once it is back. Then two phones
// check in different people to one session while the server is down and both end with the union.
// Last, sessions made offline are registered together when the server returns, and one the
// server refuses says why while the others go through.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  addUser,
  artifacts,
  changeSqlite,
  createSession,
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
const ELSEWHERE = { login: "sennan1", name: "仙南 講師", role: "trainer", team: "仙南", password: "a-long-trainer-passphrase-3" };

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
  await addUser(dataDir, ELSEWHERE);
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

/** Pre-registers a person (名簿に追加する), or with `walkIn` adds and checks them in at once. */
async function addPerson(page, name, kana, { walkIn = false } = {}) {
  await page.getByLabel("氏名").fill(name);
  await page.getByLabel("ふりがな").fill(kana);
  await page.getByRole("button", { name: walkIn ? "当日参加として受付" : "名簿に追加する" }).click();
  await page.getByTestId("attendee").filter({ hasText: name }).waitFor();
}

async function checkIn(page, name) {
  await page.getByRole("button", { name: `${name} を受付` }).click();
  await page.getByRole("button", { name: `${name} を受付` }).waitFor({ state: "detached" });
}

async function markCompleted(page, name) {
  const button = page.getByRole("button", { name: `${name} 修了`, exact: true });
  await button.click();
  // The row is redrawn once the change's write has been attempted, a few ms after the click.
  await page.getByRole("button", { name: `${name} 修了`, exact: true, pressed: true }).waitFor();
  assert.equal(await button.getAttribute("aria-pressed"), "true");
}

async function counts(page) {
  const read = async (id) => Number(await page.getByTestId(id).textContent());
  return {
    registered: await read("count-registered"),
    present: await read("count-present"),
    completed: await read("count-completed"),
  };
}

async function attendeeRows(docId) {
  return querySqlite(
    dbPath(),
    `SELECT COUNT(*), SUM(checked_in), SUM(completed) FROM proj_attendees WHERE doc_id = '${docId}'`,
  );
}

/** Polls the server's database until `expected` or 30 s. */
async function expectServerRows(docId, expected) {
  const deadline = Date.now() + 30_000;
  let rows;
  while (Date.now() < deadline) {
    rows = await attendeeRows(docId);
    if (JSON.stringify(rows) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(rows, expected, "the server's projection of the roster");
}

/** A trainer's phone on a fresh profile, logged in online with the service worker in control. */
async function installedOnline(prefix) {
  const profileDir = await tempDir(prefix);
  dirs.push(profileDir);
  const browser = await browserOn(profileDir, { width: 360, height: 800 });
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/trainer`);
  await logIn(page, TRAINER);
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  await serviceWorkerReady(page);
  return { profileDir, browser, page };
}

/** Stops the server; the page reloads from the service worker's cache and says it is offline. */
async function serverGone(page) {
  await server.stop();
  await page.reload();
  await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 20_000 });
  await page.getByText(/^オフライン/).waitFor({ timeout: 20_000 });
}

test("installed once online, the app works with the server stopped and syncs when it returns", async () => {
  // 1. Online: log in; the service worker installs and takes over.
  const installed = await installedOnline("offline-profile");
  const { profileDir } = installed;
  let { browser, page } = installed;

  // 2. The server process stops. A reload comes from the service worker's cache.
  await serverGone(page);
  const docId = await createSession(page, "女川町まちなか交流館");
  // The pre-registration roster comes from a CSV file (as Excel writes it: BOM, CRLF). A file
  // with a bad row is refused whole, naming the row.
  const csv = (rows) => ({
    name: "roster.csv",
    mimeType: "text/csv",
    buffer: Buffer.from(`\ufeff氏名,ふりがな,市町村,所属\r\n${rows.join("\r\n")}\r\n`),
  });
  await page.getByTestId("csv-import").setInputFiles(
    csv(["宮城 花子,みやぎ はなこ,女川町,地域住民", "石巻 太郎,いしのまき たろう,仙台の近く,企業"]),
  );
  await page.getByRole("alert").getByText(/3行目/).waitFor();
  assert.deepEqual(await counts(page), { registered: 0, present: 0, completed: 0 });
  await page.getByTestId("csv-import").setInputFiles(
    csv(["宮城 花子,みやぎ はなこ,女川町,地域住民", "石巻 太郎,いしのまき たろう,石巻市,企業"]),
  );
  await page.getByText("2人を名簿に追加しました。").waitFor();
  await checkIn(page, "宮城 花子");
  await checkIn(page, "石巻 太郎");
  await addPerson(page, "牡鹿 次郎", "おしか じろう", { walkIn: true });
  await markCompleted(page, "宮城 花子");
  await markCompleted(page, "牡鹿 次郎");
  assert.deepEqual(await counts(page), { registered: 3, present: 3, completed: 2 });
  // The chunk writer's worker script came from the service worker's cache and did the writes.
  assert.equal(
    await page.evaluate(() => document.documentElement.dataset.chunkWriter),
    "worker",
  );
  await page.getByTestId("doc-status").getByText("この端末のみ").waitFor();
  await page.getByText(/オフライン（1件の変更が未送信）/).waitFor();
  // Logging out would delete the only copy: refused, with the reason.
  await page.getByRole("button", { name: "ログアウト" }).click();
  await page.getByRole("alert").getByText(/同期が終わってからログアウトしてください/).waitFor();

  // 3. The browser closes and starts again on the same profile, still without a server.
  await browser.close();
  browser = await browserOn(profileDir, { width: 360, height: 800 });
  page = await browser.context.newPage();
  await page.goto(`${server.url}/sessions/${docId}`);
  await page.getByText("女川町まちなか交流館", { exact: false }).first().waitFor({ timeout: 20_000 });
  await page.getByTestId("doc-status").getByText("この端末のみ").waitFor();
  assert.deepEqual(await counts(page), { registered: 3, present: 3, completed: 2 });
  await page.screenshot({ path: path.join(artifacts(), "offline-restarted-360.png"), fullPage: true });

  // 4. The server comes back where the page expects it: the device syncs within seconds.
  server = await startServer({ dataDir, listen });
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  await page.getByTestId("doc-status").getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  const session = await querySqlite(
    dbPath(),
    `SELECT venue_municipality FROM proj_sessions WHERE doc_id = '${docId}'`,
  );
  assert.deepEqual(session, [["女川町"]]);
  await expectServerRows(docId, [[3, 3, 2]]);
  assert.deepEqual(unexpectedErrors(browser), []);

  // Everything is on the server now: logging out ends the session and clears the device.
  await page.getByRole("button", { name: "ログアウト" }).click();
  await page.waitForURL(/\/login$/);
  await page.getByLabel("ログイン名").waitFor();
});

test("two phones check different people in to one session offline and both end with the union", async () => {
  const phones = [];
  for (const user of [TRAINER, PARTNER]) {
    const profileDir = await tempDir("offline-phone");
    dirs.push(profileDir);
    const browser = await browserOn(profileDir, { width: 360, height: 800 });
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/trainer`);
    await logIn(page, user);
    await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
    await serviceWorkerReady(page);
    phones.push({ browser, page });
  }
  const [a, b] = phones;
  const people = [
    ["女川 一郎", "おながわ いちろう"],
    ["女川 二郎", "おながわ じろう"],
    ["女川 三郎", "おながわ さぶろう"],
    ["女川 四郎", "おながわ しろう"],
  ];
  // Online: one phone makes the session and its roster; the other receives it.
  const docId = await createSession(a.page, "女川町生涯学習センター");
  for (const [name, kana] of people) await addPerson(a.page, name, kana);
  await a.page.getByTestId("doc-status").getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  await b.page.goto(`${server.url}/sessions/${docId}`);
  await b.page.getByTestId("attendee").filter({ hasText: "女川 四郎" }).waitFor({ timeout: 30_000 });

  // The server stops; each phone checks in two different people.
  await server.stop();
  for (const [name] of people.slice(0, 2)) await checkIn(a.page, name);
  for (const [name] of people.slice(2)) await checkIn(b.page, name);
  await markCompleted(a.page, "女川 一郎");
  await markCompleted(b.page, "女川 四郎");
  for (const { page } of phones) {
    assert.deepEqual(await counts(page), { registered: 4, present: 2, completed: 1 });
  }

  // Back online: both show everyone, and so does the server.
  server = await startServer({ dataDir, listen });
  for (const { page } of phones) {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const seen = await counts(page);
      if (seen.present === 4 && seen.completed === 2) break;
      await page.waitForTimeout(250);
    }
    assert.deepEqual(await counts(page), { registered: 4, present: 4, completed: 2 });
    await page.getByTestId("doc-status").getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  }
  await expectServerRows(docId, [[4, 4, 2]]);
  for (const { browser } of phones) assert.deepEqual(unexpectedErrors(browser), []);
});

test("sessions made offline register together on return; one whose id was taken says why", async () => {
  const { page } = await installedOnline("offline-batch");

  // Offline, two sessions are made.
  await serverGone(page);
  const taken = await createSession(page, "女川町総合体育館");
  await page.goto(`${server.url}/trainer`);
  await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 20_000 });
  const kept = await createSession(page, "女川町保健センター");
  await page.goto(`${server.url}/trainer`);
  await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 20_000 });

  // Meanwhile another team's document took the first one's id (only a collision or a hostile
  // device could do that): written into the stopped server's registry.
  const [[otherUser, otherTeam]] = await querySqlite(
    dbPath(),
    `SELECT id, team_id FROM users WHERE login = '${ELSEWHERE.login}'`,
  );
  await changeSqlite(
    dbPath(),
    `INSERT INTO documents (id, kind, team_id, created_by, created_at, updated_at) VALUES ` +
      `('${taken}', 'training_session', '${otherTeam}', '${otherUser}', 1, ` +
      `(SELECT COALESCE(MAX(updated_at), 0) + 1 FROM documents))`,
  );

  // The server returns: one request registers both; the refused one says why, on its row.
  server = await startServer({ dataDir, listen });
  await page
    .getByRole("alert")
    .getByText("サーバーが受け付けませんでした: 同じIDの文書が別の内容で登録されています。")
    .waitFor({ timeout: 30_000 });
  const deadline = Date.now() + 30_000;
  let stored = [];
  while (Date.now() < deadline && stored.length === 0) {
    stored = await querySqlite(dbPath(), `SELECT venue_municipality FROM proj_sessions WHERE doc_id = '${kept}'`);
    if (stored.length === 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(stored, [["女川町"]], "the other session of the batch reached the server");
  const [[trainerTeam]] = await querySqlite(dbPath(), `SELECT team_id FROM users WHERE login = '${TRAINER.login}'`);
  assert.deepEqual(
    await querySqlite(dbPath(), `SELECT id, team_id FROM documents WHERE id IN ('${taken}', '${kept}') ORDER BY id = '${kept}'`),
    [[taken, otherTeam], [kept, trainerTeam]],
    "the refused id still belongs to the other team; the new one to the trainer's",
  );
  assert.deepEqual(
    await querySqlite(dbPath(), `SELECT COUNT(*) FROM proj_sessions WHERE doc_id = '${taken}'`),
    [[0]],
    "nothing of the refused session left the device",
  );
  // It stays on this device, so logging out is refused.
  await page.getByRole("button", { name: "ログアウト" }).click();
  await page.getByRole("alert").getByText(/同期が終わってからログアウトしてください/).waitFor();
  assert.match(new URL(page.url()).pathname, /^\/trainer/);
});
