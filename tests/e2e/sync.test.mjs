// The trainer's flow through the real server: log in through the page, create a training
// session, add and check in one person, and wait until the page says the record is stored on
// the server; then a second client (API token) finds the document and its heads on the server.
// Also runs the shared ChunkStore conformance suite against the browser's IndexedDB backend.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { artifacts, launchBrowser, removeDir, startServer, tempDir } from "./lib/harness.mjs";

const LOGIN = "t1";
const PASSWORD = "onagawa-trainer-passphrase";

let server;
let browser;
const dirs = [];

/** `nimo-server user add …` with the password on standard input. */
async function addUser(dataDir) {
  const child = spawn(
    process.env.NIMO_SERVER_BIN,
    ["user", "add", "--login", LOGIN, "--name", "講師", "--role", "trainer", "--team", "女川",
      "--password-stdin", "--data-dir", dataDir],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const output = [];
  child.stdout.on("data", (c) => output.push(c.toString()));
  child.stderr.on("data", (c) => output.push(c.toString()));
  child.stdin.end(`${PASSWORD}\n`);
  const code = await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, `user add failed:\n${output.join("")}`);
}

/** A second client of the server: logs in for a bearer token. */
async function apiClient(url) {
  const response = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ login: LOGIN, password: PASSWORD, client: "api" }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { token } = await response.json();
  assert.ok(token, "an API login returns a token");
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  return {
    get: async (p) => (await fetch(`${url}${p}`, { headers })).json(),
    post: async (p, body) =>
      (await fetch(`${url}${p}`, { method: "POST", headers, body: JSON.stringify(body) })).json(),
  };
}

before(async () => {
  const dataDir = await tempDir("data");
  const profileDir = await tempDir("profile");
  dirs.push(dataDir, profileDir);
  await addUser(dataDir);
  server = await startServer({ dataDir });
  browser = await launchBrowser({ profileDir, viewport: { width: 420, height: 900 } });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

test("the IndexedDB chunk store passes the shared conformance suite", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/_debug/storage`);
  await page
    .getByText(/件の検査に合格/)
    .waitFor({ timeout: 60_000 })
    .catch(async (e) => {
      // The page names the check in progress: a failing check traps without its message.
      const status = await page.getByRole("status").textContent();
      assert.fail(`the suite did not finish (${status}): ${e.message}\n${browser.errors.join("\n")}`);
    });
  const text = await page.getByRole("status").textContent();
  assert.match(text, /15 \/ 15 件の検査に合格（書き込み: 専用ワーカー）/);
  await page.close();
});

test("without the chunk writer's worker the store writes on the page and loses nothing", async () => {
  // A browser of its own: its first page is not controlled by the service worker yet, so the
  // worker's script comes from the network, where it is refused.
  const profileDir = await tempDir("profile-no-writer");
  dirs.push(profileDir);
  const own = await launchBrowser({ profileDir });
  try {
    let refused = 0;
    await own.context.route(/\/idb-writer-[0-9a-f]+\.js$/, (route) => {
      refused += 1;
      return route.abort();
    });
    const page = await own.context.newPage();
    await page.goto(`${server.url}/_debug/storage`);
    await page.getByText(/件の検査に合格/).waitFor({ timeout: 60_000 });
    const text = await page.getByRole("status").textContent();
    assert.match(text, /15 \/ 15 件の検査に合格（書き込み: ページ）/);
    assert.ok(refused > 0, "the worker's script was asked for and refused");
  } finally {
    await own.close();
  }
});

test("a trainer's check-in reaches the server and is confirmed stored", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/trainer`);
  // Not logged in yet: the login page.
  await page.getByLabel("ログイン名").fill(LOGIN, { timeout: 20_000 });
  await page.getByLabel("パスワード").fill(PASSWORD);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.getByRole("heading", { name: "研修の受付" }).waitFor();
  await page.getByText(/に同期済み$/).waitFor({ timeout: 20_000 });

  await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
  await page.getByLabel("対象（心のサポーター養成研修のみ）").selectOption({ label: "地域住民" });
  await page.getByLabel("日付").fill("2025-06-01");
  await page.getByLabel("会場", { exact: true }).fill("女川町まちなか交流館");
  await page.getByLabel("会場の市町村").selectOption("女川町");
  await page.getByRole("button", { name: "作成する" }).click();

  await page.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);
  const docId = new URL(page.url()).pathname.split("/").pop();
  await page.getByLabel("氏名").fill("宮城 花子");
  await page.getByLabel("ふりがな").fill("みやぎ はなこ");
  await page.getByRole("button", { name: "追加する" }).click();
  await page.getByRole("button", { name: "宮城 花子 を受付" }).click();
  await page.getByText(/受付済み$/).waitFor();
  await page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(artifacts(), "sync-session.png"), fullPage: true });

  // The server's side, through a second client.
  const api = await apiClient(server.url);
  const manifest = await api.get("/api/sync/manifest?since=0");
  const entry = manifest.documents.find((d) => d.id === docId);
  assert.ok(entry, `the manifest lists ${docId}: ${JSON.stringify(manifest)}`);
  assert.equal(entry.kind, "training_session");
  assert.ok(entry.heads.length > 0, "the server has heads for it");
  const confirm = await api.post("/api/sync/confirm", { documents: [{ id: docId, heads: entry.heads }] });
  assert.deepEqual(confirm.stored, [docId]);

  // A reload reads the session and the document back from IndexedDB, still stored.
  await page.goto(`${server.url}/trainer`);
  await page.getByRole("link", { name: /女川町まちなか交流館/ }).waitFor({ timeout: 20_000 });
  await page.getByText("サーバーに保存済み").waitFor({ timeout: 20_000 });
  await page.getByText(/に同期済み$/).waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(artifacts(), "sync-trainer.png"), fullPage: true });
  const unexpected = browser.errors.filter((e) => !/favicon/.test(e));
  assert.deepEqual(unexpected, [], "no console or page errors");
});
