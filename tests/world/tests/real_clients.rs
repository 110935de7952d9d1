//! The world's API server against the real clients: Helm 3.17 and Helm 4.3
//! with the kubectl of their wheel (`scripts/fetch-real-tools`), one test per
//! fact kindform and its tests rely on, each run with both majors. Where a
//! fact differs between the majors the test says so.

#[macro_use]
#[path = "../../support/majors.rs"]
mod majors;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kindform_world::World;
use kindform_world::real_tools::{HelmMajor, RealTools};
use serde_json::Value;
use support::{Run, create_cluster, write_chart};

/// One world, one cluster, and the real tools of one major.
struct Real {
    world: World,
    tools: RealTools,
    cluster: String,
    kubeconfig: PathBuf,
}

impl Real {
    async fn start(test: &str, major: HelmMajor) -> Option<Real> {
        let world = World::with_helm(test, major).await?;
        let tools = world.tools().expect("a world with the real tools").clone();
        let cluster = world.cluster_name("real");
        let kubeconfig = create_cluster(&world, &cluster, 0);
        Some(Real {
            world,
            tools,
            cluster,
            kubeconfig,
        })
    }

    fn run(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Run {
        use std::io::Write as _;
        let mut cmd = self.world.command(program);
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("the tool starts");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn helm(&self, args: &[&str]) -> Run {
        self.run(&self.tools.helm, args, None)
    }

    fn helm_ok(&self, args: &[&str]) -> String {
        let out = self.helm(args);
        assert_eq!(
            out.code, 0,
            "helm {args:?} ({}): {}",
            self.tools.major, out.stderr
        );
        out.stdout
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.run(&self.tools.kubectl, args, stdin)
    }

    fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert_eq!(
            out.code, 0,
            "kubectl {args:?} ({}): {}",
            self.tools.major, out.stderr
        );
        out.stdout
    }

    fn get(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all, None)).unwrap()
    }

    /// Every release of every status: Helm 4 lists them all without `-a`.
    fn list_all(&self) -> &'static [&'static str] {
        match self.tools.major {
            HelmMajor::V3 => &["list", "-a", "-A", "-o", "json"],
            HelmMajor::V4 => &["list", "-A", "-o", "json"],
        }
    }

    /// How many objects `kubectl get ARGS` finds.
    fn count(&self, args: &[&str]) -> usize {
        self.get(args)["items"].as_array().map_or(0, Vec::len)
    }

    fn wait_flag(&self) -> &'static str {
        match self.tools.major {
            HelmMajor::V3 => "--wait",
            HelmMajor::V4 => "--wait=watcher",
        }
    }

    /// Polls `check` for up to ten seconds.
    fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what} ({})",
                self.tools.major
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

async fn a_release_installs_upgrades_rolls_back_and_uninstalls(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    let chart = write_chart(real.world.dir(), "0.1.0");
    let chart = chart.to_str().unwrap();
    let wait = real.wait_flag();
    real.helm_ok(&[
        "install",
        "web",
        chart,
        "-n",
        "shop",
        "--create-namespace",
        wait,
        "--timeout",
        "30s",
    ]);
    // The release record went in as protobuf and reads back as Helm's Secret.
    let secrets = real.get(&["secrets", "-n", "shop", "-l", "owner=helm"]);
    let record = &secrets["items"][0];
    assert_eq!(record["type"], "helm.sh/release.v1");
    assert_eq!(record["metadata"]["labels"]["status"], "deployed");
    assert!(record["data"]["release"].as_str().unwrap().len() > 100);
    // The Deployment was defaulted and rolled out through a ReplicaSet.
    let deployment = real.get(&["deployment", "web", "-n", "shop"]);
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["status"]["readyReplicas"], 1);
    let sets = real.get(&["replicasets", "-n", "shop"]);
    let set = &sets["items"][0];
    assert_eq!(set["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(set["metadata"]["ownerReferences"][0]["controller"], true);
    assert!(set["spec"]["selector"]["matchLabels"]["pod-template-hash"].is_string());
    let service = real.get(&["service", "web", "-n", "shop"]);
    assert!(
        service["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96.")
    );

    real.helm_ok(&[
        "upgrade",
        "web",
        chart,
        "-n",
        "shop",
        "--set",
        "replicas=2",
        "--set",
        "extra=true",
        wait,
        "--timeout",
        "30s",
    ]);
    let deployment = real.get(&["deployment", "web", "-n", "shop"]);
    assert_eq!(
        deployment["status"]["readyReplicas"], 2,
        "the upgrade waited"
    );
    real.get(&["configmap", "web-extra", "-n", "shop"]);
    let history: Value =
        serde_json::from_str(&real.helm_ok(&["history", "web", "-n", "shop", "-o", "json"]))
            .unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);

    real.helm_ok(&[
        "rollback",
        "web",
        "1",
        "-n",
        "shop",
        wait,
        "--timeout",
        "30s",
    ]);
    let deployment = real.get(&["deployment", "web", "-n", "shop"]);
    assert_eq!(deployment["spec"]["replicas"], 1, "rolled back");
    assert_eq!(
        real.kubectl(&["get", "configmap", "web-extra", "-n", "shop"], None)
            .code,
        1,
        "the rollback removed what revision 1 did not have"
    );
    let values: Value =
        serde_json::from_str(&real.helm_ok(&["get", "values", "web", "-n", "shop", "-o", "json"]))
            .unwrap();
    assert_eq!(values, Value::Null, "revision 1 had no user values");

    real.helm_ok(&["uninstall", "web", "-n", "shop", wait]);
    real.eventually("the uninstall took the ReplicaSet and pods with it", || {
        real.count(&["replicasets,pods", "-n", "shop"]) == 0
    });
    assert!(real.count(&["secrets", "-n", "shop", "-l", "owner=helm"]) == 0);
}

async fn list_lists_every_status_as_each_major_spells_it(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    let chart = write_chart(real.world.dir(), "0.1.0");
    real.helm_ok(&["install", "web", chart.to_str().unwrap(), "-n", "default"]);
    let with_a = real.helm(&["list", "-a", "-A", "-o", "json"]);
    match major {
        HelmMajor::V3 => assert_eq!(with_a.code, 0, "{}", with_a.stderr),
        HelmMajor::V4 => {
            assert_eq!(with_a.code, 1);
            assert!(
                with_a.stderr.contains("unknown shorthand flag: 'a' in -a"),
                "{}",
                with_a.stderr
            );
        }
    }
    let listed: Value = serde_json::from_str(&real.helm_ok(&["list", "-A", "-o", "json"])).unwrap();
    assert_eq!(listed[0]["name"], "web");
    assert_eq!(listed[0]["status"], "deployed");
    assert_eq!(listed[0]["chart"], "web-0.1.0");
}

async fn kubectl_apply_validates_fields_and_merges_by_strategy(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    let deployment = |env: &str, extra: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: default\nspec:\n{extra}  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n      - name: api\n        image: api:local\n        env:\n{env}"
        )
    };
    // Unknown fields are refused by the server, as client-go asks it to.
    let out = real.kubectl(
        &["apply", "-f", "-"],
        Some(&deployment(
            "        - {name: A, value: a}\n",
            "  replicass: 2\n",
        )),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("strict decoding error: unknown field \"spec.replicass\""),
        "{}",
        out.stderr
    );
    real.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&deployment(
            "        - {name: A, value: a}\n        - {name: B, value: b}\n",
            "",
        )),
    );
    // Removing B is a strategic merge patch with its directives.
    real.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&deployment("        - {name: A, value: a2}\n", "")),
    );
    let live = real.get(&["deployment", "api"]);
    let container = &live["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "api");
    assert_eq!(
        container["env"],
        serde_json::json!([{"name": "A", "value": "a2"}])
    );
    assert!(
        !serde_json::to_string(&live)
            .unwrap()
            .contains("$setElementOrder"),
        "no directive is stored"
    );
    // A rollout restart makes a new ReplicaSet; scale goes through /scale.
    let sets = real.count(&["replicasets"]);
    real.kubectl_ok(&["rollout", "restart", "deployment/api"], None);
    let live = real.get(&["deployment", "api"]);
    assert!(
        live["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    real.eventually("the restart made a second ReplicaSet", || {
        real.count(&["replicasets"]) == sets + 1
    });
    real.kubectl_ok(&["scale", "deployment/api", "--replicas=3"], None);
    real.eventually("three pods run after the scale", || {
        real.count(&["pods", "-l", "app=api"]) == 3
    });
    real.kubectl_ok(
        &[
            "patch",
            "deployment",
            "api",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"edited":"by-hand"}}}"#,
        ],
        None,
    );
    assert_eq!(
        real.get(&["deployment", "api"])["metadata"]["labels"]["edited"],
        "by-hand"
    );
}

async fn a_deleted_namespace_terminates_before_it_goes(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    real.kubectl_ok(&["create", "namespace", "gone"], None);
    real.kubectl_ok(
        &[
            "create",
            "configmap",
            "a",
            "-n",
            "gone",
            "--from-literal=k=v",
        ],
        None,
    );
    real.kubectl_ok(&["delete", "namespace", "gone", "--wait=false"], None);
    let ns = real.get(&["namespace", "gone"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    let refused = real.kubectl(&["create", "configmap", "b", "-n", "gone"], None);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("because it is being terminated"),
        "{}",
        refused.stderr
    );
    real.eventually("the namespace and its content go", || {
        real.kubectl(&["get", "namespace", "gone"], None).code == 1
    });
}

async fn a_wait_that_times_out_leaves_the_release_failed(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    let chart = write_chart(real.world.dir(), "0.1.0");
    real.world
        .crash_loop(&real.cluster, "default", "Deployment", "web", &["boom"])
        .unwrap();
    let out = real.helm(&[
        "install",
        "web",
        chart.to_str().unwrap(),
        "-n",
        "default",
        real.wait_flag(),
        "--timeout",
        "3s",
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let listed: Value = serde_json::from_str(&real.helm_ok(real.list_all())).unwrap();
    assert_eq!(listed[0]["status"], "failed", "{listed}");
}

/// Helm 3 upgrades with a three-way strategic merge patch against the live
/// object, so a field the chart sets is put back over a hand edit; Helm 4
/// upgrades with server-side apply, so the same upgrade conflicts with the
/// manager that made the edit until `--force-conflicts` takes the field.
async fn a_hand_scaled_deployment_meets_each_majors_upgrade(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    let chart = write_chart(real.world.dir(), "0.1.0");
    let chart = chart.to_str().unwrap();
    real.helm_ok(&["install", "web", chart, "-n", "default"]);
    real.kubectl_ok(&["scale", "deployment/web", "--replicas=3"], None);
    // kubectl hides managedFields unless asked.
    let owners =
        real.get(&["deployment", "web", "--show-managed-fields"])["metadata"]["managedFields"]
            .clone();
    assert!(
        owners
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["subresource"] == "scale" && m["operation"] == "Update"),
        "{owners}"
    );
    let upgrade = real.helm(&[
        "upgrade",
        "web",
        chart,
        "-n",
        "default",
        "--set",
        "image=app:v2",
    ]);
    let replicas = || real.get(&["deployment", "web"])["spec"]["replicas"].clone();
    match major {
        HelmMajor::V3 => {
            assert_eq!(upgrade.code, 0, "{}", upgrade.stderr);
            assert_eq!(replicas(), 1, "the three-way patch reverts the edit");
            let patched = real.world.cluster(&real.cluster).unwrap().api.requests();
            assert!(
                patched.iter().any(|r| r
                    .starts_with("PATCH /apis/apps/v1/namespaces/default/deployments/web")
                    && r.contains("application/strategic-merge-patch+json")),
                "Helm 3 upgrades with a strategic merge patch"
            );
        }
        HelmMajor::V4 => {
            assert_eq!(upgrade.code, 1, "{}", upgrade.stdout);
            assert!(
                upgrade.stderr.contains("conflict with \"kubectl\"")
                    && upgrade.stderr.contains(".spec.replicas"),
                "{}",
                upgrade.stderr
            );
            real.helm_ok(&[
                "upgrade",
                "web",
                chart,
                "-n",
                "default",
                "--set",
                "image=app:v2",
                "--force-conflicts",
            ]);
            assert_eq!(replicas(), 1, "--force-conflicts takes the field back");
        }
    }
}

async fn kubectl_deletes_cascade_or_orphan_as_asked(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    // (`kubectl create deployment` sends a protobuf Deployment, which the
    // world does not decode; `apply` sends JSON.)
    for name in ["kept", "gone"] {
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: app\n        image: app:local\n"
        );
        real.kubectl_ok(&["apply", "-f", "-"], Some(&deployment));
    }
    real.eventually("both deployments have their pods", || {
        real.count(&["pods"]) == 4
    });
    // --cascade=orphan keeps the ReplicaSet and its pods, without an owner.
    real.kubectl_ok(&["delete", "deployment", "kept", "--cascade=orphan"], None);
    let sets = real.get(&["replicasets", "-l", "app=kept"]);
    let set = &sets["items"][0];
    assert!(
        set["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|o| o.is_empty()),
        "{set}"
    );
    // The default (background) cascade takes the ReplicaSet and pods.
    real.kubectl_ok(&["delete", "deployment", "gone"], None);
    real.eventually("the cascade removed what the deployment owned", || {
        real.count(&["replicasets,pods", "-l", "app=gone"]) == 0
    });
    assert_eq!(
        real.count(&["pods", "-l", "app=kept"]),
        2,
        "the orphans stay"
    );
}

async fn kubectl_server_side_apply_conflicts_with_another_manager(major: HelmMajor, test: &str) {
    let Some(real) = Real::start(test, major).await else {
        return;
    };
    let config = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: default\ndata:\n  key: {value}\n"
        )
    };
    real.kubectl_ok(
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        Some(&config("a")),
    );
    let refused = real.kubectl(
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&config("b")),
    );
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("conflict with \"alice\"") && refused.stderr.contains(".data.key"),
        "{}",
        refused.stderr
    );
    real.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&config("b")),
    );
    let live = real.get(&["configmap", "shared", "--show-managed-fields"]);
    assert_eq!(live["data"]["key"], "b");
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["bob"], "alice lost the only field she owned");
}

with_both_helm_majors!(
    a_release_installs_upgrades_rolls_back_and_uninstalls,
    list_lists_every_status_as_each_major_spells_it,
    kubectl_apply_validates_fields_and_merges_by_strategy,
    a_deleted_namespace_terminates_before_it_goes,
    a_wait_that_times_out_leaves_the_release_failed,
    a_hand_scaled_deployment_meets_each_majors_upgrade,
    kubectl_deletes_cascade_or_orphan_as_asked,
    kubectl_server_side_apply_conflicts_with_another_manager,
);
