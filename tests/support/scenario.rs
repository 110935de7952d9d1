//! The scenario environment the plan and apply tests share: a two-node
//! cluster, an image built from a context, a repository chart and a local
//! chart (with a secret set value), a manifest and a check; helpers that run
//! the built binary in the test world, and that build the environment with
//! the real helm and the stand-in kind directly (as apply would) for tests
//! of plan alone.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use kindform::spec::{LoadOptions, load};
use kindform_kube::{ObjectRef, RecordEntry};
use kindform_world::World;
use kindform_world::real_tools::HelmMajor;
use serde_json::{Value, json};

pub const SPEC: &str = r#"version = 1
name = "scenario"

[variables]
host_port = "18080"
repo = "http://127.0.0.1:9/charts"
platform_version = "1.0.0"
image = "kindform.dev/scenario-app:local"
ready_timeout = "2m"

[cluster]
name = "${cluster}"
node_image = "kindest/node:v1.34.0"
ready_timeout = "${ready_timeout}"

[[cluster.nodes]]
role = "control-plane"
extra_port_mappings = [{ container_port = 30080, host_port = "${host_port}" }]

[[cluster.nodes]]
role = "worker"

[checks.page]
http = { url = "http://127.0.0.1:${host_port}/", status = 200 }
"#;

pub const FULL: &str = r#"
[images.app]
ref = "${image}"
build = { context = "app" }

[releases.platform]
chart = "platform"
repo = "${repo}"
version = "${platform_version}"
namespace = "platform-system"
create_namespace = true

[releases.web]
chart = "chart"
namespace = "apps"
create_namespace = true
values = ["values.yaml"]
set = { "image.ref" = "${image}", "db.password" = { file = "secrets/db-password", sensitive = true } }
depends_on = ["images.app", "releases.platform"]

[manifests.extra]
inline = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
data:
  mode: full
"""
namespace = "apps"
prune = true
depends_on = ["releases.web"]
"#;

pub const SECRET: &str = "hunter2-the-first";

pub struct Env {
    pub world: World,
    pub dir: PathBuf,
    pub cluster: String,
    pub repo: String,
    /// The app image's reference, unique to the test: tests share one
    /// Docker engine, and a tag is global in it.
    pub image: String,
}

/// A run of the binary whose stderr is watched, line by line.
pub struct Watched {
    /// The process.
    pub child: std::process::Child,
    /// The line first waited for.
    wanted: String,
    /// Each line of stderr, as it comes.
    lines: std::sync::mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<String>,
}

impl Watched {
    /// Waits (a minute at most) for the line given when the run started;
    /// panics with `what` if it does not show.
    pub fn wait_for_line(&self, what: &str) {
        let wanted = self.wanted.clone();
        self.wait_for(&wanted, what);
    }

    /// Waits (a minute at most) for a line after those already seen
    /// containing `text`; panics with `what` if it does not show.
    pub fn wait_for(&self, text: &str, what: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => panic!("{what}: no line containing {text:?}"),
            }
        }
    }

    /// Sends the process SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this test started.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }

    /// Waits for the process; its exit code and all it wrote on stderr.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        (status.code(), self.reader.join().unwrap())
    }
}

pub fn write(path: PathBuf, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The scenario environment in a world running the real Helm of `major`.
pub async fn env(test: &str, major: HelmMajor, full: bool) -> Option<Env> {
    let world = World::with_helm(test, major).await?;
    let dir = world.dir().join("project");
    write(dir.join("app/Dockerfile"), "FROM scratch\nCOPY f /f\n");
    write(dir.join("app/f"), "v1\n");
    write(
        dir.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(
        dir.join("chart/templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image.ref | quote }}\n",
    );
    write(
        dir.join("chart/templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    );
    write(dir.join("values.yaml"), "replicas: 1\ngreeting: hello\n");
    write(dir.join("secrets/db-password"), SECRET);
    let charts = world.dir().join("repo");
    for version in ["1.0.0", "1.1.0"] {
        let chart = charts.join(format!("platform-{version}"));
        write(
            chart.join("Chart.yaml"),
            &format!("apiVersion: v2\nname: platform\nversion: {version}\n"),
        );
        write(
            chart.join("templates/operator.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-operator\ndata:\n  version: {{ .Chart.Version | quote }}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: platform-operator\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: platform-operator}\n  template:\n    metadata:\n      labels: {app: platform-operator}\n    spec:\n      containers:\n      - name: operator\n        image: \"platform/operator:{{ .Chart.Version }}\"\n",
        );
    }
    let repo = world.serve_chart_repo(&charts).await;
    let spec = if full {
        format!("{SPEC}{FULL}")
    } else {
        SPEC.to_owned()
    };
    write(dir.join("kindform.toml"), &spec);
    let cluster = world.cluster_name("scn");
    let image = format!("kindform.dev/scenario-app-{}:local", world.id());
    Some(Env {
        world,
        dir,
        cluster,
        repo,
        image,
    })
}

impl Env {
    /// The built binary, run in the project with the scenario's variables.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd: Command = self.world.command(env!("CARGO_BIN_EXE_kindform"));
        cmd.current_dir(&self.dir)
            .env("KINDFORM_VAR_cluster", &self.cluster)
            .env("KINDFORM_VAR_repo", &self.repo)
            .env("KINDFORM_VAR_image", &self.image)
            .env_remove("NO_COLOR")
            .args(args);
        cmd
    }

    /// Starts the binary and reports, through the returned watch, when its
    /// stderr shows a line containing `wanted`.
    pub fn start_watching(&self, args: &[&str], wanted: &str) -> Watched {
        use std::io::BufRead as _;
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        Watched {
            child,
            wanted: wanted.to_owned(),
            lines,
            reader,
        }
    }

    /// Rewrites the project's spec.
    pub fn edit_spec(&self, edit: impl FnOnce(String) -> String) {
        let path = self.dir.join("kindform.toml");
        let spec = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, edit(spec)).unwrap();
    }

    /// Adds `line` to the web release's settings.
    pub fn edit_web(&self, line: &str) {
        self.edit_spec(|spec| {
            let anchor = "depends_on = [\"images.app\", \"releases.platform\"]";
            spec.replace(anchor, &format!("{anchor}\n{line}"))
        });
    }

    pub fn kindform(&self, args: &[&str]) -> (i32, String, String) {
        self.kindform_in(&self.dir, args)
    }

    /// The binary run in `dir` (another copy of a project), with the
    /// scenario's variables.
    pub fn kindform_in(&self, dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).current_dir(dir).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Compares `text` (a plan, a report) with its snapshot
    /// `tests/snapshots/<scenario>@<major>@<label>.snap`, after filtering out
    /// what differs from run to run: the test's folders, cluster, image and
    /// chart repository, ports, image IDs, durations, pod name hashes and
    /// restart counts.
    pub fn snapshot(&self, test: &str, label: &str, text: &str) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        let literal = |s: &str| regex::escape(s);
        for (from, to) in [
            (literal(&self.world.dir().display().to_string()), "[WORLD]"),
            (literal(&self.repo), "[REPO]"),
            (literal(&self.image), "[IMAGE]"),
            (literal(&self.cluster), "[CLUSTER]"),
            (r"127\.0\.0\.1:\d+".to_owned(), "127.0.0.1:[PORT]"),
            (r"\b[0-9a-f]{12}\b".to_owned(), "[ID]"),
            // An ID that reads as a number is quoted in YAML.
            (r"'\[ID\]'".to_owned(), "[ID]"),
            (r" (in|after) \d+\.\d+s\b".to_owned(), " $1 [TIME]"),
            (r"\[\s*\d+\.\d+s\]".to_owned(), "[T]"),
            (r"\b\d+ restarts?\b".to_owned(), "[N] restarts"),
            (r"-[a-z0-9]{8,10}-[a-z0-9]{5}\b".to_owned(), "-[POD]"),
        ] {
            settings.add_filter(&from, to);
        }
        let name = format!("{}@{label}", test.replace("::", "@"));
        settings.bind(|| insta::assert_snapshot!(name, text));
    }

    /// Snapshots an apply: the plan it showed (stdout) and its report (the
    /// last lines of stderr; the progress before them interleaves by timing).
    pub fn snapshot_apply(&self, test: &str, label: &str, stdout: &str, stderr: &str) {
        let report: Vec<&str> = stderr
            .lines()
            .filter(|l| {
                [
                    "  done ",
                    "  failed ",
                    "  skipped ",
                    "  not run ",
                    "Apply ",
                    "error: ",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .collect();
        self.snapshot(
            test,
            label,
            &format!("{stdout}--- report\n{}\n", report.join("\n")),
        );
    }

    pub fn plan_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["plan", "--json"];
        args.extend(extra);
        let (code, stdout, stderr) = self.kindform(&args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join(".kindform/scenario")
    }

    pub fn load(&self, host_port: &str) -> kindform_api::Spec {
        let mut options = LoadOptions::default();
        options
            .overrides
            .insert("cluster".into(), self.cluster.clone());
        options.overrides.insert("repo".into(), self.repo.clone());
        options.overrides.insert("image".into(), self.image.clone());
        options
            .overrides
            .insert("host_port".into(), host_port.into());
        load(&self.dir.join("kindform.toml"), "kindform.toml", &options)
            .unwrap()
            .spec
    }

    /// Runs a stand-in tool as apply would, asserting it succeeds.
    pub fn tool(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .world
            .command(program)
            .current_dir(&self.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `helm list` of every release in every namespace, whatever its
    /// status, as the world's major spells it (Helm 4 has no `-a`).
    pub fn list_every_release<'a>(&self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = match self.world.helm_major() {
            Some(HelmMajor::V4) => vec!["list", "-A"],
            _ => vec!["list", "-a", "-A"],
        };
        args.extend_from_slice(extra);
        args
    }

    pub fn helm(&self, args: &[&str]) -> String {
        let kubeconfig = self.state().join("kubeconfig");
        let context = format!("kind-{}", self.cluster);
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--kube-context",
            &context,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ]);
        self.tool("helm", &all)
    }

    /// Creates the cluster as apply would (kind with the spec's effective
    /// config, the kubeconfig in the state folder); returns the record
    /// entry apply keeps for it.
    pub fn create_cluster(&self, spec: &kindform_api::Spec) -> (String, Value) {
        let config = self.dir.join("kind.yaml");
        std::fs::write(
            &config,
            serde_yaml_ng::to_string(&spec.cluster.effective_config()).unwrap(),
        )
        .unwrap();
        std::fs::create_dir_all(self.state()).unwrap();
        self.tool(
            "kind",
            &[
                "create",
                "cluster",
                "--name",
                &self.cluster,
                "--config",
                config.to_str().unwrap(),
                "--kubeconfig",
                self.state().join("kubeconfig").to_str().unwrap(),
            ],
        );
        let settings = kindform_kind::settings(&spec.cluster);
        let entry = RecordEntry {
            fingerprint: kindform_api::settings::fingerprint(&settings),
            settings,
        };
        ("cluster".to_owned(), serde_json::to_value(entry).unwrap())
    }

    pub fn write_record(&self, entries: Vec<(String, Value)>) {
        let data: serde_json::Map<String, Value> = entries
            .into_iter()
            .map(|(k, v)| (k, Value::String(v.to_string())))
            .collect();
        let record = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": kindform_kube::record::name("scenario"), "namespace": "kube-system"}, "data": data});
        self.world.create_object(&self.cluster, record).unwrap();
    }

    /// Builds the cluster alone, as apply would, with its applied record.
    pub fn converge_cluster(&self, host_port: &str) {
        let spec = self.load(host_port);
        let entry = self.create_cluster(&spec);
        self.write_record(vec![entry]);
    }

    /// Builds the whole FULL environment with the stand-ins, step by step
    /// as apply would, and writes the applied record apply would keep.
    pub async fn converge_everything(&self) {
        let spec = self.load("18080");
        let mut record = vec![self.create_cluster(&spec)];
        let build = spec.images["app"].build.as_ref().unwrap();
        let hash = kindform_image::context_hash(build, &self.dir).unwrap();
        self.world
            .build_image_labelled(
                &self.image,
                "v1",
                2048,
                &[(kindform_image::CONTEXT_LABEL, &hash)],
            )
            .await
            .unwrap();
        self.tool(
            "kind",
            &["load", "docker-image", &self.image, "--name", &self.cluster],
        );
        self.helm(&[
            "upgrade",
            "--install",
            "platform",
            "platform",
            "--repo",
            &self.repo,
            "--version",
            "1.0.0",
            "--namespace",
            "platform-system",
            "--create-namespace",
        ]);
        self.install_web(&spec);
        let web =
            kindform_helm::resolve("web", &spec.releases["web"], &self.dir, &any_helm()).unwrap();
        let entry = kindform_helm::record_entry(&web).unwrap();
        record.push(("releases.web".into(), serde_json::to_value(entry).unwrap()));
        // What apply records of every release it installs.
        let platform = kindform_helm::resolve(
            "platform",
            &spec.releases["platform"],
            &self.dir,
            &any_helm(),
        )
        .unwrap();
        for release in [&web, &platform] {
            record.push((
                kindform_helm::installed_key(&release.name),
                serde_json::to_value(kindform_helm::installed_entry(release)).unwrap(),
            ));
        }
        let extra = kindform_manifest::resolve(
            "extra",
            &spec.manifests["extra"],
            "scenario",
            &self.dir,
            None,
        )
        .unwrap();
        let mut refs = Vec::new();
        for object in &extra.objects {
            let mut object = object.clone();
            object["metadata"]["namespace"] = json!("apps");
            refs.push(ObjectRef::of(&object).unwrap());
            self.world.create_object(&self.cluster, object).unwrap();
        }
        let entry = kindform_manifest::record_entry(&extra, &refs);
        record.push((
            "manifests.extra".into(),
            serde_json::to_value(entry).unwrap(),
        ));
        self.write_record(record);
    }

    /// `helm upgrade --install web`, the set values in a 0600 file as
    /// kindform passes them.
    pub fn install_web(&self, spec: &kindform_api::Spec) {
        let web =
            kindform_helm::resolve("web", &spec.releases["web"], &self.dir, &any_helm()).unwrap();
        let values = self.state().join("values/web.yaml");
        write(values.clone(), &web.set_values_yaml());
        self.helm(&[
            "upgrade",
            "--install",
            "web",
            "chart",
            "--namespace",
            "apps",
            "--create-namespace",
            "-f",
            "values.yaml",
            "-f",
            values.to_str().unwrap(),
        ]);
        std::fs::remove_file(values).unwrap();
    }
}

pub fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no {address} in {plan}"))
}

pub fn steps(change: &Value) -> Vec<String> {
    change["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

pub fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every change but `except` (and the checks) is a no-op.
pub fn only_changes(plan: &Value, except: &[&str]) {
    for (address, action) in actions(plan) {
        if except.contains(&address.as_str()) || address.starts_with("checks.") {
            continue;
        }
        assert_eq!(action, "no-op", "{address} in {plan}");
    }
}

/// A Helm version for resolving a release in a test's own set-up (the
/// version changes only how the plan shows commands).
fn any_helm() -> kindform_helm::HelmVersion {
    kindform_helm::HelmVersion::parse("v3.17.2").expect("a version")
}
