// Starts the wasm app. Kept out of index.html so the content security policy can forbid inline
// script. xtask fills in the content-hashed file names.
import init from "/{{nimo-app.js}}";

// The worker that commits chunk writes (app/src/store/writer.rs), by its content-hashed name.
globalThis.nimoChunkWriterUrl = "/{{idb-writer.js}}";

await init({ module_or_path: "/{{nimo-app_bg.wasm}}" });
