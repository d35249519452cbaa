//! nimo's field app: a Leptos CSR progressive web app compiled to wasm.
//!
//! - [`pages`]: what people see; [`route`]: which page the path shows.
//! - [`sync`]: the browser driver of `nimo_shared::sync::SyncClient` (WebSocket, fetch, timers)
//!   and the signals the pages read.
//! - [`store`]: IndexedDB (document chunks and small values).
//! - [`pwa`]: the service worker's registration and updates, persistent storage.
//!
//! `main` only mounts the app.

mod pages;
mod pwa;
mod route;
mod store;
mod sync;

fn main() {
    // The shipped shell traps on a panic before any hook runs (`xtask/src/dist.rs`); a shell
    // built with `NIMO_PANIC_MESSAGES=1` writes each panic's message to the console here.
    console_error_panic_hook::set_once();
    // The app-wide signals are created here, outside any component's owner: created lazily
    // inside a component, they would be disposed with it.
    let _ = sync::signals();
    let _ = route::current();
    let _ = pwa::signals();
    pwa::start();
    leptos::mount::mount_to_body(pages::App);
}
