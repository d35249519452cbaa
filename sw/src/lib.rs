//! nimo's service worker, in Rust. `public/sw.js` registers the event listeners (the platform
//! requires them at start-up, before any wasm can load) and hands each event to this module.
//!
//! - **install**: every file of this build (the list and version are written into `sw.js` by
//!   `cargo xtask build`) goes into one cache named after the version; one failed fetch fails
//!   the install, so a half-cached shell never takes over.
//! - **activate**: caches of other versions are deleted and open pages are taken over (on the
//!   first install, so the page that installed it works offline without a reload).
//! - **fetch**: the shell is served cache-first; a page navigation gets the cached
//!   `index.html` (the app routes on the client); anything else goes to the network and falls
//!   back to the cache. `/api/` never reaches here (the shim passes it through).
//! - **message** `skip-waiting`: the page decided the update may take over (no unsynced change
//!   can be lost), see the app's `pwa` module.
//!
//! A new version waits (`installed`, not active) until the page sends `skip-waiting`.

use std::cell::RefCell;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{Cache, Request, RequestCache, RequestInit, Response, ServiceWorkerGlobalScope};

/// The prefix of every cache this worker owns.
const CACHE_PREFIX: &str = "nimo-shell-";
/// What a navigation is answered with: the app shell.
const SHELL: &str = "/index.html";

struct Build {
    version: String,
    files: Vec<String>,
}

thread_local! {
    static BUILD: RefCell<Option<Build>> = const { RefCell::new(None) };
}

fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn cache_name() -> Result<String, JsValue> {
    BUILD.with(|b| {
        b.borrow()
            .as_ref()
            .map(|b| format!("{CACHE_PREFIX}{}", b.version))
            .ok_or_else(|| JsValue::from_str("the service worker is not configured"))
    })
}

/// Sets this build's version and files (called once by the shim, before any event).
#[wasm_bindgen]
pub fn configure(version: String, files: Vec<String>) {
    BUILD.with(|b| *b.borrow_mut() = Some(Build { version, files }));
}

async fn open_cache() -> Result<Cache, JsValue> {
    let caches = scope().caches()?;
    Ok(JsFuture::from(caches.open(&cache_name()?))
        .await?
        .unchecked_into())
}

/// `install`: caches every file of this build.
#[wasm_bindgen]
pub fn install() -> Promise {
    future_to_promise(async {
        let files = BUILD.with(|b| b.borrow().as_ref().map(|b| b.files.clone()));
        let files = files.ok_or_else(|| JsValue::from_str("not configured"))?;
        let cache = open_cache().await?;
        let requests = Array::new();
        for file in files {
            // Past the HTTP cache: a stale index.html would point at files of another build.
            let init = RequestInit::new();
            init.set_cache(RequestCache::Reload);
            let request = Request::new_with_str_and_init(&file, &init)?;
            requests.push(&request);
        }
        JsFuture::from(cache.add_all_with_request_sequence(&requests)).await?;
        Ok(JsValue::UNDEFINED)
    })
}

/// `activate`: removes other versions' caches and takes over open pages.
#[wasm_bindgen]
pub fn activate() -> Promise {
    future_to_promise(async {
        let current = cache_name()?;
        let caches = scope().caches()?;
        let names: Array = JsFuture::from(caches.keys()).await?.unchecked_into();
        for name in names.iter().filter_map(|n| n.as_string()) {
            if name.starts_with(CACHE_PREFIX) && name != current {
                JsFuture::from(caches.delete(&name)).await?;
            }
        }
        JsFuture::from(scope().clients().claim()).await?;
        Ok(JsValue::UNDEFINED)
    })
}

/// Whether `path` is a page of the app rather than a file: the server answers those with
/// `index.html` too.
fn is_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    !last.contains('.')
}

async fn cached(cache: &Cache, key: &str) -> Result<Option<Response>, JsValue> {
    let hit = JsFuture::from(cache.match_with_str(key)).await?;
    Ok(hit.dyn_into::<Response>().ok())
}

/// `fetch` for a same-origin GET outside `/api/`.
#[wasm_bindgen]
pub fn respond(request: Request) -> Promise {
    future_to_promise(async move {
        let url = web_sys::Url::new(&request.url())?;
        let path = url.pathname();
        let cache = open_cache().await?;
        let key = if is_page(&path) {
            SHELL.to_owned()
        } else {
            path
        };
        if let Some(hit) = cached(&cache, &key).await? {
            return Ok(hit.into());
        }
        JsFuture::from(scope().fetch_with_request(&request)).await
    })
}

/// `message`: `skip-waiting` lets this (waiting) version take over.
#[wasm_bindgen]
pub fn message(data: JsValue) -> Promise {
    if data.as_string().as_deref() == Some("skip-waiting") {
        return scope()
            .skip_waiting()
            .unwrap_or_else(|error| Promise::reject(&error));
    }
    Promise::resolve(&JsValue::UNDEFINED)
}

#[cfg(test)]
mod tests {
    use super::is_page;

    #[test]
    fn pages_are_paths_without_a_file_extension() {
        assert!(is_page("/"));
        assert!(is_page("/trainer"));
        assert!(is_page("/sessions/2Xq9abc"));
        assert!(!is_page("/nimo-app-0123456789abcdef.js"));
        assert!(!is_page("/icons/icon-192.png"));
        assert!(!is_page("/manifest.webmanifest"));
    }
}
