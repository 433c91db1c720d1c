//! The API flags every API command shares, and the client they build.
//!
//! `--sandbox` starts the embedded CertCentral emulator (`certcentral-sandbox`) inside this
//! process on a random loopback port, with automatic approval and a generated API key, and
//! points the client at it: no account and no network needed. It remembers between commands:
//! its CA, orders, requests, certificates and clock are kept in a per-user SQLite file
//! ([`default_sandbox_state`]: `$XDG_DATA_HOME/certcentral/sandbox.sqlite3`, else
//! `$HOME/.local/share/certcentral/sandbox.sqlite3`; directory 0700, file 0600: it holds the
//! test CA's key), or in the file `--sandbox-state FILE` (or `CERTCENTRAL_SANDBOX_STATE`)
//! names. Commands on one file wait for each other. `--sandbox-state :memory:` keeps the state
//! in memory only (forgotten when the command ends), and so does a user without `HOME` or
//! `XDG_DATA_HOME` (with a warning).

use std::path::PathBuf;

use certcentral_client::{Client, RateLimits, Region, RetryPolicy};
#[cfg(feature = "sandbox")]
use certcentral_sandbox::{Approval, RateLimit, Sandbox};

/// The embedded sandbox a connection talks to (nothing, in a build without the `sandbox`
/// feature).
#[cfg(feature = "sandbox")]
type Embedded = certcentral_sandbox::RunningSandbox;
#[cfg(not(feature = "sandbox"))]
type Embedded = std::convert::Infallible;

/// What `--sandbox` says in a build without the embedded sandbox.
pub const NO_SANDBOX: &str = "this certcentral was built without the embedded sandbox (cargo \
feature `sandbox`, on by default): reinstall it with default features, or run `certcentral \
sandbox` from a full build and pass its address with --base-url";

use crate::credentials::{self, API_KEY_FILE_ENV, RegionArg};
use crate::error::{CliError, Failure};

/// Flags shared by every command that talks to the API.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ApiArgs {
    /// Use the built-in sandbox (an emulator of the API, started in this process with
    /// automatic approval and a generated API key) instead of DigiCert. Nothing is paid; the
    /// certificates come from a test CA. It remembers its orders between commands in
    /// $XDG_DATA_HOME/certcentral/sandbox.sqlite3 (default ~/.local/share/certcentral/...; see
    /// --sandbox-state).
    #[arg(long, conflicts_with_all = ["region", "base_url"])]
    pub sandbox: bool,
    /// DigiCert region: us (www.digicert.com) or eu (certcentral.digicert.eu). Default us.
    #[arg(long, value_enum, value_name = "REGION", conflicts_with = "base_url")]
    pub region: Option<RegionArg>,
    /// API root URL including /services/v2 (https; plain http only to a loopback address).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Read the API key from this file instead of the DIGICERT_API_KEY environment variable.
    #[arg(long, value_name = "FILE", env = API_KEY_FILE_ENV, hide_env_values = true)]
    pub api_key_file: Option<PathBuf>,
    /// With --sandbox: keep the sandbox's orders, certificates and CA in this SQLite file
    /// instead of the per-user default (created 0600; commands on one file wait for each
    /// other). `:memory:` keeps nothing: the sandbox forgets everything when the command ends.
    /// Without HOME or XDG_DATA_HOME (and without this) the state is kept in memory, with a
    /// warning.
    #[arg(long, value_name = "FILE|:memory:", env = SANDBOX_STATE_ENV)]
    pub sandbox_state: Option<PathBuf>,
    /// With --sandbox: start from an empty state (new test CA, no orders); order ids keep
    /// increasing.
    #[arg(long, requires = "sandbox")]
    pub sandbox_reset: bool,
}

/// The environment variable naming the `--sandbox-state` file.
pub const SANDBOX_STATE_ENV: &str = "CERTCENTRAL_SANDBOX_STATE";

/// The `--sandbox-state` value that keeps the embedded sandbox's state in memory only.
pub const SANDBOX_IN_MEMORY: &str = ":memory:";

/// Where an embedded sandbox keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxStore {
    /// A SQLite file, kept between commands.
    File(PathBuf),
    /// Memory only: forgotten when the command ends.
    Memory,
}

/// The per-user default sandbox state file, following the XDG base directory spec:
/// `$XDG_DATA_HOME/certcentral/sandbox.sqlite3` when `XDG_DATA_HOME` is an absolute path,
/// else `$HOME/.local/share/certcentral/sandbox.sqlite3`; `None` without either. `var` reads
/// the environment (a parameter so tests need not change the process's environment).
pub fn default_sandbox_state(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let absolute = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let data = absolute("XDG_DATA_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local").join("share")))?;
    Some(data.join("certcentral").join("sandbox.sqlite3"))
}

/// Creates `dir` and its missing parents with mode 0700 (they will hold the test CA's key).
pub fn create_private_dir(dir: &std::path::Path) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|err| {
        CliError::failed(format!(
            "cannot create the sandbox state directory {}: {err}",
            dir.display()
        ))
    })
}

impl ApiArgs {
    /// Where `--sandbox` keeps its state: `--sandbox-state` (`:memory:`: memory), else the
    /// per-user default file (its directory is created 0700), else, without a home
    /// directory, memory with a warning.
    pub fn sandbox_store(&self) -> Result<SandboxStore, CliError> {
        if let Some(path) = &self.sandbox_state {
            if path.as_os_str() == SANDBOX_IN_MEMORY {
                return Ok(SandboxStore::Memory);
            }
            return Ok(SandboxStore::File(path.clone()));
        }
        let Some(path) = default_sandbox_state(|name| std::env::var_os(name)) else {
            tracing::warn!(
                "neither HOME nor XDG_DATA_HOME is set (to an absolute path): the embedded \
                 sandbox keeps its state in memory and forgets it when this command ends (set \
                 {SANDBOX_STATE_ENV}=FILE to keep it)"
            );
            return Ok(SandboxStore::Memory);
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        Ok(SandboxStore::File(path))
    }
}

/// How long a `--sandbox` command waits for another one using the same state file.
#[cfg(feature = "sandbox")]
const SANDBOX_STATE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A client, and the embedded sandbox it talks to when `--sandbox` was given.
#[derive(Debug)]
pub struct Connection {
    /// The API client.
    pub client: Client,
    sandbox: Option<Embedded>,
    /// Whether the embedded sandbox keeps its state in a file.
    sandbox_state: bool,
    /// The flags that reach the same API again in a later command (hints).
    again: String,
}

impl ApiArgs {
    /// Checks the endpoint flags without connecting (a bad `--base-url` is a usage error).
    pub fn check(&self) -> Result<(), CliError> {
        if let Some(url) = &self.base_url {
            credentials::check_base_url(url)?;
        }
        Ok(())
    }

    /// Builds the client with the documented rate limits ([`RateLimits::documented`]); see
    /// [`ApiArgs::connect_with`].
    pub async fn connect(&self) -> Result<Connection, CliError> {
        self.connect_with(RateLimits::documented(), RetryPolicy::default())
            .await
    }

    /// Builds the client: starts the sandbox for `--sandbox`, otherwise loads the API key
    /// (environment or file), uses `--base-url` or `--region`, and keeps under `limits`.
    /// The embedded sandbox enforces the documented limits, so with `--sandbox` the client
    /// always uses [`RateLimits::documented`] and `limits` is ignored. Failed calls are
    /// retried by `retry` (its deadline bounds each call in wall-clock time).
    pub async fn connect_with(
        &self,
        limits: RateLimits,
        retry: RetryPolicy,
    ) -> Result<Connection, CliError> {
        if self.sandbox {
            return self.embedded(retry).await;
        }
        self.check()?;
        let key = credentials::load_api_key(self.api_key_file.as_deref())?;
        let builder = Client::builder()
            .api_key(key)
            .rate_limits(limits)
            .retry_policy(retry);
        let builder = match (&self.base_url, self.region.unwrap_or_default()) {
            (Some(url), _) => builder.base_url(url.clone()),
            (None, RegionArg::Us) => builder.region(Region::Us),
            (None, RegionArg::Eu) => builder.region(Region::Eu),
        };
        let client = builder.build().map_err(client_error)?;
        tracing::debug!(base_url = client.base_url(), "client ready");
        Ok(Connection {
            client,
            sandbox: None,
            sandbox_state: false,
            again: String::new(),
        })
    }
}

impl ApiArgs {
    /// Starts the embedded sandbox (`--sandbox`) and a client for it.
    #[cfg(feature = "sandbox")]
    async fn embedded(&self, retry: RetryPolicy) -> Result<Connection, CliError> {
        let mut builder = Sandbox::builder()
            .approval(Approval::Auto)
            .rate_limit(RateLimit::Real);
        let store = self.sandbox_store()?;
        if let SandboxStore::File(path) = &store {
            tracing::debug!(state = %path.display(), "embedded sandbox state file");
            builder = builder
                .state_file(path)
                .state_file_wait(SANDBOX_STATE_WAIT)
                .reset_state(self.sandbox_reset);
        }
        let sandbox = builder
            .start(([127, 0, 0, 1], 0).into())
            .await
            .map_err(|e| {
                let hint = match (&store, &e) {
                    (SandboxStore::File(_), certcentral_sandbox::SandboxError::State(_)) => {
                        " (if the state file is damaged, --sandbox-reset starts afresh; \
                         --sandbox-state :memory: uses no file)"
                    }
                    _ => "",
                };
                CliError::failed(format!("cannot start the embedded sandbox: {e}{hint}"))
            })?;
        tracing::info!(base_url = sandbox.base_url(), "embedded sandbox started");
        let client = Client::builder()
            .api_key(secrecy::SecretString::from(sandbox.api_key()))
            .base_url(sandbox.base_url())
            .retry_policy(retry)
            .build()
            .map_err(client_error)?;
        Ok(Connection {
            client,
            sandbox: Some(sandbox),
            sandbox_state: matches!(store, SandboxStore::File(_)),
            again: match (&store, &self.sandbox_state) {
                (SandboxStore::File(path), Some(_)) => {
                    format!(" --sandbox --sandbox-state {}", path.display())
                }
                _ => " --sandbox".to_owned(),
            },
        })
    }

    /// `--sandbox` in a build without the embedded sandbox: a usage error saying how to get it.
    #[cfg(not(feature = "sandbox"))]
    async fn embedded(&self, _retry: RetryPolicy) -> Result<Connection, CliError> {
        Err(CliError::usage(NO_SANDBOX))
    }
}

impl Connection {
    /// Whether this connection uses the embedded sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Whether this connection uses an embedded sandbox that forgets everything when the
    /// command ends (`--sandbox-state :memory:`, or no home directory).
    pub fn sandbox_forgets(&self) -> bool {
        self.sandbox.is_some() && !self.sandbox_state
    }

    /// The flags a later command needs to reach the same API when this one used the embedded
    /// sandbox (` --sandbox`, with `--sandbox-state FILE` when one was named), for hints such
    /// as ``certcentral status 100001 --sandbox``; empty otherwise.
    pub fn again_flags(&self) -> &str {
        &self.again
    }

    /// Stops the embedded sandbox, if any.
    pub async fn close(self) {
        #[cfg(feature = "sandbox")]
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
        #[cfg(not(feature = "sandbox"))]
        if let Some(never) = self.sandbox {
            match never {}
        }
    }
}

/// Maps a client error to the CLI's error: API errors keep every `errors` entry (exit 1), an
/// unknown order outcome is exit 4, bad configuration is a usage error (exit 2).
pub fn client_error(err: certcentral_client::Error) -> CliError {
    use certcentral_client::Error as E;
    match err {
        E::Invalid(report) => crate::request::invalid(report),
        E::Api { status, errors } => CliError::Failed(Box::new(Failure {
            message: format!("the API answered with an error (HTTP {status})"),
            http_status: Some(status),
            api_errors: errors
                .into_iter()
                .map(|e| certcentral_types::ApiErrorEntry {
                    code: e.code,
                    message: e.message,
                })
                .collect(),
            violations: Vec::new(),
        })),
        E::OutcomeUnknown(unknown) => CliError::Unknown {
            message: format!(
                "the order was sent but no usable answer came back ({}), so it may or may not exist. \
                 Do not order again before checking: run `certcentral orders --common-name {:?}` \
                 (or look in CertCentral under Certificates > Orders) for a {} order created since {}",
                unknown.cause,
                unknown.common_name,
                unknown.product,
                unknown.sent_at.to_rfc3339()
            ),
        },
        E::InvalidArgument(message) => CliError::usage(message),
        other => CliError::Failed(Box::new(Failure {
            message: other.to_string(),
            http_status: other.status(),
            ..Failure::default()
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certcentral_client::{ApiError, Error, UnknownOutcome};
    use certcentral_types::ProductId;

    #[test]
    fn default_sandbox_state_follows_the_xdg_spec() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let file = |dir: &str| Some(PathBuf::from(dir).join("certcentral/sandbox.sqlite3"));
        assert_eq!(
            default_sandbox_state(env(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/u")])),
            file("/data")
        );
        // Unset, empty or relative XDG_DATA_HOME: $HOME/.local/share.
        for xdg in ["", "relative/data"] {
            let vars: &'static [(&str, &str)] = if xdg.is_empty() {
                &[("XDG_DATA_HOME", ""), ("HOME", "/home/u")]
            } else {
                &[("XDG_DATA_HOME", "relative/data"), ("HOME", "/home/u")]
            };
            assert_eq!(
                default_sandbox_state(env(vars)),
                file("/home/u/.local/share")
            );
        }
        assert_eq!(
            default_sandbox_state(env(&[("HOME", "/home/u")])),
            file("/home/u/.local/share")
        );
        assert_eq!(default_sandbox_state(env(&[("HOME", "")])), None);
        assert_eq!(default_sandbox_state(env(&[])), None);
    }

    #[test]
    fn sandbox_state_memory_and_named_files() {
        let named = |value: &str| ApiArgs {
            sandbox: true,
            sandbox_state: Some(PathBuf::from(value)),
            ..ApiArgs::default()
        };
        assert_eq!(
            named(SANDBOX_IN_MEMORY).sandbox_store().unwrap(),
            SandboxStore::Memory
        );
        assert_eq!(
            named("/tmp/x.sqlite3").sandbox_store().unwrap(),
            SandboxStore::File(PathBuf::from("/tmp/x.sqlite3"))
        );
    }

    #[test]
    fn api_errors_keep_every_entry() {
        let err = client_error(Error::Api {
            status: 400,
            errors: vec![
                ApiError {
                    code: "invalid_value:validity_years".into(),
                    message: "bad years".into(),
                },
                ApiError {
                    code: "required_param:certificate.emails".into(),
                    message: "no emails".into(),
                },
            ],
        });
        assert_eq!(err.exit_code(), crate::exit::FAILED);
        let text = err.render();
        assert!(text.contains("HTTP 400"), "{text}");
        assert!(
            text.contains("  invalid_value:validity_years: bad years"),
            "{text}"
        );
        assert!(
            text.contains("  required_param:certificate.emails: no emails"),
            "{text}"
        );
    }

    #[test]
    fn unknown_outcome_is_exit_4_and_says_how_to_check() {
        let err = client_error(Error::OutcomeUnknown(Box::new(UnknownOutcome {
            product: ProductId::ClientPremiumSha2.to_string(),
            common_name: "Locke Cole".into(),
            emails: vec!["locke.cole@example.com".into()],
            sent_at: chrono::Utc::now(),
            status: Some(502),
            cause: "the server failed".into(),
        })));
        assert_eq!(err.exit_code(), crate::exit::UNKNOWN);
        let text = err.to_string();
        assert!(text.contains("may or may not exist"), "{text}");
        assert!(
            text.contains("certcentral orders --common-name \"Locke Cole\""),
            "{text}"
        );
    }

    #[test]
    fn configuration_errors_are_usage_errors() {
        let err = client_error(Error::InvalidArgument("the api key is empty".into()));
        assert_eq!(err.exit_code(), crate::exit::USAGE);
        let err = client_error(Error::RateLimited { retry_after: None });
        assert_eq!(err.exit_code(), crate::exit::FAILED);
        let args = ApiArgs {
            base_url: Some("http://example.com/services/v2".into()),
            ..ApiArgs::default()
        };
        assert_eq!(args.check().unwrap_err().exit_code(), crate::exit::USAGE);
    }
}
