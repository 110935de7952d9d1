//! Observation: reads the live state of every resource through its provider
//! and collects the diffs the planner needs. The cluster comes first; when
//! it is to be created or replaced, nothing in it is observed (there is
//! nothing to see) and each resource's plan to create stands in. Resources
//! are observed concurrently, at most `parallelism` at a time.

use std::path::PathBuf;

use bollard::Docker;
use futures::StreamExt as _;
use kindform_api::provider::{Diff, Provider};
use kindform_api::{Address, Spec};
use kindform_check::CheckProvider;
use kindform_helm::ReleaseProvider;
use kindform_image::ImageProvider;
use kindform_kind::ClusterProvider;
use kindform_kube::manifest::ManifestProvider;

use crate::graph::Graph;
use crate::plan::{Observed, PlanOptions, cascades};

/// What observation needs: Docker, the environment's state folder.
pub struct Session {
    /// The Docker engine.
    pub docker: Docker,
    /// `.kindform/<environment>/` beside the spec.
    pub state_dir: PathBuf,
    /// How many resources are observed at once.
    pub parallelism: usize,
}

/// Why observation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Docker is not reachable.
    #[error(
        "Docker is not reachable ({host}): start the Docker engine, or point DOCKER_HOST at one"
    )]
    Docker {
        /// Where it was looked for.
        host: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// A tool kindform drives is not on PATH.
    #[error("`{tool}` is not on PATH: {how}")]
    MissingTool {
        /// The tool.
        tool: &'static str,
        /// How to get it.
        how: &'static str,
    },
    /// The cluster could not be observed.
    #[error("cannot observe the cluster")]
    Cluster(#[source] kindform_kind::ClusterError),
    /// A resource could not be observed.
    #[error("cannot observe {address}")]
    Resource {
        /// Which.
        address: Address,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Connects to Docker (negotiating the API version) and checks that `kind`
/// (and `helm`, when the spec has releases) are on PATH, before anything runs.
pub async fn session(
    spec: &Spec,
    state_dir: PathBuf,
    parallelism: usize,
) -> Result<Session, Error> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
    let connected = async {
        let docker = Docker::connect_with_defaults()?;
        docker.ping().await?;
        docker.negotiate_version().await
    };
    let docker = connected
        .await
        .map_err(|source| Error::Docker { host, source })?;
    if !on_path("kind") {
        return Err(Error::MissingTool {
            tool: "kind",
            how: "install kind from https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
        });
    }
    if !spec.releases.is_empty() && !on_path("helm") {
        return Err(Error::MissingTool {
            tool: "helm",
            how: "install Helm 3.14 or later from https://helm.sh/docs/intro/install/",
        });
    }
    Ok(Session {
        docker,
        state_dir,
        parallelism: parallelism.max(1),
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Observes what the plan needs.
pub async fn observe(
    spec: &Spec,
    graph: &Graph,
    session: &Session,
    options: &PlanOptions,
) -> Result<Observed, Error> {
    let mut observed = Observed::default();
    let cluster =
        ClusterProvider::new(session.docker.clone(), session.state_dir.join("kubeconfig"));
    let live = cluster
        .observe(&spec.cluster)
        .await
        .map_err(Error::Cluster)?;
    let cluster_diff = cluster.diff(&spec.cluster, &live);
    let cascade = cascades(&cluster_diff, options.replace.contains(&Address::Cluster));
    observed.diffs.insert(Address::Cluster, cluster_diff);
    let images = ImageProvider::new(spec.cluster.node_names());
    let inside: Vec<&Address> = graph
        .topological()
        .into_iter()
        .filter(|a| a.is_in_cluster())
        .collect();
    if cascade {
        for address in inside {
            observed
                .diffs
                .insert(address.clone(), plan_create(spec, address, &images));
        }
        return Ok(observed);
    }
    let images = &images;
    let results: Vec<(Address, Result<Diff, Error>)> = futures::stream::iter(inside)
        .map(|address| async move { (address.clone(), observe_one(spec, address, images).await) })
        .buffer_unordered(session.parallelism)
        .collect()
        .await;
    for (address, result) in results {
        observed.diffs.insert(address, result?);
    }
    Ok(observed)
}

fn plan_create(spec: &Spec, address: &Address, images: &ImageProvider) -> Diff {
    match address {
        Address::Cluster => Diff::default(),
        Address::Image(n) => images.plan_create(&spec.images[n]),
        Address::Release(n) => ReleaseProvider::new(n).plan_create(&spec.releases[n]),
        Address::Manifest(n) => ManifestProvider.plan_create(&spec.manifests[n]),
        Address::Check(n) => CheckProvider.plan_create(&spec.checks[n]),
    }
}

async fn observe_one(
    spec: &Spec,
    address: &Address,
    images: &ImageProvider,
) -> Result<Diff, Error> {
    match address {
        Address::Cluster => Ok(Diff::default()),
        Address::Image(n) => observe_with(images, &spec.images[n], address).await,
        Address::Release(n) => {
            observe_with(&ReleaseProvider::new(n), &spec.releases[n], address).await
        }
        Address::Manifest(n) => observe_with(&ManifestProvider, &spec.manifests[n], address).await,
        Address::Check(n) => observe_with(&CheckProvider, &spec.checks[n], address).await,
    }
}

/// Observes one resource through its provider and diffs it.
async fn observe_with<P: Provider>(
    provider: &P,
    desired: &P::Desired,
    address: &Address,
) -> Result<Diff, Error> {
    match provider.observe(desired).await {
        Ok(live) => Ok(provider.diff(desired, &live)),
        Err(e) => Err(Error::Resource {
            address: address.clone(),
            source: Box::new(e),
        }),
    }
}
