//! Health and self-healing in the test world: broken platforms are seen by
//! the plan and mended by one apply, escalating from a restart to a rollback
//! or reinstall, and stopping with an account when nothing works.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/scenario.rs"]
mod scenario;

use kindform_world::real_tools::HelmMajor;
use scenario::*;

async fn converged(env: &Env) -> (kindform_world::http_endpoint::HttpEndpoint, String) {
    let endpoint = env.world.http_endpoint("hello").await;
    let port = format!("host_port={}", endpoint.url.rsplit(':').next().unwrap());
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (endpoint, port)
}

/// Bounds the web release's waits (and so each rung of its repair) to 3 s.
fn quick_web(env: &Env) {
    env.edit_web("timeout = \"3s\"");
}

/// A converged scenario environment whose web release (its waits bounded
/// to 3 s) now crash-loops for good.
async fn crashing_web(
    test: &str,
    major: HelmMajor,
) -> Option<(Env, kindform_world::http_endpoint::HttpEndpoint, String)> {
    let env = env(test, major, true).await?;
    quick_web(&env);
    let (endpoint, port) = converged(&env).await;
    env.world
        .crash_loop(
            &env.cluster,
            "apps",
            "Deployment",
            "web",
            &["panic: bad config"],
        )
        .unwrap();
    Some((env, endpoint, port))
}

async fn a_restarted_control_plane_and_crash_looping_platform_are_mended_by_one_apply(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    let control_plane = format!("{}-control-plane", env.cluster);
    env.world
        .stop_node(&env.cluster, &control_plane)
        .await
        .unwrap();
    env.world
        .start_node(&env.cluster, &control_plane)
        .await
        .unwrap();
    env.world
        .crash_loop_until_restart(
            &env.cluster,
            "platform-system",
            "Deployment",
            "platform-operator",
            &["error: cannot reach the control plane's sentry"],
        )
        .unwrap();
    let (code, stdout, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    env.snapshot(test, "plan", &stdout);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    // The web release runs on the platform: restarted once it is mended.
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("releases.platform: rollout restart deployment/platform-operator"),
        "{stderr}"
    );
    let platform_done = stderr
        .find("releases.platform: repair done")
        .expect(&stderr);
    let web_restart = stderr
        .find("releases.web: rollout restart the workloads of releases.web and wait for them")
        .expect(&stderr);
    assert!(platform_done < web_restart, "platform first: {stderr}");
    let web = env
        .world
        .get_object(&env.cluster, "apps/v1", "Deployment", "apps", "web")
        .unwrap();
    assert!(
        web["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "web restarted: {web}"
    );
    assert!(
        !stderr.contains("reinstall platform"),
        "the restart was enough: {stderr}"
    );
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    env.snapshot(test, "plan-2", &text);
    assert_eq!(code, 0, "healthy again: {text}");
}

async fn pods_that_keep_crashing_after_a_restart_get_their_release_reinstalled(
    major: HelmMajor,
    test: &str,
) {
    let Some((env, _endpoint, port)) = crashing_web(test, major).await else {
        return;
    };
    // The crash ends only once kindform has gone past the restart: the
    // fallback (here a reinstall, as web has one revision) must be what mends it.
    let run = env.start_watching(
        &["apply", "--auto-approve", "--var", &port],
        "releases.web: if it stays broken: reinstall web",
    );
    run.wait_for_line("the ladder reached its fallback");
    env.world
        .heal(&env.cluster, "apps", "Deployment", "web")
        .unwrap();
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr
            .contains("releases.web: rollout restart deployment/web in apps and wait for it (3s)"),
        "{stderr}"
    );
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    env.snapshot(test, "plan", &text);
    assert_eq!(code, 0, "{text}");
}

async fn a_release_that_stays_broken_stops_apply_with_an_account(major: HelmMajor, test: &str) {
    let Some((env, _endpoint, port)) = crashing_web(test, major).await else {
        return;
    };
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", "", &stderr);
    assert_eq!(code, 1, "{stderr}");
    for shown in [
        "release web is still broken after kindform restarted deployment/web in apps, then reinstalled it: ",
        "container web CrashLoopBackOff",
        "BackOff: Back-off restarting failed container",
        ": panic: bad config",
        "Apply failed: 1 done, 1 failed",
    ] {
        assert!(stderr.contains(shown), "{shown:?} in:\n{stderr}");
    }
}

async fn status_names_what_is_broken_with_its_evidence(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    let (code, stdout, stderr) = env.kindform(&["status", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for shown in [
        "Environment \"scenario\" is healthy.",
        "2 node containers running, the API answers, every node Ready, kube-system pods Ready",
        "1 workload rolled out, 1 pod Ready",
        "1 check not run: status runs no checks (apply does).",
        "0 broken, 0 degraded, 5 healthy.",
    ] {
        assert!(stdout.contains(shown), "{shown:?} in:\n{stdout}");
    }
    env.world
        .crash_loop_until_restart(&env.cluster, "apps", "Deployment", "web", &["panic: lost"])
        .unwrap();
    env.world
        .crash_loop_until_restart(
            &env.cluster,
            "kube-system",
            "Deployment",
            "coredns",
            &["plugin/forward: no upstream"],
        )
        .unwrap();
    let (code, stdout, stderr) = env.kindform(&["status", "--var", &port]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let row = |address: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("  {address} ")))
            .unwrap_or_else(|| panic!("a row for {address} in:\n{stdout}"))
            .to_owned()
    };
    assert!(row("releases.web").contains("broken"), "{stdout}");
    assert!(row("cluster").contains("degraded"), "{stdout}");
    assert!(row("releases.platform").contains("healthy"), "{stdout}");
    for shown in [
        "Environment \"scenario\" is broken.",
        "container web CrashLoopBackOff",
        "kube-system pod coredns-",
        "(coredns CrashLoopBackOff)",
        "1 broken, 1 degraded, 3 healthy. `kindform plan` shows the repairs",
    ] {
        assert!(stdout.contains(shown), "{shown:?} in:\n{stdout}");
    }
    let (code, json, _) = env.kindform(&["status", "--json", "--var", &port]);
    assert_eq!(code, 2);
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    let health = |address: &str| {
        status["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .map(|r| r["health"].clone())
            .unwrap()
    };
    assert_eq!(status["health"], "broken");
    assert_eq!(health("releases.web"), "broken");
    assert_eq!(health("cluster"), "degraded");
    assert_eq!(health("images.app"), "healthy");
    assert_eq!(health("checks.page"), serde_json::Value::Null);
    let (code, stdout, _) = env.kindform(&["plan", "--var", &port]);
    env.snapshot(test, "plan", &stdout);
    assert_eq!(code, 0);
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    env.snapshot_apply(test, "apply", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, _) = env.kindform(&["status", "--var", &port]);
    assert_eq!(code, 0, "healthy again:\n{stdout}");
}

async fn without_rebuilds_an_unreachable_api_stops_apply_and_the_next_apply_rebuilds(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    let fast = "ready_timeout=4s";
    env.world
        .set_api_unreachable(&env.cluster, true)
        .await
        .unwrap();
    let (code, stdout, _) = env.kindform(&["status", "--var", &port, "--var", fast]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("the API does not answer"), "{stdout}");
    assert!(
        stdout.contains("not observed: the cluster is broken"),
        "{stdout}"
    );
    // The spec's own word, shown by the plan.
    env.edit_spec(|spec| spec.replace("[cluster]\n", "[cluster]\nallow_rebuild = false\n"));
    let (code, stdout, stderr) = env.kindform(&["plan", "--var", &port, "--var", fast]);
    env.snapshot(test, "plan", &stdout);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = env.kindform(&[
        "apply",
        "--auto-approve",
        "--replace",
        "cluster",
        "--var",
        &port,
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--replace cluster rebuilds the cluster, which --no-rebuild, or allow_rebuild = false under [cluster] forbids"),
        "{stderr}"
    );
    env.edit_spec(|spec| spec.replace("allow_rebuild = false\n", ""));
    // The command line's word, kept by apply.
    let (code, stdout, stderr) = env.kindform(&[
        "apply",
        "--auto-approve",
        "--no-rebuild",
        "--var",
        &port,
        "--var",
        fast,
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    for shown in [
        "cluster: restart the",
        "needs rebuilding (the cluster was not ready after 4s:",
        "but rebuilding is not allowed (--no-rebuild, or allow_rebuild = false under [cluster])",
        "releases.web",
        "Apply failed:",
    ] {
        assert!(stderr.contains(shown), "{shown:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("kind delete cluster"), "{stderr}");
    // Nothing was half-done: the next apply, allowed to, rebuilds it all.
    let (code, stdout, stderr) =
        env.kindform(&["apply", "--auto-approve", "--var", &port, "--var", fast]);
    env.snapshot_apply(test, "apply", &stdout, &stderr);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for shown in [
        "cluster: replace the cluster",
        "the cluster was rebuilt: everything in it is created again",
        "images.app: load ",
        "releases.platform: helm upgrade --install platform",
        "releases.web: helm upgrade --install web",
        "checks.page: run done",
        "Apply complete: 6 done, 0 failed, 0 skipped",
    ] {
        assert!(stderr.contains(shown), "{shown:?} in:\n{stderr}");
    }
    let (code, stdout, _) = env.kindform(&["status", "--var", &port, "--var", fast]);
    assert_eq!(code, 0, "{stdout}");
}

async fn watch_repairs_a_fault_reports_spec_edits_and_stops_on_ctrl_c(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let (_endpoint, port) = converged(&env).await;
    let run = env.start_watching(
        &["watch", "--interval", "1s", "--var", &port],
        "cycle 1: healthy",
    );
    run.wait_for_line("the first look finds the environment healthy");
    // Between cycles the lock is free: another command may take it.
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "the lock is free between cycles: {stderr}");
    env.world
        .crash_loop_until_restart(&env.cluster, "apps", "Deployment", "web", &["panic: lost"])
        .unwrap();
    run.wait_for(": broken (", "watch sees the fault");
    run.wait_for("releases.web: pod web-", "with its evidence");
    run.wait_for("repairing releases.web", "watch repairs it");
    run.wait_for(
        "releases.web: rollout restart deployment/web in apps",
        "by a restart",
    );
    run.wait_for(
        "repaired; the next look tells whether it holds",
        "the repair ends",
    );
    run.wait_for(": healthy (", "the next look finds it healthy");
    // Drift: a release that matched the spec is uninstalled by hand.
    env.helm(&["uninstall", "platform", "--namespace", "platform-system"]);
    run.wait_for(
        "repairing releases.platform",
        "watch puts back what was removed",
    );
    run.wait_for(
        "releases.platform: helm upgrade --install platform",
        "by installing it again",
    );
    run.wait_for(": healthy (", "and finds it healthy");
    // Drift inside a release: its Deployment scaled by hand.
    env.world
        .kubectl(
            &env.cluster,
            &["scale", "deployment/web", "-n", "apps", "--replicas=3"],
        )
        .unwrap();
    run.wait_for(
        "repairing releases.web",
        "watch reverts what was changed by hand",
    );
    run.wait_for("releases.web: helm upgrade --install web", "through helm");
    run.wait_for(": healthy (", "and finds it healthy");
    env.edit_spec(|spec| spec.replace("mode: full", "mode: lean"));
    run.wait_for(
        "the spec changed; watch does not apply its changes",
        "a spec edit is seen",
    );
    run.wait_for(
        "manifests.extra (update: ",
        "and its change reported, not made",
    );
    // A file the spec names is the spec's word too.
    write(env.dir.join("values.yaml"), "replicas: 1\ngreeting: hi\n");
    run.wait_for(
        "releases.web (update: values-changed)",
        "a values edit is left for apply",
    );
    run.wait_for(": healthy (", "watch goes on");
    run.interrupt();
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.ends_with("stopped\n"), "{stderr}");
    assert!(!stderr.contains("repairing manifests.extra"), "{stderr}");
    eprintln!("{stderr}");
    let settings = env
        .world
        .get_object(&env.cluster, "v1", "ConfigMap", "apps", "web-settings")
        .unwrap();
    assert_eq!(
        settings["data"]["greeting"], "hello",
        "the values edit was not applied"
    );
    let web = env
        .world
        .get_object(&env.cluster, "apps/v1", "Deployment", "apps", "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 1, "the scale was reverted");
    let extra = env
        .world
        .get_object(&env.cluster, "v1", "ConfigMap", "apps", "extra")
        .unwrap();
    assert_eq!(extra["data"]["mode"], "full", "the edit was not applied");
}

with_both_helm_majors!(
    a_restarted_control_plane_and_crash_looping_platform_are_mended_by_one_apply,
    pods_that_keep_crashing_after_a_restart_get_their_release_reinstalled,
    a_release_that_stays_broken_stops_apply_with_an_account,
    status_names_what_is_broken_with_its_evidence,
    without_rebuilds_an_unreachable_api_stops_apply_and_the_next_apply_rebuilds,
    watch_repairs_a_fault_reports_spec_edits_and_stops_on_ctrl_c,
);
