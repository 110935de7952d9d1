//! The check provider: owns `checks.*`, probes run after their dependencies
//! on every apply (HTTP, a command, pods ready), each attempt bounded by the
//! check's timeout and retried as it says. Checks are not changes: there is
//! nothing to observe, and the plan shows what each will run. A failing
//! check says what explains it: the response or output, and the state of
//! the pods involved (their states, recent events, last log lines).

use std::path::PathBuf;
use std::time::Duration;

use kindform_api::check::Probe;
use kindform_api::provider::{Diff, Outcome, Progress, Provider, Resolve, error_chain};
use kindform_api::{CheckSpec, check::HttpProbe};
use serde::Serialize;
use serde_json::json;

/// How long one attempt may take when the check gives no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a pods-ready attempt looks again.
const POLL: Duration = Duration::from_millis(500);
/// The pause between attempts when the check gives no `interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// A check as the engine runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredCheck {
    pub spec: CheckSpec,
    /// The namespaces of what it depends on, whose pods explain a failure.
    pub namespaces: Vec<String>,
}

/// Runs checks.
pub struct CheckProvider {
    base_dir: PathBuf,
    client: Option<kube::Client>,
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Every attempt failed.
    #[error("{what} failed after {attempts} attempt{}: {last}{}", if *attempts == 1 { "" } else { "s" }, explain(explanation))]
    Failed {
        /// The probe, in words.
        what: String,
        /// How many attempts were made.
        attempts: u32,
        /// Why the last attempt failed.
        last: String,
        /// What explains it.
        explanation: String,
    },
}

fn explain(explanation: &str) -> String {
    if explanation.is_empty() {
        String::new()
    } else {
        format!(
            "\n{}",
            explanation
                .lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// What a check will run, in one line.
pub fn describe(check: &CheckSpec) -> String {
    let attempts = if check.retries > 0 {
        format!(", up to {} attempts", check.retries.saturating_add(1))
    } else {
        String::new()
    };
    match &check.probe {
        Probe::Http(http) => {
            let body = http
                .body_contains
                .as_deref()
                .map(|b| format!(" containing {b:?}"))
                .unwrap_or_default();
            format!("GET {} expecting {}{body}{attempts}", http.url, http.status)
        }
        Probe::Run { argv, .. } => format!("run {}{attempts}", argv.join(" ")),
        Probe::PodsReady(p) => format!(
            "every pod of {} matching {} Ready{attempts}",
            p.namespace, p.selector
        ),
    }
}

impl CheckProvider {
    /// Runs commands in `base_dir` (the spec's folder) and reads pods
    /// through `client` (none before the cluster exists).
    pub fn new(base_dir: PathBuf, client: Option<kube::Client>) -> Self {
        CheckProvider { base_dir, client }
    }

    async fn http(&self, http: &HttpProbe, timeout: Duration) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(&http.url)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if status != http.status {
            return Err(format!(
                "status {status}, expected {}; body: {}",
                http.status,
                snippet(&body)
            ));
        }
        if let Some(wanted) = &http.body_contains {
            if !body.contains(wanted.as_str()) {
                return Err(format!(
                    "the body does not contain {wanted:?}: {}",
                    snippet(&body)
                ));
            }
        }
        Ok(())
    }

    async fn run(
        &self,
        argv: &[String],
        workdir: Option<&PathBuf>,
        env: &std::collections::BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<(), String> {
        let dir = match workdir {
            Some(w) => self.base_dir.join(w),
            None => self.base_dir.clone(),
        };
        let program = if argv[0].contains('/') {
            dir.join(&argv[0]).into_os_string()
        } else {
            argv[0].clone().into()
        };
        let child = tokio::process::Command::new(program)
            .args(&argv[1..])
            .current_dir(&dir)
            .envs(env)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(timeout, child)
            .await
            .map_err(|_| format!("still running after {}s", timeout.as_secs()))?
            .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "{}; last output:\n{}",
            match output.status.code() {
                Some(code) => format!("exit {code}"),
                None => "killed by a signal".to_owned(),
            },
            tail.join("\n")
        ))
    }

    async fn pods_ready(&self, namespace: &str, selector: &str) -> Result<(), String> {
        let Some(client) = &self.client else {
            return Err("the cluster's API is not reachable".to_owned());
        };
        let pods = kindform_kube::pods::pods(client, namespace, selector)
            .await
            .map_err(|e| e.to_string())?;
        if pods.is_empty() {
            return Err(format!("no pods match {selector} in namespace {namespace}"));
        }
        let not: Vec<String> = pods
            .iter()
            .filter(|p| !kindform_kube::pods::pod_ready(p))
            .map(kindform_kube::pods::describe)
            .collect();
        if !not.is_empty() {
            return Err(format!("not Ready: {}", not.join("; ")));
        }
        Ok(())
    }

    async fn attempt(&self, check: &CheckSpec, timeout: Duration) -> Result<(), String> {
        match &check.probe {
            Probe::Http(http) => self.http(http, timeout).await,
            Probe::Run { argv, workdir, env } => {
                self.run(argv, workdir.as_ref(), env, timeout).await
            }
            Probe::PodsReady(p) => {
                // Like `kubectl wait --for=condition=ready --timeout`: the
                // attempt waits for the pods, up to its timeout.
                let started = std::time::Instant::now();
                loop {
                    let seen = tokio::time::timeout(
                        timeout.saturating_sub(started.elapsed()),
                        self.pods_ready(&p.namespace, &p.selector),
                    )
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {}s", timeout.as_secs())));
                    match seen {
                        Ok(()) => return Ok(()),
                        Err(why) if started.elapsed() + POLL >= timeout => return Err(why),
                        Err(_) => tokio::time::sleep(POLL).await,
                    }
                }
            }
        }
    }

    async fn explanation(&self, desired: &DesiredCheck) -> String {
        let Some(client) = &self.client else {
            return String::new();
        };
        match &desired.spec.probe {
            Probe::PodsReady(p) => {
                kindform_kube::pods::explain(client, &p.namespace, &p.selector, false).await
            }
            _ => {
                let mut out = Vec::new();
                for namespace in &desired.namespaces {
                    let text = kindform_kube::pods::explain(client, namespace, "", true).await;
                    if !text.is_empty() {
                        out.push(format!("in namespace {namespace}:\n{text}"));
                    }
                }
                out.join("\n")
            }
        }
    }
}

/// The one step of a check: run its probe, with its retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum CheckStep {
    /// Run the probe.
    Run {
        /// The probe, in words.
        probe: String,
    },
}

impl std::fmt::Display for CheckStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckStep::Run { probe } => f.write_str(probe),
        }
    }
}

/// What the plan shows of a check: no differences (checks are not
/// changes), the probe it will run.
fn plan(desired: &DesiredCheck) -> Diff<CheckStep> {
    Diff {
        differences: Vec::new(),
        steps: vec![CheckStep::Run {
            probe: describe(&desired.spec),
        }],
        before: serde_json::Value::Null,
        after: json!(desired.spec),
    }
}

fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line
    }
}

/// What resolving a check reads.
pub struct CheckInput<'a> {
    /// Its definition.
    pub spec: &'a CheckSpec,
    /// The namespaces of what it depends on directly, whose pods explain
    /// it when it fails.
    pub namespaces: Vec<String>,
}

impl Resolve for CheckProvider {
    type Input<'a> = CheckInput<'a>;

    async fn resolve<'a>(input: Self::Input<'a>) -> Result<DesiredCheck, CheckError> {
        Ok(DesiredCheck {
            spec: input.spec.clone(),
            namespaces: input.namespaces,
        })
    }
}

impl Provider for CheckProvider {
    type Desired = DesiredCheck;
    type Live = ();
    type Step = CheckStep;
    type Error = CheckError;

    async fn observe(&self, _desired: &DesiredCheck) -> Result<(), CheckError> {
        Ok(())
    }

    fn diff(&self, desired: &DesiredCheck, _live: &()) -> Diff<CheckStep> {
        Self::plan_create(desired)
    }

    fn plan_create(desired: &DesiredCheck) -> Diff<CheckStep> {
        plan(desired)
    }

    fn plan_delete(&self, _desired: &DesiredCheck, _live: Option<&()>) -> Vec<CheckStep> {
        Vec::new()
    }

    /// A check has one step, its run; with none planned, nothing runs.
    async fn apply(
        &self,
        desired: &DesiredCheck,
        steps: &[CheckStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, CheckError> {
        if steps.is_empty() {
            return Ok(Outcome::Done);
        }
        let check = &desired.spec;
        let timeout = check.timeout.map(|t| t.get()).unwrap_or(DEFAULT_TIMEOUT);
        let interval = check.interval.map(|t| t.get()).unwrap_or(DEFAULT_INTERVAL);
        let attempts = check.retries.saturating_add(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            progress.step(&format!(
                "{} (attempt {attempt} of {attempts})",
                describe(check)
            ));
            match self.attempt(check, timeout).await {
                Ok(()) => return Ok(Outcome::Done),
                Err(why) => {
                    progress.output(&why);
                    last = why;
                }
            }
            if attempt < attempts {
                tokio::time::sleep(interval).await;
            }
        }
        Err(CheckError::Failed {
            what: describe(check),
            attempts,
            last,
            explanation: self.explanation(desired).await,
        })
    }
}
