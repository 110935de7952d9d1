//! What every in-cluster provider shares, read once per run: the API client,
//! kindform's applied record, objects of any kind, and, when the spec needs
//! them, Helm's release records, each node's images and the workloads. Built by
//! observation, and again by apply once the cluster it made answers.

use std::sync::Arc;
use std::time::Duration;

use kindform_api::{Address, Spec};
use kindform_check::CheckProvider;
use kindform_helm::{
    Driver, Helm, HelmVersion, ReleaseProvider, ReleaseSource, Storage, Surroundings,
};
use kindform_image::ImageProvider;
use kindform_kube::{AppliedRecord, LeaseSeen, Objects};
use kindform_manifest::ManifestProvider;

use crate::session::Session;

/// The providers of the resources in a cluster, over what they share.
pub struct InCluster {
    /// The API.
    pub client: kube::Client,
    /// kindform's applied record as read.
    pub record: Arc<AppliedRecord>,
    /// The cluster's lease as read, which apply takes against.
    pub lease: LeaseSeen,
    /// Images, when the spec has any.
    pub images: Option<ImageProvider>,
    /// Releases, when the spec has any.
    pub releases: Option<ReleaseProvider>,
    /// Manifests.
    pub manifests: ManifestProvider,
    /// Checks.
    pub checks: CheckProvider,
}

/// Why the shared state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InClusterError {
    /// The API did not answer.
    #[error("cannot reach the cluster's API")]
    Connect(#[source] kindform_kube::ConnectError),
    /// Something every resource shares could not be read.
    #[error("cannot read {what}")]
    Shared {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn shared(
    what: &'static str,
) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> InClusterError {
    move |source| InClusterError::Shared { what, source }
}

/// A client of the spec's cluster, once its API answered within `timeout`.
pub async fn client(
    spec: &Spec,
    session: &Session,
    timeout: Duration,
) -> Result<kube::Client, kindform_kube::ConnectError> {
    let context = format!("kind-{}", spec.cluster.name);
    kindform_kube::connect(&session.kubeconfig(), &context, timeout).await
}

impl InCluster {
    /// Connects and reads what is shared; `images` and `releases` say
    /// whether the resources at hand include any.
    pub async fn connect(
        spec: &Spec,
        session: &Session,
        images: bool,
        releases: bool,
    ) -> Result<InCluster, InClusterError> {
        let kubeconfig = session.kubeconfig();
        let client = client(spec, session, Duration::from_secs(10))
            .await
            .map_err(InClusterError::Connect)?;
        let (record, lease) = tokio::join!(
            AppliedRecord::read(&client, &spec.name),
            kindform_kube::lease::read(&client)
        );
        let record =
            Arc::new(record.map_err(|e| shared("kindform's applied record")(Box::new(e)))?);
        let lease = lease.map_err(|e| shared("the cluster's lease")(Box::new(e)))?;
        // Releases kindform installed are looked at even when the spec has
        // none left: those that left it are uninstalled.
        let releases = releases
            || record
                .entries
                .keys()
                .any(|k| k.starts_with("installed.releases.") || k.starts_with("releases."));
        let objects = Arc::new(Objects::new(client.clone()));
        // Read at the same time: each is a round trip or a process.
        let around = async {
            let workloads = async {
                if images || releases {
                    kindform_kube::workloads(&client)
                        .await
                        .map_err(|e| shared("the cluster's workloads")(Box::new(e)))
                } else {
                    Ok(Vec::new())
                }
            };
            let pods = async {
                if releases {
                    kindform_kube::pods::all(&client)
                        .await
                        .map_err(|e| shared("the cluster's pods")(Box::new(e)))
                } else {
                    Ok(Vec::new())
                }
            };
            let node_refs = async {
                if images {
                    kindform_image::all_node_refs(&session.docker, &spec.cluster.node_names()).await
                } else {
                    Default::default()
                }
            };
            let (workloads, pods, node_refs) = tokio::join!(workloads, pods, node_refs);
            Ok::<_, InClusterError>((Arc::new(workloads?), Arc::new(pods?), Arc::new(node_refs)))
        };
        let listing = async {
            if !releases {
                return Ok(None);
            }
            let version = match session.helm.clone() {
                Some(version) => version,
                // A spec without releases had no helm asked; one is needed
                // for those that left it.
                None => HelmVersion::detect().await.map_err(|e| {
                    shared("the version of helm, to uninstall the releases that left the spec")(
                        Box::new(e),
                    )
                })?,
            };
            let helm = Helm::new(
                &kubeconfig,
                &spec.cluster.name,
                &spec.base_dir,
                version,
                session.cancel.clone(),
            );
            let releases = shared("the cluster's Helm releases");
            // Helm's records, read as Helm would read them; only a driver
            // the API cannot show costs helm processes.
            let source = match Driver::from_env() {
                Driver::Other => {
                    ReleaseSource::Cli(helm.list().await.map_err(|e| releases(Box::new(e)))?)
                }
                driver => ReleaseSource::Storage(
                    Storage::read(&client, driver)
                        .await
                        .map_err(|e| releases(Box::new(e)))?,
                ),
            };
            Ok::<_, InClusterError>(Some((helm, Arc::new(source))))
        };
        let (around, listing) = tokio::join!(around, listing);
        let (workloads, pods, node_refs) = around?;
        let images = images.then(|| {
            ImageProvider::new(
                session.docker.clone(),
                node_refs,
                Arc::clone(&workloads),
                client.clone(),
            )
        });
        let releases = listing?.map(|(helm, source)| {
            ReleaseProvider::new(
                helm,
                source,
                Arc::clone(&record),
                Arc::clone(&objects),
                Surroundings {
                    workloads: Arc::clone(&workloads),
                    pods: Arc::clone(&pods),
                },
            )
        });
        Ok(InCluster {
            images,
            releases,
            manifests: ManifestProvider::new(Arc::clone(&objects), Arc::clone(&record)),
            checks: CheckProvider::new(
                spec.base_dir.clone(),
                kubeconfig.clone(),
                Some(client.clone()),
            ),
            record,
            lease,
            client,
        })
    }

    /// Whether addresses include images and releases, as [`InCluster::connect`] asks.
    pub fn needs<'a>(addresses: impl IntoIterator<Item = &'a Address>) -> (bool, bool) {
        let mut needs = (false, false);
        for address in addresses {
            match address {
                Address::Image(_) => needs.0 = true,
                Address::Release(_) => needs.1 = true,
                _ => {}
            }
        }
        needs
    }
}
