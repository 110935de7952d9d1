//! Health and self-healing in the test world: broken platforms are seen by
//! the plan and mended by one apply, escalating from a restart to a rollback
//! or reinstall, and stopping with an account when nothing works.

#[path = "support/scenario.rs"]
mod scenario;

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
) -> Option<(Env, kindform_world::http_endpoint::HttpEndpoint, String)> {
    let env = env(test, true).await?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_control_plane_and_crash_looping_platform_are_mended_by_one_apply() {
    let Some(env) = env(
        "a_restarted_control_plane_and_crash_looping_platform_are_mended_by_one_apply",
        true,
    )
    .await
    else {
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
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    for shown in [
        "  ! releases.platform  (unhealthy)",
        "container operator CrashLoopBackOff",
        "- rollout restart deployment/platform-operator in platform-system and wait for it (2m)",
        "- if it stays broken: reinstall platform (helm uninstall, then helm upgrade --install)",
    ] {
        assert!(stdout.contains(shown), "{shown:?} in:\n{stdout}");
    }
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("releases.platform: rollout restart deployment/platform-operator"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("reinstall platform"),
        "the restart was enough: {stderr}"
    );
    let (code, text, _) = env.kindform(&["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 0, "healthy again: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_keep_crashing_after_a_restart_get_their_release_reinstalled() {
    let Some((env, _endpoint, port)) =
        crashing_web("pods_that_keep_crashing_after_a_restart_get_their_release_reinstalled").await
    else {
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
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_stays_broken_stops_apply_with_an_account() {
    let Some((env, _endpoint, port)) =
        crashing_web("a_release_that_stays_broken_stops_apply_with_an_account").await
    else {
        return;
    };
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
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
