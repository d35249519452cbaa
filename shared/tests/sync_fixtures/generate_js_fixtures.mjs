// Generates the byte fixtures of shared/tests/sync_protocol_js_fixtures.rs and
// shared/tests/sync_storage_keys.rs from the real JavaScript automerge-repo 2.5.6 (and
// @automerge/automerge 3.5.0) installed by tests/package.json. Not run by the test suite: run it
// by hand after `npm ci` in tests/ and paste the hex it prints into those files.
//
//   node shared/tests/sync_fixtures/generate_js_fixtures.mjs > /tmp/fixtures.json
//
// The live capture connects two JS Repos through an adapter that cbor-encodes every message the
// way automerge-repo-network-websocket does (helpers/cbor.js: cbor-x, tagUint8Array false).
const base = new URL("../../../tests/node_modules/", import.meta.url).pathname + "@automerge/automerge-repo/dist";
const { Repo, NetworkAdapter, cbor } = await import(base + "/index.js");
const { keyHash, headsHash } = await import(base + "/storage/keyHash.js");
const { DummyStorageAdapter } = await import(base + "/helpers/DummyStorageAdapter.js");
const A = await import(new URL("../../../tests/node_modules/", import.meta.url).pathname + "@automerge/automerge/dist/mjs/entrypoints/fullfat_node.js").catch(async () => await import(new URL("../../../tests/node_modules/", import.meta.url).pathname + "@automerge/automerge/dist/mjs/index.js"));
const hex = (u8) => Buffer.from(u8).toString("hex");
const out = {};

// 1. Handshake messages exactly as automerge-repo-network-websocket builds them.
out.join_with_storage = hex(cbor.encode({ type: "join", senderId: "client-1", peerMetadata: { storageId: "3760df37-a4c6-4f66-9ecd-732039a9385d", isEphemeral: false }, supportedProtocolVersions: ["1"] }));
out.join_no_storage = hex(cbor.encode({ type: "join", senderId: "client-1", peerMetadata: { storageId: undefined, isEphemeral: true }, supportedProtocolVersions: ["1"] }));
out.peer = hex(cbor.encode({ type: "peer", senderId: "server", peerMetadata: { storageId: "3760df37-a4c6-4f66-9ecd-732039a9385d", isEphemeral: false }, selectedProtocolVersion: "1", targetId: "client-1" }));
out.error = hex(cbor.encode({ type: "error", senderId: "server", message: "unsupported protocol version", targetId: "client-1" }));

// Messages this client only has to skip, in the shapes automerge-repo's NetworkSubsystem sends.
const docId = "GcBaFFZfTbG4CG8sMS7bAqmzY3o";
out.ephemeral = hex(cbor.encode({ type: "ephemeral", targetId: "client-1", documentId: docId, data: cbor.encode({ cursor: 1 }), count: 3, sessionId: "session-1", senderId: "server" }));
out.remote_subscription_change = hex(cbor.encode({ type: "remote-subscription-change", targetId: "server", add: ["storage-a"], remove: undefined, senderId: "client-1" }));
out.remote_heads_changed = hex(cbor.encode({ type: "remote-heads-changed", targetId: "client-1", documentId: docId, newHeads: { "storage-a": { heads: ["2w9cN8hJ"], timestamp: 1763800000123 } }, senderId: "server" }));

// 2. Live capture: two real Repos talking through an adapter that cbor-encodes like the websocket adapter.
class Pipe extends NetworkAdapter {
  constructor(name, log) { super(); this.name = name; this.log = log; this.other = null; this.ready = false; }
  isReady() { return this.ready; }
  whenReady() { return Promise.resolve(); }
  connect(peerId, peerMetadata) { this.peerId = peerId; this.peerMetadata = peerMetadata; this.ready = true; this.emit("ready", { network: this });
    setTimeout(() => { this.other.emit("peer-candidate", { peerId, peerMetadata }); }, 10); }
  send(message) { const bytes = cbor.encode(message); this.log.push({ from: this.name, type: message.type, hex: hex(bytes) });
    setTimeout(() => this.other.emit("message", cbor.decode(bytes)), 1); }
  disconnect() {}
}
const log = [];
const pa = new Pipe("alice", log), pb = new Pipe("bob", log);
pa.other = pb; pb.other = pa;
const alice = new Repo({ network: [pa], peerId: "alice", storage: new DummyStorageAdapter(), sharePolicy: async () => false });
const bob = new Repo({ network: [pb], peerId: "bob", sharePolicy: async () => true });
const h = alice.create({ title: "hello" });
await new Promise(r => setTimeout(r, 200));
const found = await bob.find(h.url);
out.live_doc_url = h.url;
out.live_doc_title = found.doc().title;
const missing = "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu";
try { await bob.find(missing, { allowableStates: ["ready", "unavailable"] }); } catch (e) { out.missing_err = String(e); }
await new Promise(r => setTimeout(r, 300));
out.live = log;

// 3. Storage keys: a document with a fixed actor and timestamp, saved whole and since heads.
let d = A.init({ actor: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" });
d = A.change(d, { time: 0, message: "" }, (x) => { x.name = "Sendai"; });
const heads1 = A.getHeads(d);
const full1 = A.save(d);
d = A.change(d, { time: 0 }, (x) => { x.count = 3; });
const since = A.saveSince(d, heads1);
const heads2 = A.getHeads(d);
out.storage = { save1_hex: hex(full1), save1_key: keyHash(full1), heads1, heads1_hash: headsHash(heads1),
  since_hex: hex(since), since_key: keyHash(since), heads2, heads2_hash: headsHash(heads2),
  full2_hex: hex(A.save(d)), full2_key: keyHash(A.save(d)) };
// Sync data generated by JS automerge for fixture messages.
const [, syncMsg] = A.generateSyncMessage(d, A.initSyncState());
out.sync_data = hex(syncMsg);
console.log(JSON.stringify(out, null, 1));
process.exit(0);
