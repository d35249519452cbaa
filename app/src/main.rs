//! nimo's field app: a Leptos client-side-rendered PWA compiled to wasm.
//!
//! `main` only mounts the app; pages live in [`pages`].

mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(pages::App);
}
