//! The `[checks.NAME]` resource: a probe run after its dependencies on every apply.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// A check; checks are not changes, they run on every apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CheckFields")]
pub struct CheckSpec {
    /// What the check probes.
    pub probe: Probe,
    /// How long one attempt may take.
    pub timeout: Option<Duration>,
    /// How many more attempts after a failure.
    pub retries: u32,
    /// The pause between attempts.
    pub interval: Option<Duration>,
    /// Addresses (or globs) this check runs after.
    pub depends_on: Vec<String>,
}

/// What a check probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// An HTTP GET.
    Http(HttpProbe),
    /// A command, run without a shell.
    Run {
        /// The program and its arguments; a relative program path is relative to the spec.
        argv: Vec<String>,
        /// The working folder, relative to the spec; the spec's folder by default.
        workdir: Option<PathBuf>,
        /// Extra environment variables.
        env: BTreeMap<String, String>,
    },
    /// Every pod matching a selector is Ready.
    PodsReady(PodsReady),
}

/// An HTTP GET and what its answer must be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The address to get.
    pub url: String,
    /// The expected status code.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

fn default_status() -> u16 {
    200
}

/// Pods that must all be Ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodsReady {
    /// Their namespace.
    pub namespace: String,
    /// A label selector choosing them.
    pub selector: String,
}

/// The most retries a check may ask for.
pub const MOST_RETRIES: u32 = 1000;

/// The fields as written, before the one-probe rule is applied.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFields {
    http: Option<HttpProbe>,
    run: Option<Vec<String>>,
    workdir: Option<PathBuf>,
    env: Option<BTreeMap<String, String>>,
    pods_ready: Option<PodsReady>,
    timeout: Option<Duration>,
    #[serde(default)]
    retries: u32,
    interval: Option<Duration>,
    #[serde(default)]
    depends_on: Vec<String>,
}

impl TryFrom<CheckFields> for CheckSpec {
    type Error = String;

    fn try_from(f: CheckFields) -> Result<Self, Self::Error> {
        let is_run = f.run.is_some();
        let probe = match (f.http, f.run, f.pods_ready) {
            (Some(http), None, None) => Probe::Http(http),
            (None, Some(argv), None) => {
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err("`run` needs a program: `run = [\"./script.sh\", \"arg\"]`".into());
                }
                Probe::Run {
                    argv,
                    workdir: f.workdir.clone(),
                    env: f.env.clone().unwrap_or_default(),
                }
            }
            (None, None, Some(pods)) => Probe::PodsReady(pods),
            (None, None, None) => {
                return Err("a check needs one of `http`, `run` or `pods_ready`".into());
            }
            _ => return Err("set only one of `http`, `run` or `pods_ready`".into()),
        };
        if f.retries > MOST_RETRIES {
            return Err(format!(
                "`retries` may be {MOST_RETRIES} at most (it is {})",
                f.retries
            ));
        }
        if !is_run && (f.workdir.is_some() || f.env.is_some()) {
            return Err("`workdir` and `env` go with `run` only".into());
        }
        Ok(CheckSpec {
            probe,
            timeout: f.timeout,
            retries: f.retries,
            interval: f.interval,
            depends_on: f.depends_on,
        })
    }
}
