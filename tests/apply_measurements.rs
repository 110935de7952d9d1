//! Measurements behind the apply notes, run as tests that check the work
//! was done and print the numbers (timings are never asserted here; the
//! benchmark harness owns speed targets):
//!
//! - independent slow checks run side by side: apply's wall time against
//!   the critical path and the sum of the work;
//! - a large image streams into the nodes: kindform's peak memory while it
//!   loads, as `-v` reports it (`KINDFORM_MEASURE_IMAGE_MB`, default 64,
//!   sets the image size).
//!
//! `cargo test --release --test apply_measurements -- --nocapture` prints them.

use std::time::Instant;

use kindform_world::World;

fn project(world: &World, spec: &str) -> std::path::PathBuf {
    let dir = world.dir().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kindform.toml"), spec).unwrap();
    dir
}

fn kindform(world: &World, dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = world
        .command(env!("CARGO_BIN_EXE_kindform"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_slow_checks_run_side_by_side() {
    let Some(world) = World::start("independent_slow_checks_run_side_by_side").await else {
        return;
    };
    let cluster = world.cluster_name("wide");
    // Eight independent 1 s checks, and a chain of three: critical path 3 s,
    // work 11 s.
    let mut spec = format!(
        "version = 1\nname = \"wide\"\n\n[cluster]\nname = \"{cluster}\"\nnode_image = \"kindest/node:v1.34.0\"\n"
    );
    for i in 0..8 {
        spec.push_str(&format!("\n[checks.wide{i}]\nrun = [\"sleep\", \"1\"]\n"));
    }
    spec.push_str("\n[checks.chain0]\nrun = [\"sleep\", \"1\"]\n");
    spec.push_str(
        "\n[checks.chain1]\nrun = [\"sleep\", \"1\"]\ndepends_on = [\"checks.chain0\"]\n",
    );
    spec.push_str(
        "\n[checks.chain2]\nrun = [\"sleep\", \"1\"]\ndepends_on = [\"checks.chain1\"]\n",
    );
    let dir = project(&world, &spec);
    let (code, out) = kindform(&world, &dir, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let started = Instant::now();
    let (code, out) = kindform(&world, &dir, &["apply", "--auto-approve"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Apply complete: 11 done, 0 failed, 0 skipped"),
        "{out}"
    );
    eprintln!(
        "11 run checks (critical path 3 s, work 11 s), parallelism 10: apply took {:.2} s in all (observation included)",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_image_streams_into_the_nodes_in_flat_memory() {
    let Some(world) = World::start("a_large_image_streams_into_the_nodes_in_flat_memory").await
    else {
        return;
    };
    let megabytes: usize = std::env::var("KINDFORM_MEASURE_IMAGE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let cluster = world.cluster_name("big");
    let reference = format!("kindform.dev/big-{}:local", world.id());
    let id = world
        .build_image(&reference, "big", megabytes * 1_000_000)
        .await
        .unwrap();
    let spec = format!(
        "version = 1\nname = \"big\"\n\n[cluster]\nname = \"{cluster}\"\nnode_image = \"kindest/node:v1.34.0\"\n\n[[cluster.nodes]]\nrole = \"control-plane\"\n\n[[cluster.nodes]]\nrole = \"worker\"\n\n[images.big]\nref = \"{reference}\"\n"
    );
    let dir = project(&world, &spec);
    let started = Instant::now();
    let (code, out) = kindform(&world, &dir, &["apply", "--auto-approve", "-v"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{out}");
    let peak = out
        .lines()
        .find_map(|l| l.split("peak memory ").nth(1))
        .expect("-v says the peak memory");
    for node in ["control-plane", "worker"] {
        assert!(
            world
                .node_has_image(&format!("{cluster}-{node}"), &id)
                .await
        );
    }
    eprintln!(
        "a {megabytes} MB image into 2 nodes: apply {:.1} s (cluster creation included), kindform's peak memory {peak}",
        took.as_secs_f64(),
    );
    world.remove_local_image(&reference).await;
}
