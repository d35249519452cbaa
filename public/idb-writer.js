// The device's chunk writer: a dedicated worker that commits the app's chunk writes to
// IndexedDB (app/src/store/writer.rs sends them, one at a time, in the order of its queue).
//
// Why a worker: after a tap, Chromium holds the page's other tasks, IndexedDB's `complete`
// among them, until it has drawn the next frame, so a write on disk ~5 ms after the tap was
// heard by the page at ~15 ms (BENCH-RESULTS.md, session 12). A worker has no input and no
// frames: it hears `complete` when the write is durable and says when that was.
//
// Request:  {id, name, version, puts: [[key, Uint8Array], …], deletes: [key, …]}
//           {id, close: name}
// Reply:    {id, ok: true, durableAt}  (durableAt: `timeOrigin + now()` at `complete`)
//           {id, ok: false, error}
//
// The worker never creates or upgrades a database: the page has opened it at `version` before
// sending, so an upgrade here means it was deleted meanwhile (a wipe), and the write fails.

const CHUNKS = "chunks";
const open = new Map();

function connect(name, version) {
  const known = open.get(name);
  if (known) return known;
  const connecting = new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onupgradeneeded = () => {
      request.transaction.abort();
    };
    request.onsuccess = () => {
      const db = request.result;
      // A deletion or an upgrade elsewhere must not wait for this connection.
      db.onversionchange = () => forget(name, db);
      db.onclose = () => forget(name, db);
      resolve(db);
    };
    request.onerror = () => reject(request.error ?? new Error(`cannot open ${name}`));
    request.onblocked = () => reject(new Error(`opening ${name} is blocked`));
  });
  open.set(name, connecting);
  connecting.catch(() => open.delete(name));
  return connecting;
}

function forget(name, db) {
  db.close();
  open.delete(name);
}

async function write({ name, version, puts, deletes }) {
  const db = await connect(name, version);
  const tx = db.transaction(CHUNKS, "readwrite", { durability: "strict" });
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(performance.timeOrigin + performance.now());
    tx.onerror = () => reject(tx.error ?? new Error("transaction failed"));
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
  const store = tx.objectStore(CHUNKS);
  try {
    for (const key of deletes) store.delete(key);
    for (const [key, bytes] of puts) store.put(bytes, key);
  } catch (error) {
    // Nothing of a half-issued batch may land.
    tx.abort();
    throw error;
  }
  // A batch with a delete commits on its own: Chromium lost a put after an explicit commit
  // when the same transaction deleted that key (app/src/store/idb.rs, `commit_now`).
  if (deletes.length === 0 && typeof tx.commit === "function") tx.commit();
  return done;
}

self.onmessage = async ({ data }) => {
  const { id } = data;
  if (data.close !== undefined) {
    const connecting = open.get(data.close);
    open.delete(data.close);
    if (connecting) connecting.then((db) => db.close(), () => {});
    self.postMessage({ id, ok: true });
    return;
  }
  try {
    const durableAt = await write(data);
    self.postMessage({ id, ok: true, durableAt });
  } catch (error) {
    const text = error && error.name ? `${error.name}: ${error.message}` : String(error);
    self.postMessage({ id, ok: false, error: text });
  }
};
