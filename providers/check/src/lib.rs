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
use kindform_process::{Invocation, ProcessError};
use serde::Serialize;
use serde_json::json;

/// How long one attempt may take when the check gives no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a pods-ready attempt looks again.
const POLL: Duration = Duration::from_millis(500);
/// The pause between attempts when the check gives no `interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// How much of an HTTP check's body is read.
const MAX_BODY_BYTES: usize = 1 << 20;
/// How much a `run` check may print on each of stdout and stderr.
const MAX_OUTPUT_BYTES: usize = 4 << 20;
/// The variables of kindform's own environment a `run` check gets; the
/// rest (the variables `set` secrets come from among them) it does not.
const INHERITED: [&str; 2] = ["PATH", "HOME"];

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

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
    kubeconfig: PathBuf,
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
    /// A `run` check gets `kubeconfig` as its `KUBECONFIG`, so a
    /// `kubectl` in it talks to this cluster and no other.
    pub fn new(base_dir: PathBuf, kubeconfig: PathBuf, client: Option<kube::Client>) -> Self {
        CheckProvider {
            base_dir,
            kubeconfig,
            client,
        }
    }

    async fn http(&self, http: &HttpProbe, timeout: Duration) -> Result<(), String> {
        let mut client = reqwest::Client::builder().timeout(timeout);
        if is_loopback(&http.url) {
            // A proxy from the environment cannot reach this machine's
            // own ports, and must not see what is asked of them.
            client = client.no_proxy();
        }
        let client = client.build().map_err(|e| e.to_string())?;
        let mut response = client
            .get(&http.url)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() >= room {
                // The rest is not read: a check looks at the start of a
                // body, and a page that never ends must not fill memory.
                break;
            }
        }
        let body = String::from_utf8_lossy(&body);
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
        let mut vars: Vec<(String, std::ffi::OsString)> = INHERITED
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), std::env::var_os(name)?)))
            .collect();
        vars.push((
            "KUBECONFIG".to_owned(),
            self.kubeconfig.clone().into_os_string(),
        ));
        vars.extend(env.iter().map(|(k, v)| (k.clone(), v.into())));
        let output = Invocation::new(program)
            .args(&argv[1..])
            .current_dir(&dir)
            .only_env(vars)
            .timeout(timeout)
            .output_cap(MAX_OUTPUT_BYTES)
            .run(None)
            .await
            .map_err(|e| match e {
                ProcessError::Timeout { .. } => {
                    format!("still running after {}s", timeout.as_secs())
                }
                ProcessError::Spawn { source } => format!("cannot run {}: {source}", argv[0]),
                other => format!("{}: {other}", argv[0]),
            })?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let text = kindform_api::printable::printable(&text).into_owned();
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
    let body = kindform_api::printable::printable(body);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[tokio::test]
    async fn a_run_check_gets_only_path_home_its_kubeconfig_and_its_own_env() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: this test's own variable, set before its child starts.
        unsafe { std::env::set_var("KINDFORM_CHECK_TEST_SECRET", "canary-8d1f") };
        let checks = CheckProvider::new(dir.path().to_owned(), dir.path().join("kubeconfig"), None);
        let out = dir.path().join("env.txt");
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("env > {}; exit 1", out.display()),
        ];
        let env = BTreeMap::from([("GREETING".to_owned(), "hello".to_owned())]);
        checks
            .run(&argv, None, &env, Duration::from_secs(10))
            .await
            .unwrap_err();
        let printed = std::fs::read_to_string(&out).unwrap();
        let mut names: Vec<&str> = printed
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .filter(|k| *k != "PWD" && *k != "SHLVL" && *k != "_")
            .collect();
        names.sort();
        let mut wanted = vec!["GREETING", "KUBECONFIG", "PATH"];
        if std::env::var_os("HOME").is_some() {
            wanted.push("HOME");
        }
        wanted.sort();
        assert_eq!(names, wanted, "{printed}");
        assert!(!printed.contains("canary-8d1f"));
        assert!(printed.contains(&format!(
            "KUBECONFIG={}",
            dir.path().join("kubeconfig").display()
        )));
    }

    #[tokio::test]
    async fn a_run_check_that_prints_without_end_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let checks = CheckProvider::new(dir.path().to_owned(), dir.path().join("kubeconfig"), None);
        let argv = vec!["yes".to_owned()];
        let why = checks
            .run(&argv, None, &BTreeMap::new(), Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(
            why,
            "yes: it printed more than the 4 MiB limit and was stopped"
        );
    }

    #[test]
    fn loopback_urls_are_told_apart() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://localhost/x",
            "http://[::1]:1/",
            "http://a.localhost/",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in ["http://example.com/", "http://10.0.0.1/", "not a url"] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
