//! `kindform plan` in the test world: each scenario builds (or breaks) an
//! environment with the stand-ins directly, runs the built binary as a user
//! would, and checks the plan's actions, reasons and the important lines of
//! its text and JSON.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/scenario.rs"]
mod scenario;

use kindform_world::real_tools::HelmMajor;
use scenario::*;
use serde_json::{Value, json};

/// Asserts that everything in the cluster is planned as created because the
/// cluster is; returns those changes.
fn created_with_the_cluster(plan: &Value) -> Vec<(&'static str, &Value)> {
    [
        "images.app",
        "releases.platform",
        "releases.web",
        "manifests.extra",
    ]
    .into_iter()
    .map(|address| {
        let c = change(plan, address);
        assert_eq!(
            (c["action"].as_str(), c["reasons"].clone()),
            (Some("create"), json!(["cluster-replaced"])),
            "{address}"
        );
        (address, c)
    })
    .collect()
}

async fn an_empty_world_plans_everything_as_created(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
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
    created_with_the_cluster(&plan);
    let web = change(&plan, "releases.web");
    assert_eq!(web["after"]["values"]["db"]["password"], "(sensitive)");
    assert_eq!(web["after"]["values"]["greeting"], "hello");
    assert_eq!(web["after"]["chart"], "web-0.1.0");
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

    env.snapshot(test, "plan", &text);
    assert_eq!(code, 2, "{stderr}");
    assert!(!text.contains('\x1b'), "no colour without a terminal");
    assert!(!text.contains(SECRET), "{text}");
}

async fn a_converged_cluster_plans_no_changes(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    env.converge_cluster("18080");
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode"]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 0, "{stderr}\n{text}");
    let plan = env.plan_json(&[]);
    assert_eq!(change(&plan, "cluster")["action"], "no-op");
    assert_eq!(change(&plan, "checks.page")["action"], "run");
}

async fn a_stopped_node_is_repaired_by_starting_it(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
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
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 2);
}

async fn an_unreachable_api_plans_the_repair_ladder(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    env.converge_cluster("18080");
    env.world
        .set_api_unreachable(&env.cluster, true)
        .await
        .unwrap();
    let (_, text, _) = env.kindform(&["plan"]);
    env.snapshot(test, "plan", &text);
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

async fn a_changed_port_mapping_replaces_the_cluster_and_cascades(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
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
    for (address, c) in created_with_the_cluster(&plan) {
        assert!(
            c["before"].is_null(),
            "{address} is not observed in a cluster about to be replaced"
        );
    }
    let (code, text, _) = env.kindform(&["plan", "--var", "host_port=19090"]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 0);
}

async fn a_converged_world_plans_no_changes(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode"]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 0, "{stderr}\n{text}");
    let plan = env.plan_json(&[]);
    only_changes(&plan, &[]);
    assert_eq!(actions(&plan).len(), 6, "every resource is listed: {plan}");
    let web = change(&plan, "releases.web");
    assert_eq!(web["before"], web["after"]);
    assert_eq!(web["before"]["values"]["db"]["password"], "(sensitive)");
    let app = change(&plan, "images.app");
    assert_eq!(
        app["before"]["nodes"],
        json!({format!("{}-control-plane", env.cluster): "present", format!("{}-worker", env.cluster): "present"})
    );
    assert!(!plan.to_string().contains(SECRET));
}

async fn an_image_rebuilt_under_the_same_tag_is_reloaded_with_rollout_restarts(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    let spec = env.load("18080");
    let hash =
        kindform_image::context_hash(spec.images["app"].build.as_ref().unwrap(), &env.dir).unwrap();
    let id = env
        .world
        .build_image_labelled(
            &env.image,
            "v2",
            2048,
            &[(kindform_image::CONTEXT_LABEL, &hash)],
        )
        .await
        .unwrap();
    let plan = env.plan_json(&[]);
    only_changes(&plan, &["images.app"]);
    let app = change(&plan, "images.app");
    assert_eq!(
        (app["action"].as_str(), app["reasons"].clone()),
        (Some("update"), json!(["image-stale"]))
    );
    let short = &id.trim_start_matches("sha256:")[..12];
    assert_eq!(
        steps(app),
        [
            format!(
                "load {} ({short}) into {1}-control-plane, {1}-worker (one docker image export streamed into ctr import, nodes in parallel)",
                env.image, env.cluster
            ),
            format!(
                "rollout restart deployment/web in apps (it runs {}) and wait for it",
                env.image
            ),
        ]
    );
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode"]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 2);

    // Editing the build context makes it a rebuild, then a load everywhere.
    write(env.dir.join("app/f"), "v3\n");
    let app = change(&env.plan_json(&[]), "images.app").clone();
    assert_eq!(app["reasons"], json!(["context-changed"]));
    assert!(steps(&app)[0].starts_with(&format!("build {} from app", env.image)));
}

async fn an_image_absent_locally_without_build_is_an_error(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    let spec = std::fs::read_to_string(env.dir.join("kindform.toml")).unwrap();
    let spec = spec.replace("build = { context = \"app\" }", "").replace(
        "ref = \"${image}\"",
        "ref = \"kindform.dev/never-built:local\"",
    );
    std::fs::write(env.dir.join("kindform.toml"), spec).unwrap();
    let (code, _, stderr) = env.kindform(&["plan"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("image kindform.dev/never-built:local is not present locally and images.app has no `build`: build it first"),
        "{stderr}"
    );
}

async fn a_release_left_pending_upgrade_is_rolled_back_to_the_last_deployed_revision(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    env.install_web(&env.load("18080"));
    // Revisions 1 and 2 deployed; a killed upgrade leaves 3 pending.
    env.world
        .leave_release(&env.cluster, "apps", "web", "pending-upgrade")
        .unwrap();
    let plan = env.plan_json(&[]);
    only_changes(&plan, &["releases.web"]);
    let web = change(&plan, "releases.web");
    assert_eq!(
        (web["action"].as_str(), web["reasons"].clone()),
        (Some("repair"), json!(["release-pending"]))
    );
    let steps = steps(web);
    assert_eq!(
        steps[0],
        "helm rollback web 2 --namespace apps (the last deployed revision)"
    );
    assert!(steps[1].starts_with("helm upgrade --install web chart --namespace apps"));
    let (_, text, _) = env.kindform(&["plan"]);
    env.snapshot(test, "plan", &text);
}

async fn a_failed_release_is_repaired_by_an_upgrade(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    env.world
        .leave_release(&env.cluster, "platform-system", "platform", "failed")
        .unwrap();
    let (_, text, _) = env.kindform(&["plan"]);
    env.snapshot(test, "plan", &text);
    let plan = env.plan_json(&[]);
    only_changes(&plan, &["releases.platform"]);
    let platform = change(&plan, "releases.platform");
    assert_eq!(
        (platform["action"].as_str(), platform["reasons"].clone()),
        (Some("repair"), json!(["release-failed"]))
    );
    assert_eq!(
        steps(platform),
        [format!(
            "helm upgrade --install platform platform --repo {} --namespace platform-system --create-namespace --version 1.0.0",
            env.repo
        )]
    );
}

async fn changed_values_are_shown_as_a_diff_with_secrets_hidden(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    write(
        env.dir.join("values.yaml"),
        "replicas: 2\ngreeting: hello\n",
    );
    write(env.dir.join("secrets/db-password"), "hunter2-the-second");
    let plan = env.plan_json(&[]);
    only_changes(&plan, &["releases.web"]);
    let web = change(&plan, "releases.web");
    assert_eq!(
        (web["action"].as_str(), web["reasons"].clone()),
        (Some("update"), json!(["values-changed"]))
    );
    assert_eq!(
        (
            &web["before"]["values"]["replicas"],
            &web["after"]["values"]["replicas"]
        ),
        (&json!(1), &json!(2))
    );
    assert_eq!(web["after"]["values"]["db"]["password"], "(sensitive)");
    let (_, text, _) = env.kindform(&["plan"]);
    env.snapshot(test, "plan", &text);
    for shown in [text, plan.to_string()] {
        assert!(!shown.contains("hunter2"), "a secret leaked: {shown}");
    }
}

async fn a_chart_version_bump_is_an_update(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    let plan = env.plan_json(&["--var", "platform_version=1.1.0"]);
    only_changes(&plan, &["releases.platform"]);
    let platform = change(&plan, "releases.platform");
    assert_eq!(
        (platform["action"].as_str(), platform["reasons"].clone()),
        (Some("update"), json!(["version-changed"]))
    );
    assert_eq!(
        (&platform["before"]["chart"], &platform["after"]["chart"]),
        (&json!("platform-1.0.0"), &json!("platform-1.1.0"))
    );
    let (_, text, _) = env.kindform(&["plan", "--var", "platform_version=1.1.0"]);
    env.snapshot(test, "plan", &text);
}

async fn edited_chart_templates_and_manifests_are_updates(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    write(
        env.dir.join("chart/templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  edited: \"yes\"\n",
    );
    let spec = std::fs::read_to_string(env.dir.join("kindform.toml")).unwrap();
    std::fs::write(
        env.dir.join("kindform.toml"),
        spec.replace("  mode: full\n", "  mode: lean\n"),
    )
    .unwrap();
    let plan = env.plan_json(&[]);
    only_changes(&plan, &["releases.web", "manifests.extra"]);
    let web = change(&plan, "releases.web");
    assert_eq!(
        (web["action"].as_str(), web["reasons"].clone()),
        (Some("update"), json!(["chart-changed"]))
    );
    let extra = change(&plan, "manifests.extra");
    assert_eq!(
        (extra["action"].as_str(), extra["reasons"].clone()),
        (Some("update"), json!(["fields-changed"]))
    );
    assert_eq!(extra["before"]["objects"][0]["data"]["mode"], "full");
    assert_eq!(extra["after"]["objects"][0]["data"]["mode"], "lean");
    let (_, text, _) = env.kindform(&["plan"]);
    env.snapshot(test, "plan", &text);
}

async fn a_manifest_dropped_from_the_spec_with_prune_is_deleted(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    let spec = std::fs::read_to_string(env.dir.join("kindform.toml")).unwrap();
    let cut = spec.find("[manifests.extra]").unwrap();
    std::fs::write(env.dir.join("kindform.toml"), &spec[..cut]).unwrap();
    let plan = env.plan_json(&[]);
    only_changes(&plan, &["manifests.extra"]);
    let extra = change(&plan, "manifests.extra");
    assert_eq!(
        (extra["action"].as_str(), extra["reasons"].clone()),
        (Some("delete"), json!(["orphaned"]))
    );
    assert_eq!(
        steps(extra),
        [
            "delete ConfigMap \"extra\" in namespace \"apps\"",
            "forget it in the applied record"
        ]
    );
    assert!(extra["after"].is_null());
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode"]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 2);
}

async fn an_object_made_by_hand_in_a_charts_way_is_an_ownership_conflict(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    env.helm(&["uninstall", "web", "--namespace", "apps"]);
    // Made by hand with the real kubectl, setting a field the chart sets.
    env.world
        .kubectl_create(
            &env.cluster,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-settings", "namespace": "apps"}, "data": {"greeting": "by hand"}}),
        )
        .unwrap();
    let plan = env.plan_json(&[]);
    let web = change(&plan, "releases.web");
    assert_eq!(
        (web["action"].as_str(), web["reasons"].clone()),
        (Some("create"), json!(["absent", "ownership-conflict"]))
    );
    let conflict = "ConfigMap \"web-settings\" in namespace \"apps\"";
    assert_eq!(
        steps(web)[0],
        format!(
            "stop: {conflict} would block Helm; delete them, or set take_ownership = true on releases.web"
        )
    );
    let (_, text, _) = env.kindform(&["plan"]);
    env.snapshot(test, "plan", &text);

    env.edit_web("take_ownership = true");
    let web = change(&env.plan_json(&[]), "releases.web").clone();
    let steps = steps(&web);
    assert!(
        steps[0].starts_with(&format!("adopt {conflict} for release web")),
        "{steps:?}"
    );
    assert!(
        steps[1].starts_with("helm upgrade --install web chart"),
        "{steps:?}"
    );
}

async fn a_saved_plan_holds_what_it_was_made_from_and_no_secrets(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.converge_everything().await;
    write(
        env.dir.join("values.yaml"),
        "replicas: 3\ngreeting: hello\n",
    );
    let (code, text, stderr) = env.kindform(&["plan", "--out", "first.plan"]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 0, "{stderr}");
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(env.dir.join(name)).unwrap();
        assert!(!text.contains(SECRET), "a secret in the saved plan: {text}");
        serde_json::from_str(&text).unwrap()
    };
    let first = read("first.plan");
    assert_eq!(first["format_version"], "1");
    assert_eq!(change(&first["plan"], "releases.web")["action"], "update");
    let observed = first["observed"].as_object().unwrap();
    let keys: Vec<&str> = observed.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "checks.page",
            "cluster",
            "images.app",
            "manifests.extra",
            "releases.platform",
            "releases.web"
        ]
    );

    // Nothing moved: the same fingerprints. A release moved: only its own.
    env.kindform(&["plan", "--out", "second.plan"]);
    let second = read("second.plan");
    assert_eq!(second["observed"], first["observed"]);
    assert_eq!(second["spec_hash"], first["spec_hash"]);
    env.world
        .leave_release(&env.cluster, "platform-system", "platform", "failed")
        .unwrap();
    env.kindform(&["plan", "--out", "third.plan"]);
    let third = read("third.plan");
    for (address, fingerprint) in observed {
        assert_eq!(
            third["observed"][address] != *fingerprint,
            address == "releases.platform",
            "{address}"
        );
    }
    // Editing a values file changes what the plan would make.
    write(
        env.dir.join("values.yaml"),
        "replicas: 4\ngreeting: hello\n",
    );
    env.kindform(&["plan", "--out", "fourth.plan"]);
    assert_ne!(read("fourth.plan")["spec_hash"], third["spec_hash"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_older_than_3_14_is_refused_before_anything_runs() {
    let Some(env) = env(
        "a_helm_older_than_3_14_is_refused_before_anything_runs",
        HelmMajor::V3,
        true,
    )
    .await
    else {
        return;
    };
    // A Helm 3.13 on PATH instead of the world's: it only answers `version`.
    write(
        env.world.bin_dir().join("helm.old"),
        "#!/bin/sh\necho \"helm $*\" >> \"$0.runs\"\n[ \"$1\" = version ] && printf v3.13.3 && exit 0\nexit 1\n",
    );
    std::fs::rename(
        env.world.bin_dir().join("helm.old"),
        env.world.bin_dir().join("helm"),
    )
    .unwrap();
    std::fs::set_permissions(
        env.world.bin_dir().join("helm"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for command in [&["plan"][..], &["apply", "--auto-approve"]] {
        let (code, stdout, stderr) = env.kindform(command);
        assert_eq!(code, 1, "{stdout}");
        assert_eq!(
            stderr,
            "error: helm v3.13.3 is not supported: kindform drives Helm 3.14 or later, and Helm 4 (tested with 3.17.2 and 4.3.1)\n",
            "{command:?}"
        );
    }
    let runs = std::fs::read_to_string(env.world.bin_dir().join("helm.runs")).unwrap();
    assert_eq!(runs, "helm version --template {{.Version}}\n".repeat(2));
    assert!(
        env.world.take_invocations().is_empty(),
        "nothing else ran: no kind, no other helm"
    );
}

with_both_helm_majors!(
    an_empty_world_plans_everything_as_created,
    a_converged_cluster_plans_no_changes,
    a_stopped_node_is_repaired_by_starting_it,
    an_unreachable_api_plans_the_repair_ladder,
    a_changed_port_mapping_replaces_the_cluster_and_cascades,
    a_converged_world_plans_no_changes,
    an_image_rebuilt_under_the_same_tag_is_reloaded_with_rollout_restarts,
    an_image_absent_locally_without_build_is_an_error,
    a_release_left_pending_upgrade_is_rolled_back_to_the_last_deployed_revision,
    a_failed_release_is_repaired_by_an_upgrade,
    changed_values_are_shown_as_a_diff_with_secrets_hidden,
    a_chart_version_bump_is_an_update,
    edited_chart_templates_and_manifests_are_updates,
    a_manifest_dropped_from_the_spec_with_prune_is_deleted,
    an_object_made_by_hand_in_a_charts_way_is_an_ownership_conflict,
    a_saved_plan_holds_what_it_was_made_from_and_no_secrets,
);
