//! `kindform apply` and `destroy` in the test world: the scenario
//! environment built from nothing in one apply, each broken state of the
//! plan scenarios repaired by one apply, failures isolated, interrupts and
//! concurrent runs handled.

#[path = "support/scenario.rs"]
mod scenario;

use scenario::*;

/// The scenario environment's check points at a world endpoint standing in
/// for the app behind the port mapping (the stand-in kind publishes no
/// host ports); returns the `--var` that says so.
async fn page(env: &Env) -> (kindform_world::http_endpoint::HttpEndpoint, String) {
    let endpoint = env.world.http_endpoint("hello").await;
    let port = endpoint.url.rsplit(':').next().unwrap().to_owned();
    (endpoint, format!("host_port={port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_environment_goes_from_nothing_to_converged_in_one_apply() {
    let Some(env) = env(
        "the_scenario_environment_goes_from_nothing_to_converged_in_one_apply",
        true,
    )
    .await
    else {
        return;
    };
    let (endpoint, port) = page(&env).await;
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &port]);
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
    let listed = env.helm(&["list", "-a", "-A", "-o", "json"]);
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
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("No changes. The environment matches the spec."),
        "{stdout}"
    );
    assert!(
        stderr.contains("Apply complete: 1 done, 0 failed, 0 skipped"),
        "{stderr}"
    );
    let journal = std::fs::read_to_string(env.state().join("journal.jsonl")).unwrap();
    assert!(journal.lines().count() > 10, "{journal}");
    assert!(!journal.contains(SECRET), "a secret in the journal");
}
