//! Server configuration, layered: built-in defaults, then an optional TOML file, then `NIMO_*`
//! environment variables (the last one wins), then command-line flags applied by the binary.
//!
//! Loading is a pure function of the file text and the environment pairs so that every layer is
//! tested without touching the process environment.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// Everything the server needs to start.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Address the HTTP and WebSocket listener binds to.
    pub listen: SocketAddr,
    /// Directory holding the SQLite database; created on first start.
    pub data_dir: PathBuf,
    /// Directory of the built app shell (`cargo xtask build` writes it).
    pub dist_dir: PathBuf,
    /// Origins allowed to open a sync WebSocket besides the server's own.
    pub allowed_origins: Vec<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// A document whose stored chunks exceed this many bytes accepts no more changes (it stays
    /// readable). Records stay under ~10 KB (DESIGN.md); the limit stops one runaway or hostile
    /// document from filling the disk.
    pub max_document_bytes: u64,
    /// The server sits behind a reverse proxy that terminates TLS (docs/tls.md): the client
    /// address is the last `X-Forwarded-For` entry, `X-Forwarded-Proto: https` turns on HSTS
    /// and `Secure` cookies. Never set it when clients reach the server directly, or they
    /// choose their own address for the login throttle.
    pub behind_proxy: bool,
    /// How many samod repositories the documents are sharded over (`sync::shards`): samod's
    /// hub does work per event proportional to its connections × its loaded documents, and
    /// keeps a sync state for each such pair, so each shard holds a K-th of the documents and
    /// only the connections that use them. 64 by default (BENCH-RESULTS.md, session 16): since
    /// first pushes and reads of stored documents are answered without samod (`cold_read`),
    /// W2 measured the same with 16, 64 and 256 shards and `bench load` (300 connections) the
    /// same with 64 and 256, while each shard ticks ten times a second: 256 cost an idle server
    /// ~1% of a core, and W1's server CPU was 0.33 s against 0.30 s with 64.
    /// (Session 11 chose 256 when every exchange went through samod.) Changing it between
    /// starts is safe: a document moves to another shard, which loads it from storage.
    pub sync_shards: usize,
    /// Per-connection limits on sync frames (built in; not read from the file or environment,
    /// tests lower them).
    pub sync_rate_limit: crate::sync::rate::RateLimit,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for a log collector.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            dist_dir: PathBuf::from("dist"),
            allowed_origins: Vec::new(),
            log_format: LogFormat::Pretty,
            max_document_bytes: 8 * 1024 * 1024,
            behind_proxy: false,
            sync_shards: 64,
            sync_rate_limit: crate::sync::rate::RateLimit::default(),
        }
    }
}

// Written by hand so that secrets added later can never reach a log line by accident.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("dist_dir", &self.dist_dir)
            .field("allowed_origins", &self.allowed_origins)
            .field("log_format", &self.log_format)
            .field("max_document_bytes", &self.max_document_bytes)
            .field("behind_proxy", &self.behind_proxy)
            .field("sync_shards", &self.sync_shards)
            .field("sync_rate_limit", &self.sync_rate_limit)
            .finish()
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}")]
    Read {
        /// The file named on the command line.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this schema.
    #[error("the configuration file {path} is invalid")]
    Parse {
        /// The file named on the command line.
        path: PathBuf,
        /// What the TOML parser reported.
        #[source]
        source: toml::de::Error,
    },
    /// An environment variable holds a value of the wrong shape.
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Env {
        /// The variable, e.g. `NIMO_LISTEN`.
        name: String,
        /// The value found.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// `sync_shards` is 0 or more than [`MAX_SYNC_SHARDS`].
    #[error("sync_shards must be between 1 and {max}, not {value}")]
    SyncShards {
        /// The value found.
        value: usize,
        /// [`MAX_SYNC_SHARDS`].
        max: usize,
    },
}

/// The most shards allowed: each is a samod repository with its own tasks (1,024 used more
/// memory than 256 in W2, session 11).
pub const MAX_SYNC_SHARDS: usize = 256;

/// The file layer: every key optional, unknown keys rejected so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    dist_dir: Option<PathBuf>,
    allowed_origins: Option<Vec<String>>,
    log_format: Option<LogFormat>,
    max_document_bytes: Option<u64>,
    behind_proxy: Option<bool>,
    sync_shards: Option<usize>,
}

impl Config {
    /// Loads defaults, then `file` if given, then the `NIMO_*` variables of the process.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Self::from_layers(
            text.as_deref().zip(file),
            std::env::vars().filter(|(k, _)| k.starts_with("NIMO_")),
        )
    }

    /// Builds a configuration from the TOML text of a file (with its path, for errors) and
    /// environment pairs.
    pub fn from_layers(
        file: Option<(&str, &Path)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some((text, path)) = file {
            let layer: FileLayer = toml::from_str(text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
            config.apply_file(layer);
        }
        for (name, value) in env {
            config.apply_env(&name, value)?;
        }
        if !(1..=MAX_SYNC_SHARDS).contains(&config.sync_shards) {
            return Err(ConfigError::SyncShards {
                value: config.sync_shards,
                max: MAX_SYNC_SHARDS,
            });
        }
        Ok(config)
    }

    fn apply_file(&mut self, layer: FileLayer) {
        if let Some(listen) = layer.listen {
            self.listen = listen;
        }
        if let Some(dir) = layer.data_dir {
            self.data_dir = dir;
        }
        if let Some(dir) = layer.dist_dir {
            self.dist_dir = dir;
        }
        if let Some(origins) = layer.allowed_origins {
            self.allowed_origins = origins;
        }
        if let Some(format) = layer.log_format {
            self.log_format = format;
        }
        if let Some(bytes) = layer.max_document_bytes {
            self.max_document_bytes = bytes;
        }
        if let Some(behind_proxy) = layer.behind_proxy {
            self.behind_proxy = behind_proxy;
        }
        if let Some(shards) = layer.sync_shards {
            self.sync_shards = shards;
        }
    }

    fn apply_env(&mut self, name: &str, value: String) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::Env {
            name: name.to_owned(),
            value: value.clone(),
            reason,
        };
        match name {
            "NIMO_LISTEN" => {
                self.listen = value
                    .parse()
                    .map_err(|_| invalid("expected an address such as 127.0.0.1:8080"))?;
            }
            "NIMO_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "NIMO_DIST_DIR" => self.dist_dir = PathBuf::from(value),
            "NIMO_ALLOWED_ORIGINS" => {
                self.allowed_origins = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "NIMO_LOG_FORMAT" => {
                self.log_format = match value.as_str() {
                    "pretty" => LogFormat::Pretty,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid("expected pretty or json")),
                };
            }
            "NIMO_MAX_DOCUMENT_BYTES" => {
                self.max_document_bytes = value
                    .parse()
                    .map_err(|_| invalid("expected a number of bytes"))?;
            }
            "NIMO_BEHIND_PROXY" => {
                self.behind_proxy = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("expected true or false")),
                };
            }
            "NIMO_SYNC_SHARDS" => {
                self.sync_shards = value
                    .parse()
                    .map_err(|_| invalid("expected a number of shards"))?;
            }
            // Other NIMO_* variables belong to other tools (NIMO_LOG is the log filter).
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_loopback_port_8080() {
        let config = Config::from_layers(None, env(&[])).expect("defaults load");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let file = "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/nimo\"\nlog_format = \"json\"\n";
        let config = Config::from_layers(
            Some((file, Path::new("nimo.toml"))),
            env(&[("NIMO_LISTEN", "127.0.0.1:9100")]),
        )
        .expect("layers load");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9100)));
        assert_eq!(config.data_dir, PathBuf::from("/srv/nimo"));
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_not_ignored() {
        let result = Config::from_layers(Some(("lisen = \"x\"", Path::new("nimo.toml"))), env(&[]));
        assert!(matches!(result, Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn a_malformed_environment_value_names_the_variable() {
        let error = Config::from_layers(None, env(&[("NIMO_LISTEN", "eight-oh-eighty")]))
            .expect_err("bad address");
        assert!(error.to_string().contains("NIMO_LISTEN"), "{error}");
    }

    #[test]
    fn allowed_origins_are_split_on_commas() {
        let config = Config::from_layers(
            None,
            env(&[(
                "NIMO_ALLOWED_ORIGINS",
                "https://a.example, https://b.example,",
            )]),
        )
        .expect("origins load");
        assert_eq!(
            config.allowed_origins,
            vec![
                "https://a.example".to_owned(),
                "https://b.example".to_owned()
            ]
        );
    }

    #[test]
    fn sync_shards_default_to_64_and_layer_like_the_rest() {
        let config = Config::from_layers(None, env(&[])).expect("defaults load");
        assert_eq!(config.sync_shards, 64);
        let config = Config::from_layers(
            Some(("sync_shards = 4\n", Path::new("nimo.toml"))),
            env(&[]),
        )
        .expect("file loads");
        assert_eq!(config.sync_shards, 4);
        let config = Config::from_layers(
            Some(("sync_shards = 4\n", Path::new("nimo.toml"))),
            env(&[("NIMO_SYNC_SHARDS", "128")]),
        )
        .expect("environment loads");
        assert_eq!(config.sync_shards, 128);
    }

    #[test]
    fn zero_shards_is_an_error() {
        let result = Config::from_layers(None, env(&[("NIMO_SYNC_SHARDS", "0")]));
        assert!(matches!(
            result,
            Err(ConfigError::SyncShards { value: 0, .. })
        ));
        let result = Config::from_layers(None, env(&[("NIMO_SYNC_SHARDS", "many")]));
        assert!(matches!(result, Err(ConfigError::Env { .. })));
    }
}
