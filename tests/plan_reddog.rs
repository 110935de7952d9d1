//! The reddog-like environment of `environments/reddog-local.toml` in the
//! test world, converged by hand with the stand-ins (as apply would build
//! it), then planned: a converged environment plans no changes, and a no-op
//! plan starts only the processes it must (one `helm list`, one `helm get
//! values` per release, no `kind`).

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
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}\n{text}");
    assert!(
        text.ends_with("No changes. The environment matches the spec.\n"),
        "{text}"
    );
    let runs = reddog.world.take_invocations();
    // Each call as its subcommand and its positionals (after `--`).
    let mut kinds: Vec<String> = runs
        .iter()
        .map(|r| {
            let head = r.split(" --").next().unwrap();
            match r.split_once(" -- ") {
                Some((_, positionals)) => format!("{head} {positionals}"),
                None => head.to_owned(),
            }
        })
        .collect();
    // The `get values` calls run concurrently, in any order.
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "helm get values dapr",
            "helm get values reddog",
            "helm get values reddog-infra",
            // Helm 4 lists every status without `-a`.
            match major {
                HelmMajor::V3 => "helm list -a -A -o json",
                HelmMajor::V4 => "helm list -A -o json",
            },
            // Read once per run: the command line depends on the major.
            "helm version",
        ],
        "{runs:#?}"
    );
    eprintln!(
        "no-op plan of the converged reddog-like world: {} ms, {} processes started: {runs:#?}\n{stderr}",
        took.as_millis(),
        runs.len()
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
    assert_eq!(reddog.world.take_invocations().len(), 5);
    eprintln!(
        "status of the converged reddog-like world: {} ms\n{text}",
        took.as_millis()
    );
}

with_both_helm_majors!(a_converged_reddog_world_plans_no_changes_and_starts_few_processes,);
