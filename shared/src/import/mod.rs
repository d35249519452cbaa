//! Reading files people bring: pure parsers (text in, records or row-level errors in Japanese
//! out), shared by the server's import endpoints and the app.

pub mod roster_csv;
