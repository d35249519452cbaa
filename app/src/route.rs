//! A small client-side router: the path decides the page, `history.pushState` changes it.
//! (leptos_router would be one more dependency tree to build on two cores for four routes.)
//! The server answers every path without an extension with index.html.

use leptos::prelude::*;
use nimo_shared::sync::DocumentId;
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure};

/// The app's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/`: what nimo is for.
    Start,
    /// `/login`.
    Login,
    /// `/trainer`: the team's training sessions.
    Trainer,
    /// `/sessions/<document id>`: one session and its roster.
    Session(DocumentId),
    /// `/office`: the office's dashboard (reports and charts).
    Office,
    /// `/office/reconcile`: sync status, the conflict queue and likely duplicates.
    OfficeReconcile,
    /// `/visitor`: the visitor's assigned cases.
    Visitor,
    /// `/visits/<document id>`: one visit case.
    VisitCase(DocumentId),
    /// `/_debug/storage`: runs the chunk store conformance suite against IndexedDB.
    StorageCheck,
    /// Anything else.
    NotFound,
}

impl Route {
    /// The route of a path.
    pub fn parse(path: &str) -> Route {
        let path = path.trim_end_matches('/');
        match path {
            "" => Route::Start,
            "/login" => Route::Login,
            "/trainer" => Route::Trainer,
            "/office" => Route::Office,
            "/office/reconcile" => Route::OfficeReconcile,
            "/visitor" => Route::Visitor,
            "/_debug/storage" => Route::StorageCheck,
            _ => {
                if let Some(id) = path.strip_prefix("/visits/") {
                    return id.parse().map_or(Route::NotFound, Route::VisitCase);
                }
                path.strip_prefix("/sessions/")
                    .and_then(|id| id.parse().ok())
                    .map_or(Route::NotFound, Route::Session)
            }
        }
    }

    /// The path of a route.
    pub fn path(self) -> String {
        match self {
            Route::Start | Route::NotFound => "/".to_owned(),
            Route::Login => "/login".to_owned(),
            Route::Trainer => "/trainer".to_owned(),
            Route::Office => "/office".to_owned(),
            Route::OfficeReconcile => "/office/reconcile".to_owned(),
            Route::Session(id) => format!("/sessions/{id}"),
            Route::Visitor => "/visitor".to_owned(),
            Route::VisitCase(id) => format!("/visits/{id}"),
            Route::StorageCheck => "/_debug/storage".to_owned(),
        }
    }
}

thread_local! {
    static CURRENT: RwSignal<Route> = RwSignal::new(Route::parse(&current_path()));
}

fn current_path() -> String {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default()
}

/// The current route.
pub fn current() -> RwSignal<Route> {
    CURRENT.with(|c| *c)
}

/// Goes to `route`, adding a history entry.
pub fn navigate(route: Route) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&route.path()));
    }
    current().set(route);
}

/// Follows the browser's back and forward buttons (call once).
pub fn listen_to_history() {
    let on_pop = Closure::<dyn FnMut()>::new(|| current().set(Route::parse(&current_path())));
    if let Some(window) = web_sys::window() {
        let _ =
            window.add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
    }
    on_pop.forget();
}

/// A link to a route that navigates without reloading the page.
#[component]
pub fn Link(
    route: Route,
    children: Children,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    view! {
        <a
            href=route.path()
            class=class
            on:click=move |event| {
                event.prevent_default();
                navigate(route);
            }
        >
            {children()}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_routes_round_trip() {
        let id = DocumentId::from_random_bytes([3; 16]);
        for route in [
            Route::Start,
            Route::Login,
            Route::Trainer,
            Route::Office,
            Route::OfficeReconcile,
            Route::Session(id),
            Route::Visitor,
            Route::VisitCase(id),
        ] {
            assert_eq!(Route::parse(&route.path()), route);
        }
        assert_eq!(Route::parse("/sessions/not-an-id"), Route::NotFound);
        assert_eq!(Route::parse("/trainer/"), Route::Trainer);
    }
}
