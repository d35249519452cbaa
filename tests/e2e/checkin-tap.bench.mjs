// The check-in benchmark (`cargo xtask bench`, BENCH.md's limit "check-in tap → durable
// IndexedDB write with a 500-person roster, p95 ≤ 16 ms"), not a test: it asserts no time.
//
// A real nimo server, a trainer logged in through the page in headless Chromium, a session
// with a 500-person roster imported from CSV, then TAPS taps on 受付 for different people,
// each after the previous one is durable (a trainer checks people in one by one). The times
// come from the app itself (app/src/sync/timing.rs): for each tap, the User Timing measure
// from the click event's timeStamp until the IndexedDB transaction carrying the change's chunk
// completed (as the chunk writer's worker heard it), until the page was told, and until the
// change was made and queued. A PerformanceObserver installed before
// the app starts collects them (the app keeps only the last one of each name).
//
// Then, on the same page, raw IndexedDB: the same number of single-put transactions of the
// same strict durability, timed from the put to `complete`, as the floor of the figure.
//
// Environment: NIMO_SERVER_BIN, NIMO_DIST_DIR, NIMO_CHROMIUM (as the browser tests), TAPS,
// ROSTER, NIMO_BENCH_PROFILE (optional: a path where a CPU profile of the taps is written) and
// OFFLINE=1 (optional: the server is stopped before the taps).
// Prints `RESULT {json}`: counts and milliseconds only, never a name.
import { writeFile } from "node:fs/promises";
import { addUser, launchBrowser, removeDir, startServer, tempDir } from "./lib/harness.mjs";

const TAPS = Number(process.env.TAPS ?? 200);
const ROSTER = Number(process.env.ROSTER ?? 500);
const PROFILE = process.env.NIMO_BENCH_PROFILE;
const OFFLINE = process.env.OFFLINE === "1";
const LOGIN = "bench-trainer";
const PASSWORD = "bench-checkin-passphrase";
/** The pause after a durable tap before the next one (the server's acknowledgement lands). */
const GAP_MS = 150;

/** Distinct readings from a few hiragana: the roster sorts by them. */
function reading(i) {
  const syllables = "あいうえおかきくけこさしすせそたちつてとなにぬねの";
  let out = "";
  let n = i;
  for (let k = 0; k < 3; k += 1) {
    out = syllables[n % syllables.length] + out;
    n = Math.floor(n / syllables.length);
  }
  return `さんか ${out}`;
}

function rosterCsv(count) {
  const rows = ["氏名,ふりがな,市町村,所属"];
  for (let i = 0; i < count; i += 1) rows.push(`参加者 ${i + 1},${reading(i)},石巻市,地域住民`);
  return `${rows.join("\r\n")}\r\n`;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v) => (v === null ? null : Math.round(v * 100) / 100);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    max: round(sorted.at(-1) ?? null),
  };
}

/**
 * Collects the app's timing measures as they are made, and (the benchmark's own observation,
 * to see where the time goes) when the page's DOM changed: the re-render after a tap is the
 * last change before the tap's write is durable.
 */
function observeMeasures() {
  window.__nimoMeasures = [];
  window.__nimoMutations = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.name.startsWith("nimo:")) {
        window.__nimoMeasures.push({ name: entry.name, start: entry.startTime, duration: entry.duration });
      }
    }
  }).observe({ type: "measure" });
  window.__nimoRowsPresent = [];
  new MutationObserver((records) => {
    const now = performance.now();
    window.__nimoMutations.push(now);
    // A row shown as checked in (rows are keyed by what they show, so it is a new element).
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.dataset?.testid === "attendee" && node.dataset.present === "true") {
          window.__nimoRowsPresent.push({ id: node.dataset.attendeeId, t: now });
        }
      }
    }
  }).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    characterData: true,
  });
}

/** The functions with the most self time in a CPU profile (milliseconds), for the report. */
function topSelfTime(profile, count) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const frame = byNode.get(id)?.callFrame;
    if (!frame) return;
    const file = frame.url.split("/").pop();
    const key = `${frame.functionName || "(anonymous)"} ${file}`.trim();
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms: Math.round(ms) }));
}

/** Times `count` single-put strict transactions of `size` bytes in a scratch database. */
async function rawIdb({ count, size }) {
  const open = indexedDB.open("nimo-bench-raw", 1);
  open.onupgradeneeded = () => open.result.createObjectStore("chunks");
  const db = await new Promise((resolve, reject) => {
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const times = [];
  for (let i = 0; i < count; i += 1) {
    const bytes = new Uint8Array(size);
    crypto.getRandomValues(bytes);
    const started = performance.now();
    const tx = db.transaction("chunks", "readwrite", { durability: "strict" });
    tx.objectStore("chunks").put(bytes, `doc/incremental/${i}`);
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  db.close();
  return times;
}

async function main() {
  const dataDir = await tempDir("bench-data");
  const profileDir = await tempDir("bench-profile");
  let server;
  let browser;
  try {
    await addUser(dataDir, { login: LOGIN, name: "測定 講師", role: "trainer", team: "石巻保健福祉事務所", password: PASSWORD });
    server = await startServer({ dataDir });
    // A phone-sized window: the roster is one long column, as on a trainer's phone.
    browser = await launchBrowser({ profileDir, viewport: { width: 390, height: 844 } });
    const page = await browser.context.newPage();
    await page.addInitScript(observeMeasures);
    await page.goto(`${server.url}/trainer`);
    await page.getByLabel("ログイン名").fill(LOGIN, { timeout: 30_000 });
    await page.getByLabel("パスワード").fill(PASSWORD);
    await page.getByRole("button", { name: "ログイン" }).click();
    await page.getByRole("heading", { name: "研修の受付" }).waitFor();
    await page.getByText(/に同期済み$/).waitFor({ timeout: 30_000 });

    await page.getByLabel("研修の種類").selectOption({ label: "心のサポーター養成研修" });
    await page.getByLabel("対象（心のサポーター養成研修のみ）").selectOption({ label: "地域住民" });
    await page.getByLabel("日付").fill("2025-06-01");
    await page.getByLabel("会場", { exact: true }).fill("石巻市防災センター");
    await page.getByLabel("会場の市町村").selectOption("石巻市");
    await page.getByLabel("定員").fill(String(ROSTER));
    await page.getByRole("button", { name: "作成する" }).click();
    await page.waitForURL(/\/sessions\/[1-9A-HJ-NP-Za-km-z]+$/);

    await page.getByTestId("csv-import").setInputFiles({
      name: "roster.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(rosterCsv(ROSTER)),
    });
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="count-registered"]')?.textContent === String(n),
      ROSTER,
      { timeout: 60_000 },
    );
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="attendee"]').length === n, ROSTER, {
      timeout: 60_000,
    });
    // The import's own writes and first sync settle before the first tap.
    await page.getByText(/に同期済み$/).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(500);

    // OFFLINE=1: the server stops before the taps (a trainer without a connection), which
    // leaves out the acknowledgements the page handles between a tap and its durable point.
    if (OFFLINE) {
      await server.stop();
      // The socket closes with the process; a second lets the page settle into offline.
      await page.waitForTimeout(1000);
    }
    const cdp = PROFILE ? await browser.context.newCDPSession(page) : null;
    if (cdp) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
      await cdp.send("Profiler.start");
    }
    const durableCount = () =>
      page.evaluate(() => window.__nimoMeasures.filter((m) => m.name === "nimo:tap-to-durable").length);
    const started = Date.now();
    const tapped = [];
    // Different people spread over the roster (rows keep their place when checked in).
    const stride = Math.max(1, Math.floor(ROSTER / TAPS));
    for (let k = 0; k < TAPS; k += 1) {
      const index = (k * stride) % ROSTER;
      const row = page.getByTestId("attendee").nth(index);
      tapped.push(await row.getAttribute("data-attendee-id"));
      const before = await durableCount();
      await row.locator("button.check-in").click();
      await page.waitForFunction(
        (n) => window.__nimoMeasures.filter((m) => m.name === "nimo:tap-to-durable").length > n,
        before,
        { timeout: 10_000 },
      );
      await page.waitForFunction(
        (i) => document.querySelectorAll('[data-testid="attendee"]')[i]?.dataset.present === "true",
        index,
      );
      await page.waitForTimeout(GAP_MS);
    }
    const tapSeconds = (Date.now() - started) / 1000;
    let profileTop = null;
    if (cdp) {
      const { profile } = await cdp.send("Profiler.stop");
      await writeFile(PROFILE, JSON.stringify(profile));
      profileTop = topSelfTime(profile, 15);
    }
    const present = Number(await page.getByTestId("count-present").textContent());
    if (present !== TAPS) throw new Error(`${present} people present after ${TAPS} taps`);

    const measures = await page.evaluate(() => window.__nimoMeasures);
    const durable = measures.filter((m) => m.name === "nimo:tap-to-durable").map((m) => m.duration);
    const edit = measures.filter((m) => m.name === "nimo:tap-to-edit").map((m) => m.duration);
    const heard = measures.filter((m) => m.name === "nimo:tap-to-durable-heard").map((m) => m.duration);
    const mutations = await page.evaluate(() => window.__nimoMutations);
    // For each tap: from the tap to the last DOM change before its write was durable.
    const rendered = measures
      .filter((m) => m.name === "nimo:tap-to-durable")
      .map((m) => {
        const end = m.start + m.duration;
        const last = mutations.filter((t) => t >= m.start && t <= end).at(-1);
        return last === undefined ? null : last - m.start;
      })
      .filter((v) => v !== null);
    // For each tap: from the tap to its row shown as checked in (in the DOM; painting follows).
    const rowsPresent = await page.evaluate(() => window.__nimoRowsPresent);
    const shown = measures
      .filter((m) => m.name === "nimo:tap-to-durable")
      .map((m, k) => {
        const row = rowsPresent.find((r) => r.id === tapped[k] && r.t >= m.start);
        return row === undefined ? null : row.t - m.start;
      })
      .filter((v) => v !== null);
    const sizes = await page.evaluate(async () => {
      // The size of the chunks a check-in writes, for the raw comparison.
      const db = await new Promise((resolve, reject) => {
        const open = indexedDB.open("nimo");
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      try {
        const tx = db.transaction("chunks", "readonly");
        const values = await new Promise((resolve, reject) => {
          const all = tx.objectStore("chunks").getAll();
          all.onsuccess = () => resolve(all.result);
          all.onerror = () => reject(all.error);
        });
        return values.map((v) => v.byteLength ?? 0);
      } finally {
        db.close();
      }
    }).catch(() => []);
    const small = sizes.filter((s) => s < 4096).sort((a, b) => a - b);
    const chunkBytes = small.length ? small[Math.floor(small.length / 2)] : 300;
    const raw = await page.evaluate(rawIdb, { count: Math.min(TAPS, 50), size: chunkBytes });
    const result = {
      taps: TAPS,
      roster: ROSTER,
      offline: OFFLINE,
      tap_seconds: tapSeconds,
      durable: summary(durable),
      edit: summary(edit),
      heard: summary(heard),
      rendered: summary(rendered),
      row_shown: summary(shown),
      raw_idb: summary(raw),
      raw_chunk_bytes: chunkBytes,
      errors: browser.errors.length,
      ...(profileTop ? { profile_top: profileTop } : {}),
    };
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    await browser?.close();
    await server?.stop();
    await removeDir(dataDir);
    await removeDir(profileDir);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
