// Issue #6's proof in the browser: two visitors log in with their second factor (enrolled on
// the page, codes computed here from the shown secret), set their device PIN, open a case and
// start a visit; then the server process is stopped and both write into the same visit's notes
// on their own phones. Once the server is back, both phones show both texts. Their IndexedDB
// holds neither the note text nor the patient code (sealed chunks), the lock asks for the PIN,
// and a trainer on the same server never receives a byte of the case. Last, Bob's phone is
// "lost" with a note written offline: after an admin asks for a wipe, the phone's next contact
// uploads the note (Alice reads it), then empties its database and is revoked.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  addUser,
  launchBrowser,
  querySqlite,
  removeDir,
  serviceWorkerReady,
  startServer,
  tempDir,
} from "./lib/harness.mjs";
import { currentStep, totpAt } from "./lib/totp.mjs";
import { visitorLogsIn as loginVisitor } from "./lib/visitor.mjs";

const ALICE = { login: "houmon1", name: "訪問 一子", role: "visitor", team: "県", password: "a-long-visitor-passphrase-1", pin: "482913" };
const BOB = { login: "houmon2", name: "訪問 二郎", role: "visitor", team: "県", password: "a-long-visitor-passphrase-2", pin: "730164" };
const ADMIN = { login: "kanri1", name: "管理 四郎", role: "admin", team: "県", password: "a-long-admin-passphrase-4" };
const TRAINER = { login: "kouza1", name: "講座 三子", role: "trainer", team: "女川", password: "a-long-trainer-passphrase-3" };
const PATIENT_CODE = "MY-2026-0419";
const ALICE_NOTE = "一子の記録：退院後は自宅に戻りたいと話された";
const BOB_NOTE = "二郎の記録：家族との面会を希望している";

let dataDir;
let server;
const dirs = [];
const browsers = [];

before(async () => {
  dataDir = await tempDir("visitor-data");
  dirs.push(dataDir);
  for (const user of [ALICE, BOB, TRAINER, ADMIN]) await addUser(dataDir, user);
  server = await startServer({ dataDir });
});

after(async () => {
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  await server?.stop();
  await Promise.all(dirs.map(removeDir));
});

async function phone(existingProfile) {
  const profileDir = existingProfile ?? (await tempDir("visitor-profile"));
  if (!existingProfile) dirs.push(profileDir);
  const browser = await launchBrowser({ profileDir, viewport: { width: 360, height: 740 } });
  browsers.push(browser);
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  return { browser, page, profileDir };
}

/** The visitor's first login on `page`, ending on the list of cases. */
const visitorLogsIn = (page, user) =>
  loginVisitor(page, server.url, user, () => browsers.flatMap((b) => b.errors));

/** An admin's bearer token: password, then the second factor enrolled over the API. */
async function adminToken() {
  const post = async (path, body) => {
    const response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return response.json();
  };
  const { challenge } = await post("/api/login", { login: ADMIN.login, password: ADMIN.password, client: "api" });
  const { secret } = await post("/api/login/mfa/enrol", { challenge });
  const session = await post("/api/login/mfa", { challenge, code: totpAt(secret, currentStep()) });
  assert.ok(session.token, JSON.stringify(session));
  return session.token;
}

async function adminCall(token, method, path) {
  const response = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
  return response.status === 204 ? null : response.json();
}

/** How many chunks the app's IndexedDB holds. */
async function chunkCount(page) {
  return page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("nimo");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const count = await new Promise((resolve, reject) => {
      const request = db.transaction("chunks", "readonly").objectStore("chunks").count();
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    db.close();
    return count;
  });
}

/** Every key and value of the app's IndexedDB, as bytes, read from the page. */
async function rawIndexedDb(page) {
  const parts = await page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("nimo");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const out = [];
    for (const name of db.objectStoreNames) {
      const tx = db.transaction(name, "readonly");
      const store = tx.objectStore(name);
      const [keys, values] = await Promise.all(
        [store.getAllKeys(), store.getAll()].map(
          (r) => new Promise((resolve, reject) => {
            r.onsuccess = () => resolve(r.result);
            r.onerror = () => reject(r.error);
          }),
        ),
      );
      keys.forEach((k) => out.push(Array.from(new TextEncoder().encode(String(k)))));
      values.forEach((v) =>
        out.push(Array.from(v instanceof Uint8Array ? v : new TextEncoder().encode(String(v)))));
    }
    db.close();
    return out;
  });
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

/** Every file of a browser profile with its bytes. */
async function profileFiles(dir) {
  const chunks = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    try {
      chunks.push([path.relative(dir, file), await readFile(file)]);
    } catch {
      // Lock files and sockets vanish or refuse reads; they hold no data.
    }
  }
  return chunks;
}

const needles = (text) => [Buffer.from(text, "utf8"), Buffer.from(text, "utf16le")];
const contains = (haystack, text) => needles(text).some((n) => haystack.includes(n));

test("two visitors co-write one visit offline; the trainer never receives it; nothing readable at rest; a lost phone uploads, then wipes", async () => {
  const alice = await phone();
  await visitorLogsIn(alice.page, ALICE);

  // A new case with Bob as the pair, and a visit.
  await alice.page.getByRole("button", { name: "新しい事例" }).click();
  await alice.page.getByLabel("患者コード（氏名は書かないでください）").fill(PATIENT_CODE);
  await alice.page.getByLabel("病院名").fill("県立こころの病院");
  await alice.page.getByLabel("病院の市町村").selectOption("名取市");
  await alice.page.locator("select[name=partner] option", { hasText: BOB.name }).waitFor({ state: "attached" });
  await alice.page.getByLabel("ペア").selectOption({ label: BOB.name });
  await alice.page.getByRole("button", { name: "作成する" }).click();
  await alice.page.getByRole("heading", { name: PATIENT_CODE }).waitFor();
  const caseUrl = alice.page.url();
  const caseId = caseUrl.split("/visits/")[1];
  assert.ok(caseId, caseUrl);
  await alice.page.getByLabel("面会時間（分）").fill("45");
  await alice.page.getByRole("button", { name: "訪問を記録する" }).click();
  await alice.page.locator("section.visit").waitFor();
  await alice.page.getByLabel("傾聴").check();
  await alice.page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });

  // Bob's phone receives the case through the manifest.
  const bob = await phone();
  await visitorLogsIn(bob.page, BOB);
  await bob.page.getByRole("link", { name: new RegExp(PATIENT_CODE) }).click({ timeout: 30_000 });
  await bob.page.locator("section.visit").waitFor({ timeout: 30_000 });
  assert.equal(await bob.page.getByLabel("傾聴").isChecked(), true);

  // Offline: the server process is stopped; both write into the same notes.
  const listen = server.listen;
  await server.stop();
  await alice.page.locator("textarea.visit-notes").fill(ALICE_NOTE);
  await bob.page.locator("textarea.visit-notes").fill(BOB_NOTE);
  await bob.page.getByLabel("退院に向けた相談").check();
  await alice.page.getByLabel("次回への申し送り").fill("外出の可否を確認する");
  await alice.page.getByLabel("次回への申し送り").blur();

  // Back online: both phones end with both texts.
  server = await startServer({ dataDir, listen });
  for (const { page } of [alice, bob]) {
    await page.waitForFunction(
      ([a, b]) => {
        const notes = document.querySelector("textarea.visit-notes")?.value ?? "";
        return notes.includes(a) && notes.includes(b);
      },
      [ALICE_NOTE, BOB_NOTE],
      { timeout: 90_000 },
    );
  }
  assert.equal(await alice.page.getByLabel("退院に向けた相談").isChecked(), true);
  assert.equal(await bob.page.getByLabel("次回への申し送り").inputValue(), "外出の可否を確認する");
  for (const { page } of [alice, bob]) {
    await page.getByText("サーバーに保存済み").waitFor({ timeout: 30_000 });
  }

  // Control: in plain Automerge form (the server's chunks) both needles are findable bytes, so
  // their absence on the phones below means sealing, not compression.
  const plain = await querySqlite(
    path.join(dataDir, "nimo.sqlite3"),
    `SELECT count(*) FROM chunks WHERE doc_id = '${caseId}' AND instr(data, CAST('${PATIENT_CODE}' AS BLOB)) > 0`,
  );
  assert.ok(plain[0][0] > 0, "the patient code is visible in unsealed chunks");

  // At rest on the phones: neither the note text nor the patient code, in IndexedDB or on disk.
  for (const { page, profileDir } of [alice, bob]) {
    const raw = await rawIndexedDb(page);
    assert.ok(raw.length > 1000, `IndexedDB holds the documents (${raw.length} bytes)`);
    for (const secret of [PATIENT_CODE, ALICE_NOTE, BOB_NOTE, "退院後は自宅"]) {
      assert.ok(!contains(raw, secret), `IndexedDB reveals ${secret.length} chars of a secret`);
    }
    const files = await profileFiles(profileDir);
    for (const secret of [PATIENT_CODE, ALICE_NOTE, BOB_NOTE]) {
      const leaking = files.filter(([, bytes]) => contains(bytes, secret)).map(([name]) => name);
      assert.deepEqual(leaking, [], `profile files reveal ${secret.length} chars of a secret`);
    }
  }

  // The lock: on demand, a wrong PIN refused, the right one opens the case again (offline too).
  await serviceWorkerReady(alice.page);
  await server.stop();
  await alice.page.getByRole("button", { name: "ロック" }).click();
  await alice.page.getByRole("heading", { name: "ロック中" }).waitFor({ timeout: 30_000 });
  assert.equal(await alice.page.getByText(PATIENT_CODE).count(), 0);
  await alice.page.getByLabel("PIN", { exact: true }).fill("000000");
  await alice.page.getByRole("button", { name: "解除" }).click();
  await alice.page.getByText("PINが違います。").waitFor({ timeout: 30_000 });
  await alice.page.getByLabel("PIN", { exact: true }).fill(ALICE.pin);
  await alice.page.getByRole("button", { name: "解除" }).click();
  await alice.page.locator("textarea.visit-notes").waitFor({ timeout: 30_000 });
  assert.ok((await alice.page.locator("textarea.visit-notes").inputValue()).includes(BOB_NOTE));
  server = await startServer({ dataDir, listen });

  // A trainer on the same server: no frame, manifest or stored key mentions the case.
  const trainer = await phone();
  const received = [];
  trainer.page.on("websocket", (ws) =>
    ws.on("framereceived", (frame) => received.push(Buffer.from(frame.payload))));
  const manifests = [];
  trainer.browser.context.on("response", (response) => {
    if (response.url().includes("/api/sync/manifest")) manifests.push(response.text());
  });
  await trainer.page.goto(`${server.url}/trainer`);
  await trainer.page.getByLabel("ログイン名").fill(TRAINER.login, { timeout: 20_000 });
  await trainer.page.getByLabel("パスワード").fill(TRAINER.password);
  await trainer.page.getByRole("button", { name: "ログイン" }).click();
  await trainer.page.getByRole("heading", { name: "研修の受付" }).waitFor();
  await trainer.page.getByText(/同期済み/).waitFor({ timeout: 30_000 });
  for (let i = 0; i < 50 && manifests.length === 0; i++) await new Promise((r) => setTimeout(r, 200));
  assert.ok(manifests.length > 0, "the trainer's device asked for its manifest");
  for (const text of await Promise.all(manifests)) {
    assert.ok(text.includes('"documents"'), text);
    assert.ok(!text.includes(caseId));
  }
  assert.ok(received.length > 0, "the trainer's socket carried the handshake");
  assert.ok(received.every((frame) => !frame.includes(Buffer.from(caseId))));
  const trainerDb = await rawIndexedDb(trainer.page);
  assert.ok(!trainerDb.includes(Buffer.from(caseId)));
  assert.ok(!contains(trainerDb, PATIENT_CODE));

  // Bob's phone is lost with a note written offline and never sent. The admin asks for a wipe;
  // at its next contact the phone first uploads the note (Alice receives it), then wipes itself.
  const EXTRA = "二郎の追記：外出許可が出る見込み";
  await server.stop();
  const notes = bob.page.locator("textarea.visit-notes");
  const stored = await chunkCount(bob.page);
  await notes.fill(`${await notes.inputValue()}\n${EXTRA}`);
  // Closed only once the note is on the phone's disk (a new sealed chunk).
  for (let i = 0; i < 100 && (await chunkCount(bob.page)) <= stored; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((await chunkCount(bob.page)) > stored, "the offline note is stored on the phone");
  await bob.browser.close();
  server = await startServer({ dataDir, listen });
  const token = await adminToken();
  const users = await adminCall(token, "GET", "/api/admin/users");
  const bobId = users.find((u) => u.login === BOB.login).id;
  const devices = await adminCall(token, "GET", `/api/admin/users/${bobId}/devices`);
  const live = devices.filter((d) => d.revoked_at === null);
  assert.equal(live.length, 1, JSON.stringify(devices));
  await adminCall(token, "POST", `/api/admin/devices/${live[0].id}/wipe`);

  const found = await phone(bob.profileDir);
  await found.page.goto(`${server.url}/visitor`);
  await found.page.getByRole("heading", { name: "ロック中" }).waitFor({ timeout: 30_000 });
  await found.page.getByLabel("PIN", { exact: true }).fill(BOB.pin);
  await found.page.getByRole("button", { name: "解除" }).click();
  await found.page.waitForURL(/\/login$/, { timeout: 60_000 });
  // Alice's phone has been backing off through two server stops; reopening it reconnects now.
  await alice.page.reload();
  await alice.page.getByRole("heading", { name: "ロック中" }).waitFor({ timeout: 30_000 });
  await alice.page.getByLabel("PIN", { exact: true }).fill(ALICE.pin);
  await alice.page.getByRole("button", { name: "解除" }).click();
  await alice.page.waitForFunction(
    (extra) => (document.querySelector("textarea.visit-notes")?.value ?? "").includes(extra),
    EXTRA,
    { timeout: 60_000 },
  );
  const wiped = await rawIndexedDb(found.page);
  assert.equal(wiped.length, 0, "the wiped phone's database is empty (documents, session, key)");
  await found.page.getByLabel("ログイン名").waitFor();
  const after = await adminCall(token, "GET", `/api/admin/users/${bobId}/devices`);
  assert.ok(after.find((d) => d.id === live[0].id).revoked_at !== null, "the wiped device is revoked");
});
