//! Generated specs of any size, for the scale test and for measuring
//! validation speed (`cargo run --release --example generate_spec -- N`).

use std::fmt::Write as _;

/// A spec of `n` resources: manifests (inline objects) in chains of ten, and
/// checks that depend on them.
pub fn generated_spec(n: usize) -> String {
    let mut text = String::from("version = 1\nname = \"big\"\n\n[cluster]\nname = \"big\"\n");
    let manifests = n / 2;
    for i in 0..manifests {
        let _ = write!(
            text,
            "\n[manifests.m{i}]\ninline = \"\"\"\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m{i}\ndata:\n  key: value\n\"\"\"\nnamespace = \"default\"\n"
        );
        if i % 10 != 0 {
            let _ = writeln!(text, "depends_on = [\"manifests.m{}\"]", i - 1);
        }
    }
    for i in 0..n - manifests {
        let _ = write!(
            text,
            "\n[checks.c{i}]\nhttp = {{ url = \"http://127.0.0.1:8080/{i}\", status = 200 }}\ntimeout = \"5s\"\ndepends_on = [\"manifests.m{}\"]\n",
            i % manifests.max(1)
        );
    }
    text
}
