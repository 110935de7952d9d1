//! kindform's test world: a faithful stand-in for everything kindform
//! observes, built from the tools' contracts (`docs/tools.md`)
//! and never from kindform's code.
//!
//! What is real and what stands in:
//! - **Docker is real**: node containers, images, `ctr` inside the nodes.
//! - **kind nodes are real containers running real containerd**, from a node
//!   image built out of the host's containerd, ctr, busybox and glibc
//!   (docs/tools.md), tagged under the node image name the cluster asks for.
//! - **`helm` and `kubectl` are the real binaries** (Helm 3.17 or 4.3 and
//!   the kubectl of its wheel, fetched by `scripts/fetch-real-tools`; see
//!   [`real_tools`] and [`real_helm`]) for a world made with
//!   [`World::with_helm`].
//! - **`kind` is a stand-in**: a small Python script first on the test's
//!   `PATH` that forwards each invocation to the world, which answers in
//!   kind's exact shapes (see [`control`]); no real kind can run here (it
//!   needs privileged containers, which this machine refuses).
//! - **The Kubernetes API is a stand-in** good enough for the real clients:
//!   one HTTPS server per cluster on 127.0.0.1 with kind-like certificates,
//!   alive from `kind create cluster` to `kind delete cluster`, refusing
//!   connections while the cluster's control-plane container is stopped.
//!   It serves discovery, OpenAPI v3, protobuf request bodies, strategic
//!   merge patches, server-side apply with field ownership, watch-lists,
//!   `/scale`, defaulting, ReplicaSets, namespace termination and garbage
//!   collection; it keeps objects as JSON, has no admission webhooks, no
//!   scheduling beyond round-robin, and a kubelet that only derives pods
//!   from workloads and marks them Ready or crash-looping (see
//!   [`apiserver`]).
//!
//! Each [`World`] is hermetic: its own temporary folder (with `bin/` and a
//! `HOME`), its own containers (labelled with the world's id and removed with
//! their volumes when the world is dropped, even after a failed test), its
//! own ports; tests run in parallel.

pub mod apiserver;
pub mod args;
pub mod cluster;
pub mod control;
pub mod docker;
pub mod faults;
pub mod http_endpoint;
pub mod kind;
pub mod kubeconfig;
pub mod node_image;
pub mod pki;
pub mod real_helm;
pub mod real_tools;
pub mod release_records;
pub mod test_image;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bollard::Docker;

pub use cluster::Cluster;
pub use control::{Invocation, Output};

/// The stand-in tools put on PATH.
const TOOLS: &[&str] = &["kind"];

static WORLDS: AtomicU64 = AtomicU64::new(0);

/// What the world's servers and the stand-in tools share.
pub struct Shared {
    /// The world's id, on every container it makes.
    pub id: String,
    /// The Docker engine.
    pub docker: Docker,
    /// Running clusters by name.
    pub clusters: Mutex<HashMap<String, Arc<Cluster>>>,
    /// The URLs of the chart repositories the world serves.
    pub repos: Mutex<Vec<String>>,
    faults: Mutex<Vec<(String, String, String)>>,
    /// Every tool run, in order, as `tool arg…`.
    invocations: Mutex<Vec<String>>,
}

impl Shared {
    /// Takes a planned one-time failure of `tool` for `command`, if any.
    pub fn take_fault(&self, tool: &str, command: &str) -> Option<String> {
        let mut faults = self.faults.lock().unwrap();
        let at = faults
            .iter()
            .position(|(t, c, _)| t == tool && (c.is_empty() || command.starts_with(c.as_str())))?;
        Some(faults.remove(at).2)
    }
}

/// Routes a tool invocation to its stand-in.
pub async fn dispatch(shared: &Arc<Shared>, invocation: Invocation) -> Output {
    shared.invocations.lock().unwrap().push(format!(
        "{} {}",
        invocation.tool,
        invocation.args.join(" ")
    ));
    match invocation.tool.as_str() {
        "kind" => kind::run(shared, invocation).await,
        other => Output {
            stderr: format!("{other}: not a tool of this world\n"),
            code: 127,
            ..Output::default()
        },
    }
}

/// One isolated test world.
pub struct World {
    shared: Arc<Shared>,
    tools: Option<real_tools::RealTools>,
    runtime: Option<tokio::runtime::Runtime>,
    dir: tempfile::TempDir,
}

impl World {
    /// A new world with the real Helm of `major` and its kubectl on PATH,
    /// or `None` (after a skip notice naming `test`) when no Docker engine is
    /// reachable or the real tools have not been fetched; panics instead
    /// under `KINDFORM_REQUIRE_DOCKER=1`.
    pub async fn with_helm(test: &str, major: real_tools::HelmMajor) -> Option<World> {
        let tools = real_tools::RealTools::or_skip(major, test)?;
        let mut world = World::start(test).await?;
        let bin = world.bin_dir();
        write_tool(&bin, "helm", &real_helm::wrapper(world.dir(), &tools.helm));
        std::os::unix::fs::symlink(&tools.kubectl, bin.join("kubectl")).expect("kubectl on PATH");
        world.tools = Some(tools);
        Some(world)
    }

    /// A new world with only the stand-in `kind` on PATH, or `None` (after
    /// a skip notice naming `test`) when no Docker engine is reachable;
    /// panics under `KINDFORM_REQUIRE_DOCKER=1`.
    pub async fn start(test: &str) -> Option<World> {
        docker::docker_or_skip(test).await?;
        // The world's servers run on a runtime of their own, so they keep
        // serving while a test blocks on a child process.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("world")
            .build()
            .expect("a runtime");
        let dir = tempfile::Builder::new()
            .prefix("kindform-world-")
            .tempdir()
            .expect("a temporary folder");
        let id = format!(
            "w{}-{}",
            std::process::id(),
            WORLDS.fetch_add(1, Ordering::SeqCst)
        );
        let root = dir.path().to_path_buf();
        let shared = runtime
            .spawn(async move {
                let docker = docker::connect()
                    .await
                    .expect("Docker answered a moment ago");
                node_image::node_image(&docker)
                    .await
                    .expect("the node image builds");
                let shared = Arc::new(Shared {
                    id,
                    docker,
                    clusters: Mutex::default(),
                    repos: Mutex::default(),
                    faults: Mutex::default(),
                    invocations: Mutex::default(),
                });
                let port = control::serve(Arc::clone(&shared))
                    .await
                    .expect("the control server listens");
                for tool in TOOLS {
                    write_tool(&root.join("bin"), tool, &control::forwarder(tool, port));
                }
                std::fs::create_dir_all(root.join("home")).expect("a home");
                shared
            })
            .await
            .expect("the world starts");
        Some(World {
            shared,
            tools: None,
            runtime: Some(runtime),
            dir,
        })
    }

    /// Runs `future` on the world's runtime and waits for it.
    pub async fn run<F, T>(&self, future: F) -> T
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime
            .as_ref()
            .expect("a runtime")
            .spawn(future)
            .await
            .expect("the world task finished")
    }

    /// What the world's servers share.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The world's id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The world's temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The folder holding the stand-in `kind` (and the real `helm` and
    /// `kubectl` of a world made with [`World::with_helm`]).
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The `HOME` of commands the world runs.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A cluster name no other world uses.
    pub fn cluster_name(&self, base: &str) -> String {
        format!("{base}-{}", self.shared.id)
    }

    /// A command with the stand-ins first on `PATH`, `HOME` in the world, and
    /// no kubeconfig or kind settings leaking in from the machine.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.bin_dir().display()))
            .env("HOME", self.home())
            .env_remove("KUBECONFIG")
            .env_remove("KIND_CLUSTER_NAME")
            .env_remove("HELM_NAMESPACE")
            .env_remove("HELM_DRIVER")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("KINDFORM_CACHE_DIR")
            .current_dir(self.dir());
        cmd
    }

    /// A running cluster of this world.
    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.shared.clusters.lock().unwrap().get(name).cloned()
    }

    /// Makes the next run of `tool` whose command starts with `command` (e.g.
    /// `kind`, `create cluster`) fail with `message`, as the tool reports errors.
    pub fn fail_once(&self, tool: &str, command: &str, message: &str) {
        if tool == "helm" {
            real_helm::plan_failure(self.dir(), command, message);
            return;
        }
        self.shared
            .faults
            .lock()
            .unwrap()
            .push((tool.into(), command.into(), message.into()));
    }

    /// Every run of a stand-in tool since the world started (or since the
    /// last call), as `tool arg…`: the processes a program started.
    pub fn take_invocations(&self) -> Vec<String> {
        let mut runs = std::mem::take(&mut *self.shared.invocations.lock().unwrap());
        runs.extend(real_helm::take_logged(self.dir()));
        runs
    }
}

fn write_tool(bin: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(bin).expect("a bin folder");
    let path = bin.join(name);
    std::fs::write(&path, script).expect("a tool script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("an executable tool");
}

impl Drop for World {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let handle = runtime.handle().clone();
        // Drop may run inside a test's runtime, where blocking is not allowed:
        // clean up from a plain thread.
        let _ = std::thread::spawn(move || {
            handle.block_on(async move {
                for cluster in shared.clusters.lock().unwrap().drain() {
                    cluster.1.shutdown();
                }
                let names: Vec<String> =
                    docker::containers_with(&shared.docker, &[(docker::WORLD_LABEL, &shared.id)])
                        .await
                        .map(|c| c.into_iter().map(|(n, _, _)| n).collect())
                        .unwrap_or_default();
                docker::remove_containers(&shared.docker, &names).await;
            });
        })
        .join();
        runtime.shutdown_background();
    }
}
