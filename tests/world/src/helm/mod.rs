//! The stand-in `helm` (cli-contracts.md part 2), for what kindform uses:
//! `upgrade --install` with the flags of section 2.2, `rollback`,
//! `uninstall`, `status|history|list|get values|get manifest` (`-o json` in
//! Helm's exact shapes), `template`, `repo add|update`, `version`.
//!
//! Releases live as Helm stores them (see [`storage`]) in the cluster the
//! kubeconfig and `--kube-context` name, reached only while its API server
//! serves. Objects are applied with Helm's ownership labels and annotations;
//! the ownership check (2.7), the pending lock (2.5), and `--wait` timing out
//! (release `failed`) or being killed (release left `pending-*`) behave as
//! Helm's do.
//!
//! Simplifications: templates use the subset of [`template`]; hooks are
//! rendered and applied like other objects; updates are a three-way JSON merge
//! (the change between the old and new rendered object, applied to the live
//! one); repository charts come from folders the world registers under a URL
//! (no index download); `--version` matches exactly.

pub mod chart;
pub mod storage;
pub mod template;
pub mod time;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Shared;
use crate::apiserver::Store;
use crate::apiserver::resources::ResourceType;
use crate::args::{Args, Flag, switch, value};
use crate::cluster::Cluster;
use crate::control::{Invocation, Output};
use chart::Chart;
use storage::Release;

/// The Helm version the stand-in reports.
pub const VERSION: &str = "v3.21.4";

fn fail(message: impl std::fmt::Display) -> Output {
    Output {
        stderr: format!("Error: {message}\n"),
        code: 1,
        ..Output::default()
    }
}

const GLOBAL: &[Flag] = &[
    value(&["namespace", "n"]),
    value(&["kube-context"]),
    value(&["kubeconfig"]),
    switch(&["debug"]),
    value(&["output", "o"]),
];

fn parse(inv: &Invocation, flags: &[Flag]) -> Result<Args, Output> {
    let mut all: Vec<Flag> = GLOBAL
        .iter()
        .map(|f| Flag {
            names: f.names,
            value: f.value,
        })
        .collect();
    all.extend(flags.iter().map(|f| Flag {
        names: f.names,
        value: f.value,
    }));
    Args::parse(&inv.args, &all).map_err(fail)
}

/// Runs one `helm` invocation.
pub async fn run(shared: &Arc<Shared>, inv: Invocation) -> Output {
    let words: Vec<&str> = inv
        .args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .take(2)
        .collect();
    let command = words.join(" ");
    if let Some(message) = shared.take_fault("helm", &command) {
        return fail(message);
    }
    match words.first().copied() {
        Some("version") => version(&inv),
        Some("upgrade") => upgrade(shared, &inv).await,
        Some("install") => {
            fail("the test world's helm supports `upgrade --install`, which kindform uses")
        }
        Some("rollback") => rollback(shared, &inv).await,
        Some("uninstall") | Some("delete") => uninstall(shared, &inv).await,
        Some("status") => status(shared, &inv),
        Some("history") => history(shared, &inv),
        Some("list") | Some("ls") => list(shared, &inv),
        Some("get") => get(shared, &inv),
        Some("template") => template_cmd(shared, &inv),
        Some("repo") => repo(&inv),
        Some(other) => fail(format!("unknown command \"{other}\" for \"helm\"")),
        None => Output::ok("The Kubernetes package manager\n"),
    }
}

fn version(inv: &Invocation) -> Output {
    let args = match parse(inv, &[value(&["template"]), switch(&["short"])]) {
        Ok(a) => a,
        Err(o) => return o,
    };
    if let Some(template) = args.get("template") {
        return Output::ok(
            template
                .replace("{{.Version}}", VERSION)
                .replace("{{ .Version }}", VERSION),
        );
    }
    if args.on("short") {
        return Output::ok(format!("{VERSION}+g0000000\n"));
    }
    Output::ok(format!(
        "version.BuildInfo{{Version:\"{VERSION}\", GitCommit:\"0000000000000000000000000000000000000000\", GitTreeState:\"clean\", GoVersion:\"go1.24.6\"}}\n"
    ))
}

/// The cluster the kubeconfig and context name, if its API answers.
fn connect(
    shared: &Shared,
    inv: &Invocation,
    args: &Args,
) -> Result<(Arc<Cluster>, Option<String>), Output> {
    let path = match args.get("kubeconfig") {
        Some(p) => inv.cwd.join(p),
        None => match inv
            .env
            .get("KUBECONFIG")
            .and_then(|k| k.split(':').find(|e| !e.is_empty()))
        {
            Some(p) => inv.cwd.join(p),
            None => PathBuf::from(
                inv.env
                    .get("HOME")
                    .cloned()
                    .unwrap_or_else(|| "/root".into()),
            )
            .join(".kube/config"),
        },
    };
    let unreachable = |why: &str| fail(format!("Kubernetes cluster unreachable: {why}"));
    let text = std::fs::read_to_string(&path).map_err(|_| unreachable("invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"))?;
    let config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| unreachable(&e.to_string()))?;
    let context_name = args
        .get("kube-context")
        .map(str::to_owned)
        .or_else(|| {
            config
                .get("current-context")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let find = |list: &str, name: &str| {
        config
            .get(list)
            .and_then(|l| l.as_sequence())
            .and_then(|s| {
                s.iter()
                    .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name))
                    .cloned()
            })
    };
    let context = find("contexts", &context_name)
        .ok_or_else(|| unreachable(&format!("context \"{context_name}\" does not exist")))?;
    let cluster_name = context["context"]["cluster"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let context_ns = context["context"]
        .get("namespace")
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    let cluster = find("clusters", &cluster_name)
        .ok_or_else(|| unreachable(&format!("cluster \"{cluster_name}\" does not exist")))?;
    let server = cluster["cluster"]["server"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let found = shared
        .clusters
        .lock()
        .unwrap()
        .values()
        .find(|c| c.api.url() == server)
        .cloned();
    match found {
        Some(c) if c.api.is_serving() => Ok((c, context_ns)),
        _ => {
            let host = server.trim_start_matches("https://");
            Err(unreachable(&format!(
                "Get \"{server}/version\": dial tcp {host}: connect: connection refused"
            )))
        }
    }
}

fn namespace(args: &Args, inv: &Invocation, context_ns: Option<String>) -> String {
    args.get("namespace")
        .map(str::to_owned)
        .or_else(|| {
            inv.env
                .get("HELM_NAMESPACE")
                .filter(|n| !n.is_empty())
                .cloned()
        })
        .or(context_ns)
        .unwrap_or_else(|| "default".to_owned())
}

fn to_json_line(value: &Value) -> String {
    // Go's json.Encoder escapes <, > and & and ends with a newline.
    let text = serde_json::to_string(value).unwrap_or_default();
    format!(
        "{}\n",
        text.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    )
}

fn status_of(release: &Release) -> &str {
    release["info"]["status"].as_str().unwrap_or("unknown")
}

/// Loads a chart from a local folder, a registered repository, or `repo/name`.
fn load_chart(
    shared: &Shared,
    inv: &Invocation,
    reference: &str,
    repo: Option<&str>,
    version: Option<&str>,
) -> Result<Chart, String> {
    let repo_dir = |url: &str| {
        shared
            .repos
            .lock()
            .unwrap()
            .get(url.trim_end_matches('/'))
            .cloned()
    };
    let (dir, name) = if let Some(url) = repo {
        (repo_dir(url).ok_or_else(|| format!("looks like \"{url}\" is not a valid chart repository or cannot be reached: failed to fetch {url}/index.yaml : 404 Not Found"))?, reference.to_owned())
    } else {
        let local = inv.cwd.join(reference);
        if local.is_dir() {
            return Chart::load(&local);
        }
        match reference.split_once('/') {
            Some((alias, name)) if !reference.starts_with('.') && !reference.starts_with('/') => {
                let url =
                    repository_url(inv, alias).ok_or_else(|| format!("repo {alias} not found"))?;
                (
                    repo_dir(&url).ok_or_else(|| format!("repo {alias} not found"))?,
                    name.to_owned(),
                )
            }
            _ => return Err(format!("path \"{reference}\" not found")),
        }
    };
    let mut candidates: Vec<Chart> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Chart::load(&e.path()).ok())
        .filter(|c| c.name() == name)
        .collect();
    candidates.sort_by_key(|c| version_key(c.version()));
    let chosen = match version {
        Some(v) if !v.is_empty() => candidates
            .into_iter()
            .find(|c| c.version() == v.trim_start_matches('v') || c.version() == v),
        _ => candidates.pop(),
    };
    chosen.ok_or_else(|| match version {
        Some(v) => format!(
            "chart \"{name}\" version \"{v}\" not found in {} repository",
            repo.unwrap_or(reference)
        ),
        None => format!(
            "chart \"{name}\" not found in {} repository",
            repo.unwrap_or(reference)
        ),
    })
}

fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

fn repo_config_path(inv: &Invocation) -> PathBuf {
    match inv.env.get("HELM_REPOSITORY_CONFIG") {
        Some(p) => inv.cwd.join(p),
        None => PathBuf::from(
            inv.env
                .get("HOME")
                .cloned()
                .unwrap_or_else(|| "/root".into()),
        )
        .join(".config/helm/repositories.yaml"),
    }
}

fn repository_url(inv: &Invocation, alias: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo_config_path(inv)).ok()?;
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).ok()?;
    config["repositories"]
        .as_sequence()?
        .iter()
        .find(|r| r["name"].as_str() == Some(alias))?["url"]
        .as_str()
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// Renders a chart: the manifest (each document with its `# Source:`), the
/// objects it holds, and the notes.
fn render(
    chart: &Chart,
    release: &str,
    namespace: &str,
    values: &Value,
    revision: i64,
    install: bool,
) -> Result<(String, Vec<Value>, String), String> {
    let scope = template::Scope {
        values: values.clone(),
        release: json!({"Name": release, "Namespace": namespace, "Revision": revision, "IsInstall": install, "IsUpgrade": !install, "Service": "Helm"}),
        chart: json!({"Name": chart.name(), "Version": chart.version(), "AppVersion": chart.app_version()}),
    };
    let mut manifest = Vec::new();
    let mut objects = Vec::new();
    let mut notes = String::new();
    for (path, text) in &chart.templates {
        let file = path.rsplit('/').next().unwrap_or_default();
        if file.starts_with('_') {
            continue;
        }
        let rendered = template::render(&format!("{}/{path}", chart.name()), text, &scope)?;
        if file == "NOTES.txt" {
            notes = rendered;
            continue;
        }
        for doc in rendered.split("\n---") {
            let doc = doc.trim_start_matches("---").trim_matches('\n');
            let value: Value = match serde_yaml_ng::from_str(doc) {
                Ok(v) => v,
                Err(e) => return Err(format!("YAML parse error on {}/{path}: {e}", chart.name())),
            };
            if value.is_null() || value.as_object().is_some_and(|o| o.is_empty()) {
                continue;
            }
            manifest.push(format!("---\n# Source: {}/{path}\n{doc}\n", chart.name()));
            objects.push(value);
        }
    }
    Ok((manifest.join(""), objects, notes))
}

fn objects_of(manifest: &str) -> Vec<Value> {
    manifest
        .split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc.trim_start_matches("---")).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// Helm's install order, simplified: what others need comes first.
fn install_rank(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicaSet",
        "Deployment",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

struct Target {
    ty: ResourceType,
    namespace: String,
    name: String,
}

fn locate(store: &Store, object: &Value, release_ns: &str) -> Result<Target, String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ty = store.type_of_kind(api_version, kind).ok_or_else(|| {
        format!("unable to build kubernetes objects from release manifest: resource mapping not found for name: \"{name}\" namespace: \"\" from \"\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first")
    })?;
    let namespace = if ty.namespaced {
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(release_ns)
            .to_owned()
    } else {
        String::new()
    };
    Ok(Target {
        ty,
        namespace,
        name,
    })
}

/// Helm's ownership check of one existing object (cli-contracts.md 2.7).
fn ownership_problems(live: &Value, release: &str, namespace: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let checks = [
        (
            "label",
            &live["metadata"]["labels"],
            "app.kubernetes.io/managed-by",
            "Helm",
        ),
        (
            "annotation",
            &live["metadata"]["annotations"],
            "meta.helm.sh/release-name",
            release,
        ),
        (
            "annotation",
            &live["metadata"]["annotations"],
            "meta.helm.sh/release-namespace",
            namespace,
        ),
    ];
    for (what, map, key, wanted) in checks {
        match map.get(key).and_then(Value::as_str) {
            None => problems.push(format!("{what} validation error: missing key \"{key}\": must be set to \"{wanted}\"")),
            Some(v) if v != wanted => problems.push(format!("{what} validation error: key \"{key}\" must equal \"{wanted}\": current value is \"{v}\"")),
            Some(_) => {}
        }
    }
    problems
}

/// The JSON merge patch that turns `old` into `new`.
fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = serde_json::Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) if ov == v => {}
                    Some(ov) if ov.is_object() && v.is_object() => {
                        patch.insert(k.clone(), merge_diff(ov, v));
                    }
                    _ => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        (_, n) => n.clone(),
    }
}

fn stamp(object: &mut Value, release: &str, namespace: &str) {
    let meta = &mut object["metadata"];
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["labels"]["app.kubernetes.io/managed-by"] = json!("Helm");
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    meta["annotations"]["meta.helm.sh/release-name"] = json!(release);
    meta["annotations"]["meta.helm.sh/release-namespace"] = json!(namespace);
}

/// Applies the new objects (three-way: the change since the old manifest on
/// top of the live object) and deletes what the new manifest dropped.
fn apply_objects(
    store: &Store,
    old: &[Value],
    new: &[Value],
    release: &str,
    namespace: &str,
) -> Result<(), String> {
    let mut ordered: Vec<&Value> = new.iter().collect();
    ordered.sort_by_key(|o| install_rank(o["kind"].as_str().unwrap_or_default()));
    let same = |a: &Value, b: &Value| {
        a["kind"] == b["kind"]
            && a["metadata"]["name"] == b["metadata"]["name"]
            && a["metadata"]["namespace"] == b["metadata"]["namespace"]
    };
    for object in ordered {
        let target = locate(store, object, namespace)?;
        let mut desired = object.clone();
        stamp(&mut desired, release, namespace);
        match store.get(&target.ty, &target.namespace, &target.name) {
            Ok(mut live) => {
                let before = old.iter().find(|o| same(o, object)).cloned().map(|mut o| {
                    stamp(&mut o, release, namespace);
                    o
                });
                let patch = match before {
                    Some(before) => merge_diff(&before, &desired),
                    None => desired.clone(),
                };
                crate::apiserver::server::merge(&mut live, &patch);
                if let Some(m) = live["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                store
                    .update(&target.ty, &target.namespace, &target.name, live, false)
                    .map_err(|e| e.message)?;
            }
            Err(_) => {
                store
                    .create(&target.ty, &target.namespace, desired)
                    .map_err(|e| e.message)?;
            }
        }
    }
    for gone in old.iter().filter(|o| !new.iter().any(|n| same(o, n))) {
        if let Ok(target) = locate(store, gone, namespace) {
            let _ = store.delete(&target.ty, &target.namespace, &target.name);
        }
    }
    Ok(())
}

/// Whether every workload of the manifest is ready (and, with `jobs`, every Job complete).
fn ready(store: &Store, objects: &[Value], namespace: &str, jobs: bool) -> bool {
    objects.iter().all(|object| {
        let Ok(target) = locate(store, object, namespace) else {
            return true;
        };
        let Ok(live) = store.get(&target.ty, &target.namespace, &target.name) else {
            return false;
        };
        let status = &live["status"];
        let generation_seen = status["observedGeneration"].as_i64().unwrap_or(0)
            >= live["metadata"]["generation"].as_i64().unwrap_or(0);
        match target.ty.kind.as_str() {
            "Deployment" | "StatefulSet" => {
                let want = live["spec"]["replicas"].as_i64().unwrap_or(1);
                generation_seen && status["readyReplicas"].as_i64().unwrap_or(0) >= want
            }
            "DaemonSet" => {
                generation_seen
                    && status["numberReady"].as_i64().unwrap_or(0)
                        >= status["desiredNumberScheduled"].as_i64().unwrap_or(0)
            }
            "Job" => !jobs || status["succeeded"].as_i64().unwrap_or(0) >= 1,
            "Pod" => status["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            }),
            _ => true,
        }
    })
}

async fn wait_ready(
    store: &Store,
    objects: &[Value],
    namespace: &str,
    jobs: bool,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if ready(store, objects, namespace, jobs) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Go's duration syntax: `5m0s`, `90s`, `1h`, `300ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += number
            * match &rest[..u] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return None,
            };
        rest = &rest[u..];
    }
    Some(Duration::from_secs_f64(total))
}

fn user_values(inv: &Invocation, args: &Args) -> Result<(Value, bool), String> {
    let mut values = json!({});
    let mut given = false;
    for list in args.all("values") {
        for file in list.split(',').filter(|f| !f.is_empty()) {
            given = true;
            let text = if file == "-" {
                String::from_utf8_lossy(&inv.stdin_bytes()).into_owned()
            } else {
                std::fs::read_to_string(inv.cwd.join(file))
                    .map_err(|_| format!("open {file}: no such file or directory"))?
            };
            let v: Value = serde_yaml_ng::from_str(&text)
                .map_err(|e| format!("failed to parse {file}: {e}"))?;
            if !v.is_null() {
                chart::merge_values(&mut values, &v);
            }
        }
    }
    for (flag, kind) in [
        ("set", 0),
        ("set-string", 1),
        ("set-file", 2),
        ("set-json", 3),
        ("set-literal", 4),
    ] {
        for text in args.all(flag) {
            given = true;
            let pairs = if kind == 4 {
                vec![
                    text.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or("bad --set-literal")?,
                ]
            } else {
                chart::set_pairs(&text)?
            };
            for (key, raw) in pairs {
                let v = match kind {
                    0 => chart::typed(&raw),
                    2 => json!(
                        std::fs::read_to_string(inv.cwd.join(&raw))
                            .map_err(|_| format!("open {raw}: no such file or directory"))?
                    ),
                    3 => serde_json::from_str(&raw)
                        .map_err(|e| format!("failed parsing --set-json data {raw}: {e}"))?,
                    _ => json!(raw),
                };
                chart::set_path(&mut values, &key, v);
            }
        }
    }
    Ok((values, given))
}

fn table_summary(release: &Release) -> String {
    let mut out = format!(
        "NAME: {}\nLAST DEPLOYED: {}\nNAMESPACE: {}\nSTATUS: {}\nREVISION: {}\nTEST SUITE: None\n",
        release["name"].as_str().unwrap_or_default(),
        time::ansic(
            release["info"]["last_deployed"]
                .as_str()
                .unwrap_or_default()
        ),
        release["namespace"].as_str().unwrap_or_default(),
        status_of(release),
        release["version"]
    );
    if let Some(notes) = release["info"]["notes"].as_str().filter(|n| !n.is_empty()) {
        out.push_str(&format!("NOTES:\n{notes}\n"));
    }
    out
}

fn set_status(release: &mut Release, status: &str, description: &str) {
    release["info"]["status"] = json!(status);
    release["info"]["description"] = json!(description);
}

async fn upgrade(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            switch(&["install", "i"]),
            switch(&["create-namespace"]),
            value(&["version"]),
            value(&["repo"]),
            value(&["values", "f"]),
            value(&["set"]),
            value(&["set-string"]),
            value(&["set-file"]),
            value(&["set-json"]),
            value(&["set-literal"]),
            switch(&["wait"]),
            switch(&["wait-for-jobs"]),
            value(&["timeout"]),
            switch(&["atomic"]),
            switch(&["rollback-on-failure"]),
            switch(&["reset-values"]),
            switch(&["reuse-values"]),
            switch(&["reset-then-reuse-values"]),
            switch(&["dependency-update"]),
            switch(&["take-ownership"]),
            value(&["history-max"]),
            switch(&["force"]),
            switch(&["cleanup-on-fail"]),
            value(&["description"]),
            switch(&["dry-run"]),
            value(&["labels"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let [_, name, chart_ref] = args.positional.as_slice() else {
        return fail(
            "\"helm upgrade\" requires 2 arguments\n\nUsage:  helm upgrade [RELEASE] [CHART] [flags]",
        );
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let store = &cluster.api.store;
    let namespace = namespace(&args, inv, context_ns);
    let timeout = match args.get("timeout").map(parse_duration) {
        Some(None) => {
            return fail(format!(
                "invalid argument \"{}\" for \"--timeout\" flag: time: invalid duration",
                args.get("timeout").unwrap_or_default()
            ));
        }
        Some(Some(d)) => d,
        None => Duration::from_secs(300),
    };
    let atomic = args.on("atomic") || args.on("rollback-on-failure");
    let wait = args.on("wait") || atomic;
    let mut history = storage::history(store, &namespace, name);
    let install = history.is_empty()
        || history
            .last()
            .is_some_and(|r| status_of(r) == "uninstalled");
    if !install
        && !args.on("install")
        && !history
            .iter()
            .any(|r| matches!(status_of(r), "deployed" | "superseded" | "failed"))
    {
        return fail(format!(
            "UPGRADE FAILED: \"{name}\" has no deployed releases"
        ));
    }
    if history.is_empty() && !args.on("install") {
        return fail(format!(
            "UPGRADE FAILED: \"{name}\" has no deployed releases"
        ));
    }
    let prefix = if install { "" } else { "UPGRADE FAILED: " };
    if let Some(last) = history.last() {
        if status_of(last).starts_with("pending-") {
            return fail(format!(
                "{prefix}another operation (install/upgrade/rollback) is in progress"
            ));
        }
    }
    let chart = match load_chart(
        shared,
        inv,
        chart_ref,
        args.get("repo"),
        args.get("version"),
    ) {
        Ok(c) => c,
        Err(e) => return fail(format!("{prefix}{e}")),
    };
    let (mut config, given) = match user_values(inv, &args) {
        Ok(v) => v,
        Err(e) => return fail(format!("{prefix}{e}")),
    };
    let previous_config = history
        .last()
        .map(|r| r["config"].clone())
        .unwrap_or(Value::Null);
    if !install && !args.on("reset-values") {
        // Helm reuses the last values when no value flag is given, or when asked to.
        if !given || args.on("reuse-values") || args.on("reset-then-reuse-values") {
            let mut merged = if previous_config.is_object() {
                previous_config.clone()
            } else {
                json!({})
            };
            chart::merge_values(&mut merged, &config);
            config = merged;
        }
    }
    let revision = history
        .last()
        .map(|r| r["version"].as_i64().unwrap_or(0))
        .unwrap_or(0)
        + 1;
    let values = chart::coalesce(&chart.values, &config);
    let (manifest, objects, notes) =
        match render(&chart, name, &namespace, &values, revision, install) {
            Ok(r) => r,
            Err(e) => return fail(format!("{prefix}{e}")),
        };
    let old_objects: Vec<Value> = history
        .iter()
        .rev()
        .find(|r| {
            matches!(
                status_of(r),
                "deployed"
                    | "failed"
                    | "superseded"
                    | "pending-upgrade"
                    | "pending-install"
                    | "pending-rollback"
            )
        })
        .filter(|_| !install)
        .map(|r| objects_of(r["manifest"].as_str().unwrap_or_default()))
        .unwrap_or_default();
    if install {
        let ns_ty = store.find_type("", "v1", "namespaces").expect("built in");
        if store.get(&ns_ty, "", &namespace).is_err() {
            if args.on("create-namespace") {
                let _ = store.create(
                    &ns_ty,
                    "",
                    json!({"metadata": {"name": namespace, "labels": {"name": namespace}}}),
                );
            } else {
                return fail(format!(
                    "create: failed to create: namespaces \"{namespace}\" not found"
                ));
            }
        }
    }
    // The ownership check, before any record is written.
    if !args.on("take-ownership") {
        let in_old = |o: &Value| {
            old_objects
                .iter()
                .any(|x| x["kind"] == o["kind"] && x["metadata"]["name"] == o["metadata"]["name"])
        };
        for object in objects.iter().filter(|o| !in_old(o)) {
            let target = match locate(store, object, &namespace) {
                Ok(t) => t,
                Err(e) => return fail(format!("{prefix}{e}")),
            };
            if let Ok(live) = store.get(&target.ty, &target.namespace, &target.name) {
                let problems = ownership_problems(&live, name, &namespace);
                if !problems.is_empty() {
                    let verb = if install {
                        "Unable to continue with install"
                    } else {
                        "Unable to continue with update"
                    };
                    return fail(format!(
                        "{prefix}{verb}: {} \"{}\" in namespace \"{}\" exists and cannot be imported into the current release: invalid ownership metadata; {}",
                        target.ty.kind,
                        target.name,
                        target.namespace,
                        problems.join("; ")
                    ));
                }
            }
        }
    }
    let now = time::now_rfc3339();
    let first_deployed = history
        .first()
        .and_then(|r| r["info"]["first_deployed"].as_str().map(str::to_owned))
        .unwrap_or_else(|| now.clone());
    let mut release = json!({
        "name": name,
        "info": {
            "first_deployed": first_deployed, "last_deployed": now, "deleted": "",
            "description": if install { "Initial install underway" } else { "Preparing upgrade" },
            "status": if install { "pending-install" } else { "pending-upgrade" },
            "notes": notes,
        },
        "chart": chart.to_release_json(),
        "config": if config.as_object().is_some_and(|c| !c.is_empty()) { config.clone() } else { Value::Null },
        "manifest": manifest,
        "version": revision,
        "namespace": namespace,
    });
    if notes.is_empty() {
        release["info"]
            .as_object_mut()
            .expect("a map")
            .shift_remove("notes");
    }
    if release["config"].is_null() {
        release
            .as_object_mut()
            .expect("a map")
            .shift_remove("config");
    }
    storage::save(store, &release);
    let failure = |release: &mut Release, why: String| {
        let description = if install {
            format!("Release \"{name}\" failed: {why}")
        } else {
            format!("Upgrade \"{name}\" failed: {why}")
        };
        set_status(release, "failed", &description);
        storage::save(store, release);
        fail(format!("{prefix}{why}"))
    };
    if let Err(e) = apply_objects(store, &old_objects, &objects, name, &namespace) {
        return failure(&mut release, e);
    }
    if wait
        && !wait_ready(
            store,
            &objects,
            &namespace,
            args.on("wait-for-jobs"),
            timeout,
        )
        .await
    {
        let out = failure(&mut release, "context deadline exceeded".into());
        if atomic {
            if install {
                let _ = apply_objects(store, &objects, &[], name, &namespace);
                for r in storage::history(store, &namespace, name) {
                    storage::remove(store, &namespace, name, r["version"].as_i64().unwrap_or(0));
                }
            }
            return Output {
                stderr: format!(
                    "Error: {}release {name} failed, and has been {} due to atomic being set: context deadline exceeded\n",
                    if install {
                        "INSTALLATION FAILED: "
                    } else {
                        "UPGRADE FAILED: "
                    },
                    if install {
                        "uninstalled"
                    } else {
                        "rolled back"
                    }
                ),
                ..out
            };
        }
        return out;
    }
    for previous in history.iter_mut().filter(|r| status_of(r) == "deployed") {
        set_status(
            previous,
            "superseded",
            previous["info"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
                .as_str(),
        );
        storage::save(store, previous);
    }
    set_status(
        &mut release,
        "deployed",
        args.get("description").unwrap_or(if install {
            "Install complete"
        } else {
            "Upgrade complete"
        }),
    );
    storage::save(store, &release);
    let max: usize = args
        .get("history-max")
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let all = storage::history(store, &namespace, name);
    if max > 0 && all.len() > max {
        for old in &all[..all.len() - max] {
            storage::remove(
                store,
                &namespace,
                name,
                old["version"].as_i64().unwrap_or(0),
            );
        }
    }
    if args.get("output") == Some("json") {
        return Output::ok(to_json_line(&release));
    }
    let head = if install {
        format!("Release \"{name}\" does not exist. Installing it now.\n")
    } else {
        format!("Release \"{name}\" has been upgraded. Happy Helming!\n")
    };
    Output::ok(format!("{head}{}", table_summary(&release)))
}

async fn rollback(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            switch(&["wait"]),
            switch(&["wait-for-jobs"]),
            value(&["timeout"]),
            switch(&["force"]),
            switch(&["cleanup-on-fail"]),
            value(&["history-max"]),
            switch(&["dry-run"]),
            switch(&["recreate-pods"]),
            switch(&["no-hooks"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let Some(name) = args.positional.get(1).cloned() else {
        return fail(
            "\"helm rollback\" requires at least 1 argument\n\nUsage:  helm rollback <RELEASE> [REVISION] [flags]",
        );
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let store = &cluster.api.store;
    let namespace = namespace(&args, inv, context_ns);
    let mut history = storage::history(store, &namespace, &name);
    let Some(current) = history.last().cloned() else {
        return fail("release: not found");
    };
    let latest = current["version"].as_i64().unwrap_or(0);
    let wanted: i64 = args
        .positional
        .get(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let wanted = if wanted == 0 { latest - 1 } else { wanted };
    let Some(target) = history
        .iter()
        .find(|r| r["version"].as_i64() == Some(wanted))
        .cloned()
    else {
        return fail(format!("release has no {wanted} version"));
    };
    let now = time::now_rfc3339();
    let mut release = target.clone();
    release["version"] = json!(latest + 1);
    release["info"]["last_deployed"] = json!(now);
    release["info"]["first_deployed"] = current["info"]["first_deployed"].clone();
    set_status(
        &mut release,
        "pending-rollback",
        &format!("Rollback to {wanted}"),
    );
    storage::save(store, &release);
    let old_objects = objects_of(current["manifest"].as_str().unwrap_or_default());
    let new_objects = objects_of(release["manifest"].as_str().unwrap_or_default());
    if let Err(e) = apply_objects(store, &old_objects, &new_objects, &name, &namespace) {
        set_status(
            &mut release,
            "failed",
            &format!("Release \"{name}\" failed: {e}"),
        );
        storage::save(store, &release);
        return fail(e);
    }
    let timeout = args
        .get("timeout")
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(300));
    if args.on("wait")
        && !wait_ready(
            store,
            &new_objects,
            &namespace,
            args.on("wait-for-jobs"),
            timeout,
        )
        .await
    {
        set_status(
            &mut release,
            "failed",
            &format!("Release \"{name}\" failed: context deadline exceeded"),
        );
        storage::save(store, &release);
        return fail("context deadline exceeded");
    }
    for previous in history.iter_mut().filter(|r| {
        matches!(
            status_of(r),
            "deployed" | "pending-upgrade" | "pending-install" | "pending-rollback"
        )
    }) {
        let description = previous["info"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        set_status(previous, "superseded", &description);
        storage::save(store, previous);
    }
    set_status(&mut release, "deployed", &format!("Rollback to {wanted}"));
    storage::save(store, &release);
    Output::ok("Rollback was a success! Happy Helming!\n")
}

async fn uninstall(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            switch(&["keep-history"]),
            switch(&["ignore-not-found"]),
            switch(&["wait"]),
            value(&["timeout"]),
            value(&["cascade"]),
            switch(&["dry-run"]),
            switch(&["no-hooks"]),
            value(&["description"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let store = &cluster.api.store;
    let namespace = namespace(&args, inv, context_ns);
    let mut out = String::new();
    for name in args.positional.iter().skip(1) {
        let history = storage::history(store, &namespace, name);
        let Some(mut latest) = history.last().cloned() else {
            if args.on("ignore-not-found") {
                out.push_str(&format!("release \"{name}\" uninstalled\n"));
                continue;
            }
            return Output {
                stdout: out,
                ..fail(format!(
                    "uninstall: Release not loaded: {name}: release: not found"
                ))
            };
        };
        let objects = objects_of(latest["manifest"].as_str().unwrap_or_default());
        let _ = apply_objects(store, &objects, &[], name, &namespace);
        if args.on("keep-history") {
            latest["info"]["deleted"] = json!(time::now_rfc3339());
            set_status(&mut latest, "uninstalled", "Uninstallation complete");
            storage::save(store, &latest);
        } else {
            for r in &history {
                storage::remove(store, &namespace, name, r["version"].as_i64().unwrap_or(0));
            }
        }
        out.push_str(&format!("release \"{name}\" uninstalled\n"));
    }
    Output::ok(out)
}

fn require_release(
    store: &Store,
    namespace: &str,
    name: &str,
    revision: Option<i64>,
) -> Result<Release, Output> {
    let history = storage::history(store, namespace, name);
    let found = match revision {
        Some(r) => history
            .into_iter()
            .find(|x| x["version"].as_i64() == Some(r)),
        None => history.into_iter().last(),
    };
    found.ok_or_else(|| fail("release: not found"))
}

fn status(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            value(&["revision"]),
            switch(&["show-resources"]),
            switch(&["show-desc"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let namespace = namespace(&args, inv, context_ns);
    let Some(name) = args.positional.get(1) else {
        return fail("\"helm status\" requires 1 argument");
    };
    let revision = args.get("revision").and_then(|r| r.parse().ok());
    let mut release = match require_release(&cluster.api.store, &namespace, name, revision) {
        Ok(r) => r,
        Err(o) => return o,
    };
    // `status` strips the chart.
    release
        .as_object_mut()
        .expect("a map")
        .shift_remove("chart");
    match args.get("output") {
        Some("json") => Output::ok(to_json_line(&release)),
        _ => Output::ok(table_summary(&release)),
    }
}

fn history(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(inv, &[value(&["max"])]) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let namespace = namespace(&args, inv, context_ns);
    let Some(name) = args.positional.get(1) else {
        return fail("\"helm history\" requires 1 argument");
    };
    let all = storage::history(&cluster.api.store, &namespace, name);
    if all.is_empty() {
        return fail("release: not found");
    }
    let max: usize = args.get("max").and_then(|m| m.parse().ok()).unwrap_or(256);
    let entries: Vec<Value> = all[all.len().saturating_sub(max)..]
        .iter()
        .map(|r| {
            json!({
                "revision": r["version"],
                "updated": r["info"]["last_deployed"],
                "status": status_of(r),
                "chart": format!("{}-{}", r["chart"]["metadata"]["name"].as_str().unwrap_or_default(), r["chart"]["metadata"]["version"].as_str().unwrap_or_default()),
                "app_version": r["chart"]["metadata"]["appVersion"].as_str().unwrap_or_default(),
                "description": r["info"]["description"],
            })
        })
        .collect();
    match args.get("output") {
        Some("json") => Output::ok(to_json_line(&Value::Array(entries))),
        _ => {
            let mut out =
                String::from("REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION\n");
            for e in &entries {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    e["revision"],
                    time::ansic(e["updated"].as_str().unwrap_or_default()),
                    e["status"].as_str().unwrap_or_default(),
                    e["chart"].as_str().unwrap_or_default(),
                    e["app_version"].as_str().unwrap_or_default(),
                    e["description"].as_str().unwrap_or_default()
                ));
            }
            Output::ok(out)
        }
    }
}

fn list(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    static STATUSES: [&str; 6] = [
        "deployed",
        "failed",
        "pending",
        "superseded",
        "uninstalled",
        "uninstalling",
    ];
    let statuses = &STATUSES;
    let mut flags: Vec<Flag> = vec![
        switch(&["all", "a"]),
        switch(&["all-namespaces", "A"]),
        switch(&["short", "q"]),
        value(&["max", "m"]),
        value(&["filter"]),
        switch(&["date", "d"]),
        switch(&["reverse", "r"]),
        value(&["selector", "l"]),
    ];
    flags.extend(statuses.iter().map(|s| Flag {
        names: std::slice::from_ref(s),
        value: false,
    }));
    let args = match parse(inv, &flags) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let namespace = namespace(&args, inv, context_ns);
    let scope = if args.on("all-namespaces") {
        None
    } else {
        Some(namespace.as_str())
    };
    let picked: Vec<&str> = statuses.iter().copied().filter(|s| args.on(s)).collect();
    let shown = |status: &str| {
        if args.on("all") {
            status != "unknown"
        } else if !picked.is_empty() {
            picked
                .iter()
                .any(|p| status == *p || (*p == "pending" && status.starts_with("pending-")))
        } else {
            matches!(status, "deployed" | "failed")
        }
    };
    let mut releases: Vec<Release> = storage::latest_all(&cluster.api.store, scope)
        .into_iter()
        .filter(|r| shown(status_of(r)))
        .collect();
    releases.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let max: usize = args.get("max").and_then(|m| m.parse().ok()).unwrap_or(256);
    releases.truncate(max);
    if args.on("short") {
        let names: Vec<Value> = releases.iter().map(|r| r["name"].clone()).collect();
        return match args.get("output") {
            Some("json") => Output::ok(to_json_line(&Value::Array(names))),
            _ => Output::ok(
                names
                    .iter()
                    .map(|n| format!("{}\n", n.as_str().unwrap_or_default()))
                    .collect::<String>(),
            ),
        };
    }
    let entries: Vec<Value> = releases
        .iter()
        .map(|r| {
            let chart_name = r["chart"]["metadata"]["name"].as_str();
            json!({
                "name": r["name"],
                "namespace": r["namespace"],
                "revision": r["version"].to_string(),
                "updated": time::go_string(r["info"]["last_deployed"].as_str().unwrap_or_default()),
                "status": status_of(r),
                "chart": match chart_name {
                    Some(n) => format!("{n}-{}", r["chart"]["metadata"]["version"].as_str().unwrap_or_default()),
                    None => "MISSING".to_owned(),
                },
                "app_version": r["chart"]["metadata"]["appVersion"].as_str().unwrap_or_default(),
            })
        })
        .collect();
    match args.get("output") {
        Some("json") => Output::ok(to_json_line(&Value::Array(entries))),
        _ => {
            let mut out =
                String::from("NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\n");
            for e in &entries {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    e["name"].as_str().unwrap_or_default(),
                    e["namespace"].as_str().unwrap_or_default(),
                    e["revision"].as_str().unwrap_or_default(),
                    e["updated"].as_str().unwrap_or_default(),
                    e["status"].as_str().unwrap_or_default(),
                    e["chart"].as_str().unwrap_or_default(),
                    e["app_version"].as_str().unwrap_or_default()
                ));
            }
            Output::ok(out)
        }
    }
}

fn get(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(inv, &[switch(&["all", "a"]), value(&["revision"])]) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (cluster, context_ns) = match connect(shared, inv, &args) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let namespace = namespace(&args, inv, context_ns);
    let (Some(what), Some(name)) = (args.positional.get(1), args.positional.get(2)) else {
        return fail("\"helm get\" requires a subcommand and a release name");
    };
    let revision = args.get("revision").and_then(|r| r.parse().ok());
    let release = match require_release(&cluster.api.store, &namespace, name, revision) {
        Ok(r) => r,
        Err(o) => return o,
    };
    match what.as_str() {
        "values" => {
            let config = release.get("config").cloned().unwrap_or(Value::Null);
            let values = if args.on("all") {
                chart::coalesce(
                    &release["chart"]["values"],
                    &if config.is_null() { json!({}) } else { config },
                )
            } else {
                config
            };
            match args.get("output") {
                Some("json") => Output::ok(to_json_line(&values)),
                Some("yaml") => Output::ok(serde_yaml_ng::to_string(&values).unwrap_or_default()),
                _ => {
                    let header = if args.on("all") {
                        "COMPUTED VALUES:"
                    } else {
                        "USER-SUPPLIED VALUES:"
                    };
                    Output::ok(format!(
                        "{header}\n{}",
                        if values.is_null() {
                            "null\n".to_owned()
                        } else {
                            serde_yaml_ng::to_string(&values).unwrap_or_default()
                        }
                    ))
                }
            }
        }
        "manifest" => Output::ok(format!(
            "{}\n",
            release["manifest"].as_str().unwrap_or_default()
        )),
        "notes" => Output::ok(format!(
            "NOTES:\n{}\n",
            release["info"]["notes"].as_str().unwrap_or_default()
        )),
        other => fail(format!("unknown command \"{other}\" for \"helm get\"")),
    }
}

fn template_cmd(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            value(&["values", "f"]),
            value(&["set"]),
            value(&["set-string"]),
            value(&["set-file"]),
            value(&["set-json"]),
            value(&["set-literal"]),
            value(&["version"]),
            value(&["repo"]),
            switch(&["skip-tests"]),
            switch(&["no-hooks"]),
            value(&["show-only", "s"]),
            switch(&["include-crds"]),
            value(&["kube-version"]),
            value(&["api-versions", "a"]),
            switch(&["create-namespace"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (name, chart_ref) = match args.positional.as_slice() {
        [_, chart] => ("release-name".to_owned(), chart.clone()),
        [_, name, chart, ..] => (name.clone(), chart.clone()),
        _ => return fail("\"helm template\" requires at least 1 argument"),
    };
    let namespace = args
        .get("namespace")
        .map(str::to_owned)
        .unwrap_or_else(|| "default".into());
    let chart = match load_chart(
        shared,
        inv,
        &chart_ref,
        args.get("repo"),
        args.get("version"),
    ) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let (config, _) = match user_values(inv, &args) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    match render(
        &chart,
        &name,
        &namespace,
        &chart::coalesce(&chart.values, &config),
        1,
        true,
    ) {
        Ok((manifest, _, _)) => Output::ok(manifest),
        Err(e) => fail(e),
    }
}

fn repo(inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            switch(&["force-update"]),
            switch(&["fail-on-repo-update-fail"]),
            value(&["username"]),
            value(&["password"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let path = repo_config_path(inv);
    let mut config: serde_yaml_ng::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_yaml_ng::from_str(&t).ok())
        .unwrap_or_else(|| {
            serde_yaml_ng::from_str("apiVersion: \"\"\nrepositories: []\n").expect("yaml")
        });
    let mut repos: Vec<serde_yaml_ng::Value> = config["repositories"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    match args.positional.get(1).map(String::as_str) {
        Some("add") => {
            let (Some(name), Some(url)) = (args.positional.get(2), args.positional.get(3)) else {
                return fail("\"helm repo add\" requires 2 arguments");
            };
            if let Some(existing) = repos.iter().find(|r| r["name"].as_str() == Some(name)) {
                if existing["url"].as_str() == Some(url) {
                    return Output::ok(format!(
                        "\"{name}\" already exists with the same configuration, skipping\n"
                    ));
                }
                if !args.on("force-update") {
                    return fail(format!(
                        "repository name ({name}) already exists, please specify a different name"
                    ));
                }
            }
            repos.retain(|r| r["name"].as_str() != Some(name));
            let entry: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&format!("name: {name}\nurl: {url}\n")).expect("yaml");
            repos.push(entry);
            config["repositories"] = serde_yaml_ng::Value::Sequence(repos);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) =
                std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap_or_default())
            {
                return fail(e);
            }
            Output::ok(format!("\"{name}\" has been added to your repositories\n"))
        }
        Some("update") | Some("up") => {
            if repos.is_empty() {
                return fail("no repositories found. You must add one before updating");
            }
            let mut out = String::from(
                "Hang tight while we grab the latest from your chart repositories...\n",
            );
            for r in &repos {
                out.push_str(&format!(
                    "...Successfully got an update from the \"{}\" chart repository\n",
                    r["name"].as_str().unwrap_or_default()
                ));
            }
            out.push_str("Update Complete. ⎈Happy Helming!⎈\n");
            Output::ok(out)
        }
        Some("list") | Some("ls") => {
            let mut out = String::from("NAME\tURL\n");
            for r in &repos {
                out.push_str(&format!(
                    "{}\t{}\n",
                    r["name"].as_str().unwrap_or_default(),
                    r["url"].as_str().unwrap_or_default()
                ));
            }
            Output::ok(out)
        }
        _ => fail("unknown repo command"),
    }
}

/// Sets the status of a release's latest revision, as a fault: e.g. leaving
/// it `pending-upgrade` as a killed `helm upgrade --wait` does.
pub fn force_status(
    store: &Store,
    namespace: &str,
    name: &str,
    status: &str,
    description: &str,
) -> bool {
    let Some(mut latest) = storage::history(store, namespace, name).pop() else {
        return false;
    };
    set_status(&mut latest, status, description);
    storage::save(store, &latest);
    true
}

/// Registered repositories: URL -> folder of chart folders.
pub type Repos = std::sync::Mutex<HashMap<String, PathBuf>>;
