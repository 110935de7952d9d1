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

with_both_helm_majors!(a_converged_reddog_world_plans_no_changes_and_starts_few_processes,);
