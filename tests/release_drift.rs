//! Drift inside releases, in the test world under Helm 3 and Helm 4: the
//! scenario environment converged by one apply, its chart's objects then
//! edited and deleted with the real kubectl, planned field by field with who
//! changed them, and reverted by one apply; what another manager owns by
//! design and what an ignore rule names are not drift. A release that
//! leaves the spec is uninstalled; one installed by hand is never touched.

#[macro_use]
#[path = "support/majors.rs"]
mod majors;

#[path = "support/scenario.rs"]
mod scenario;

use kindform_world::real_tools::HelmMajor;
use scenario::*;

/// The scenario's chart, its Deployment labelled, a Service and a Secret
/// (of the sensitive set value) beside it.
fn chart_with_labels_and_a_service(env: &Env) {
    write(
        env.dir.join("chart/templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {tier: front}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image.ref | quote }}\n",
    );
    write(
        env.dir.join("chart/templates/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n",
    );
    write(
        env.dir.join("chart/templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\nstringData:\n  password: {{ .Values.db.password | quote }}\n",
    );
}

async fn converged(env: &Env) -> String {
    let endpoint = env.world.http_endpoint("hello").await;
    let port = endpoint.url.rsplit(':').next().unwrap().to_owned();
    let var = format!("host_port={port}");
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // The endpoint serves the check for the rest of the test.
    std::mem::forget(endpoint);
    var
}

fn kubectl(env: &Env, args: &[&str]) {
    env.world
        .kubectl(&env.cluster, args)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn revisions(env: &Env) -> usize {
    env.world.release_history(&env.cluster, "apps", "web").len()
}

async fn hand_edits_and_deletions_of_a_charts_objects_are_planned_and_reverted(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    chart_with_labels_and_a_service(&env);
    let var = converged(&env).await;

    // A second apply changes nothing and makes no Helm revision.
    let before = revisions(&env);
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("No changes."), "{stdout}");
    assert_eq!(revisions(&env), before, "an empty revision was made");

    let image = env.image.clone();
    kubectl(
        &env,
        &["scale", "deployment/web", "-n", "apps", "--replicas=3"],
    );
    kubectl(
        &env,
        &[
            "set",
            "image",
            "deployment/web",
            "-n",
            "apps",
            "web=other:2",
        ],
    );
    kubectl(
        &env,
        &["label", "deployment/web", "-n", "apps", "extra=yes"],
    );
    kubectl(&env, &["label", "deployment/web", "-n", "apps", "tier-"]);
    kubectl(&env, &["delete", "configmap/web-settings", "-n", "apps"]);
    kubectl(&env, &["delete", "service/web", "-n", "apps"]);
    kubectl(
        &env,
        &[
            "patch",
            "secret/web-db",
            "-n",
            "apps",
            "--type=merge",
            "-p",
            r#"{"stringData":{"password":"typed-by-hand-7d1"}}"#,
        ],
    );

    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    env.snapshot(test, "plan", &text);
    for line in [
        "  ~ releases.web  (objects-drifted, object-missing",
        "deployment/web metadata.labels.tier: \"front\" -> (none)\n",
        "deployment/web spec.replicas: 1 -> 3 (kubectl)\n",
        &format!(
            "deployment/web spec.template.spec.containers[name=web].image: \"{image}\" -> \"other:2\" (kubectl-set)\n"
        ),
        "deployment/web metadata.labels.extra: (none) -> \"yes\" (kubectl-label)\n",
        "configmap/web-settings does not exist\n",
        "service/web does not exist\n",
        "remove what was added by hand to deployment/web: metadata.labels.extra\n",
        "secret/web-db data.password: (sensitive) -> (sensitive) (kubectl-patch)\n",
    ] {
        assert!(text.contains(line), "the plan lacks {line:?}:\n{text}");
    }
    let (_, json, _) = env.kindform(&["plan", "--json", "--var", &var]);
    for shown in [&text, &stderr, &json] {
        assert!(!shown.contains(SECRET), "a secret leaked: {shown}");
        assert!(
            !shown.contains("typed-by-hand-7d1"),
            "a secret leaked: {shown}"
        );
    }
    // Helm 4 applies server-side: the fields kubectl owns now are taken
    // back only by a forced apply; Helm 3's three-way merge takes them.
    assert_eq!(
        text.contains("--force-conflicts"),
        major == HelmMajor::V4,
        "{text}"
    );

    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(
        code, 0,
        "after the apply, a plan still finds changes:\n{text}\n{stderr}"
    );
    let web = env
        .world
        .get_object(&env.cluster, "apps/v1", "Deployment", "apps", "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 1);
    assert_eq!(web["metadata"]["labels"]["tier"], "front");
    assert!(web["metadata"]["labels"].get("extra").is_none(), "{web}");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        image.as_str()
    );
    let secret = env
        .world
        .get_object(&env.cluster, "v1", "Secret", "apps", "web-db")
        .unwrap();
    use base64::Engine as _;
    assert_eq!(
        secret["data"]["password"],
        base64::engine::general_purpose::STANDARD.encode(SECRET)
    );
    for (kind, name) in [("ConfigMap", "web-settings"), ("Service", "web")] {
        assert!(
            env.world
                .get_object(&env.cluster, "v1", kind, "apps", name)
                .is_some(),
            "{kind} {name} was not made again"
        );
    }
    // One revision did it all; the plan after it made none.
    assert_eq!(revisions(&env), before + 1);
}

async fn another_managers_fields_and_ignored_paths_are_not_drift(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    env.edit_web(
        r#"ignore = [{ kind = "ConfigMap", name = "web-settings", path = "data.greeting" }]"#,
    );
    let var = converged(&env).await;
    // An autoscaler-like controller scales through the scale subresource
    // under its own manager; a person edits a field an ignore rule names.
    kubectl(
        &env,
        &[
            "patch",
            "deployment/web",
            "-n",
            "apps",
            "--subresource=scale",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":4}}"#,
            "--field-manager=kube-controller-manager",
        ],
    );
    kubectl(
        &env,
        &[
            "patch",
            "configmap/web-settings",
            "-n",
            "apps",
            "--type=merge",
            "-p",
            r#"{"data":{"greeting":"by hand"}}"#,
        ],
    );
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "-v", "--var", &var]);
    assert_eq!(code, 0, "{text}\n{stderr}");
    assert!(
        stderr.contains(
            "releases.web: deployment/web spec.replicas is kube-controller-manager's by design, not drift"
        ),
        "{stderr}"
    );
    // The same edit without the rule is drift.
    env.edit_spec(|spec| {
        spec.replace(
            r#"ignore = [{ kind = "ConfigMap", name = "web-settings", path = "data.greeting" }]"#,
            "",
        )
    });
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    assert!(
        text.contains(
            "configmap/web-settings data.greeting: \"hello\" -> \"by hand\" (kubectl-patch)"
        ),
        "{text}"
    );
    assert!(!text.contains("spec.replicas"), "{text}");
}

async fn a_release_dropped_from_the_spec_is_uninstalled_and_one_installed_by_hand_is_not(
    major: HelmMajor,
    test: &str,
) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let var = converged(&env).await;
    // Installed by hand, beside kindform's releases.
    env.helm(&[
        "install",
        "hand",
        "platform",
        "--repo",
        &env.repo,
        "--version",
        "1.0.0",
        "--namespace",
        "by-hand",
        "--create-namespace",
    ]);
    // The web release leaves the spec, and the manifest that needed it.
    env.edit_spec(|spec| spec[..spec.find("[releases.web]").unwrap()].to_owned());

    // Left out of a targeted plan, unless it is the target.
    let (code, text, stderr) = env.kindform(&[
        "plan",
        "--detailed-exitcode",
        "--target",
        "releases.platform",
        "--var",
        &var,
    ]);
    assert_eq!(code, 0, "{text}\n{stderr}");
    let (code, text, stderr) = env.kindform(&[
        "plan",
        "--detailed-exitcode",
        "--target",
        "releases.web",
        "--var",
        &var,
    ]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    assert!(text.contains("  - releases.web  (orphaned)"), "{text}");
    assert!(!text.contains("manifests.extra"), "{text}");
    let (code, _, stderr) = env.kindform(&["plan", "--target", "releases.nothing", "--var", &var]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`releases.nothing` is not a resource of the spec, nor one kindform applied for it that left it"),
        "{stderr}"
    );

    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    env.snapshot(test, "plan", &text);
    assert!(text.contains("  - releases.web  (orphaned)"), "{text}");
    assert!(
        text.contains("- helm uninstall web --namespace apps --ignore-not-found"),
        "{text}"
    );
    assert!(text.contains("  - manifests.extra  (orphaned)"), "{text}");
    assert!(
        !text.contains("hand"),
        "a release installed by hand is not kindform's: {text}"
    );

    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // The manifest's objects went before the release they depended on.
    let order: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("  done "))
        .collect();
    let at = |what: &str| order.iter().position(|l| l.contains(what));
    assert!(at("manifests.extra") < at("releases.web"), "{order:#?}");
    assert!(
        revisions(&env) == 0,
        "the release is gone from Helm's storage"
    );
    assert!(
        env.world
            .get_object(&env.cluster, "apps/v1", "Deployment", "apps", "web")
            .is_none()
    );
    assert_eq!(
        env.world
            .release_history(&env.cluster, "by-hand", "hand")
            .len(),
        1
    );
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(
        code, 0,
        "after the apply, a plan still finds changes:\n{text}\n{stderr}"
    );
}

/// A release whose chart defines a CRD, a manifest of an object of that
/// kind, and the web chart rendering an object of that kind and name too:
/// none of it is served when the plan is made.
fn widgets(env: &Env) {
    write(
        env.dir.join("widgets/Chart.yaml"),
        "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
    );
    write(
        env.dir.join("widgets/templates/crd.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
    );
    write(
        env.dir.join("chart/templates/widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: shared\nspec:\n  size: 2\n",
    );
    env.edit_spec(|spec| {
        format!(
            "{spec}{FULL}\n[releases.widgets]\nchart = \"widgets\"\nnamespace = \"apps\"\ncreate_namespace = true\n\n[manifests.shared-widget]\ninline = \"\"\"\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: shared\nspec:\n  size: 1\n\"\"\"\nnamespace = \"apps\"\ndepends_on = [\"releases.widgets\"]\n"
        )
        .replace(
            "depends_on = [\"images.app\", \"releases.platform\"]",
            "depends_on = [\"images.app\", \"releases.platform\", \"manifests.shared-widget\"]",
        )
    });
}

async fn objects_of_a_kind_defined_earlier_in_the_same_apply_are_planned_and_checked_once_served(
    major: HelmMajor,
    test: &str,
) {
    // The cluster alone first, so the rest is planned against a live API.
    let Some(env) = env(test, major, false).await else {
        return;
    };
    let var = converged(&env).await;
    widgets(&env);
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    env.snapshot(test, "plan", &text);
    assert!(
        text.contains("  + manifests.shared-widget  (absent)"),
        "{text}"
    );
    assert!(
        text.contains("look for objects in the chart's way of kinds not served before this apply: Widget (example.com/v1)"),
        "{text}"
    );
    // At apply the CRD exists, and the manifest's Widget is in the chart's way.
    let (code, _, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Widget \"shared\" in namespace \"apps\" would block Helm: they exist without release web's ownership"),
        "{stderr}"
    );
    env.edit_spec(|spec| {
        spec.replace(
            "\"manifests.shared-widget\"]",
            "\"manifests.shared-widget\"]\ntake_ownership = true",
        )
    });
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let widget = env
        .world
        .get_object(&env.cluster, "example.com/v1", "Widget", "apps", "shared")
        .unwrap();
    assert_eq!(
        widget["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "web"
    );
}

async fn a_release_moved_to_another_namespace_leaves_nothing_behind(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let var = converged(&env).await;
    env.edit_spec(|spec| {
        spec.replace(
            "namespace = \"platform-system\"",
            "namespace = \"platform-moved\"",
        )
    });
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    assert!(
        text.contains("namespace platform-system -> platform-moved: installed there, then uninstalled from platform-system"),
        "{text}"
    );
    assert!(
        text.contains("- helm uninstall platform --namespace platform-system --ignore-not-found"),
        "{text}"
    );
    let (code, stdout, stderr) = env.kindform(&["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        env.world
            .release_history(&env.cluster, "platform-system", "platform")
            .is_empty()
    );
    assert_eq!(
        env.world
            .release_history(&env.cluster, "platform-moved", "platform")
            .len(),
        1
    );
    let (code, text, stderr) = env.kindform(&["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(
        code, 0,
        "after the apply, a plan still finds changes:\n{text}\n{stderr}"
    );
}

/// The binary run with Helm keeping its records in ConfigMaps.
fn with_configmaps(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env
        .command(args)
        .env("HELM_DRIVER", "configmap")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn releases_kept_in_configmaps_are_read_from_them_without_helm(major: HelmMajor, test: &str) {
    let Some(env) = env(test, major, true).await else {
        return;
    };
    let endpoint = env.world.http_endpoint("hello").await;
    let port = endpoint.url.rsplit(':').next().unwrap().to_owned();
    let var = format!("host_port={port}");
    let (code, stdout, stderr) = with_configmaps(&env, &["apply", "--auto-approve", "--var", &var]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let records = env
        .world
        .list_objects(&env.cluster, "v1", "ConfigMap", Some("apps"));
    assert!(
        records
            .iter()
            .any(|c| c["metadata"]["name"] == "sh.helm.release.v1.web.v1"),
        "Helm kept its record in a ConfigMap"
    );
    env.world.take_invocations();
    let (code, text, stderr) =
        with_configmaps(&env, &["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 0, "{text}\n{stderr}");
    assert_eq!(env.world.take_invocations(), Vec::<String>::new());
    env.world
        .kubectl(
            &env.cluster,
            &["scale", "deployment/web", "-n", "apps", "--replicas=2"],
        )
        .unwrap();
    let (code, text, stderr) =
        with_configmaps(&env, &["plan", "--detailed-exitcode", "--var", &var]);
    assert_eq!(code, 2, "{text}\n{stderr}");
    assert!(
        text.contains("deployment/web spec.replicas: 1 -> 2 (kubectl)"),
        "{text}"
    );
}

with_both_helm_majors!(
    a_release_moved_to_another_namespace_leaves_nothing_behind,
    releases_kept_in_configmaps_are_read_from_them_without_helm,
    objects_of_a_kind_defined_earlier_in_the_same_apply_are_planned_and_checked_once_served,
    hand_edits_and_deletions_of_a_charts_objects_are_planned_and_reverted,
    another_managers_fields_and_ignored_paths_are_not_drift,
    a_release_dropped_from_the_spec_is_uninstalled_and_one_installed_by_hand_is_not,
);
