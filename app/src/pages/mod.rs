//! The app's pages.

mod start;

pub use start::App;
