//! `kindform plan` in the test world: each scenario builds (or breaks) an
//! environment with the stand-ins directly, runs the built binary as a user
//! would, and checks the plan's actions, reasons and the important lines of
//! its text and JSON.

use std::path::PathBuf;
use std::process::Command;

use kindform::spec::{LoadOptions, load};
use kindform_world::World;
use serde_json::{Value, json};

const SPEC: &str = r#"version = 1
name = "scenario"

[variables]
host_port = "18080"

[cluster]
name = "${cluster}"
node_image = "kindest/node:v1.34.0"

[[cluster.nodes]]
role = "control-plane"
extra_port_mappings = [{ container_port = 30080, host_port = "${host_port}" }]

[[cluster.nodes]]
role = "worker"

[checks.page]
http = { url = "http://127.0.0.1:${host_port}/", status = 200 }
"#;

const FULL: &str = r#"
[images.app]
ref = "kindform.dev/scenario-app:local"
build = { context = "app" }

[releases.web]
chart = "chart"
namespace = "apps"
create_namespace = true
set = { "image.tag" = "local", "db.password" = { env = "DB_PASSWORD", sensitive = true } }
depends_on = ["images.app"]

[manifests.extra]
inline = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
"""
namespace = "apps"
depends_on = ["releases.web"]
"#;

struct Env {
    world: World,
    dir: PathBuf,
    cluster: String,
}

async fn env(test: &str, full: bool) -> Option<Env> {
    let world = World::start(test).await?;
    let dir = world.dir().join("project");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::create_dir_all(dir.join("chart/templates")).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    std::fs::write(
        dir.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .unwrap();
    let spec = if full {
        format!("{SPEC}{FULL}")
    } else {
        SPEC.to_owned()
    };
    std::fs::write(dir.join("kindform.toml"), spec).unwrap();
    let cluster = world.cluster_name("scn");
    Some(Env {
        world,
        dir,
        cluster,
    })
}

impl Env {
    fn kindform(&self, args: &[&str]) -> (i32, String, String) {
        let binary = env!("CARGO_BIN_EXE_kindform");
        let mut cmd: Command = self.world.command(binary);
        cmd.current_dir(&self.dir)
            .env("KINDFORM_VAR_cluster", &self.cluster)
            .env_remove("NO_COLOR")
            .args(args);
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn plan_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["plan", "--json"];
        args.extend(extra);
        let (code, stdout, stderr) = self.kindform(&args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }

    /// Builds the cluster as apply would: kind with the spec's effective
    /// config, the kubeconfig in the state folder, the applied record.
    fn converge_cluster(&self, host_port: &str) {
        let mut options = LoadOptions::default();
        options
            .overrides
            .insert("cluster".into(), self.cluster.clone());
        options
            .overrides
            .insert("host_port".into(), host_port.into());
        let loaded = load(&self.dir.join("kindform.toml"), "kindform.toml", &options).unwrap();
        let config = self.dir.join("kind.yaml");
        std::fs::write(
            &config,
            serde_yaml_ng::to_string(&loaded.spec.cluster.effective_config()).unwrap(),
        )
        .unwrap();
        let state = self.dir.join(".kindform/scenario");
        std::fs::create_dir_all(&state).unwrap();
        let out = self
            .world
            .command("kind")
            .args([
                "create",
                "cluster",
                "--name",
                &self.cluster,
                "--config",
                config.to_str().unwrap(),
                "--kubeconfig",
                state.join("kubeconfig").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let settings = kindform_kind::settings::settings(&loaded.spec.cluster);
        let entry = json!({"fingerprint": kindform_kind::settings::fingerprint(&settings), "settings": settings});
        let record = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kindform", "namespace": "kube-system"}, "data": {"cluster": entry.to_string()}});
        self.world.create_object(&self.cluster, record).unwrap();
    }
}

fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no {address} in {plan}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_world_plans_everything_as_created() {
    let Some(env) = env("an_empty_world_plans_everything_as_created", true).await else {
        return;
    };
    let plan = env.plan_json(&[]);
    assert_eq!(
        (
            plan["format_version"].as_str(),
            plan["environment"].as_str()
        ),
        (Some("1"), Some("scenario"))
    );
    let cluster = change(&plan, "cluster");
    assert_eq!(
        (cluster["action"].as_str(), cluster["reasons"].clone()),
        (Some("create"), json!(["absent"]))
    );
    assert!(cluster["before"].is_null());
    assert_eq!(
        cluster["after"]["nodes"][0]["extraPortMappings"][0]["hostPort"],
        18080
    );
    for address in ["images.app", "releases.web", "manifests.extra"] {
        let c = change(&plan, address);
        assert_eq!(
            (c["action"].as_str(), c["reasons"].clone()),
            (Some("create"), json!(["cluster-replaced"])),
            "{address}"
        );
    }
    let web = change(&plan, "releases.web");
    assert_eq!(web["after"]["set"]["db.password"], "(sensitive)");
    assert!(
        web["steps"][0]
            .as_str()
            .unwrap()
            .starts_with("helm upgrade --install web chart --namespace apps --create-namespace")
    );
    assert_eq!(change(&plan, "checks.page")["action"], "run");
    let order: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    let at = |a: &str| order.iter().position(|x| *x == a).unwrap();
    assert_eq!(order[0], "cluster");
    assert!(
        at("images.app") < at("releases.web") && at("releases.web") < at("manifests.extra"),
        "dependency order: {order:?}"
    );

    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(text.contains("  + cluster  (absent)\n"), "{text}");
    assert!(
        text.contains("  + releases.web  (cluster-replaced)\n"),
        "{text}"
    );
    assert!(
        text.contains("  > checks.page  (after cluster)\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 4 to create, 0 to update, 0 to replace, 0 to repair, 0 to delete.\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour without a terminal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_cluster_plans_no_changes() {
    let Some(env) = env("a_converged_cluster_plans_no_changes", false).await else {
        return;
    };
    env.converge_cluster("18080");
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stderr}\n{text}");
    assert!(
        text.ends_with("No changes. The environment matches the spec.\n"),
        "{text}"
    );
    assert!(
        text.contains("  > checks.page"),
        "checks are listed: {text}"
    );
    let plan = env.plan_json(&[]);
    assert_eq!(change(&plan, "cluster")["action"], "no-op");
    assert_eq!(change(&plan, "checks.page")["action"], "run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_is_repaired_by_starting_it() {
    let Some(env) = env("a_stopped_node_is_repaired_by_starting_it", false).await else {
        return;
    };
    env.converge_cluster("18080");
    let worker = format!("{}-worker", env.cluster);
    env.world.stop_node(&env.cluster, &worker).await.unwrap();
    let plan = env.plan_json(&[]);
    let cluster = change(&plan, "cluster");
    assert_eq!(
        (cluster["action"].as_str(), cluster["reasons"].clone()),
        (Some("repair"), json!(["node-stopped"]))
    );
    assert_eq!(
        cluster["steps"][0],
        format!("start stopped node containers: {worker}")
    );
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2);
    assert!(text.contains("  ! cluster  (node-stopped)\n"), "{text}");
    assert!(
        text.ends_with("Plan: 0 to create, 0 to update, 0 to replace, 1 to repair, 0 to delete.\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_plans_the_repair_ladder() {
    let Some(env) = env("an_unreachable_api_plans_the_repair_ladder", false).await else {
        return;
    };
    env.converge_cluster("18080");
    env.world
        .set_api_unreachable(&env.cluster, true)
        .await
        .unwrap();
    let plan = env.plan_json(&[]);
    let cluster = change(&plan, "cluster");
    assert_eq!(
        (cluster["action"].as_str(), cluster["reasons"].clone()),
        (Some("repair"), json!(["api-unreachable"]))
    );
    let steps: Vec<&str> = cluster["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[1].starts_with(&format!(
        "restart the {}-control-plane container",
        env.cluster
    )));
    assert!(steps[2].starts_with("replace the cluster"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_port_mapping_replaces_the_cluster_and_cascades() {
    let Some(env) = env(
        "a_changed_port_mapping_replaces_the_cluster_and_cascades",
        true,
    )
    .await
    else {
        return;
    };
    env.converge_cluster("18080");
    let plan = env.plan_json(&["--var", "host_port=19090"]);
    let cluster = change(&plan, "cluster");
    assert_eq!(
        (cluster["action"].as_str(), cluster["reasons"].clone()),
        (Some("replace"), json!(["config-changed"]))
    );
    assert_eq!(
        cluster["before"]["nodes"][0]["extraPortMappings"][0]["hostPort"],
        18080
    );
    assert_eq!(
        cluster["after"]["nodes"][0]["extraPortMappings"][0]["hostPort"],
        19090
    );
    for address in ["images.app", "releases.web", "manifests.extra"] {
        let c = change(&plan, address);
        assert_eq!(
            (c["action"].as_str(), c["reasons"].clone()),
            (Some("create"), json!(["cluster-replaced"])),
            "{address}"
        );
        assert!(
            c["before"].is_null(),
            "{address} is not observed in a cluster about to be replaced"
        );
    }
    let (code, text, _) = env.kindform(&["plan", "--var", "host_port=19090"]);
    assert_eq!(code, 0);
    assert!(text.contains("-/+ cluster  (config-changed)\n"), "{text}");
    assert!(
        text.contains("changed: nodes[0].extraPortMappings[0].hostPort"),
        "{text}"
    );
    assert!(
        text.contains("        -     hostPort: 18080\n        +     hostPort: 19090\n"),
        "{text}"
    );
}
