// Issue #6's idle lock in the browser: a visitor's phone locks itself after 5 minutes without a
// tap or key press, and asks for the PIN with the server stopped. Time is Playwright's fake clock
// (`clock.install` before the first page loads; it replaces `Date` and the timers the app's idle
// check uses), fast-forwarded instead of waited for. Typing before the limit keeps the phone
// open; 5 minutes after the last key press it locks, the note is gone from the page, a wrong PIN
// is refused and the right one opens the note again, offline.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  addUser,
  launchBrowser,
  removeDir,
  serviceWorkerReady,
  startServer,
  tempDir,
} from "./lib/harness.mjs";
import { visitorLogsIn } from "./lib/visitor.mjs";

const VISITOR = { login: "houmon5", name: "訪問 五子", role: "visitor", team: "県", password: "a-long-visitor-passphrase-5", pin: "581302" };
const PARTNER = { login: "houmon6", name: "訪問 六郎", role: "visitor", team: "県", password: "a-long-visitor-passphrase-6" };
const PATIENT_CODE = "MY-2026-0733";
const NOTE = "五子の記録：病棟での生活に慣れてきたと話された";
const MORE = "追記：次回は家族の話を聞く";

let dataDir;
let server;
let browser;
const dirs = [];

before(async () => {
  dataDir = await tempDir("idle-data");
  dirs.push(dataDir);
  for (const user of [VISITOR, PARTNER]) await addUser(dataDir, user);
  server = await startServer({ dataDir });
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

/** Whether the page shows the lock screen (the heading of `pages/lock.rs`). */
const locked = (page) => page.getByRole("heading", { name: "ロック中" }).count().then((n) => n > 0);

test("a visitor's phone locks after 5 idle minutes (typing keeps it open) and opens with the PIN offline", async () => {
  const profileDir = await tempDir("idle-profile");
  dirs.push(profileDir);
  browser = await launchBrowser({ profileDir, viewport: { width: 360, height: 740 } });
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  // Before the app loads, so its `Date.now` and `setInterval` are the fake clock's. Time still
  // flows at its real pace until the test jumps it forward.
  await page.clock.install();
  await visitorLogsIn(page, server.url, VISITOR, () => browser.errors);

  await page.getByRole("button", { name: "新しい事例" }).click();
  await page.getByLabel("患者コード（氏名は書かないでください）").fill(PATIENT_CODE);
  await page.getByLabel("病院名").fill("県立こころの病院");
  await page.getByLabel("病院の市町村").selectOption("名取市");
  await page.locator("select[name=partner] option", { hasText: PARTNER.name }).waitFor({ state: "attached" });
  await page.getByLabel("ペア").selectOption({ label: PARTNER.name });
  await page.getByRole("button", { name: "作成する" }).click();
  await page.getByRole("heading", { name: PATIENT_CODE }).waitFor();
  await page.getByLabel("面会時間（分）").fill("30");
  await page.getByRole("button", { name: "訪問を記録する" }).click();
  const notes = page.locator("textarea.visit-notes");
  await notes.fill(NOTE);
  await page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });

  // Offline from here on: the shell comes from the service worker, the key from the PIN.
  await serviceWorkerReady(page);
  await server.stop();

  // 4 idle minutes: still open. Then a key press, and 4 more minutes: 8 minutes since the page's
  // last activity before it, still open, because the key press counts as activity.
  await page.clock.fastForward("04:00");
  await notes.press("End");
  await notes.pressSequentially(MORE);
  await page.clock.fastForward("04:00");
  // The idle check runs on a timer; give a lock it might start time to show.
  await page.waitForTimeout(1_000);
  assert.equal(await locked(page), false, "locked although a key was pressed 4 minutes ago");
  assert.equal(await notes.inputValue(), `${NOTE}${MORE}`);

  // 5 minutes and 1 second after the last key press: locked, the note gone from the page.
  await page.clock.fastForward("01:01");
  await page.getByRole("heading", { name: "ロック中" }).waitFor({ timeout: 30_000 });
  assert.equal(await notes.count(), 0);
  const html = await page.content();
  for (const secret of [NOTE, MORE, PATIENT_CODE]) {
    assert.ok(!html.includes(secret), `the locked page still shows ${secret.length} chars of a secret`);
  }

  // A wrong PIN is refused; the right one opens the note again, with the server still stopped.
  await page.getByLabel("PIN", { exact: true }).fill("000000");
  await page.getByRole("button", { name: "解除" }).click();
  await page.getByText("PINが違います。").waitFor({ timeout: 30_000 });
  assert.equal(await notes.count(), 0);
  await page.getByLabel("PIN", { exact: true }).fill(VISITOR.pin);
  await page.getByRole("button", { name: "解除" }).click();
  await notes.waitFor({ timeout: 30_000 });
  assert.equal(await notes.inputValue(), `${NOTE}${MORE}`);
});
