//! `kindform doctor` on this machine's real Docker engine, with the
//! stand-in kind of the test world: a missing tool, a helm older than
//! kindform drives, a busy host port and low inotify limits (read from a
//! folder the test points `KINDFORM_SYSCTL_DIR` at, nothing changed on the
//! machine), each named with its fix.

use std::path::Path;

use kindform_world::World;

const SPEC: &str = "version = 1\nname = \"doc\"\n\n[cluster]\nname = \"doc\"\n";

fn doctor(world: &World, dir: &Path, path: Option<&str>, sysctl: &Path) -> (i32, String) {
    let mut command = world.command(env!("CARGO_BIN_EXE_kindform"));
    command
        .current_dir(dir)
        .arg("doctor")
        .env("KINDFORM_SYSCTL_DIR", sysctl);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn sysctl(dir: &Path, watches: u64, instances: u64) {
    std::fs::create_dir_all(dir.join("fs/inotify")).unwrap();
    std::fs::write(
        dir.join("fs/inotify/max_user_watches"),
        format!("{watches}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("fs/inotify/max_user_instances"),
        format!("{instances}\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_each_problem_with_its_fix() {
    let Some(world) = World::start("doctor_names_each_problem_with_its_fix").await else {
        return;
    };
    let dir = world.dir().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kindform.toml"), SPEC).unwrap();
    let good = world.dir().join("sysctl-good");
    sysctl(&good, 524_288, 512);

    // All well: exit 0, every line ok.
    let (code, text) = doctor(&world, &dir, None, &good);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ok       docker "), "{text}");
    assert!(text.contains("ok       kind      kind v0.32.0"), "{text}");
    assert!(
        text.contains("fs.inotify.max_user_instances is 512"),
        "{text}"
    );

    // Low inotify limits: warnings with the sysctl that fixes them, exit 0.
    let low = world.dir().join("sysctl-low");
    sysctl(&low, 8_192, 128);
    let (code, text) = doctor(&world, &dir, None, &low);
    assert_eq!(code, 0, "warnings do not block: {text}");
    assert!(
        text.contains("warning  inotify   fs.inotify.max_user_instances is 128, below the 512 kind asks for (one cluster usually fits; several on one host run out); fix: sudo sysctl fs.inotify.max_user_instances=512"),
        "{text}"
    );
    assert!(
        text.contains("fix: sudo sysctl fs.inotify.max_user_watches=524288"),
        "{text}"
    );
    // Disk and memory depend on the machine; the two limits are warnings of their own.
    assert!(text.contains("\n0 blocking, "), "{text}");
    assert_eq!(text.matches("warning  inotify").count(), 2, "{text}");

    // kind missing from PATH blocks, with where to get it.
    let empty = world.dir().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, text) = doctor(&world, &dir, Some(empty.to_str().unwrap()), &good);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("blocked  kind      not on PATH; fix: install kind 0.20 or later from https://kind.sigs.k8s.io/"),
        "{text}"
    );

    // A helm older than kindform drives, first on PATH, for a spec with a release.
    let old = world.dir().join("old-helm");
    std::fs::create_dir_all(&old).unwrap();
    let script = old.join("helm");
    std::fs::write(&script, "#!/bin/sh\necho v3.10.0\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("chart")).unwrap();
    std::fs::write(
        dir.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kindform.toml"),
        format!("{SPEC}\n[releases.web]\nchart = \"chart\"\n"),
    )
    .unwrap();
    let path = format!(
        "{}:{}:{}",
        old.display(),
        world.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, text) = doctor(&world, &dir, Some(&path), &good);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "blocked  helm      helm v3.10.0 is not supported: kindform drives Helm 3.14 or later"
        ),
        "{text}"
    );

    // A host port the cluster would publish, already in use.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(
        dir.join("kindform.toml"),
        format!(
            "{SPEC}\n[[cluster.nodes]]\nrole = \"control-plane\"\nextra_port_mappings = [{{ container_port = 80, host_port = {port}, listen_address = \"127.0.0.1\" }}]\n"
        ),
    )
    .unwrap();
    let (code, text) = doctor(&world, &dir, None, &good);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "blocked  port      127.0.0.1:{port} is in use, and the cluster publishes it; fix: stop what listens on it, or change its host_port in the spec"
        )),
        "{text}"
    );
    drop(listener);
    let (code, text) = doctor(&world, &dir, None, &good);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port} is free")),
        "{text}"
    );
}
