//! The shipped environments applied in the test world: the demo and the
//! reddog-like environment go from nothing to converged in one apply (their
//! checks pass), and a second apply changes nothing and runs the checks.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/reddog.rs"]
mod support;

use kindform_world::real_tools::HelmMajor;
use std::path::Path;

use kindform_world::World;
use support::{SA_PASSWORD, copy_tree, reddog};

async fn the_demo_goes_from_nothing_to_converged_in_one_apply(major: HelmMajor, test: &str) {
    let Some(world) = World::with_helm(test, major).await else {
        return;
    };
    // The demo as shipped, its cluster named for this world; the page its
    // check reads is a world endpoint standing in for the node port (the
    // stand-in kind publishes no host ports), and busybox:1.36, its image's
    // base, is made locally (there is no registry here).
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = world.dir().join("project");
    copy_tree(&repo.join("environments"), &project.join("environments"));
    let cluster = world.cluster_name("demo");
    let spec = project.join("environments/demo.toml");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("name = \"kindform-demo\"", &format!("name = \"{cluster}\""));
    std::fs::write(&spec, text).unwrap();
    world.busybox_image("busybox:1.36").await.unwrap();
    let page = world.http_endpoint("<h1>hello from kindform</h1>").await;
    let port = page.url.rsplit(':').next().unwrap().to_owned();
    let tag = world.id().to_owned();
    let kindform = |args: &[&str]| {
        let out = world
            .command(env!("CARGO_BIN_EXE_kindform"))
            .current_dir(&project)
            .args(args)
            .args(["-e", "demo", "--var", &format!("host_port={port}")])
            .args(["--var", &format!("tag={tag}")])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = kindform(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Apply complete: 4 done, 0 failed, 0 skipped"),
        "{stderr}"
    );
    let built = world
        .image_id(&format!("kindform.dev/demo-hello:{tag}"))
        .await
        .expect("the demo image was built");
    assert!(
        world
            .node_has_image(&format!("{cluster}-control-plane"), &built)
            .await
    );
    let (code, stdout, stderr) = kindform(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("No changes. The environment matches the spec."),
        "{stdout}"
    );
    assert!(stderr.contains("Apply complete: 1 done"), "{stderr}");
    let (code, _, stderr) = kindform(&["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "{stderr}");
}

async fn the_reddog_like_environment_goes_from_nothing_to_converged_in_one_apply(
    major: HelmMajor,
    test: &str,
) {
    let Some((reddog, spec, Some(ingress))) = reddog(test, major, true).await else {
        return;
    };
    reddog.prebuild_images(&spec).await;
    let binary = env!("CARGO_BIN_EXE_kindform");
    let (code, stdout, stderr) = reddog.run(
        binary,
        &["apply", "--auto-approve", "-f", "reddog-local.toml"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // 1 cluster + 9 images + 3 releases + 1 manifest + 18 checks.
    assert!(
        stderr.contains("Apply complete: 32 done, 0 failed, 0 skipped"),
        "{stderr}"
    );
    for shown in [&stdout, &stderr] {
        assert!(!shown.contains(SA_PASSWORD), "the secret leaked");
    }
    assert!(
        ingress.requests().iter().any(|p| p == "/api/orders"),
        "{:?}",
        ingress.requests()
    );
    let (code, stdout, stderr) = reddog.run(
        binary,
        &["apply", "--auto-approve", "-f", "reddog-local.toml"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("No changes. The environment matches the spec."),
        "{stdout}"
    );
    assert!(stderr.contains("Apply complete: 18 done"), "{stderr}");
}

with_both_helm_majors!(
    the_demo_goes_from_nothing_to_converged_in_one_apply,
    the_reddog_like_environment_goes_from_nothing_to_converged_in_one_apply,
);
