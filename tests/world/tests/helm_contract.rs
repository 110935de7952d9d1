//! The stand-in `helm` against cli-contracts.md part 2, one test per fact
//! kindform relies on, each in its own world and cluster.

mod support;

use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use kindform_world::World;
use serde_json::{Value, json};
use support::{Run, create_cluster, tool, write_chart};

struct Helm<'a> {
    world: &'a World,
    context: String,
    kubeconfig: String,
    cluster: String,
}

impl Helm<'_> {
    fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--kube-context",
            &self.context,
            "--kubeconfig",
            &self.kubeconfig,
        ]);
        tool(self.world, "helm", &all)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(
            out.stdout.ends_with('\n') && out.stdout.matches('\n').count() == 1,
            "one line of JSON: {}",
            out.stdout
        );
        serde_json::from_str(&out.stdout).unwrap()
    }
}

async fn setup(test: &str) -> Option<(World, String)> {
    let world = World::start(test).await?;
    let name = world.cluster_name("helm");
    Some((world, name))
}

macro_rules! helm_world {
    ($test:literal, $world:ident, $helm:ident, $chart:ident) => {
        let Some(($world, cluster)) = setup($test).await else {
            return;
        };
        let kubeconfig = create_cluster(&$world, &cluster, 0);
        let $helm = Helm {
            world: &$world,
            context: format!("kind-{cluster}"),
            kubeconfig: kubeconfig.to_str().unwrap().to_owned(),
            cluster,
        };
        let $chart = write_chart($world.dir(), "0.1.0")
            .to_str()
            .unwrap()
            .to_owned();
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_prints_the_bare_version_with_a_template() {
    let Some((world, _)) = setup("version_prints_the_bare_version_with_a_template").await else {
        return;
    };
    assert_eq!(
        tool(&world, "helm", &["version", "--template", "{{.Version}}"]).stdout,
        "v3.21.4"
    );
    assert!(
        tool(&world, "helm", &["version", "--short"])
            .stdout
            .starts_with("v3.21.4+g")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_then_upgrade_print_helms_table_and_json() {
    helm_world!(
        "install_then_upgrade_print_helms_table_and_json",
        world,
        helm,
        chart
    );
    let install = helm.run(&[
        "upgrade",
        "--install",
        "web",
        &chart,
        "-n",
        "apps",
        "--create-namespace",
    ]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    let lines: Vec<&str> = install.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "Release \"web\" does not exist. Installing it now."
    );
    assert_eq!(lines[1], "NAME: web");
    assert!(lines[2].starts_with("LAST DEPLOYED: "));
    assert_eq!(
        &lines[3..],
        [
            "NAMESPACE: apps",
            "STATUS: deployed",
            "REVISION: 1",
            "TEST SUITE: None"
        ]
    );
    let upgraded = helm.json(&[
        "upgrade",
        "--install",
        "web",
        &chart,
        "-n",
        "apps",
        "-o",
        "json",
    ]);
    assert_eq!(upgraded["version"], 2);
    assert_eq!(upgraded["chart"]["metadata"]["appVersion"], "1.0");
    let template = &upgraded["chart"]["templates"][0];
    assert_eq!(template["name"], "templates/deployment.yaml");
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(template["data"].as_str().unwrap())
            .is_ok()
    );
    let table = helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"]);
    assert!(
        table
            .stdout
            .starts_with("Release \"web\" has been upgraded. Happy Helming!\nNAME: web\n"),
        "{}",
        table.stdout
    );
    let plain = helm.run(&["upgrade", "other", &chart, "-n", "apps"]);
    assert_eq!(
        (plain.code, plain.stderr.as_str()),
        (
            1,
            "Error: UPGRADE FAILED: \"other\" has no deployed releases\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_history_and_list_have_helms_json_shapes() {
    helm_world!(
        "status_history_and_list_have_helms_json_shapes",
        world,
        helm,
        chart
    );
    for _ in 0..2 {
        assert_eq!(
            helm.run(&[
                "upgrade",
                "--install",
                "web",
                &chart,
                "-n",
                "apps",
                "--create-namespace"
            ])
            .code,
            0
        );
    }
    let status_line = helm
        .run(&["status", "web", "-n", "apps", "-o", "json"])
        .stdout;
    let status: Value = serde_json::from_str(&status_line).unwrap();
    let keys: Vec<&str> = status
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["name", "info", "manifest", "version", "namespace"],
        "no chart, no empty config"
    );
    let info: Vec<&str> = status["info"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        info,
        [
            "first_deployed",
            "last_deployed",
            "deleted",
            "description",
            "status"
        ]
    );
    assert_eq!(
        (
            status["info"]["deleted"].as_str(),
            status["info"]["description"].as_str()
        ),
        (Some(""), Some("Upgrade complete"))
    );

    let history = helm.json(&["history", "web", "-n", "apps", "-o", "json"]);
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(
        (history[0]["revision"].clone(), history[0]["status"].clone()),
        (json!(1), json!("superseded"))
    );
    assert_eq!(
        (history[1]["revision"].clone(), history[1]["status"].clone()),
        (json!(2), json!("deployed"))
    );
    assert_eq!(history[1]["chart"], "web-0.1.0");
    let updated = history[1]["updated"].as_str().unwrap();
    assert!(
        updated.ends_with('Z') && updated.contains('T'),
        "RFC 3339: {updated}"
    );

    let list = helm.json(&["list", "-n", "apps", "-o", "json"]);
    let entry = &list[0];
    assert_eq!(entry["revision"], json!("2"), "list's revision is a string");
    assert_eq!(
        (
            entry["chart"].as_str(),
            entry["app_version"].as_str(),
            entry["status"].as_str()
        ),
        (Some("web-0.1.0"), Some("1.0"), Some("deployed"))
    );
    assert!(
        entry["updated"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{}",
        entry["updated"]
    );
    assert_eq!(
        helm.json(&["list", "-n", "elsewhere", "-o", "json"]),
        json!([])
    );
    assert_eq!(
        helm.json(&["list", "-A", "-o", "json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_release_is_release_not_found() {
    helm_world!("a_missing_release_is_release_not_found", world, helm, chart);
    let _ = &chart;
    for args in [
        &["status", "nope"][..],
        &["history", "nope"],
        &["get", "values", "nope"],
        &["get", "manifest", "nope"],
    ] {
        let out = helm.run(args);
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (1, "", "Error: release: not found\n"),
            "{args:?}"
        );
    }
    let uninstall = helm.run(&["uninstall", "nope"]);
    assert_eq!(
        uninstall.stderr,
        "Error: uninstall: Release not loaded: nope: release: not found\n"
    );
    let ignored = helm.run(&["uninstall", "nope", "--ignore-not-found"]);
    assert_eq!(
        (ignored.code, ignored.stdout.as_str()),
        (0, "release \"nope\" uninstalled\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_values_are_stored_exactly_and_reused_as_helm_does() {
    helm_world!(
        "user_values_are_stored_exactly_and_reused_as_helm_does",
        world,
        helm,
        chart
    );
    let install = helm.run(&[
        "upgrade",
        "--install",
        "web",
        &chart,
        "-n",
        "apps",
        "--create-namespace",
    ]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    assert_eq!(
        helm.run(&["get", "values", "web", "-n", "apps", "-o", "json"])
            .stdout,
        "null\n",
        "no values: null"
    );
    let (a, b) = (world.dir().join("a.yaml"), world.dir().join("b.yaml"));
    std::fs::write(&a, "svc: {port: 80, hosts: [a, b]}\nkeep: 1\ngone: x\n").unwrap();
    std::fs::write(&b, "svc: {hosts: [c]}\ngone: null\n").unwrap();
    let files = format!("{},{}", a.display(), b.display());
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "-f",
            &files,
            "--set",
            "replicas=2,svc.tls=true"
        ])
        .code,
        0
    );
    let values = helm.json(&["get", "values", "web", "-n", "apps", "-o", "json"]);
    assert_eq!(
        values,
        json!({"svc": {"port": 80, "hosts": ["c"], "tls": true}, "keep": 1, "gone": null, "replicas": 2})
    );
    // No value flags: the last values are reused.
    assert_eq!(
        helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"])
            .code,
        0
    );
    assert_eq!(
        helm.json(&["get", "values", "web", "-n", "apps", "-o", "json"]),
        values
    );
    // A value flag without a reuse flag drops them; --reuse-values keeps them.
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--set",
            "replicas=3"
        ])
        .code,
        0
    );
    assert_eq!(
        helm.json(&["get", "values", "web", "-n", "apps", "-o", "json"]),
        json!({"replicas": 3})
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--reuse-values",
            "--set",
            "extra=true"
        ])
        .code,
        0
    );
    assert_eq!(
        helm.json(&["get", "values", "web", "-n", "apps", "-o", "json"]),
        json!({"replicas": 3, "extra": true})
    );
    let all = helm.json(&["get", "values", "web", "-n", "apps", "--all", "-o", "json"]);
    assert_eq!(
        all["image"], "app:local",
        "--all merges the chart's defaults"
    );
    let deployment = world
        .get_object(&helm.cluster, "apps/v1", "Deployment", "apps", "web")
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_are_stored_as_helm_stores_them() {
    helm_world!(
        "releases_are_stored_as_helm_stores_them",
        world,
        helm,
        chart
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--create-namespace"
        ])
        .code,
        0
    );
    let secret = world
        .get_object(
            &helm.cluster,
            "v1",
            "Secret",
            "apps",
            "sh.helm.release.v1.web.v1",
        )
        .expect("one Secret per revision");
    assert_eq!(secret["type"], "helm.sh/release.v1");
    let labels = &secret["metadata"]["labels"];
    assert_eq!(
        (
            labels["owner"].as_str(),
            labels["name"].as_str(),
            labels["status"].as_str(),
            labels["version"].as_str()
        ),
        (Some("helm"), Some("web"), Some("deployed"), Some("1"))
    );
    assert!(
        labels["modifiedAt"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    // base64 (the API's) -> base64 (Helm's) -> gzip -> JSON with the chart.
    let b64 = base64::engine::general_purpose::STANDARD;
    let helm_payload = b64
        .decode(secret["data"]["release"].as_str().unwrap())
        .unwrap();
    let gzipped = b64.decode(helm_payload).unwrap();
    assert_eq!(&gzipped[..3], &[0x1f, 0x8b, 0x08]);
    let mut json = String::new();
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .read_to_string(&mut json)
        .unwrap();
    let release: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (
            release["name"].as_str(),
            release["chart"]["metadata"]["name"].as_str()
        ),
        (Some("web"), Some("web"))
    );
    // Objects carry Helm's ownership metadata.
    let service = world
        .get_object(&helm.cluster, "v1", "Service", "apps", "web")
        .unwrap();
    assert_eq!(
        service["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(
        service["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "web"
    );
    assert_eq!(
        service["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
        "apps"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_releases_lock_upgrades_and_hide_from_list() {
    helm_world!(
        "pending_releases_lock_upgrades_and_hide_from_list",
        world,
        helm,
        chart
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--create-namespace"
        ])
        .code,
        0
    );
    for status in ["pending-install", "pending-upgrade", "pending-rollback"] {
        world
            .leave_release(&helm.cluster, "apps", "web", status)
            .unwrap();
        assert_eq!(
            helm.json(&["list", "-n", "apps", "-o", "json"]),
            json!([]),
            "{status} hidden by default"
        );
        assert_eq!(
            helm.json(&["list", "-n", "apps", "--pending", "-o", "json"])[0]["status"],
            status
        );
        let locked = helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"]);
        assert_eq!(
            locked.stderr,
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n",
            "{status}"
        );
    }
    // Rollback does not check for pending releases, so it un-sticks one.
    world
        .leave_release(&helm.cluster, "apps", "web", "deployed")
        .unwrap();
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--set",
            "replicas=2"
        ])
        .code,
        0
    );
    world
        .leave_release(&helm.cluster, "apps", "web", "pending-upgrade")
        .unwrap();
    let missing = helm.run(&["rollback", "web", "9", "-n", "apps"]);
    assert_eq!(missing.stderr, "Error: release has no 9 version\n");
    let rolled = helm.run(&["rollback", "web", "-n", "apps"]);
    assert_eq!(rolled.code, 0, "{}", rolled.stderr);
    let history = helm.json(&["history", "web", "-n", "apps", "-o", "json"]);
    assert_eq!(history[2]["description"], "Rollback to 1");
    assert_eq!(history[2]["status"], "deployed");
    assert_eq!(history[1]["status"], "superseded");
    assert_eq!(
        helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"])
            .code,
        0,
        "unlocked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_install_is_upgraded_in_place() {
    helm_world!(
        "a_failed_first_install_is_upgraded_in_place",
        world,
        helm,
        chart
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--create-namespace"
        ])
        .code,
        0
    );
    world
        .leave_release(&helm.cluster, "apps", "web", "failed")
        .unwrap();
    assert_eq!(
        helm.json(&["list", "-n", "apps", "-o", "json"])[0]["status"],
        "failed",
        "failed releases are listed"
    );
    let again = helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .starts_with("Release \"web\" has been upgraded.")
    );
    assert_eq!(
        helm.json(&["status", "web", "-n", "apps", "-o", "json"])["version"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_owned_elsewhere_block_the_release() {
    helm_world!(
        "objects_owned_elsewhere_block_the_release",
        world,
        helm,
        chart
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
    world.create_object(&helm.cluster, ns).unwrap();
    world
        .create_object(&helm.cluster, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps", "labels": {"app.kubernetes.io/managed-by": "kubectl"}}, "spec": {}}))
        .unwrap();
    let blocked = helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"]);
    assert_eq!(blocked.code, 1);
    assert_eq!(
        blocked.stderr,
        "Error: Unable to continue with install: Service \"web\" in namespace \"apps\" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: key \"app.kubernetes.io/managed-by\" must equal \"Helm\": current value is \"kubectl\"; annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"web\"; annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"apps\"\n"
    );
    assert_eq!(
        helm.run(&["history", "web", "-n", "apps"]).stderr,
        "Error: release: not found\n",
        "nothing recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_needs_its_namespace_unless_asked_to_create_it() {
    helm_world!(
        "install_needs_its_namespace_unless_asked_to_create_it",
        world,
        helm,
        chart
    );
    let out = helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            1,
            "Error: create: failed to create: namespaces \"apps\" not found\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_that_times_out_leaves_the_release_failed() {
    helm_world!(
        "wait_that_times_out_leaves_the_release_failed",
        world,
        helm,
        chart
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--create-namespace"
        ])
        .code,
        0
    );
    world
        .crash_loop(&helm.cluster, "apps", "Deployment", "web", &["boom"])
        .unwrap();
    let out = helm.run(&[
        "upgrade",
        "--install",
        "web",
        &chart,
        "-n",
        "apps",
        "--set",
        "replicas=2",
        "--wait",
        "--timeout",
        "2s",
    ]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (1, "Error: UPGRADE FAILED: context deadline exceeded\n")
    );
    let status = helm.json(&["status", "web", "-n", "apps", "-o", "json"]);
    assert_eq!(status["info"]["status"], "failed");
    assert_eq!(
        status["info"]["description"],
        "Upgrade \"web\" failed: context deadline exceeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_killed_while_waiting_leaves_the_release_pending() {
    helm_world!(
        "a_helm_killed_while_waiting_leaves_the_release_pending",
        world,
        helm,
        chart
    );
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
    world.create_object(&helm.cluster, ns).unwrap();
    world
        .crash_loop(&helm.cluster, "apps", "Deployment", "web", &["boom"])
        .unwrap();
    let mut child = world
        .command("helm")
        .args([
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--wait",
            "--timeout",
            "3s",
            "--kube-context",
            &helm.context,
            "--kubeconfig",
            &helm.kubeconfig,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap();
    let _ = child.wait();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = helm.json(&["list", "-n", "apps", "-a", "-o", "json"]);
    assert_eq!(
        all[0]["status"], "pending-install",
        "a killed helm leaves its release pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_deletes_the_objects_and_keep_history_leaves_a_record() {
    helm_world!(
        "uninstall_deletes_the_objects_and_keep_history_leaves_a_record",
        world,
        helm,
        chart
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            &chart,
            "-n",
            "apps",
            "--create-namespace"
        ])
        .code,
        0
    );
    let out = helm.run(&["uninstall", "web", "-n", "apps", "--keep-history"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "release \"web\" uninstalled\n")
    );
    assert!(
        world
            .get_object(&helm.cluster, "apps/v1", "Deployment", "apps", "web")
            .is_none()
    );
    assert_eq!(helm.json(&["list", "-n", "apps", "-o", "json"]), json!([]));
    assert_eq!(
        helm.json(&["list", "-n", "apps", "-a", "-o", "json"])[0]["status"],
        "uninstalled"
    );
    let reinstall = helm.run(&["upgrade", "--install", "web", &chart, "-n", "apps"]);
    assert!(
        reinstall
            .stdout
            .starts_with("Release \"web\" does not exist. Installing it now."),
        "an uninstalled name is reused: {}",
        reinstall.stdout
    );
    assert_eq!(helm.run(&["uninstall", "web", "-n", "apps"]).code, 0);
    assert!(
        world
            .list_objects(&helm.cluster, "v1", "Secret", Some("apps"))
            .iter()
            .all(|s| s["type"] != "helm.sh/release.v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_charts_by_repo_url_and_by_added_repository() {
    helm_world!(
        "repository_charts_by_repo_url_and_by_added_repository",
        world,
        helm,
        chart
    );
    let _ = &chart;
    let repo_dir = world.dir().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    write_chart(&repo_dir, "1.0.0");
    write_chart(&repo_dir, "1.1.0");
    let url = world.serve_chart_repo(&repo_dir);
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            "web",
            "--repo",
            &url,
            "--version",
            "1.0.0",
            "-n",
            "apps",
            "--create-namespace"
        ])
        .code,
        0
    );
    assert_eq!(
        helm.json(&["list", "-n", "apps", "-o", "json"])[0]["chart"],
        "web-1.0.0"
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "web",
            "web",
            "--repo",
            &url,
            "-n",
            "apps"
        ])
        .code,
        0
    );
    assert_eq!(
        helm.json(&["list", "-n", "apps", "-o", "json"])[0]["chart"],
        "web-1.1.0",
        "the newest without --version"
    );
    let missing = helm.run(&[
        "upgrade",
        "--install",
        "web",
        "web",
        "--repo",
        &url,
        "--version",
        "9.9.9",
        "-n",
        "apps",
    ]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("version \"9.9.9\" not found"),
        "{}",
        missing.stderr
    );
    let added = tool(&world, "helm", &["repo", "add", "mine", &url]);
    assert_eq!(
        added.stdout,
        "\"mine\" has been added to your repositories\n"
    );
    assert_eq!(
        tool(&world, "helm", &["repo", "add", "mine", &url]).stdout,
        "\"mine\" already exists with the same configuration, skipping\n"
    );
    let clash = tool(
        &world,
        "helm",
        &["repo", "add", "mine", "http://127.0.0.1:1/other"],
    );
    assert_eq!(
        clash.stderr,
        "Error: repository name (mine) already exists, please specify a different name\n"
    );
    assert!(
        tool(&world, "helm", &["repo", "update"])
            .stdout
            .ends_with("Update Complete. ⎈Happy Helming!⎈\n")
    );
    assert_eq!(
        helm.run(&[
            "upgrade",
            "--install",
            "api",
            "mine/web",
            "--version",
            "1.0.0",
            "-n",
            "apps"
        ])
        .code,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_renders_without_a_cluster() {
    let Some((world, _)) = setup("template_renders_without_a_cluster").await else {
        return;
    };
    let chart = write_chart(world.dir(), "0.1.0");
    let out = tool(
        &world,
        "helm",
        &["template", chart.to_str().unwrap(), "--set", "extra=true"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: release-name\n"), "{}", out.stdout);
    assert!(out.stdout.contains("# Source: web/templates/extra.yaml\n"));
}
