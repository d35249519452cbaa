// A peer built from the official JavaScript automerge-repo client, used by the interop tests
// (tests/tests/interop.rs) to prove that nimo's server speaks automerge-repo protocol v1.
//
//   node automerge-repo-peer.mjs push  <server> <bearer-token> <kind> <typed-tree.json>
//     Builds a document from a typed tree (see tests/src/typed_tree.rs), registers it, syncs it
//     to the server and waits until the server confirms its heads are stored. Prints
//     {"id": …, "heads": [hex…]}.
//   node automerge-repo-peer.mjs fetch <server> <bearer-token> <document-id>
//     Fetches the document through the server and prints {"heads": [hex…], "save": base64,
//     "received": [{"heads": [hex…], "changes": n}…]}: every sync message the server sent about
//     it, up to its heads-only follow-up (or for 3 s after the document arrived, if none came).
//
// Every failure exits non-zero with a message on stderr.
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { readFile } from "node:fs/promises";

const [command, server, token, ...rest] = process.argv.slice(2);
const deadline = setTimeout(() => fail("timed out after 30 s"), 30_000);

function fail(message) {
  console.error(`automerge-repo-peer: ${message}`);
  process.exit(1);
}

async function api(path, body) {
  const response = await fetch(`${server}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) fail(`${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function connect() {
  const { ticket, peer_id } = await api("/api/sync/ticket", {});
  const url = `${server.replace(/^http/, "ws")}/api/sync/ws?ticket=${ticket}`;
  return { peerId: peer_id, adapter: new WebSocketClientAdapter(url) };
}

// Writes a typed tree (as produced by the Rust side) into an Automerge draft, keeping every
// scalar's exact type so that nimo's autosurgeon schema hydrates it. Objects are created empty
// and filled through the draft: Automerge's conversion of a nested plain object turns a Uint
// inside it into a map, so typed scalars are only ever assigned directly.
function write(target, key, node) {
  if (node.type === "map") {
    target[key] = {};
    for (const [k, v] of Object.entries(node.entries)) write(target[key], k, v);
  } else if (node.type === "list") {
    target[key] = [];
    node.items.forEach((item, index) => write(target[key], index, item));
  } else {
    target[key] = scalar(node);
  }
}

function scalar(node) {
  switch (node.type) {
    case "str": return new A.ImmutableString(node.value);
    case "uint": return new A.Uint(node.value);
    case "int": return new A.Int(node.value);
    case "f64": return new A.Float64(node.value);
    case "bool": return node.value;
    case "null": return null;
    case "timestamp": return new Date(node.value);
    case "counter": return new A.Counter(node.value);
    case "text": return node.value;
    default: fail(`unknown node type ${node.type}`);
  }
}

async function push(kind, treeFile) {
  const tree = JSON.parse(await readFile(treeFile, "utf8"));
  if (tree.type !== "map") fail("the root of a typed tree is a map");
  const { peerId, adapter } = await connect();
  // No network yet: the server refuses documents that are not registered, so register first.
  const repo = new Repo({ network: [], peerId, sharePolicy: async () => true });
  const handle = repo.create();
  handle.change((doc) => {
    for (const [key, value] of Object.entries(tree.entries)) write(doc, key, value);
  });
  await api("/api/docs", { id: handle.documentId, kind });
  repo.networkSubsystem.addNetworkAdapter(adapter);
  const heads = A.getHeads(handle.doc());
  for (;;) {
    const answer = await api("/api/sync/confirm", { documents: [{ id: handle.documentId, heads }] });
    if (answer.stored.includes(handle.documentId)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  console.log(JSON.stringify({ id: handle.documentId, heads }));
  await repo.shutdown();
}

async function fetchDocument(documentId) {
  const { peerId, adapter } = await connect();
  const repo = new Repo({ network: [], peerId, sharePolicy: async () => true });
  // Ask only once the server is a peer: a request made before the handshake finds nobody to ask
  // and reports the document unavailable.
  const connected = new Promise((resolve) => repo.networkSubsystem.once("peer", resolve));
  const received = [];
  let followedUp = () => {};
  adapter.on("message", (message) => {
    if (message.type !== "sync" || message.documentId !== documentId) return;
    const sync = A.decodeSyncMessage(message.data);
    received.push({ heads: sync.heads, changes: sync.changes.length });
    if (sync.changes.length === 0) followedUp();
  });
  repo.networkSubsystem.addNetworkAdapter(adapter);
  await connected;
  const handle = await repo.find(`automerge:${documentId}`);
  const doc = handle.doc();
  const heads = A.getHeads(doc);
  const settled = (last) =>
    last && last.changes === 0 && JSON.stringify(last.heads) === JSON.stringify(heads);
  if (!settled(received.at(-1))) {
    await new Promise((resolve) => {
      followedUp = () => settled(received.at(-1)) && resolve();
      setTimeout(resolve, 3_000);
    });
  }
  console.log(JSON.stringify({
    heads,
    save: Buffer.from(A.save(doc)).toString("base64"),
    received,
  }));
  await repo.shutdown();
}

try {
  if (command === "push") await push(rest[0], rest[1]);
  else if (command === "fetch") await fetchDocument(rest[0]);
  else fail(`unknown command ${command}`);
} catch (error) {
  fail(error?.stack ?? String(error));
}
clearTimeout(deadline);
process.exit(0);
