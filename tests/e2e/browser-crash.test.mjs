// Browser crash: a trainer checks a person in while the server is down (so the change exists
// only on the device), and the browser process is killed with SIGKILL as soon as the page shows
// the check-in. Relaunched on the same profile (with the server back on the same origin), the
// session page must show that person checked in: it can only have come from the device's
// IndexedDB, since the server never had it before the kill.
//
// NIMO_BROWSER_CRASH_RUNS sets how many kills (default 3; the long run is 100). Chromium is
// started here (not by Playwright) so the test owns its process id and kills exactly it; the
// page is driven over CDP with playwright-core.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import readline from "node:readline";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, removeDir, startServer, tempDir } from "./lib/harness.mjs";

const LOGIN = "crash";
const PASSWORD = "onagawa-crash-passphrase";
const RUNS = Number(process.env.NIMO_BROWSER_CRASH_RUNS ?? 3);

let dataDir;
let profileDir;
let server;
let listen;

/** `nimo-server user add …` with the password on standard input. */
async function addUser() {
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

/**
 * Starts Debian's Chromium on the profile with a DevTools port and connects to it. Returns the
 * page and `kill()`, which sends SIGKILL to this Chromium's process id and waits for it.
 */
async function launch() {
  const child = spawn(
    process.env.NIMO_CHROMIUM,
    ["--headless", `--user-data-dir=${profileDir}`, "--remote-debugging-port=0",
      "--window-size=420,900", "--lang=ja-JP", ...CHROMIUM_ARGS, "about:blank"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stderr = [];
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Chromium gave no DevTools address:\n${stderr.join("\n")}`)), 30_000);
    readline.createInterface({ input: child.stderr }).on("line", (line) => {
      stderr.push(line);
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited with ${code}:\n${stderr.join("\n")}`));
    });
  });
  const browser = await chromium.connectOverCDP(endpoint);
  const context = browser.contexts()[0];
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return {
    page,
    errors,
    async kill() {
      child.kill("SIGKILL");
      await exited;
      await browser.close().catch(() => {});
    },
  };
}

/** Opens `path`; logs in first if the app asks (a cookie may not survive a kill). */
async function open(page, path) {
  await page.goto(`${server.url}${path}`);
  const login = page.getByLabel("ログイン名");
  const ready = page.getByRole("heading").first();
  await ready.waitFor({ timeout: 30_000 });
  if (await login.isVisible()) {
    await login.fill(LOGIN);
    await page.getByLabel("パスワード").fill(PASSWORD);
    await page.getByRole("button", { name: "ログイン" }).click();
    await page.getByRole("heading", { name: "研修の受付" }).waitFor({ timeout: 30_000 });
    await page.goto(`${server.url}${path}`);
  }
}

before(async () => {
  dataDir = await tempDir("crash-data");
  profileDir = await tempDir("crash-profile");
  await addUser();
  server = await startServer({ dataDir });
  listen = new URL(server.url).host;
});

after(async () => {
  await server?.stop();
  await removeDir(dataDir);
  await removeDir(profileDir);
});

test(`a check-in saved on the device survives SIGKILL of the browser (${RUNS} runs)`, async () => {
  // A session made online, so it is registered and stored on the server.
  let browser = await launch();
  let docId;
  try {
    await open(browser.page, "/trainer");
    const page = browser.page;
    // The first browser test of a CI run: the wasm is compiled cold, so allow a minute.
    await page.getByText(/に同期済み$/).waitFor({ timeout: 60_000 });
    await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
    await page.getByLabel("対象（心のサポーター養成研修のみ）").selectOption({ label: "地域住民" });
    await page.getByLabel("日付").fill("2025-06-01");
    await page.getByLabel("会場", { exact: true }).fill("女川町まちなか交流館");
    await page.getByLabel("会場の市町村").selectOption("女川町");
    await page.getByRole("button", { name: "作成する" }).click();
    await page.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);
    docId = new URL(page.url()).pathname.split("/").pop();
    await page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  } finally {
    await browser.kill();
  }

  const survived = [];
  for (let run = 0; run < RUNS; run++) {
    const name = `参加者 ${run + 1}`;
    browser = await launch();
    try {
      await open(browser.page, `/sessions/${docId}`);
      const page = browser.page;
      await page.getByLabel("氏名").waitFor({ timeout: 30_000 });
      // Offline: the server is stopped, so the change can live only in this browser.
      await server.stop();
      await page.getByLabel("氏名").fill(name);
      await page.getByLabel("ふりがな").fill("みやぎ はなこ");
      await page.getByRole("button", { name: "追加する" }).click();
      await page.getByRole("button", { name: `${name} を受付` }).click();
      await page.getByText(/受付済み$/).nth(run).waitFor({ timeout: 10_000 });
      // The page shows a change at once; it is saved when its IndexedDB transaction commits,
      // which the status line tells (no write pending).
      await page.locator('.sync-status[data-pending-writes="0"]').waitFor({ timeout: 10_000 });
    } finally {
      // The moment the device has saved it: the power goes.
      await browser.kill();
    }

    server = await startServer({ dataDir, listen });
    browser = await launch();
    try {
      await open(browser.page, `/sessions/${docId}`);
      const page = browser.page;
      const checkedIn = page.getByText(/受付済み$/);
      await page
        .getByText(name, { exact: false })
        .first()
        .waitFor({ timeout: 30_000 })
        .catch(() => assert.fail(`run ${run + 1}: ${name} is gone after the kill`));
      await checkedIn.nth(run).waitFor({ timeout: 30_000 })
        .catch(async () => assert.fail(`run ${run + 1}: ${name} is no longer checked in (${await checkedIn.count()} checked in)`));
      assert.deepEqual(browser.errors, [], "no page errors");
      survived.push(name);
    } finally {
      await browser.kill();
    }
  }
  console.log(`browser crash: ${survived.length} of ${RUNS} SIGKILLs right after a check-in; every check-in survived`);
});
