//! `kindform apply` and `destroy` in the test world: the scenario
//! environment built from nothing in one apply, each broken state of the
//! plan scenarios repaired by one apply, failures isolated, interrupts and
//! concurrent runs handled.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/scenario.rs"]
mod scenario;

use kindform_world::real_tools::HelmMajor;
use scenario::*;

/// The scenario environment's check points at a world endpoint standing in
/// for the app behind the port mapping (the stand-in kind publishes no
/// host ports); returns the `--var` that says so.
async fn page(env: &Env) -> (kindform_world::http_endpoint::HttpEndpoint, String) {
    let endpoint = env.world.http_endpoint("hello").await;
    let port = endpoint.url.rsplit(':').next().unwrap().to_owned();
    (endpoint, format!("host_port={port}"))
}

async fn the_scenario_environment_goes_from_nothing_to_converged_in_one_apply(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (endpoint, port) = page(&env).await;
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Apply complete: 6 done, 0 failed, 0 skipped"),
        "{stderr}"
    );
    assert!(!endpoint.requests().is_empty(), "the check ran");
    for shown in [&stdout, &stderr] {
        assert!(!shown.contains(SECRET), "a secret leaked: {shown}");
    }

    // What the world now holds.
    let node = format!("{}-worker", env.cluster);
    let image_id = env
        .world
        .image_id(&env.image)
        .await
        .expect("the image was built");
    assert!(env.world.node_has_image(&node, &image_id).await);
    let extra = env
        .world
        .get_object(&env.cluster, "v1", "ConfigMap", "apps", "extra")
        .expect("the manifest's ConfigMap");
    assert_eq!(
        extra["metadata"]["labels"]["kindform.dev/address"],
        "manifests.extra"
    );
    let listed = env.helm(&env.list_every_release(&["-o", "json"]));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let statuses: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("platform", "deployed"), ("web", "deployed")]);

    // A second apply right after plans no changes and only runs the check.
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 0, "{text}\n{stderr}");
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply-2", &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Apply complete: 1 done, 0 failed, 0 skipped"),
        "{stderr}"
    );
    let journal = std::fs::read_to_string(env.state().join("journal.jsonl")).unwrap();
    assert!(journal.lines().count() > 10, "{journal}");
    assert!(!journal.contains(SECRET), "a secret in the journal");
}

/// Builds the scenario environment with one apply; returns the endpoint
/// behind the check and the `--var` naming its port.
async fn converged(env: &Env) -> (kindform_world::http_endpoint::HttpEndpoint, String) {
    let (endpoint, port) = page(env).await;
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (endpoint, port)
}

/// Applies, expecting success, then checks a plan reports no changes.
fn repaired_by_one_apply(env: &Env, vars: &[&str], expect: &str) {
    let mut args = vec!["apply", "--auto-approve"];
    for var in vars {
        args.extend(["--var", var]);
    }
    let (code, stdout, stderr) = env.kindform(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(expect),
        "the plan said {expect:?}:\n{stdout}"
    );
    let mut plan = vec!["plan", "--detailed-exitcode"];
    for var in vars {
        plan.extend(["--var", var]);
    }
    let (code, text, stderr) = env.kindform(&plan);
    assert_eq!(
        code, 0,
        "after the apply, a plan still finds changes:\n{text}\n{stderr}"
    );
}

async fn a_stopped_node_and_a_stale_image_are_repaired_by_one_apply(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    let worker = format!("{}-worker", env.cluster);
    env.world.stop_node(&env.cluster, &worker).await.unwrap();
    repaired_by_one_apply(&env, &[&port], "  ! cluster  (node-stopped)");

    let before = env
        .world
        .get_object(&env.cluster, "apps/v1", "Deployment", "apps", "web")
        .unwrap();
    let hash = kindform_image::context_hash(
        env.load("18080").images["app"].build.as_ref().unwrap(),
        &env.dir,
    )
    .unwrap();
    let id = env
        .world
        .build_image_labelled(
            &env.image,
            "v2",
            4096,
            &[(kindform_image::CONTEXT_LABEL, &hash)],
        )
        .await
        .unwrap();
    repaired_by_one_apply(&env, &[&port], "  ~ images.app  (image-stale)");
    for node in ["control-plane", "worker"] {
        let node = format!("{}-{node}", env.cluster);
        assert!(
            env.world.node_has_image(&node, &id).await,
            "{node} has the new image"
        );
    }
    let after = env
        .world
        .get_object(&env.cluster, "apps/v1", "Deployment", "apps", "web")
        .unwrap();
    let restarted = "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt";
    assert!(before.pointer(restarted).is_none());
    assert!(
        after.pointer(restarted).is_some(),
        "the workload was restarted: {after}"
    );
}

async fn stuck_and_failed_releases_are_recovered_by_one_apply(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    env.install_web(&env.load("18080"));
    env.world
        .leave_release(&env.cluster, "apps", "web", "pending-upgrade")
        .unwrap();
    env.world
        .leave_release(&env.cluster, "platform-system", "platform", "failed")
        .unwrap();
    repaired_by_one_apply(&env, &[&port], "  ! releases.web  (release-pending)");
    let history = env.helm(&["history", "web", "--namespace", "apps", "-o", "json"]);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    let descriptions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    // Revisions 1 and 2 deployed, 3 killed while pending.
    assert!(
        descriptions.contains(&"Rollback to 2"),
        "rolled back to the last deployed revision: {descriptions:?}"
    );
}

async fn changed_values_versions_charts_and_manifests_are_applied(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    write(env.dir.join("values.yaml"), "replicas: 2\ngreeting: hi\n");
    write(env.dir.join("secrets/db-password"), "hunter2-the-second");
    write(
        env.dir.join("chart/templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  edited: \"yes\"\n",
    );
    let spec = std::fs::read_to_string(env.dir.join("kindform.toml")).unwrap();
    let spec = spec.replace("  mode: full\n", "  mode: lean\n");
    let cut = spec.find("[manifests.extra]").unwrap();
    let spec = format!(
        "{}{}",
        &spec[..cut],
        "[manifests.other]\ninline = \"\"\"\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  mode: lean\n\"\"\"\nnamespace = \"apps\"\ndepends_on = [\"releases.web\"]\n"
    );
    std::fs::write(env.dir.join("kindform.toml"), spec).unwrap();
    repaired_by_one_apply(
        &env,
        &[&port, "platform_version=1.1.0"],
        "  ~ releases.platform  (version-changed)",
    );
    let settings = env
        .world
        .get_object(&env.cluster, "v1", "ConfigMap", "apps", "web-settings")
        .unwrap();
    assert_eq!(
        settings["data"],
        serde_json::json!({"greeting": "hi", "edited": "yes"})
    );
    assert!(
        env.world
            .get_object(&env.cluster, "v1", "ConfigMap", "apps", "extra")
            .is_none(),
        "the manifest that left the spec was pruned"
    );
    assert!(
        env.world
            .get_object(&env.cluster, "v1", "ConfigMap", "apps", "other")
            .is_some()
    );
    let values = env.helm(&["get", "values", "web", "--namespace", "apps", "-o", "json"]);
    assert!(
        values.contains("hunter2-the-second"),
        "the new secret reached Helm"
    );
    assert!(
        !env.state().join("values/web.yaml").exists(),
        "the private values file is removed after use"
    );
}

async fn a_changed_port_mapping_rebuilds_the_cluster_and_everything_in_it(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, _port) = converged(&env).await;
    let (_other, port) = page(&env).await;
    repaired_by_one_apply(&env, &[&port], "-/+ cluster  (config-changed)");
    let listed = env.helm(&env.list_every_release(&["-q"]));
    assert_eq!(listed.split_whitespace().count(), 2, "{listed}");
}

async fn an_object_in_a_charts_way_stops_the_release_until_it_may_be_adopted(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    env.helm(&["uninstall", "web", "--namespace", "apps"]);
    // Made by hand with the real kubectl, setting a field the chart sets.
    env.world
        .kubectl_create(
            &env.cluster,
            &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-settings", "namespace": "apps"}, "data": {"greeting": "by hand"}}),
        )
        .unwrap();
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", "", &stderr);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("releases.web: create failed after")
            && stderr.contains("ConfigMap \"web-settings\" in namespace \"apps\" would block Helm"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Apply failed: 1 done, 1 failed, 0 skipped"),
        "only the check ran beside it (the manifest had nothing to do): {stderr}"
    );
    env.edit_web("take_ownership = true");
    repaired_by_one_apply(
        &env,
        &[&port],
        "  + releases.web  (absent, ownership-conflict)",
    );
    let adopted = env
        .world
        .get_object(&env.cluster, "v1", "ConfigMap", "apps", "web-settings")
        .unwrap();
    assert_eq!(
        adopted["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "web"
    );
    // Helm 4's server-side apply took the field kubectl-create owned
    // (kindform passes --force-conflicts when it adopts); Helm 3's patch
    // simply wrote it.
    assert_eq!(adopted["data"]["greeting"], "hello");
}

async fn a_failed_release_skips_its_dependents_and_the_next_apply_finishes_the_job(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = page(&env).await;
    env.world.fail_once(
        "helm",
        "upgrade platform",
        "UPGRADE FAILED: the test world said no",
    );
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", "", &stderr);
    assert_eq!(code, 1, "{stderr}");
    for line in [
        "failed   releases.platform",
        "skipped  releases.web       create: releases.platform failed",
        "skipped  manifests.extra    create: releases.web was skipped",
        "done     images.app",
        "done     checks.page",
        "Apply failed: 3 done, 1 failed, 2 skipped",
    ] {
        assert!(stderr.contains(line), "{line:?} in:\n{stderr}");
    }
    repaired_by_one_apply(&env, &[&port], "  + releases.platform  (absent)");
    // Quiet: no plan, no progress, only the result.
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "-q", "--var", &port]);
    env.snapshot_apply(test, "apply-2", &stdout, &stderr);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("  done     checks.page") && stderr.lines().count() == 2,
        "{stderr}"
    );
}

async fn a_second_apply_is_refused_while_the_first_holds_the_lock(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    // This test process holds the environment's lock, as a run would.
    let (held, _) = kindform::state::Lock::acquire(&env.state(), "scenario", "apply").unwrap();
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "error: environment \"scenario\" is locked by kindform apply (process {}, since ",
            std::process::id()
        )),
        "{stderr}"
    );
    drop(held);
    // What a killed holder leaves: its name, and no lock held; the next run
    // takes it and says whose it was.
    std::fs::write(
        env.state().join("holder"),
        r#"{"host": "elsewhere", "boot_id": "b", "pid": 4194304, "start_time": 1, "command": "apply", "since": "2026-11-28T10:00:00Z"}"#,
    )
    .unwrap();
    let (code, _, stderr) = env.kindform(&["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("note: took over the lock left by kindform apply (process 4194304 on elsewhere, since 2026-11-28T10:00:00Z), which ended without letting it go"),
        "{stderr}"
    );
    assert!(!env.state().join("holder").exists(), "released at the end");
}

async fn two_copies_of_a_spec_never_change_one_cluster_at_once(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    let (_endpoint, port) = page(&env).await;
    env.edit_spec(|spec| format!("{spec}\n[checks.slow]\nrun = [\"sleep\", \"5\"]\n"));
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    // A second copy of the project: its own state folder, so its own lock.
    let copy = env.world.dir().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(env.dir.join("kindform.toml"), copy.join("kindform.toml")).unwrap();
    let first = env.start_watching(
        &["apply", "--auto-approve", "--var", &port],
        "checks.slow: ",
    );
    first.wait_for_line("the first copy runs its slow check");
    let (code, _, stderr) = env.kindform_in(&copy, &["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: the cluster is being changed by kindform apply of {} (process {}",
            env.dir.display(),
            first.child.id()
        )),
        "{stderr}"
    );
    let (code, stderr) = first.finish();
    assert_eq!(code, Some(0), "{stderr}");
    // The lease is let go at the end: the second copy goes ahead now.
    let (code, _, stderr) = env.kindform_in(&copy, &["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("took over the cluster's lease"),
        "{stderr}"
    );
}

/// A manifest of config maps, pruned, named `shared` in either environment.
fn shared_manifest(names: &[&str]) -> String {
    let objects: Vec<String> = names
        .iter()
        .map(|n| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\ndata:\n  k: v\n")
        })
        .collect();
    format!(
        "\n[manifests.shared]\nnamespace = \"default\"\nprune = true\ninline = \"\"\"\n{}\"\"\"\n",
        objects.join("---\n")
    )
}

async fn two_environments_sharing_a_cluster_never_prune_each_other(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    let (_endpoint, port) = page(&env).await;
    let ours = format!("{SPEC}{}", shared_manifest(&["ours", "common"]));
    write(env.dir.join("kindform.toml"), &ours);
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    // Another environment on the same cluster, with a manifest of the same
    // name; it takes `common` over (its label now names it).
    let other = env.world.dir().join("other");
    let theirs = format!("{SPEC}{}", shared_manifest(&["theirs", "common"]))
        .replace("name = \"scenario\"", "name = \"other\"");
    write(other.join("kindform.toml"), &theirs);
    let (code, stdout, stderr) =
        env.kindform_in(&other, &["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!stdout.contains("left the manifest"), "{stdout}");
    let exists = |name: &str| {
        env.world
            .get_object(&env.cluster, "v1", "ConfigMap", "default", name)
            .is_some()
    };
    assert!(exists("ours") && exists("theirs") && exists("common"));
    // The first environment drops its manifest: it prunes what is its own,
    // and leaves what the other's label claims.
    write(env.dir.join("kindform.toml"), SPEC);
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "left the spec (prune is on): ConfigMap \"ours\" in namespace \"default\"; left alone, not this environment's: ConfigMap \"common\" in namespace \"default\" (it belongs to environment \"other\")"
        ),
        "{stdout}"
    );
    assert!(!exists("ours"), "its own object is pruned");
    assert!(exists("theirs") && exists("common"), "the other's stay");
    // And the other environment plans nothing: its record is its own.
    let (code, stdout, stderr) = env.kindform_in(&other, &["plan", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("No changes"), "{stdout}");
}

async fn a_saved_plan_is_applied_only_while_the_world_has_not_moved(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    write(
        env.dir.join("values.yaml"),
        "replicas: 3\ngreeting: hello\n",
    );
    let (code, _, stderr) = env.kindform(&["plan", "--out", "saved.plan", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    env.world
        .leave_release(&env.cluster, "platform-system", "platform", "failed")
        .unwrap();
    let (code, _, stderr) = env.kindform(&["apply", "saved.plan", "--var", &port]);
    env.snapshot_apply(test, "apply", "", &stderr);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is not the plan kindform makes now; nothing was changed. Make a new plan")
            && stderr.contains("  - releases.platform: its live state changed"),
        "{stderr}"
    );
    let (code, _, stderr) = env.kindform(&["plan", "--out", "saved.plan", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = env.kindform(&["apply", "saved.plan", "--var", &port]);
    env.snapshot_apply(test, "apply-2", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 0, "{text}");
}

/// A saved plan is never run as written: an action or a step edited in
/// the file is refused, naming what differs, and nothing is changed.
async fn an_edited_saved_plan_is_refused(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    let (code, _, stderr) = env.kindform(&["plan", "--out", "saved.plan", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    let file = env.dir.join("saved.plan");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut edited = saved.clone();
        change(&mut edited);
        std::fs::write(&file, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    };
    let cluster = |plan: &mut serde_json::Value| -> usize {
        plan["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["address"] == "cluster")
            .unwrap()
    };
    // The converged cluster's no-op made a delete.
    edit(&|plan| {
        let at = cluster(plan);
        plan["plan"]["changes"][at]["action"] = serde_json::json!("delete");
        plan["plan"]["changes"][at]["steps"] = serde_json::json!(["kind delete cluster --name kf"]);
    });
    let (code, stdout, stderr) =
        env.kindform(&["apply", "--auto-approve", "saved.plan", "--var", &port]);
    env.snapshot_apply(test, "apply", &stdout, &stderr);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("is not the plan kindform makes now; nothing was changed")
            && stderr
                .contains("  - cluster: the saved plan says delete, a plan made now says no-op"),
        "{stderr}"
    );
    // A step slipped into a no-op's typed steps.
    edit(&|plan| {
        plan["steps"]["cluster"] =
            serde_json::json!([{"cluster": {"step": "delete", "cluster": "kf"}}]);
    });
    let (code, _, stderr) =
        env.kindform(&["apply", "--auto-approve", "saved.plan", "--var", &port]);
    env.snapshot_apply(test, "apply-2", "", &stderr);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr
            .contains("  - cluster: its steps in the saved plan are not those of a plan made now"),
        "{stderr}"
    );
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 0, "the environment is as it was: {text}");
    // The file as saved runs.
    edit(&|_| {});
    let (code, stdout, stderr) = env.kindform(&["apply", "saved.plan", "--var", &port]);
    env.snapshot_apply(test, "apply-3", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

async fn apply_without_a_terminal_needs_auto_approve_and_destroy_removes_the_cluster(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (endpoint, port) = page(&env).await;
    let (code, _, stderr) = env.kindform(&["apply", "--var", &port]);
    env.snapshot_apply(test, "apply", "", &stderr);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: apply these changes needs --auto-approve when its input is not a terminal; nothing was changed"),
        "{stderr}"
    );
    assert!(endpoint.requests().is_empty());
    let (_endpoint, port) = converged(&env).await;
    let (code, stdout, stderr) = env.kindform(&["destroy", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stderr}");
    let report: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("  done ") || l.starts_with("Destroy "))
        .collect();
    env.snapshot(
        test,
        "destroy",
        &format!("{stdout}--- report\n{}\n", report.join("\n")),
    );
    assert!(
        env.world.image_id(&env.image).await.is_some(),
        "local images are never touched"
    );
    let (code, stdout, _) = env.kindform(&["destroy", "--auto-approve"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Nothing to destroy"), "{stdout}");
}

async fn a_failing_check_explains_itself_with_pod_states_events_and_logs(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let spec = std::fs::read_to_string(env.dir.join("kindform.toml")).unwrap();
    std::fs::write(
        env.dir.join("kindform.toml"),
        format!(
            "{spec}\n[manifests.worker]\ninline = \"\"\"\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: worker}}\n  template:\n    metadata:\n      labels: {{app: worker}}\n    spec:\n      containers:\n      - name: worker\n        image: worker:1\n\"\"\"\nnamespace = \"apps\"\ndepends_on = [\"releases.web\"]\n\n[checks.worker-ready]\npods_ready = {{ namespace = \"apps\", selector = \"app=worker\" }}\ntimeout = \"3s\"\ndepends_on = [\"manifests.worker\"]\n"
        ),
    )
    .unwrap();
    let (_endpoint, port) = converged(&env).await;
    env.world
        .crash_loop(
            &env.cluster,
            "apps",
            "Deployment",
            "worker",
            &["panic: cannot reach the database"],
        )
        .unwrap();
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", "", &stderr);
    assert_eq!(code, 1, "{stderr}");
    for shown in [
        "checks.worker-ready: run failed after",
        "every pod of apps matching app=worker Ready failed after 1 attempt: not Ready: worker-",
        "(worker CrashLoopBackOff)",
        "BackOff: Back-off restarting failed container",
        ": panic: cannot reach the database",
    ] {
        assert!(stderr.contains(shown), "{shown:?} in:\n{stderr}");
    }
    env.world
        .heal(&env.cluster, "apps", "Deployment", "worker")
        .unwrap();
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply-2", "", &stderr);
    assert_eq!(code, 0, "{stderr}");
}

async fn ctrl_c_during_a_release_wait_stops_cleanly_and_the_next_apply_converges(
    major: HelmMajor,
    test: &str,
) {
    // Also: a second apply while the first runs is refused.
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    // An upgrade of web that waits for pods that never become Ready.
    env.edit_web("wait = true\ntimeout = \"5m\"");
    write(
        env.dir.join("values.yaml"),
        "replicas: 2\ngreeting: hello\n",
    );
    env.world
        .crash_loop(&env.cluster, "apps", "Deployment", "web", &["not yet"])
        .unwrap();
    let first = env.start_watching(
        &["apply", "--auto-approve", "--var", &port],
        "releases.web: helm upgrade --install web",
    );
    first.wait_for_line("the upgrade started");
    // While it waits, a second apply of the same environment is refused at
    // once, naming the first.
    let (code, _, second) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 1, "{second}");
    assert!(
        second.contains(&format!(
            "error: environment \"scenario\" is locked by kindform apply (process {}, since ",
            first.child.id()
        )),
        "{second}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: signalling the child process this test started.
    unsafe {
        libc::kill(first.child.id() as i32, libc::SIGINT);
    }
    let (code, stderr) = first.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: letting running steps finish"),
        "{stderr}"
    );
    assert!(stderr.contains("Apply interrupted:"), "{stderr}");
    assert!(!env.state().join("holder").exists(), "the lock is released");

    env.world
        .heal(&env.cluster, "apps", "Deployment", "web")
        .unwrap();
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply-2", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 0, "converged after the interrupted apply: {text}");
}

async fn an_api_that_stays_unreachable_is_repaired_by_rebuilding_the_cluster_and_its_contents(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = page(&env).await;
    let fast = "ready_timeout=4s";
    let (code, stdout, stderr) =
        env.kindform(&["apply", "--auto-approve", "--var", &port, "--var", fast]);
    env.snapshot_apply(test, "apply", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    env.world
        .set_api_unreachable(&env.cluster, true)
        .await
        .unwrap();
    let (code, stdout, stderr) =
        env.kindform(&["apply", "--auto-approve", "--var", &port, "--var", fast]);
    env.snapshot_apply(test, "apply-2", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for shown in [
        "cluster: restart the",
        "cluster: replace the cluster",
        "the cluster was rebuilt: everything in it is created again",
        "Apply complete: 6 done, 0 failed, 0 skipped",
    ] {
        assert!(stderr.contains(shown), "{shown:?} in:\n{stderr}");
    }
    let (code, text, _) =
        env.kindform(&["plan", "--detailed-exitcode", "--var", &port, "--var", fast]);
    assert_eq!(code, 0, "{text}");
}

async fn a_manifest_by_url_is_applied_only_when_its_checksum_matches(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    use sha2::Digest as _;
    let yaml =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\ndata:\n  from: the-web\n";
    let digest: String = sha2::Sha256::digest(yaml.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let remote = env.world.http_endpoint(yaml).await;
    let (_page, port) = page(&env).await;
    let spec = std::fs::read_to_string(env.dir.join("kindform.toml")).unwrap();
    let with = |sha: &str| {
        format!(
            "{spec}\n[manifests.remote]\nurl = \"{}/deploy.yaml\"\nsha256 = \"{sha}\"\nnamespace = \"default\"\n",
            remote.url
        )
    };
    std::fs::write(env.dir.join("kindform.toml"), with(&"0".repeat(64))).unwrap();
    let (code, _, stderr) = env.kindform(&["plan", "--var", &port]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "/deploy.yaml is not the file the spec pins: its SHA-256 is {digest}"
        )),
        "{stderr}"
    );
    std::fs::write(env.dir.join("kindform.toml"), with(&digest)).unwrap();
    repaired_by_one_apply(&env, &[&port], "  + manifests.remote  (cluster-replaced)");
    let made = env
        .world
        .get_object(&env.cluster, "v1", "ConfigMap", "default", "remote")
        .unwrap();
    assert_eq!(made["data"]["from"], "the-web");
    assert_eq!(
        remote.requests().len(),
        2,
        "the refused body, then the pinned one once (apply and the plan after it read the cache)"
    );
}

async fn on_a_terminal_apply_draws_live_lines_and_colours(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    let (_page, port) = page(&env).await;
    // `script` gives the run a terminal, as a developer's shell would.
    let command = format!(
        "KINDFORM_VAR_cluster={} {} apply --auto-approve --var {port}",
        env.cluster,
        env!("CARGO_BIN_EXE_kindform")
    );
    let out = env
        .world
        .command("script")
        .current_dir(&env.dir)
        .env("TERM", "xterm")
        .args(["-qefc", &command, "/dev/null"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("\x1b[32m  +\x1b[0m cluster  (absent)"),
        "the plan in colour: {shown}"
    );
    assert!(shown.contains("cluster: create done in"), "{shown}");
    assert!(
        !shown.contains("[   0.0s]"),
        "no plain stamped lines on a terminal: {shown}"
    );
    assert!(
        shown.contains("Apply complete: 2 done, 0 failed, 0 skipped"),
        "{shown}"
    );
}

/// How an apply is stopped while `helm upgrade --wait` runs.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGKILL: kindform gets no say.
    Kill,
    /// Ctrl-C twice: the second stops at once.
    SecondInterrupt,
    /// SIGTERM, as a CI runner or service manager stops a job.
    Terminate,
}

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: signalling the child process this test started.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

async fn an_apply_stopped_during_a_helm_wait_leaves_no_helm_and_the_next_apply_converges(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    env.edit_web("wait = true\ntimeout = \"5m\"");
    let helms = || {
        kindform_process::running(|argv| {
            argv.iter().take(2).any(|a| a.ends_with("helm"))
                && argv.iter().any(|a| a.contains(&env.cluster))
        })
    };
    for (round, stop) in [Stop::Kill, Stop::SecondInterrupt, Stop::Terminate]
        .into_iter()
        .enumerate()
    {
        // Each round changes the values, so an upgrade that waits for pods
        // that never become Ready is due.
        write(
            env.dir.join("values.yaml"),
            &format!("replicas: {}\ngreeting: hello\n", round + 2),
        );
        env.world
            .crash_loop(&env.cluster, "apps", "Deployment", "web", &["not yet"])
            .unwrap();
        let run = env.start_watching(
            &["apply", "--auto-approve", "--var", &port],
            "releases.web: helm upgrade --install web",
        );
        run.wait_for_line("the upgrade started");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while helms().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{stop:?}: no helm ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        match stop {
            Stop::Kill => signal(&run.child, libc::SIGKILL),
            Stop::SecondInterrupt => {
                signal(&run.child, libc::SIGINT);
                run.wait_for(
                    "interrupted: letting running steps finish",
                    "the first Ctrl-C",
                );
                signal(&run.child, libc::SIGINT);
            }
            Stop::Terminate => signal(&run.child, libc::SIGTERM),
        }
        let (code, stderr) = run.finish();
        match stop {
            Stop::Kill => assert_eq!(code, None, "{stderr}"),
            _ => assert_eq!(code, Some(130), "{stop:?}: {stderr}"),
        }
        // Helm goes with kindform (a SIGKILL of it, or its own SIGINT).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !helms().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{stop:?}: helm outlived kindform: {:?}",
                helms()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            !env.state().join("values").exists(),
            "{stop:?}: a values file was left"
        );

        env.world
            .heal(&env.cluster, "apps", "Deployment", "web")
            .unwrap();
        let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
        assert_eq!(
            code, 0,
            "{stop:?}: the next apply failed:\n{stdout}\n{stderr}"
        );
        let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
        assert_eq!(
            code, 0,
            "{stop:?}: not converged after the next apply: {text}"
        );
    }
}

with_both_helm_majors!(
    the_scenario_environment_goes_from_nothing_to_converged_in_one_apply,
    a_stopped_node_and_a_stale_image_are_repaired_by_one_apply,
    stuck_and_failed_releases_are_recovered_by_one_apply,
    changed_values_versions_charts_and_manifests_are_applied,
    a_changed_port_mapping_rebuilds_the_cluster_and_everything_in_it,
    an_object_in_a_charts_way_stops_the_release_until_it_may_be_adopted,
    a_failed_release_skips_its_dependents_and_the_next_apply_finishes_the_job,
    a_second_apply_is_refused_while_the_first_holds_the_lock,
    two_copies_of_a_spec_never_change_one_cluster_at_once,
    two_environments_sharing_a_cluster_never_prune_each_other,
    a_saved_plan_is_applied_only_while_the_world_has_not_moved,
    an_edited_saved_plan_is_refused,
    apply_without_a_terminal_needs_auto_approve_and_destroy_removes_the_cluster,
    a_failing_check_explains_itself_with_pod_states_events_and_logs,
    ctrl_c_during_a_release_wait_stops_cleanly_and_the_next_apply_converges,
    an_apply_stopped_during_a_helm_wait_leaves_no_helm_and_the_next_apply_converges,
    an_api_that_stays_unreachable_is_repaired_by_rebuilding_the_cluster_and_its_contents,
    a_manifest_by_url_is_applied_only_when_its_checksum_matches,
    on_a_terminal_apply_draws_live_lines_and_colours,
);
