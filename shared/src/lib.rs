//! nimo's shared core: the records, reference data, fiscal years and sync protocol that the app
//! (wasm) and the server both use. No IO lives here: no tokio, no SQLite, no web-sys; time and
//! randomness are passed in by the caller.
