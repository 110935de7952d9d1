//! The built binary run the way users run it: validate and graph on the
//! shipped environments, the command-line contract, variables' precedence.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kindform(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("kindform").unwrap();
    cmd.current_dir(dir);
    // The developer's own variables must not leak into the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("KINDFORM_VAR_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let output = cmd.output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[test]
fn validate_accepts_the_demo() {
    let out = run(kindform(&repo()).args(["validate", "-e", "demo"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn global_options_may_come_before_or_after_the_command() {
    let before = run(kindform(&repo()).args(["-e", "demo", "validate"]));
    let after = run(kindform(&repo()).args(["validate", "-e", "demo"]));
    assert_eq!(before.code, Some(0));
    assert_eq!(before.stdout, after.stdout);
}

#[test]
fn every_shipped_environment_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("environments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        // The reddog spec sits at the root of its application's repository;
        // it is validated in a fixture tree holding the files it names.
        let (dir, file) = if name == "reddog-local.toml" {
            let fixture = repo().join("tests/fixtures/reddog");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                std::fs::read_to_string(fixture.join(&name)).unwrap(),
                "tests/fixtures/reddog/{name} differs from environments/{name}"
            );
            (fixture, name.clone())
        } else {
            (repo(), format!("environments/{name}"))
        };
        let out = run(kindform(&dir)
            .args(["validate", "-f", &file])
            .env("SA_PASSWORD", "unused"));
        assert_eq!(out.code, Some(0), "{name}:\n{}", out.stderr);
        seen += 1;
    }
    assert!(seen >= 2, "expected the demo and reddog environments");
}

#[test]
fn validate_needs_no_secret() {
    let out = run(kindform(&repo().join("tests/fixtures/reddog"))
        .args(["validate", "-f", "reddog-local.toml"])
        .env_remove("SA_PASSWORD"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn graph_prints_text_dot_and_mermaid() {
    for format in ["text", "dot", "mermaid"] {
        let out = run(kindform(&repo()).args(["graph", "-e", "demo", "--format", format]));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        insta::assert_snapshot!(format!("graph_demo_{format}"), out.stdout);
    }
}

#[test]
fn graph_of_reddog_runs_independent_resources_side_by_side() {
    let out = run(kindform(&repo().join("tests/fixtures/reddog")).args([
        "graph",
        "-f",
        "reddog-local.toml",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn dot_output_is_accepted_by_graphviz() {
    if std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: Graphviz `dot` is not installed");
        return;
    }
    let out = run(kindform(&repo()).args(["graph", "-e", "demo", "--format", "dot"]));
    let mut dot = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    dot.stdin
        .take()
        .unwrap()
        .write_all(out.stdout.as_bytes())
        .unwrap();
    let result = dot.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(String::from_utf8_lossy(&result.stdout).contains("<svg"));
}

#[test]
fn kubeconfig_before_the_cluster_exists_says_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kindform.toml"),
        "version = 1\nname = \"early\"\n[cluster]\nname = \"early\"\n",
    )
    .unwrap();
    let out = run(kindform(dir.path()).arg("kubeconfig"));
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(
            ".kindform/early/kubeconfig yet: `kindform apply` makes the cluster and writes it"
        ),
        "{}",
        out.stderr
    );
    let out = run(kindform(dir.path()).args(["kubeconfig", "--unexport"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "Nothing to take out: context kind-early was not exported.\n"
    );
    let out = run(kindform(dir.path()).args(["kubeconfig", "--export", "--unexport"]));
    assert_eq!(out.code, Some(1));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let conflict = run(kindform(&repo()).args(["validate", "-e", "demo", "-f", "x.toml"]));
    assert_eq!(conflict.code, Some(1));
    assert!(
        conflict.stderr.contains("cannot be used with"),
        "{}",
        conflict.stderr
    );
    let bad_var = run(kindform(&repo()).args(["validate", "-e", "demo", "--var", "a b=x"]));
    assert_eq!(bad_var.code, Some(1));
    assert!(
        bad_var.stderr.contains("`a b` is not a variable name"),
        "{}",
        bad_var.stderr
    );
    let unknown = run(kindform(&repo()).args(["frobnicate"]));
    assert_eq!(unknown.code, Some(1));
    let help = run(kindform(&repo()).args(["--help"]));
    assert_eq!(help.code, Some(0));
    for command in [
        "validate",
        "graph",
        "plan",
        "apply",
        "destroy",
        "status",
        "watch",
        "kubeconfig",
    ] {
        assert!(help.stdout.contains(command), "help lacks {command}");
    }
}

#[test]
fn a_missing_spec_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(kindform(dir.path()).arg("validate"));
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with("error: cannot read kindform.toml"),
        "{}",
        out.stderr
    );
    let out = run(kindform(dir.path()).args(["validate", "-e", "nope"]));
    assert!(
        out.stderr
            .starts_with("error: cannot read environments/nope.toml"),
        "{}",
        out.stderr
    );
}

/// `--var` beats `KINDFORM_VAR_<KEY>`, which beats `[variables]`.
#[test]
fn variables_resolve_cli_then_environment_then_spec() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kindform.toml"),
        "version = 1\nname = \"vars\"\n\n[variables]\ncluster = \"from-spec\"\n\n[cluster]\nname = \"${cluster}\"\n",
    )
    .unwrap();
    let cluster_of = |cmd: &mut Command| {
        let out = run(cmd.arg("validate"));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout.split('`').nth(1).unwrap().to_owned()
    };
    assert_eq!(cluster_of(&mut kindform(dir.path())), "from-spec");
    assert_eq!(
        cluster_of(kindform(dir.path()).env("KINDFORM_VAR_cluster", "from-env")),
        "from-env"
    );
    assert_eq!(
        cluster_of(kindform(dir.path()).env("KINDFORM_VAR_CLUSTER", "shouted")),
        "shouted"
    );
    assert_eq!(
        cluster_of(
            kindform(dir.path())
                .env("KINDFORM_VAR_cluster", "from-env")
                .args(["--var", "cluster=from-cli"])
        ),
        "from-cli"
    );
}

#[test]
fn a_variable_given_only_on_the_command_line_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kindform.toml"),
        "version = 1\nname = \"vars\"\n\n[cluster]\nname = \"${cluster}\"\n",
    )
    .unwrap();
    let missing = run(kindform(dir.path()).arg("validate"));
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("undefined variable `cluster`"),
        "{}",
        missing.stderr
    );
    let given = run(kindform(dir.path()).args(["validate", "--var", "cluster=cli"]));
    assert_eq!(given.code, Some(0), "{}", given.stderr);
}
