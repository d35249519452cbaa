// The office dashboard in the browser: the real server binary holds the R6 fixture, synced from a
// native device through the real WebSocket (nimo-load-fixture); an office user logs in through
// the page, opens /office, picks 令和6年度 and sees the seed's figures in the table and the SVG
// charts. A full-page screenshot goes to target/e2e/office-dashboard.png.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { artifacts, launchBrowser, removeDir, startServer, tempDir } from "./lib/harness.mjs";
import { currentStep, totpAt } from "./lib/totp.mjs";

const TRAINER = { login: "loader", password: "fixture-loader-passphrase" };
const OFFICE = { login: "office1", password: "office-staff-passphrase", pin: "615243" };

let server;
let browser;
const dirs = [];

/** Runs `command args…` with `input` on standard input; resolves with its output. */
async function run(command, args, input) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  const output = [];
  child.stdout.on("data", (c) => output.push(c.toString()));
  child.stderr.on("data", (c) => output.push(c.toString()));
  child.stdin.end(input);
  const code = await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, `${path.basename(command)} ${args.join(" ")} failed:\n${output.join("")}`);
  return output.join("");
}

function addUser(dataDir, { login, password }, role, team) {
  const args = ["user", "add", "--login", login, "--name", `${login} さん`, "--role", role,
    "--password-stdin", "--data-dir", dataDir];
  if (team) args.push("--team", team);
  return run(process.env.NIMO_SERVER_BIN, args, `${password}\n`);
}

/** The password step answers 401 `mfa_required` by design; Chromium logs every 401. */
const unexpectedErrors = () =>
  browser.errors.filter((e) => !/status of 401 \(Unauthorized\)/.test(e));

before(async () => {
  const dataDir = await tempDir("office-data");
  const profileDir = await tempDir("office-profile");
  dirs.push(dataDir, profileDir);
  await addUser(dataDir, TRAINER, "trainer", "精神保健福祉センター");
  await addUser(dataDir, OFFICE, "office");
  server = await startServer({ dataDir });
  const loaded = await run(process.env.NIMO_FIXTURE_LOADER, [server.url, TRAINER.login], TRAINER.password);
  assert.match(loaded, /synced 13 sessions/);
  browser = await launchBrowser({ profileDir, viewport: { width: 1100, height: 900 } });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

test("the office dashboard shows the R6 supporter table and its charts", async () => {
  const page = await browser.context.newPage();
  // Office staff log in with a second factor, enrolled on the page at the first login, and
  // set the device PIN that seals what the office's device keeps.
  await page.goto(`${server.url}/login`);
  await page.getByLabel("ログイン名").fill(OFFICE.login, { timeout: 20_000 });
  await page.getByLabel("パスワード").fill(OFFICE.password);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.getByRole("heading", { name: "二段階認証" }).waitFor();
  const secret = (await page.locator(".mfa-secret").textContent()).trim();
  await page.getByLabel("確認コード").fill(totpAt(secret, currentStep()));
  await page.getByRole("button", { name: "確認" }).click();
  await page.getByRole("heading", { name: "回復コード" }).waitFor();
  await page.getByRole("button", { name: "保管しました" }).click();
  await page.getByRole("heading", { name: "この端末のPINを設定" }).waitFor();
  await page.getByLabel("PIN", { exact: true }).fill(OFFICE.pin);
  await page.getByLabel("PIN（確認）").fill(OFFICE.pin);
  await page.getByRole("button", { name: "設定する" }).click();
  await page.waitForURL(/\/office$/, { timeout: 30_000 });
  await page.waitForSelector(".office-dashboard[data-ready]");
  await page.selectOption("select[name=year]", "R6");
  await page.waitForFunction(() =>
    document.querySelector(".office-dashboard caption")?.textContent.includes("令和6年度"));

  const supporters = page.locator("table.report").first();
  const cumulative = await supporters.locator("tbody tr").nth(1).locator("td").allTextContents();
  assert.deepEqual(cumulative, [
    "令和6年度末 累計", "24", "19", "16", "173", "22", "5", "43", "6", "9", "58", "375",
  ]);
  const headers = await supporters.locator("thead th").allTextContents();
  assert.deepEqual(headers.slice(1), [
    "仙南", "塩釜", "岩沼", "黒川", "大崎", "栗原", "石巻", "登米", "気仙沼", "その他", "合計",
  ]);

  // The charts: bars for the ten districts and the total with the target marked; the months.
  const district = page.locator("figure.chart").nth(0);
  assert.match(await district.locator("figcaption").textContent(), /心のサポーター累計/);
  const labels = await district.locator("svg text").allTextContents();
  assert.ok(labels.includes("黒川") && labels.includes("173人"), labels.join(" "));
  assert.ok(labels.some((t) => t.startsWith("375人（目標 100人）")), labels.join(" "));
  assert.ok(labels.includes("目標 100人"));
  const months = await page.locator("figure.chart").nth(2).locator("svg text").allTextContents();
  assert.ok(months.includes("4月") && months.includes("3月"), months.join(" "));

  // Downloads point at the reports of the chosen year.
  const csv = await page.locator("ul.downloads a", { hasText: "CSV" }).first().getAttribute("href");
  assert.equal(csv, "/api/reports/supporters?year=R6&format=csv");
  const text = await page.locator("main").textContent();
  assert.ok(!text.includes("サポーター 1 "), "no names on the dashboard");

  await page.screenshot({ path: path.join(artifacts(), "office-dashboard.png"), fullPage: true });
  assert.deepEqual(unexpectedErrors(), []);
});

test("the reconciliation page lists who synced and the queues", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/office/reconcile`);
  // A new page of a sealing device starts locked: the PIN opens it.
  await page.getByRole("heading", { name: "ロック中" }).waitFor({ timeout: 20_000 });
  await page.getByLabel("PIN", { exact: true }).fill(OFFICE.pin);
  await page.getByRole("button", { name: "解除" }).click();
  await page.waitForSelector(".office-reconcile[data-ready]", { timeout: 30_000 });
  const loader = page.locator("table.report tbody tr", { hasText: `${TRAINER.login} さん` });
  const cells = await loader.locator("td").allTextContents();
  assert.equal(cells[2], "精神保健福祉センター");
  assert.match(cells[3], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/, "a last sync time");
  assert.equal(cells[4], "0", "everything the loader sent is stored");
  assert.ok(await page.getByText("競合はありません。").isVisible());
  await page.screenshot({ path: path.join(artifacts(), "office-reconcile.png"), fullPage: true });
  assert.deepEqual(unexpectedErrors(), []);
});
