//! The reddog-like environment of `environments/reddog-local.toml` in the
//! test world: the fixture tree copied (the cluster named for the world, the
//! ingress URLs of its checks pointed at a world endpoint standing in for
//! the ingress), Dapr's chart served at its real repository URL, and ways to
//! build it: by hand with the stand-ins, as apply would, for tests of plan
//! alone; or its images prebuilt, as a developer's machine has them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kindform::spec::{LoadOptions, load};
use kindform_api::{ReleaseSpec, Scalar, SetValue, Spec};
use kindform_kube::{ObjectRef, RecordEntry};
use kindform_world::World;
use kindform_world::http_endpoint::HttpEndpoint;
use kindform_world::real_tools::HelmMajor;
use serde_json::{Value, json};

pub const SA_PASSWORD: &str = "Reddog-Local-Pa55!";
pub const DAPR_REPO: &str = "https://dapr.github.io/helm-charts/";

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub struct Reddog {
    pub world: World,
    pub dir: PathBuf,
    pub cluster: String,
    /// The world's chart repository standing in for Dapr's.
    pub dapr_repo: String,
}

impl Reddog {
    pub fn run(&self, program: &str, args: &[&str]) -> (i32, String, String) {
        let out = self
            .world
            .command(program)
            .current_dir(&self.dir)
            .env("SA_PASSWORD", SA_PASSWORD)
            .env("KINDFORM_VAR_tag", self.world.id())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn tool(&self, program: &str, args: &[&str]) {
        let (code, _, stderr) = self.run(program, args);
        assert_eq!(code, 0, "{program} {args:?}: {stderr}");
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join(".kindform/reddog-local")
    }

    pub fn helm(&self, args: &[&str]) {
        let kubeconfig = self.state().join("kubeconfig");
        let context = format!("kind-{}", self.cluster);
        let mut all = args.to_vec();
        all.extend([
            "--kube-context",
            &context,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ]);
        self.tool("helm", &all);
    }

    /// The release with its secrets given as literals, as kindform resolves
    /// them from the environment.
    pub fn release(&self, spec: &Spec, name: &str) -> kindform_helm::DesiredRelease {
        let mut release: ReleaseSpec = spec.releases[name].clone();
        for value in release.set.values_mut() {
            if let SetValue::Env { .. } = value {
                *value = SetValue::Literal(Scalar::String(SA_PASSWORD.to_owned()));
            }
        }
        kindform_helm::resolve(name, &release, &self.dir, &any_helm()).unwrap()
    }

    /// `helm upgrade --install` as kindform runs it: the values files, then
    /// the set values through a private file.
    pub fn install_local_release(&self, spec: &Spec, name: &str) -> (String, Value) {
        let desired = self.release(spec, name);
        let set_file = self.state().join(format!("values/{name}.yaml"));
        std::fs::create_dir_all(set_file.parent().unwrap()).unwrap();
        std::fs::write(&set_file, desired.set_values_yaml()).unwrap();
        let chart = spec.releases[name].chart.clone();
        let namespace = spec.releases[name].namespace.clone();
        let mut args = vec![
            "upgrade",
            "--install",
            name,
            &chart,
            "--namespace",
            &namespace,
        ];
        args.extend(["--create-namespace", "-f", "values/values-local.yaml"]);
        args.extend([
            "-f",
            set_file.to_str().unwrap(),
            "--wait",
            "--timeout",
            "10m",
        ]);
        self.helm(&args);
        std::fs::remove_file(&set_file).unwrap();
        let entry = kindform_helm::record_entry(&desired).unwrap();
        (
            format!("releases.{name}"),
            serde_json::to_value(entry).unwrap(),
        )
    }

    /// `kind create cluster` with the spec's effective config (written
    /// outside the project, where it would change the images' build
    /// contexts), the kubeconfig in the state folder.
    pub fn create_cluster(&self, spec: &Spec) {
        let config = self.world.dir().join("kind-config.effective.yaml");
        std::fs::write(
            &config,
            serde_yaml_ng::to_string(&spec.cluster.effective_config()).unwrap(),
        )
        .unwrap();
        std::fs::create_dir_all(self.state()).unwrap();
        let kubeconfig = self.state().join("kubeconfig");
        self.tool(
            "kind",
            &[
                "create",
                "cluster",
                "--name",
                &self.cluster,
                "--config",
                config.to_str().unwrap(),
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
            ],
        );
    }

    /// `helm upgrade --install dapr` from its repository, waiting.
    pub fn install_dapr(&self) {
        self.helm(&[
            "upgrade",
            "--install",
            "dapr",
            "dapr",
            "--repo",
            &self.dapr_repo,
            "--version",
            "1.16.2",
            "--namespace",
            "dapr-system",
            "--create-namespace",
            "--wait",
            "--timeout",
            "5m",
        ]);
    }

    /// ingress-nginx's objects, with kindform's labels, made as `kubectl
    /// apply` would; the applied record's entry for them.
    pub fn apply_ingress(&self, spec: &Spec) -> RecordEntry {
        let ingress = kindform_manifest::resolve(
            "ingress-nginx",
            &spec.manifests["ingress-nginx"],
            &spec.name,
            &self.dir,
            None,
        )
        .unwrap();
        let mut applied = Vec::new();
        for object in &ingress.objects {
            applied.push(ObjectRef::of(object).unwrap());
            self.world
                .create_object(&self.cluster, object.clone())
                .unwrap();
        }
        kindform_manifest::record_entry(&ingress, &applied)
    }

    /// Makes the cluster alone, as apply would, with its record: an empty
    /// cluster for everything else to be planned into.
    pub fn empty_cluster(&self, spec: &Spec) {
        self.create_cluster(spec);
        let settings = kindform_kind::settings(&spec.cluster);
        let entry = json!({"fingerprint": kindform_api::settings::fingerprint(&settings), "settings": settings});
        self.world
            .create_object(
                &self.cluster,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": kindform_kube::record::name(&spec.name), "namespace": "kube-system"}, "data": {"cluster": entry.to_string()}}),
            )
            .unwrap();
    }

    /// Builds the environment the way apply will: cluster, images built
    /// and loaded, Dapr from its repository, ingress-nginx applied with
    /// kindform's labels, both local charts, and the applied record.
    pub async fn converge(&self, spec: &Spec) {
        let mut record: BTreeMap<String, Value> = BTreeMap::new();
        self.create_cluster(spec);
        let settings = kindform_kind::settings(&spec.cluster);
        record.insert(
            "cluster".into(),
            json!({"fingerprint": kindform_api::settings::fingerprint(&settings), "settings": settings}),
        );

        self.prebuild_images(spec).await;
        let refs: Vec<String> = spec.images.values().map(|i| i.reference.clone()).collect();
        let mut load = vec!["load", "docker-image"];
        load.extend(refs.iter().map(String::as_str));
        load.extend(["--name", &self.cluster]);
        self.tool("kind", &load);

        self.install_dapr();
        let entry = self.apply_ingress(spec);
        record.insert(
            "manifests.ingress-nginx".into(),
            serde_json::to_value(entry).unwrap(),
        );

        for name in ["reddog-infra", "reddog"] {
            let (key, entry) = self.install_local_release(spec, name);
            record.insert(key, entry);
        }
        // What apply records of every release it installs.
        for name in ["dapr", "reddog-infra", "reddog"] {
            let desired = self.release(spec, name);
            record.insert(
                kindform_helm::installed_key(name),
                serde_json::to_value(kindform_helm::installed_entry(&desired)).unwrap(),
            );
        }
        let data: serde_json::Map<String, Value> = record
            .into_iter()
            .map(|(k, v)| (k, Value::String(v.to_string())))
            .collect();
        self.world
            .create_object(
                &self.cluster,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": kindform_kube::record::name(&spec.name), "namespace": "kube-system"}, "data": data}),
            )
            .unwrap();
    }
}

/// A world with the reddog fixture copied in; with `ingress`, the HTTP
/// checks' URLs point at an endpoint of the world standing in for the
/// ingress, which is returned.
pub async fn reddog(
    test: &str,
    major: HelmMajor,
    ingress: bool,
) -> Option<(Reddog, Spec, Option<HttpEndpoint>)> {
    let world = World::with_helm(test, major).await?;
    let endpoint = match ingress {
        true => Some(world.http_endpoint("ok").await),
        false => None,
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = world.dir().join("reddog-code");
    copy_tree(&repo.join("tests/fixtures/reddog"), &dir);
    let cluster = world.cluster_name("reddog");
    let spec_path = dir.join("reddog-local.toml");
    let mut text = std::fs::read_to_string(&spec_path).unwrap().replace(
        "[cluster]\nname = \"reddog-local\"",
        &format!("[cluster]\nname = \"{cluster}\""),
    );
    if let Some(endpoint) = &endpoint {
        text = text.replace("http://localhost/", &format!("{}/", endpoint.url));
    }
    // Dapr's repository is the world's, made from the fixture chart.
    let dapr_repo = world
        .serve_chart_repo(&repo.join("tests/fixtures/charts"))
        .await;
    text = text.replace(DAPR_REPO, &dapr_repo);
    std::fs::write(&spec_path, text).unwrap();
    let mut options = LoadOptions::default();
    options
        .overrides
        .insert("tag".into(), world.id().to_owned());
    let spec = load(&spec_path, "reddog-local.toml", &options)
        .unwrap()
        .spec;
    Some((
        Reddog {
            world,
            dir,
            cluster,
            dapr_repo,
        },
        spec,
        endpoint,
    ))
}

impl Reddog {
    /// Builds each image as the developer's machine has it: labelled with
    /// its context hash, so kindform sees it built from today's context.
    pub async fn prebuild_images(&self, spec: &Spec) {
        for (name, image) in &spec.images {
            let hash =
                kindform_image::context_hash(image.build.as_ref().unwrap(), &self.dir).unwrap();
            self.world
                .build_image_labelled(
                    &image.reference,
                    name,
                    1024,
                    &[(kindform_image::CONTEXT_LABEL, &hash)],
                )
                .await
                .unwrap();
        }
    }
}

/// A Helm version for resolving a release in a test's own set-up (the
/// version changes only how the plan shows commands).
fn any_helm() -> kindform_helm::HelmVersion {
    kindform_helm::HelmVersion::parse("v3.17.2").expect("a version")
}
