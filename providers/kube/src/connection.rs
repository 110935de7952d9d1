//! Connecting to a cluster's API through a kubeconfig and context, with a
//! short reachability check, as kindform reaches kind clusters.

use std::path::Path;
use std::time::Duration;

/// Why the API could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig could not be read.
    #[error("cannot read kubeconfig {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig has no usable context of that name.
    #[error("kubeconfig {path} has no usable context `{context}`")]
    Context {
        path: String,
        /// The context.
        context: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A client could not be built.
    #[error("cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
    /// The API did not answer.
    #[error("the API at {server} does not answer")]
    Unreachable {
        /// The server URL.
        server: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A client for `context` of the kubeconfig at `path`, once `/version`
/// answered within `timeout`.
pub async fn connect(
    path: &Path,
    context: &str,
    timeout: Duration,
) -> Result<kube::Client, ConnectError> {
    // kube's rustls needs one process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shown = path.display().to_string();
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
            path: shown.clone(),
            source,
        })?;
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ConnectError::Context {
            path: shown,
            context: context.to_owned(),
            source,
        })?;
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(ConnectError::Client)?;
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(ConnectError::Unreachable {
            server,
            source: Box::new(e),
        }),
        Err(e) => Err(ConnectError::Unreachable {
            server,
            source: Box::new(e),
        }),
    }
}
