//! `kindform kubeconfig` in the test world: the environment's kubeconfig
//! path, its context merged into a user's kubeconfig holding other contexts
//! (which stay byte for byte) and reached by the real kubectl of each Helm
//! major's world, then taken out again by `--unexport` and by `destroy`.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/scenario.rs"]
mod scenario;

use kindform_world::real_tools::HelmMajor;
use scenario::*;

const THEIRS: &str = "# my clusters\napiVersion: v1\nclusters:\n  - cluster:\n      server: https://prod.example.com\n    name: prod   # the real one\n\n  - name: staging\n    cluster: {server: 'https://staging.example.com'}\ncontexts:\n  - context: {cluster: prod, user: me}\n    name: prod\ncurrent-context: prod\nkind: Config\npreferences: {}\nusers:\n  - name: me\n    user:\n      token: secret-of-mine\n";

/// The binary with `KUBECONFIG` pointing at `config`.
fn with_kubeconfig(env: &Env, config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = env
        .command(args)
        .env("KUBECONFIG", config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_context_is_exported_reached_by_kubectl_and_taken_out_again(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, false).await else {
        return;
    };
    let config = env.world.dir().join("user/kube/config");
    write(config.clone(), THEIRS);
    let context = format!("kind-{}", env.cluster);

    // Before the cluster exists there is nothing to point at.
    let (code, _, stderr) = with_kubeconfig(&env, &config, &["kubeconfig"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`kindform apply` makes the cluster"),
        "{stderr}"
    );

    let endpoint = env.world.http_endpoint("hello").await;
    let port = endpoint.url.rsplit(':').next().unwrap().to_owned();
    let var = format!("host_port={port}");
    let (code, stdout, stderr) =
        with_kubeconfig(&env, &config, &["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let ours = env.state().join("kubeconfig");
    assert!(
        stderr.contains(&format!(
            "Reach the cluster with `kubectl --kubeconfig {} --context {context}`",
            ours.display()
        )),
        "{stderr}"
    );
    let (code, stdout, _) = with_kubeconfig(&env, &config, &["kubeconfig"]);
    assert_eq!((code, stdout), (0, format!("{}\n", ours.display())));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        THEIRS,
        "only --export writes it"
    );

    let (code, stdout, stderr) = with_kubeconfig(&env, &config, &["kubeconfig", "--export"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Merged context {context} into {}",
            config.display()
        )),
        "{stdout}"
    );
    let merged = std::fs::read_to_string(&config).unwrap();
    assert!(
        merged.starts_with("# my clusters\napiVersion: v1\nclusters:\n"),
        "{merged}"
    );
    let backup = std::fs::read_to_string(format!("{}.kindform-backup", config.display())).unwrap();
    assert_eq!(backup, THEIRS);
    // The real kubectl reaches the world's cluster through the merged file.
    let tools = env.world.tools().unwrap().clone();
    let nodes = env
        .world
        .command(&tools.kubectl)
        .args(["--context", &context, "get", "nodes", "-o", "name"])
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    assert!(
        nodes.status.success(),
        "{}",
        String::from_utf8_lossy(&nodes.stderr)
    );
    assert!(
        String::from_utf8_lossy(&nodes.stdout)
            .contains(&format!("node/{}-control-plane", env.cluster)),
        "{}",
        String::from_utf8_lossy(&nodes.stdout)
    );
    // Its other contexts are as they were; kubectl still reads them.
    let current = env
        .world
        .command(&tools.kubectl)
        .args(["config", "current-context"])
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&current.stdout), "prod\n");

    let (code, stdout, _) = with_kubeconfig(&env, &config, &["kubeconfig", "--unexport"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("Took context {context} out of")),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        THEIRS,
        "byte for byte"
    );

    // Exported again, `destroy` takes it out with the cluster.
    let (code, _, stderr) = with_kubeconfig(&env, &config, &["kubeconfig", "--export"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = with_kubeconfig(&env, &config, &["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Took context {context} out of")),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        THEIRS,
        "byte for byte"
    );
    drop(endpoint);
}

with_both_helm_majors!(the_context_is_exported_reached_by_kubectl_and_taken_out_again,);
