// Starts the wasm app. Kept out of index.html so the content security policy can forbid inline
// script. xtask fills in the content-hashed file names.
import init from "/{{nimo-app.js}}";

await init({ module_or_path: "/{{nimo-app_bg.wasm}}" });
