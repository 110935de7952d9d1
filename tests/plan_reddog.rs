//! The reddog-like environment of `environments/reddog-local.toml` in the
//! test world, converged by hand with the stand-ins (as apply would build
//! it), then planned: a converged environment plans no changes, and a no-op
//! plan starts no process at all once helm's version is cached (the
//! releases are read from Helm's storage through the API, no `kind`).

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/reddog.rs"]
mod support;

use kindform_world::real_tools::HelmMajor;
use std::time::Instant;

use support::reddog;

async fn a_converged_reddog_world_plans_no_changes_and_starts_few_processes(
    major: HelmMajor,
    test: &str,
) {
    let Some((reddog, spec, _)) = reddog(test, major, false).await else {
        return;
    };

    reddog.converge(&spec).await;
    reddog.world.take_invocations();

    let binary = env!("CARGO_BIN_EXE_kindform");
    let started = Instant::now();
    let (code, text, stderr) = reddog.run(
        binary,
        &[
            "plan",
            "--detailed-exitcode",
            "-v",
            "-f",
            "reddog-local.toml",
        ],
    );
    let _ = started.elapsed();
    assert_eq!(code, 0, "{stderr}\n{text}");
    assert!(
        text.ends_with("No changes. The environment matches the spec.\n"),
        "{text}"
    );
    let runs = reddog.world.take_invocations();
    // The first run asks helm its version, and caches it.
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert!(runs[0].starts_with("helm version"), "{runs:#?}");

    // Then a no-op plan starts no process: Helm's records are read through
    // the API.
    let started = Instant::now();
    let (code, text, stderr) = reddog.run(
        binary,
        &[
            "plan",
            "--detailed-exitcode",
            "-v",
            "-f",
            "reddog-local.toml",
        ],
    );
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}\n{text}");
    assert!(
        text.ends_with("No changes. The environment matches the spec.\n"),
        "{text}"
    );
    let runs = reddog.world.take_invocations();
    assert_eq!(runs, Vec::<String>::new());
    eprintln!(
        "no-op plan of the converged reddog-like world: {} ms, no process started\n{stderr}",
        took.as_millis(),
    );

    // `status` reads the same, and finds every resource healthy.
    let started = Instant::now();
    let (code, text, stderr) = reddog.run(binary, &["status", "-f", "reddog-local.toml"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}\n{text}");
    assert!(
        text.starts_with("Environment \"reddog-local\" is healthy."),
        "{text}"
    );
    assert_eq!(reddog.world.take_invocations(), Vec::<String>::new());
    eprintln!(
        "status of the converged reddog-like world: {} ms\n{text}",
        took.as_millis()
    );
}

/// An empty cluster: Dapr's CRDs come with the Dapr release of the same
/// apply, and the reddog chart's Dapr components are of their kinds.
async fn an_empty_reddog_cluster_plans_everything_though_daprs_kinds_are_not_served_yet(
    major: HelmMajor,
    test: &str,
) {
    let Some((reddog, spec, _)) = reddog(test, major, false).await else {
        return;
    };
    reddog.empty_cluster(&spec);
    let binary = env!("CARGO_BIN_EXE_kindform");
    let (code, text, stderr) = reddog.run(
        binary,
        &["plan", "--detailed-exitcode", "-f", "reddog-local.toml"],
    );
    assert_eq!(code, 2, "{stderr}\n{text}");
    for line in [
        "  + releases.dapr  (absent)",
        "  + releases.reddog  (absent)",
        // Looked for once Dapr made them.
        "      - look for objects in the chart's way of kinds not served before this apply: Component (dapr.io/v1alpha1), Configuration (dapr.io/v1alpha1)\n",
    ] {
        assert!(text.contains(line), "the plan lacks {line:?}:\n{text}");
    }
    let at = |what: &str| text.find(what).unwrap();
    assert!(at("releases.dapr") < at("releases.reddog "), "{text}");
}

with_both_helm_majors!(
    a_converged_reddog_world_plans_no_changes_and_starts_few_processes,
    an_empty_reddog_cluster_plans_everything_though_daprs_kinds_are_not_served_yet,
);
