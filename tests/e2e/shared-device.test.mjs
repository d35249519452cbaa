// One phone, two trainers. The first trainer's session expires on the server while the phone
// holds a record made offline: the phone says so and links to the login page. The second
// trainer can neither log in on it nor take it over (the first one's records, and a change
// only there, are on it). The first logs in again, the record reaches the server, and they
// leave without logging out; their session expires again. Now nothing would be lost: the
// second trainer takes the phone over (its copy is deleted) and logs in to a phone without the
// first one's records.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  addUser,
  changeSqlite,
  createSession,
  launchBrowser,
  logIn,
  querySqlite,
  removeDir,
  serviceWorkerReady,
  startServer,
  submitLogin,
  tempDir,
} from "./lib/harness.mjs";

const FIRST = { login: "onagawa1", name: "女川 講師", role: "trainer", team: "女川", password: "a-long-trainer-passphrase-1" };
const SECOND = { login: "ishinomaki1", name: "石巻 講師", role: "trainer", team: "石巻", password: "a-long-trainer-passphrase-2" };
const THIRD = { login: "onagawa2", name: "女川 講師二", role: "trainer", team: "女川", password: "a-long-trainer-passphrase-3" };
const VENUE = "女川町まちなか交流館";

let dataDir;
let server;
let browser;
const dirs = [];

before(async () => {
  dataDir = await tempDir("shared-device-data");
  dirs.push(dataDir);
  await addUser(dataDir, FIRST);
  await addUser(dataDir, SECOND);
  await addUser(dataDir, THIRD);
  server = await startServer({ dataDir });
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

const dbPath = () => path.join(dataDir, "nimo.sqlite3");

test("a phone holding one trainer's records refuses another's login until the first logs out", async () => {
  const profileDir = await tempDir("shared-device-profile");
  dirs.push(profileDir);
  browser = await launchBrowser({ profileDir, viewport: { width: 360, height: 800 } });
  const page = await browser.context.newPage();

  await page.goto(`${server.url}/trainer`);
  await logIn(page, FIRST);
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  await serviceWorkerReady(page);

  // Offline, a session is created; meanwhile the server ages every session past its limits.
  const listen = server.listen;
  await server.stop();
  await page.reload();
  await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 20_000 });
  const docId = await createSession(page, VENUE);
  await page.getByTestId("doc-status").getByText("この端末のみ").waitFor();
  await changeSqlite(dbPath(), "UPDATE sessions SET created_at = 0, last_seen_at = 0");
  server = await startServer({ dataDir, listen });

  // The phone hears that its session is over and says so; the record stays.
  const expired = page.getByRole("alert").filter({ hasText: "ログインの有効期限が切れました" });
  await expired.waitFor({ timeout: 30_000 });
  assert.deepEqual(await querySqlite(dbPath(), `SELECT COUNT(*) FROM documents WHERE id = '${docId}'`), [[0]]);
  await expired.getByRole("link", { name: "ログインする" }).click();
  // The login page names the phone's person and expects them.
  await page.getByText("この端末は女川 講師さん（onagawa1）が使っています。", { exact: true }).waitFor();
  assert.equal(await page.getByLabel("ログイン名").inputValue(), FIRST.login);

  // Another trainer is refused: the phone is the first one's until they log out. The server
  // refuses before starting a session (the phone names its person in the login), so no
  // refused session's cookie replaces the first one's.
  await submitLogin(page, SECOND);
  await page.getByRole("alert").getByText(/この端末は女川 講師さん（onagawa1）が使っています/).waitFor();
  assert.deepEqual(
    await querySqlite(dbPath(), `SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.login = '${SECOND.login}'`),
    [[0]],
  );
  // Nor can they take it over while a change is only here.
  const handOver = page.getByRole("button", { name: "別の人が使う（この端末の記録を消す）" });
  await handOver.click();
  await page.getByRole("alert").getByText(/サーバーに保存が確認されていない変更があります/).waitFor();

  // The first trainer logs in again: the record made offline reaches the server.
  await submitLogin(page, FIRST);
  await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 20_000 });
  await page.getByText(VENUE).waitFor();
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  assert.equal(await expired.count(), 0, "the notice is gone");
  const deadline = Date.now() + 30_000;
  let stored;
  while (Date.now() < deadline) {
    stored = await querySqlite(dbPath(), `SELECT COUNT(*) FROM proj_sessions WHERE doc_id = '${docId}'`);
    if (stored[0][0] === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(stored, [[1]], "the session made offline is on the server");

  // They leave without logging out, and their session expires again. Everything is on the
  // server, so the second trainer takes the phone over: its copy is deleted.
  await server.stop();
  await changeSqlite(dbPath(), "UPDATE sessions SET created_at = 0, last_seen_at = 0");
  server = await startServer({ dataDir, listen });
  await expired.waitFor({ timeout: 30_000 });
  await expired.getByRole("link", { name: "ログインする" }).click();
  await handOver.click();
  // The page starts afresh, on the login page, with nobody's session.
  await handOver.waitFor({ state: "detached" });
  await page.getByLabel("ログイン名").waitFor();
  assert.equal(await handOver.count(), 0, "the phone is nobody's now");
  assert.equal(await page.getByLabel("ログイン名").inputValue(), "");
  await logIn(page, SECOND);
  await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
  assert.equal(await page.getByText(VENUE).count(), 0, "none of the first trainer's records");
  const unexpected = browser.errors.filter(
    (e) => !/favicon|ERR_CONNECTION_REFUSED|Failed to load resource|WebSocket connection/.test(e),
  );
  assert.deepEqual(unexpected, []);
});

// Logging out deletes the phone's copy, so it waits for the server to confirm that the last
// change is stored: acknowledged is not enough (it may still be only in the server's memory).
test("logging out waits for the server to confirm the last change and refuses without it", async () => {
  const profileDir = await tempDir("logout-profile");
  dirs.push(profileDir);
  const phone = await launchBrowser({ profileDir, viewport: { width: 360, height: 800 } });
  try {
    const page = await phone.context.newPage();
    await page.goto(`${server.url}/trainer`);
    await logIn(page, THIRD);
    await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });
    // The confirmations are lost on the way: the new record is sent, never confirmed.
    await page.route("**/api/sync/confirm", (route) => route.abort());
    const docId = await createSession(page, VENUE);
    await page.getByTestId("doc-status").getByText("送信済み").waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "ログアウト" }).click();
    await page
      .getByRole("alert")
      .getByText(/サーバーへの保存がまだ確認できていません/)
      .waitFor({ timeout: 30_000 });
    assert.equal(new URL(page.url()).pathname, `/sessions/${docId}`);
    // The server did store it. The phone keeps asking while connected: once a confirmation
    // comes through, the record says so, and logging out goes on.
    assert.deepEqual(await querySqlite(dbPath(), `SELECT COUNT(*) > 0 FROM chunks WHERE doc_id = '${docId}'`), [[1]]);
    await page.unroute("**/api/sync/confirm");
    await page.getByTestId("doc-status").getByText("サーバーに保存済み").waitFor({ timeout: 15_000 });
    await page.getByRole("button", { name: "ログアウト" }).click();
    await page.waitForURL(/\/login$/, { timeout: 30_000 });
    await page.getByLabel("ログイン名").waitFor();
  } finally {
    await phone.close().catch(() => {});
  }
});
