// nimo's service worker shim. The worker's logic is Rust (sw/), compiled to wasm with
// wasm-bindgen; this file only registers the event listeners, which the platform requires at
// start-up, and hands each event to it. `cargo xtask build` fills in this build's version and
// file list, so every build changes this file and the browser installs the new worker.
import init, * as worker from "/{{nimo-sw.js}}";

const VERSION = "{{@version}}";
const PRECACHE = {{@precache}};
const WASM = "/{{nimo-sw_bg.wasm}}";

// The worker restarts often, offline too: its wasm comes from the precache when it is there.
const ready = init({
  module_or_path: caches.match(WASM).then((hit) => hit || fetch(WASM)),
}).then(() => worker.configure(VERSION, PRECACHE));

self.addEventListener("install", (event) => {
  event.waitUntil(ready.then(() => worker.install()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(ready.then(() => worker.activate()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const shell =
    event.request.method === "GET" &&
    url.origin === self.location.origin &&
    !url.pathname.startsWith("/api/") &&
    url.pathname !== "/sw.js";
  if (shell) {
    event.respondWith(ready.then(() => worker.respond(event.request)));
  }
});

self.addEventListener("message", (event) => {
  event.waitUntil(ready.then(() => worker.message(event.data)));
});
