//! Every broken spec under `tests/fixtures/invalid/` gives exit 1 and exactly
//! the messages in its snapshot: file, line, column, the source line with a
//! caret, in file order, then the count.

use assert_cmd::Command;

#[test]
fn broken_specs_report_every_problem_at_its_place() {
    insta::glob!("fixtures/invalid/*.toml", |path| {
        let dir = path.parent().unwrap();
        let file = path.file_name().unwrap().to_str().unwrap();
        let output = Command::cargo_bin("kindform")
            .unwrap()
            .current_dir(dir)
            .args(["validate", "-f", file])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{file} was accepted");
        assert!(output.stdout.is_empty(), "{file} printed to stdout");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.trim_end().ends_with(" error") || stderr.trim_end().ends_with(" errors"),
            "{file}: no count at the end"
        );
        insta::assert_snapshot!(stderr);
    });
}

#[test]
fn the_table_covers_at_least_thirty_broken_specs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let count = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert!(count >= 30, "only {count} broken specs");
}
