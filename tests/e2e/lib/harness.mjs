// Shared helpers of the browser tests: the real server on port 0 with a temporary database, and
// Debian's Chromium driven by playwright-core with a fresh profile per test.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the browser tests through \`cargo xtask test\``);
  }
  return value;
}

/** Where screenshots go (target/e2e). */
export const artifacts = () => required("NIMO_ARTIFACTS");

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix) {
  return mkdtemp(path.join(tmpdir(), `nimo-${prefix}-`));
}

/**
 * Starts `nimo-server` with its database in `dataDir` on `listen` (127.0.0.1:0 by default; pass
 * the address of an earlier run to bring a stopped server back where the pages expect it),
 * serving the shell from `distDir` (the build under test by default), and resolves once it
 * prints the address it listens on.
 */
export async function startServer({ dataDir, listen = "127.0.0.1:0", distDir = required("NIMO_DIST_DIR") }) {
  const child = spawn(
    required("NIMO_SERVER_BIN"),
    ["serve", "--listen", listen, "--data-dir", dataDir, "--dist-dir", distDir],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NIMO_LOG: process.env.NIMO_LOG ?? "warn" } },
  );
  const logs = [];
  child.stderr.on("data", (chunk) => logs.push(chunk.toString()));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 30 s:\n${logs.join("")}`)), 30_000);
    const lines = readline.createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const match = /^nimo is listening on (http:\/\/\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code} before listening:\n${logs.join("")}`));
    });
  });
  return {
    url,
    listen: new URL(url).host,
    logs,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    },
  };
}

/** The flags this machine's closed network and root user need (TOOLCHAIN.md). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium on a persistent profile, so a test can close the browser and start
 * it again on the same profile. Console errors and uncaught page errors are collected.
 */
export async function launchBrowser({ profileDir, viewport = { width: 1280, height: 800 } }) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: required("NIMO_CHROMIUM"),
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    locale: "ja-JP",
  });
  const errors = [];
  const watch = (page) => {
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => errors.push(`page: ${error.message}`));
  };
  context.pages().forEach(watch);
  context.on("page", watch);
  return { context, errors, close: () => context.close() };
}

/** Removes a directory tree, ignoring one that is already gone. */
export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true });
}

/** `nimo-server user add …` with the password on standard input. */
export async function addUser(dataDir, { login, name, role, team, password }) {
  const child = spawn(
    required("NIMO_SERVER_BIN"),
    ["user", "add", "--login", login, "--name", name, "--role", role, "--team", team,
      "--password-stdin", "--data-dir", dataDir],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const output = [];
  child.stdout.on("data", (c) => output.push(c.toString()));
  child.stderr.on("data", (c) => output.push(c.toString()));
  child.stdin.end(`${password}\n`);
  const code = await new Promise((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`user add failed:\n${output.join("")}`);
}

/** Fills in the login page and submits it, without waiting for what follows. */
export async function submitLogin(page, { login, password }) {
  await page.getByLabel("ログイン名").fill(login, { timeout: 20_000 });
  await page.getByLabel("パスワード").fill(password);
  await page.getByRole("button", { name: "ログイン" }).click();
}

/** Logs in through the login page and waits for the trainer's page. */
export async function logIn(page, credentials) {
  await submitLogin(page, credentials);
  await page.getByRole("heading", { name: "研修の受付" }).waitFor();
}

/**
 * Creates a 心のサポーター training session in 女川町 at `venue` on the trainer's page and returns
 * its document id once its page is open.
 */
export async function createSession(page, venue) {
  await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
  await page.getByLabel("対象（心のサポーター養成研修のみ）").selectOption({ label: "地域住民" });
  await page.getByLabel("日付").fill("2026-11-20");
  await page.getByLabel("会場", { exact: true }).fill(venue);
  await page.getByLabel("会場の市町村").selectOption("女川町");
  await page.getByRole("button", { name: "作成する" }).click();
  await page.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);
  return new URL(page.url()).pathname.split("/").pop();
}

/** Resolves once a service worker controls `page` (its shell is cached by then). */
export async function serviceWorkerReady(page) {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) =>
        navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
    }
  });
}

/**
 * Runs a read-only SQL query on the server's database with Python's sqlite3 (Node 20 has no
 * SQLite) and returns the rows as arrays.
 */
export async function querySqlite(dbPath, sql) {
  return runSqlite(dbPath, sql, "ro");
}

/**
 * Changes the database of a stopped server behind its back (what only time or another server
 * would do, e.g. age its sessions); returns the rows the statement gave.
 */
export async function changeSqlite(dbPath, sql) {
  return runSqlite(dbPath, sql, "rw");
}

async function runSqlite(dbPath, sql, mode) {
  const script = [
    "import json, sqlite3, sys",
    "conn = sqlite3.connect('file:' + sys.argv[1] + '?mode=' + sys.argv[3], uri=True)",
    "rows = conn.execute(sys.argv[2]).fetchall()",
    "conn.commit()",
    "print(json.dumps(rows))",
  ].join("\n");
  const child = spawn("python3", ["-c", script, dbPath, sql, mode], { stdio: ["ignore", "pipe", "pipe"] });
  const out = [];
  const err = [];
  child.stdout.on("data", (c) => out.push(c.toString()));
  child.stderr.on("data", (c) => err.push(c.toString()));
  const code = await new Promise((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`sqlite query failed: ${err.join("")}`);
  return JSON.parse(out.join(""));
}
