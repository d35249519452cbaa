// The check-in screen, driven like a trainer would with the server running: create a session in
// 女川町, put two people on the roster, find one by a katakana query (the reading is in
// hiragana) and check them in with one tap, add a walk-in, mark two 修了 and a ring, undo the
// last action, and watch the counts. Then the server is restarted on the same database and the
// official automerge-repo client fetches the session through it: what it gets can only have
// come from SQLite. Screenshots of the screen at 360 px and 1280 px go to target/e2e/.
// A second test has two trainers, on two browser profiles, set one person's 修了 differently
// while the server is down: after it returns, both screens show the competing values.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import * as Automerge from "@automerge/automerge";
import { artifacts, launchBrowser, removeDir, startServer, tempDir } from "./lib/harness.mjs";

const LOGIN = "onagawa-trainer";
const PASSWORD = "onagawa-checkin-passphrase";
const PEER = fileURLToPath(new URL("../interop/automerge-repo-peer.mjs", import.meta.url));

let server;
let browser;
let dataDir;
const dirs = [];

/** Runs a command to completion; resolves with its standard output, fails on a non-zero exit. */
async function run(command, args, input) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  const stdout = [];
  const stderr = [];
  child.stdout.on("data", (c) => stdout.push(c.toString()));
  child.stderr.on("data", (c) => stderr.push(c.toString()));
  child.stdin.end(input ?? "");
  const code = await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, `${path.basename(command)} ${args[0]} failed:\n${stderr.join("")}`);
  return stdout.join("");
}

/** A bearer token for the trainer, as an API client. */
async function apiToken(url) {
  const response = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ login: LOGIN, password: PASSWORD, client: "api" }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).token;
}

/** `nimo-server user add` for the trainer into `dir`'s database. */
async function addTrainer(dir) {
  await run(
    process.env.NIMO_SERVER_BIN,
    ["user", "add", "--login", LOGIN, "--name", "女川 講師", "--role", "trainer", "--team", "石巻保健福祉事務所",
      "--password-stdin", "--data-dir", dir],
    `${PASSWORD}\n`,
  );
}

/** A port nobody listens on now. */
async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Starts `nimo-server` on a fixed port, so that after a restart the pages find it at the same
 * origin (their IndexedDB and cookie belong to it). Stopped with SIGKILL: the server vanishes
 * as in a power cut, and the browsers' sockets close at once.
 */
async function startServerAt(dir, port) {
  const child = spawn(
    process.env.NIMO_SERVER_BIN,
    ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dir, "--dist-dir", process.env.NIMO_DIST_DIR],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NIMO_LOG: process.env.NIMO_LOG ?? "warn" } },
  );
  const logs = [];
  child.stderr.on("data", (chunk) => logs.push(chunk.toString()));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${logs.join("")}`)), 30_000);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /^nimo is listening on (http:\/\/\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${logs.join("")}`));
    });
  });
  return {
    url,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Logs the trainer in through the page and waits for the first sync. */
async function logIn(page, url) {
  await page.goto(`${url}/trainer`);
  await page.getByLabel("ログイン名").fill(LOGIN, { timeout: 20_000 });
  await page.getByLabel("パスワード").fill(PASSWORD);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.getByRole("heading", { name: "研修の受付" }).waitFor();
  await page.getByText(/に同期済み$/).waitFor({ timeout: 20_000 });
}

/** Waits until a toggle button's aria-pressed reads `pressed`. */
async function expectPressed(page, label, pressed) {
  await page.waitForFunction(
    ([label, pressed]) => document.querySelector(`[aria-label="${label}"]`)?.getAttribute("aria-pressed") === pressed,
    [label, String(pressed)],
  );
}

before(async () => {
  dataDir = await tempDir("data");
  const profileDir = await tempDir("profile");
  dirs.push(dataDir, profileDir);
  await addTrainer(dataDir);
  server = await startServer({ dataDir });
  browser = await launchBrowser({ profileDir, viewport: { width: 360, height: 780 } });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

/** The three counts at the top of the check-in screen. */
async function counts(page) {
  const read = async (id) => Number(await page.getByTestId(id).textContent());
  return {
    registered: await read("count-registered"),
    present: await read("count-present"),
    completed: await read("count-completed"),
  };
}

/** Waits until the counts read `expected`. */
async function expectCounts(page, expected) {
  const deadline = Date.now() + 10_000;
  let seen;
  while (Date.now() < deadline) {
    seen = await counts(page);
    if (JSON.stringify(seen) === JSON.stringify(expected)) return;
    await page.waitForTimeout(100);
  }
  assert.deepEqual(seen, expected, "the counts");
}

/** Fills the walk-in form and presses one of its two buttons. */
async function addPerson(page, { name, kana, affiliation, residence }, button) {
  await page.getByLabel("氏名").fill(name);
  await page.getByLabel("ふりがな").fill(kana);
  if (affiliation) await page.getByLabel("所属").selectOption({ label: affiliation });
  if (residence) await page.getByLabel("お住まいの市町村").selectOption(residence);
  await page.getByRole("button", { name: button }).click();
}

test("a trainer checks people in with one hand, and the server's database holds the roster", async () => {
  const page = await browser.context.newPage();
  await logIn(page, server.url);

  // A session in 女川町, co-hosted by the town, with a second trainer.
  await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
  await page.getByLabel("対象（心のサポーター養成研修のみ）").selectOption({ label: "地域住民" });
  await page.getByLabel("主催").selectOption({ label: "市町村共催" });
  await page.getByLabel("日付").fill("2025-06-01");
  await page.getByLabel("会場", { exact: true }).fill("女川町まちなか交流館");
  await page.getByLabel("会場の市町村").selectOption("女川町");
  await page.getByLabel("ほかの講師（「、」で区切る）").fill("石巻 次郎");
  await page.getByLabel("定員").fill("30");
  await page.getByRole("button", { name: "作成する" }).click();
  await page.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);
  const docId = new URL(page.url()).pathname.split("/").pop();
  await page.getByText("市町村共催（女川町）　講師: 女川 講師、石巻 次郎　定員 30人").waitFor();
  await expectCounts(page, { registered: 0, present: 0, completed: 0 });

  // Two people signed up in advance (the reading of one in hiragana, of the other in
  // half-width katakana, which is stored full width).
  await addPerson(page, { name: "宮城 花子", kana: "みやぎ はなこ" }, "名簿に追加する");
  await addPerson(page, { name: "佐藤 一郎", kana: "ｻﾄｳ ｲﾁﾛｳ", residence: "石巻市" }, "名簿に追加する");
  await expectCounts(page, { registered: 2, present: 0, completed: 0 });
  const rows = page.getByTestId("attendee");
  await page.getByText("サトウ イチロウ").waitFor();

  // A katakana query finds the hiragana reading; a kanji query finds the name.
  const search = page.getByRole("searchbox", { name: "参加者を検索" });
  await search.fill("ミヤギ");
  await page.getByTestId("search-summary").filter({ hasText: "2人中 1人を表示" }).waitFor();
  assert.deepEqual(await rows.locator(".attendee-name").allTextContents(), ["宮城 花子"]);
  await search.fill("佐藤");
  assert.deepEqual(await rows.locator(".attendee-name").allTextContents(), ["佐藤 一郎"]);
  await search.fill("ミヤギ");

  // One tap checks her in; the undo bar offers to take it back.
  await page.getByRole("button", { name: "宮城 花子 を受付" }).click();
  await expectCounts(page, { registered: 2, present: 1, completed: 0 });
  await page.getByTestId("undo-bar").getByText("宮城 花子 さんを受付しました").waitFor();
  await search.fill("");
  assert.equal(await rows.count(), 2);

  // A walk-in, checked in as they are added.
  await addPerson(
    page,
    { name: "阿部 三郎", kana: "あべ さぶろう", affiliation: "企業", residence: "女川町" },
    "当日参加として受付",
  );
  await expectCounts(page, { registered: 3, present: 2, completed: 0 });
  await page.getByTestId("undo-bar").getByText("阿部 三郎 さんを当日参加で受付しました").waitFor();

  // A check-in taken back later, and that taken back with 元に戻す.
  await page.getByRole("button", { name: "阿部 三郎 の受付を取り消す" }).click();
  await expectCounts(page, { registered: 3, present: 1, completed: 0 });
  await page.getByTestId("undo-bar").getByText("阿部 三郎 さんの受付を取り消しました").waitFor();
  await page.getByTestId("undo").click();
  await expectCounts(page, { registered: 3, present: 2, completed: 0 });

  // Two 修了 and a ring, then the ring is undone.
  await page.getByRole("button", { name: "宮城 花子 修了", exact: true }).click();
  await page.getByRole("button", { name: "阿部 三郎 修了", exact: true }).click();
  await expectCounts(page, { registered: 3, present: 2, completed: 2 });
  const ring = page.getByRole("button", { name: "宮城 花子 リング", exact: true });
  await ring.click();
  await page.waitForFunction(
    () => document.querySelector('[aria-label="宮城 花子 リング"]')?.getAttribute("aria-pressed") === "true",
  );
  await page.getByTestId("undo").click();
  await page.waitForFunction(
    () => document.querySelector('[aria-label="宮城 花子 リング"]')?.getAttribute("aria-pressed") === "false",
  );
  assert.equal(await page.getByTestId("undo-bar").count(), 0, "the undo bar goes once used");
  assert.equal(
    await page.getByRole("button", { name: "宮城 花子 修了", exact: true }).getAttribute("aria-pressed"),
    "true",
    "undo took back only the last action",
  );
  await expectCounts(page, { registered: 3, present: 2, completed: 2 });
  // The ring again, kept this time.
  await ring.click();
  await page.waitForFunction(
    () => document.querySelector('[aria-label="宮城 花子 リング"]')?.getAttribute("aria-pressed") === "true",
  );

  // 360 px: nothing wider than the screen, and every target at least 44 px tall.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at 360 px (content is ${overflow} px too wide)`);
  for (const target of [
    page.getByRole("button", { name: "佐藤 一郎 を受付" }),
    page.getByRole("button", { name: "阿部 三郎 修了", exact: true }),
    page.getByRole("button", { name: "宮城 花子 リング", exact: true }),
    search,
  ]) {
    const box = await target.boundingBox();
    assert.ok(box && box.height >= 44 && box.width >= 44, `a large target: ${JSON.stringify(box)}`);
  }
  await page.getByTestId("doc-status").getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(artifacts(), "checkin-360.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(artifacts(), "checkin-1280.png"), fullPage: true });

  // The session's list shows it under its fiscal year, stored on the server.
  await page.getByRole("link", { name: "← 研修の一覧" }).click();
  const year = page.getByTestId("fiscal-year").filter({ hasText: "令和7年度（1件）" });
  await year.getByRole("link", { name: /女川町まちなか交流館/ }).waitFor();
  await year.getByText("登録 3人・出席 2人").waitFor();
  await year.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  await page.setViewportSize({ width: 360, height: 780 });
  await page.getByLabel("主催").selectOption({ label: "市町村共催" });
  await page.getByLabel("共催の市町村").waitFor();
  const listOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(listOverflow <= 0, `the list and form fit 360 px (${listOverflow} px too wide)`);
  await page.screenshot({ path: path.join(artifacts(), "trainer-360.png"), fullPage: true });
  const unexpected = browser.errors.filter((e) => !/favicon/.test(e));
  assert.deepEqual(unexpected, [], "no console or page errors");
  await page.close();

  // A fresh server process on the same database knows the session only from SQLite.
  await server.stop();
  server = await startServer({ dataDir });
  const token = await apiToken(server.url);
  const fetched = JSON.parse(await run(process.execPath, [PEER, "fetch", server.url, token, docId]));
  const doc = Automerge.load(Buffer.from(fetched.save, "base64"));
  assert.equal(String(doc.venue_municipality), "女川町");
  assert.equal(String(doc.host), "co_hosted:女川町");
  const attendees = Object.values(doc.roster);
  assert.equal(attendees.length, 3, "three people on the stored roster");
  const byName = Object.fromEntries(attendees.map((a) => [String(a.person.name), a]));
  assert.deepEqual(Object.keys(byName).sort(), ["佐藤 一郎", "宮城 花子", "阿部 三郎"].sort());
  assert.equal(String(byName["佐藤 一郎"].person.kana), "サトウ イチロウ");
  assert.equal(byName["佐藤 一郎"].checked_in_at, null);
  assert.ok(byName["宮城 花子"].checked_in_at, "宮城 花子 is checked in");
  assert.ok(byName["阿部 三郎"].checked_in_at, "the walk-in is checked in");
  assert.equal(attendees.filter((a) => a.completed).length, 2, "two completed");
  assert.equal(byName["宮城 花子"].ring_given, true);
  assert.equal(byName["阿部 三郎"].ring_given, false);
  assert.ok(attendees.every((a) => a.withdrawn === false));
});

test("a 修了 two trainers set differently offline is shown on both phones until one value is kept", async () => {
  const dir = await tempDir("data");
  const profiles = [await tempDir("profile-a"), await tempDir("profile-b")];
  dirs.push(dir, ...profiles);
  await addTrainer(dir);
  const port = await freePort();
  let office = await startServerAt(dir, port);
  const phones = [];
  try {
    for (const profileDir of profiles) {
      phones.push(await launchBrowser({ profileDir, viewport: { width: 360, height: 780 } }));
    }
    const [a, b] = await Promise.all(phones.map((phone) => phone.context.newPage()));

    // Phone A creates the session and checks in a walk-in; phone B opens the same session.
    await logIn(a, office.url);
    await a.getByLabel("会場", { exact: true }).fill("女川町生涯学習センター");
    await a.getByLabel("会場の市町村").selectOption("女川町");
    await a.getByRole("button", { name: "作成する" }).click();
    await a.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);
    const sessionPath = new URL(a.url()).pathname;
    await addPerson(a, { name: "宮城 花子", kana: "みやぎ はなこ" }, "当日参加として受付");
    await a.getByTestId("doc-status").getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
    await logIn(b, office.url);
    await b.goto(`${office.url}${sessionPath}`);
    const completed = "宮城 花子 修了";
    await b.getByRole("button", { name: completed, exact: true }).waitFor({ timeout: 20_000 });

    // The server goes away; A marks her 修了, B marks and then unmarks her.
    await office.kill();
    await a.getByRole("button", { name: completed, exact: true }).click();
    await expectPressed(a, completed, true);
    await b.getByRole("button", { name: completed, exact: true }).click();
    await expectPressed(b, completed, true);
    await b.getByRole("button", { name: completed, exact: true }).click();
    await expectPressed(b, completed, false);
    assert.equal(await a.getByTestId("conflict").count(), 0, "no conflict before the merge");

    // Back online: both phones show the competing values on her row.
    office = await startServerAt(dir, port);
    for (const page of [a, b]) {
      const note = page.getByTestId("attendee").filter({ hasText: "宮城 花子" }).getByTestId("conflict");
      await note.waitFor({ timeout: 60_000 });
      const text = await note.textContent();
      assert.match(text, /⚠ 修了が端末間で食い違っています/);
      assert.match(text, /はい/);
      assert.match(text, /いいえ/);
    }
    // The undo bar of A's last tap would cover the note in the picture.
    await a.getByTestId("undo-bar").waitFor({ state: "detached", timeout: 15_000 });
    await a.evaluate(() => window.scrollTo(0, 0));
    await a.screenshot({ path: path.join(artifacts(), "checkin-conflict-360.png"), fullPage: true });

    // A keeps 修了; the note goes on both phones and both show her completed.
    await a.getByRole("button", { name: "宮城 花子 の修了を「はい」にする" }).click();
    for (const page of [a, b]) {
      await page.getByTestId("conflict").waitFor({ state: "detached", timeout: 60_000 });
      await expectPressed(page, completed, true);
    }
    await expectCounts(b, { registered: 1, present: 1, completed: 1 });
    for (const phone of phones) {
      const unexpected = phone.errors.filter(
        (e) => !/favicon/.test(e) && !/WebSocket|ERR_CONNECTION_REFUSED|Failed to fetch|Failed to load resource/.test(e),
      );
      assert.deepEqual(unexpected, [], "no console or page errors apart from the server being down");
    }
  } finally {
    await Promise.all(phones.map((phone) => phone.close()));
    await office.kill();
  }
});
