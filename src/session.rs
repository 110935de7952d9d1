//! A session: what every command's engine works with. Docker connected, the
//! tools kindform drives found on PATH and `helm`'s version read before
//! anything runs, the environment's state folder, and the cancellation token
//! handed to providers.

use std::path::PathBuf;

use bollard::Docker;
use kindform_api::{Cancel, Spec};
use kindform_helm::HelmVersion;
use kindform_kind::ClusterProvider;

/// What observation and apply need.
pub struct Session {
    /// The Docker engine.
    pub docker: Docker,
    /// The environment's name.
    pub environment: String,
    /// The spec's folder, where relative paths start.
    pub base_dir: PathBuf,
    /// `.kindform/<environment>/` beside the spec.
    pub state_dir: PathBuf,
    /// How many resources are observed at once.
    pub parallelism: usize,
    /// The version of the `helm` on PATH, read when the spec has releases.
    pub helm: Option<HelmVersion>,
    /// Asked on Ctrl-C: providers wind down what runs long.
    pub cancel: Cancel,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Docker is not reachable.
    #[error(
        "Docker is not reachable ({host}): start the Docker engine, or point DOCKER_HOST at one"
    )]
    Docker {
        /// Where it was looked for.
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// A tool kindform drives is not on PATH.
    #[error("`{tool}` is not on PATH: {how}")]
    MissingTool {
        tool: &'static str,
        /// How to get it.
        how: &'static str,
    },
    /// The `helm` on PATH cannot be driven.
    #[error(transparent)]
    Helm(kindform_helm::HelmError),
}

/// Connects to Docker (negotiating the API version) and checks that `kind`
/// (and `helm`, when the spec has releases) are on PATH, before anything runs.
pub async fn open(
    spec: &Spec,
    state_dir: PathBuf,
    parallelism: usize,
) -> Result<Session, SessionError> {
    let docker = connect_docker().await?;
    if on_path("kind").is_none() {
        return Err(SessionError::MissingTool {
            tool: "kind",
            how: "install kind from https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
        });
    }
    let helm = if spec.releases.is_empty() {
        None
    } else if on_path("helm").is_none() {
        return Err(SessionError::MissingTool {
            tool: "helm",
            how: INSTALL_HELM,
        });
    } else {
        Some(HelmVersion::detect().await.map_err(SessionError::Helm)?)
    };
    Ok(Session {
        docker,
        environment: spec.name.clone(),
        base_dir: spec.base_dir.clone(),
        state_dir,
        parallelism: parallelism.max(1),
        helm,
        cancel: Cancel::new(),
    })
}

/// How to get helm.
pub const INSTALL_HELM: &str =
    "install Helm 3.14 or later, or Helm 4, from https://helm.sh/docs/intro/install/";

/// Docker, as `DOCKER_HOST` (or the default socket) names it: answering,
/// its API version negotiated.
pub async fn connect_docker() -> Result<Docker, SessionError> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
    let connected = async {
        let docker = Docker::connect_with_defaults()?;
        docker.ping().await?;
        docker.negotiate_version().await
    };
    connected
        .await
        .map_err(|source| SessionError::Docker { host, source })
}

/// The first `tool` on PATH.
pub fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

impl Session {
    /// The cluster's kubeconfig, kept in the state folder.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }
}

/// The cluster provider of a session.
pub fn cluster_provider(session: &Session) -> ClusterProvider {
    ClusterProvider::new(
        session.docker.clone(),
        session.kubeconfig(),
        &session.base_dir,
        &session.environment,
    )
}
