//! A secret canary: a sentinel `set` value read from the environment, put
//! through everything kindform does with the scenario environment (plan as
//! text, JSON and a saved plan; apply at `-v` and `-vv`; a `run` check; a
//! failure whose helm error quotes the value; a rename of its key), never
//! shows in any output, journal, applied record, process argv during apply
//! or the environment of the check.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/scenario.rs"]
mod scenario;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kindform_world::real_tools::HelmMajor;
use scenario::*;

const CANARY: &str = "canary-7Yq2-never-to-be-seen";

/// Runs the binary with the canary in its environment; exit code and all
/// it wrote.
fn run(env: &Env, args: &[&str]) -> (i32, String) {
    let out = env
        .command(args)
        .env("KINDFORM_TEST_CANARY", CANARY)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "the canary leaked into {what}:\n{text}"
    );
}

/// Watches every process's argv while `during` runs; the argvs that held
/// the canary.
fn argv_watch<T>(during: impl FnOnce() -> T) -> (T, Vec<Vec<String>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                for found in
                    kindform_process::running(|argv| argv.iter().any(|a| a.contains(CANARY)))
                {
                    seen.push(found.argv);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            seen
        })
    };
    let result = during();
    stop.store(true, Ordering::SeqCst);
    (result, watcher.join().unwrap())
}

async fn a_secret_from_the_environment_never_shows_anywhere(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let endpoint = env.world.http_endpoint("hello").await;
    let port = format!("host_port={}", endpoint.url.rsplit(':').next().unwrap());
    env.edit_spec(|spec| {
        spec.replace(
                r#""db.password" = { file = "secrets/db-password", sensitive = true } }"#,
                r#""db.password" = { file = "secrets/db-password", sensitive = true }, "token" = { env = "KINDFORM_TEST_CANARY", sensitive = true } }"#,
            )
            + "\n[checks.environment]\nrun = [\"sh\", \"-c\", \"env > check-env.txt\"]\ndepends_on = [\"releases.web\"]\n"
    });

    let (code, plan) = run(&env, &["plan", "--var", &port]);
    assert_eq!(code, 0, "{plan}");
    assert!(plan.contains("releases.web"), "{plan}");
    assert_clean("the plan", &plan);
    let (code, json) = run(&env, &["plan", "--json", "--var", &port]);
    assert_eq!(code, 0, "{json}");
    assert_clean("the JSON plan", &json);
    let (code, out) = run(&env, &["plan", "--out", "saved.json", "--var", &port]);
    assert_eq!(code, 0, "{out}");
    assert_clean(
        "the saved plan",
        &std::fs::read_to_string(env.dir.join("saved.json")).unwrap(),
    );

    let ((code, applied), argvs) =
        argv_watch(|| run(&env, &["apply", "--auto-approve", "-vv", "--var", &port]));
    assert_eq!(code, 0, "{applied}");
    assert!(applied.contains("Apply complete"), "{applied}");
    assert_clean("apply -vv", &applied);
    assert!(argvs.is_empty(), "the canary was in an argv: {argvs:?}");
    let (code, again) = run(&env, &["apply", "--auto-approve", "-v", "--var", &port]);
    assert_eq!(code, 0, "{again}");
    assert_clean("apply -v", &again);

    // The check ran with only what it needs.
    let check_env = std::fs::read_to_string(env.dir.join("check-env.txt")).unwrap();
    assert_clean("the run check's environment", &check_env);
    assert!(
        check_env.contains(&format!(
            "KUBECONFIG={}",
            env.state().join("kubeconfig").display()
        )),
        "{check_env}"
    );
    assert!(!check_env.contains("KINDFORM_TEST_CANARY"), "{check_env}");

    // Helm holds it (that is the point), and kindform's record does not.
    let values = env.helm(&["get", "values", "web", "--namespace", "apps", "-o", "json"]);
    assert!(
        values.contains(CANARY),
        "the secret did not reach helm: {values}"
    );
    let record = env
        .world
        .get_object(
            &env.cluster,
            "v1",
            "ConfigMap",
            "kube-system",
            "kindform.scenario",
        )
        .expect("the applied record");
    assert_clean("the applied record", &record.to_string());

    // Renamed: the live values hold it under the old key, which the spec
    // no longer calls sensitive.
    env.edit_spec(|spec| spec.replace(r#""token" = { env"#, r#""token2" = { env"#));
    let (code, renamed) = run(&env, &["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 2, "{renamed}");
    assert!(renamed.contains("token (sensitive)"), "{renamed}");
    assert_clean("the plan after a rename", &renamed);
    let (_, renamed_json) = run(&env, &["plan", "--json", "--var", &port]);
    assert_clean("the JSON plan after a rename", &renamed_json);

    // And its `sensitive` flag dropped: what was a secret stays one.
    env.edit_spec(|spec| {
        spec.replace(
            r#""token2" = { env = "KINDFORM_TEST_CANARY", sensitive = true }"#,
            r#""token2" = { env = "KINDFORM_TEST_CANARY" }"#,
        )
    });
    let (code, dropped) = run(&env, &["plan", "--detailed-exitcode", "--var", &port]);
    assert_eq!(code, 2, "{dropped}");
    assert_clean("the plan after the flag was dropped", &dropped);
    let (_, dropped_json) = run(&env, &["plan", "--json", "--var", &port]);
    assert_clean("the JSON plan after the flag was dropped", &dropped_json);

    // A chart whose error quotes the value.
    write(
        env.dir.join("chart/templates/fail.yaml"),
        "{{ if .Values.token2 }}{{ fail (printf \"token %s refused\" .Values.token2) }}{{ end }}\n",
    );
    let (code, failed) = run(&env, &["apply", "--auto-approve", "-vv", "--var", &port]);
    assert_eq!(code, 1, "{failed}");
    assert!(failed.contains("token (sensitive) refused"), "{failed}");
    assert_clean("a failure", &failed);

    let journal = std::fs::read_to_string(env.state().join("journal.jsonl")).unwrap();
    assert_clean("the journal", &journal);
}

with_both_helm_majors!(a_secret_from_the_environment_never_shows_anywhere);
