//! The cluster's lease: the `coordination.k8s.io` Lease `kindform` in
//! `kube-system`, held by the kindform run that changes the cluster and
//! renewed while it does, so that two copies of a spec (two state folders,
//! each with its own lock) never change one cluster at once.
//!
//! A lease is taken against what observation read, by compare-and-swap on
//! its resourceVersion: when another run took it after the plan was made,
//! taking it fails, so a plan made while someone else was changing the
//! cluster is never carried out. A holder that stopped renewing (it was
//! killed) is taken over once its lease ran out; one that ran from the same
//! place (host and state folder) is taken over at once, since that place's
//! own lock, now held by the taker, says it ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};

/// The lease's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The lease's name.
pub const NAME: &str = "kindform";
/// How long a lease lasts without renewal.
pub const DURATION: Duration = Duration::from_secs(30);
/// How often a held lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

const PLACE: &str = "kindform.dev/place";
const DETAILS: &str = "kindform.dev/holder";

/// Who asks for the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant {
    /// Its holder identity, unique to the process.
    pub identity: String,
    /// Where it runs from: its host and state folder.
    pub place: String,
    /// How it is named in messages.
    pub details: String,
}

/// The lease as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeaseSeen {
    /// Its resourceVersion; `None` when there is no lease.
    pub resource_version: Option<String>,
    /// Who holds it, when anybody does.
    pub holder: Option<LeaseHolder>,
    /// How many times it changed hands.
    pub transitions: i32,
}

/// The holder a lease names.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseHolder {
    /// Its holder identity.
    pub identity: String,
    /// Where it ran from.
    pub place: String,
    /// How it is named in messages.
    pub details: String,
    /// When it last renewed.
    pub renewed: Option<jiff::Timestamp>,
    /// How long each renewal lasts.
    pub duration: Duration,
}

impl LeaseHolder {
    /// Whether its lease still runs at `now`.
    pub fn current(&self, now: jiff::Timestamp) -> bool {
        let Some(renewed) = self.renewed else {
            return false;
        };
        let Ok(ends) =
            renewed.checked_add(jiff::SignedDuration::try_from(self.duration).unwrap_or_default())
        else {
            return false;
        };
        now < ends
    }
}

/// Why the lease could not be read or taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another run holds it.
    #[error(
        "the cluster is being changed by {}; wait for it to finish (its lease {NAMESPACE}/{NAME} lasts {}s past its last renewal)",
        holder.details, holder.duration.as_secs()
    )]
    Held {
        /// Who holds it.
        holder: Box<LeaseHolder>,
    },
    /// Another run took it after it was read.
    #[error(
        "another kindform run took the cluster's lease {NAMESPACE}/{NAME} after this plan was made; make the plan again"
    )]
    ChangedHands,
    /// The API refused.
    #[error("cannot {what} the cluster's lease {NAMESPACE}/{NAME}")]
    Api {
        /// What was being done.
        what: &'static str,
        #[source]
        source: kube::Error,
    },
}

fn api(client: &kube::Client) -> Api<Lease> {
    Api::namespaced(client.clone(), NAMESPACE)
}

fn seen(lease: Option<Lease>) -> LeaseSeen {
    let Some(lease) = lease else {
        return LeaseSeen::default();
    };
    let annotations = lease.metadata.annotations.unwrap_or_default();
    let spec = lease.spec.unwrap_or_default();
    let holder = spec
        .holder_identity
        .filter(|i| !i.is_empty())
        .map(|identity| LeaseHolder {
            details: annotations
                .get(DETAILS)
                .cloned()
                .unwrap_or_else(|| identity.clone()),
            place: annotations.get(PLACE).cloned().unwrap_or_default(),
            identity,
            renewed: spec.renew_time.map(|t| t.0),
            duration: Duration::from_secs(
                spec.lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(DURATION.as_secs()),
            ),
        });
    LeaseSeen {
        resource_version: lease.metadata.resource_version,
        holder,
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

/// Reads the cluster's lease.
pub async fn read(client: &kube::Client) -> Result<LeaseSeen, LeaseError> {
    api(client)
        .get_opt(NAME)
        .await
        .map(seen)
        .map_err(|source| LeaseError::Api {
            what: "read",
            source,
        })
}

/// A lease held, renewed in the background until released or dropped.
pub struct ClusterLease {
    client: kube::Client,
    identity: String,
    /// The last resourceVersion this holder wrote.
    version: Arc<Mutex<Option<String>>>,
    renewing: tokio::task::JoinHandle<()>,
}

fn held_by(claimant: &Claimant, transitions: i32, acquired: &MicroTime) -> Lease {
    let mut lease = Lease::default();
    lease.metadata.name = Some(NAME.to_owned());
    lease.metadata.namespace = Some(NAMESPACE.to_owned());
    lease.metadata.annotations = Some(
        [
            (PLACE.to_owned(), claimant.place.clone()),
            (DETAILS.to_owned(), claimant.details.clone()),
        ]
        .into_iter()
        .collect(),
    );
    lease.metadata.labels = Some(
        [(
            "app.kubernetes.io/managed-by".to_owned(),
            "kindform".to_owned(),
        )]
        .into_iter()
        .collect(),
    );
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(claimant.identity.clone()),
        lease_duration_seconds: i32::try_from(DURATION.as_secs()).ok(),
        acquire_time: Some(acquired.clone()),
        renew_time: Some(acquired.clone()),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    });
    lease
}

impl ClusterLease {
    /// Takes the lease for `claimant`, provided it is still as `seen`
    /// says. The holder whose lease ran out, when one was taken over, comes
    /// second.
    pub async fn claim(
        client: &kube::Client,
        seen: &LeaseSeen,
        claimant: &Claimant,
    ) -> Result<(ClusterLease, Option<LeaseHolder>), LeaseError> {
        let now = jiff::Timestamp::now();
        let mut taken_over = None;
        if let Some(holder) = &seen.holder {
            let same_place = holder.place == claimant.place && !holder.place.is_empty();
            if holder.current(now) && !same_place && holder.identity != claimant.identity {
                return Err(LeaseError::Held {
                    holder: Box::new(holder.clone()),
                });
            }
            taken_over = Some(holder.clone());
        }
        let api = api(client);
        let acquired = MicroTime(now);
        let written = match &seen.resource_version {
            None => api
                .create(&PostParams::default(), &held_by(claimant, 0, &acquired))
                .await
                .map_err(|e| conflict_or(e, "take")),
            Some(version) => {
                let transitions = seen.transitions.saturating_add(1);
                let mut lease = held_by(claimant, transitions, &acquired);
                // The swap: refused unless nobody wrote the lease since it was seen.
                lease.metadata.resource_version = Some(version.clone());
                api.replace(NAME, &PostParams::default(), &lease)
                    .await
                    .map_err(|e| match e {
                        // Deleted since it was read: changed all the same.
                        kube::Error::Api(e) if e.code == 404 => LeaseError::ChangedHands,
                        e => conflict_or(e, "take"),
                    })
            }
        }?;
        let version = Arc::new(Mutex::new(written.metadata.resource_version));
        let renewing = tokio::spawn(renew(
            client.clone(),
            claimant.identity.clone(),
            Arc::clone(&version),
        ));
        Ok((
            ClusterLease {
                client: client.clone(),
                identity: claimant.identity.clone(),
                version,
                renewing,
            },
            taken_over,
        ))
    }

    /// Lets the lease go, when it is still this holder's.
    pub async fn release(self) {
        self.renewing.abort();
        let version = self.version.lock().unwrap().clone();
        let api = api(&self.client);
        let Ok(Some(mut lease)) = api.get_opt(NAME).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Some(annotations) = &mut lease.metadata.annotations {
            annotations.remove(PLACE);
            annotations.remove(DETAILS);
        }
        if version.is_some() {
            lease.metadata.resource_version = version;
        }
        if let Err(e) = api.replace(NAME, &PostParams::default(), &lease).await {
            tracing::debug!("the cluster's lease was not released: {e}");
        }
    }
}

impl Drop for ClusterLease {
    fn drop(&mut self) {
        self.renewing.abort();
    }
}

fn conflict_or(error: kube::Error, what: &'static str) -> LeaseError {
    match error {
        kube::Error::Api(e) if e.code == 409 => LeaseError::ChangedHands,
        source => LeaseError::Api { what, source },
    }
}

/// Renews the lease every [`RENEW_EVERY`] while it is this holder's.
async fn renew(client: kube::Client, identity: String, version: Arc<Mutex<Option<String>>>) {
    let api = api(&client);
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let mut lease = match api.get_opt(NAME).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                tracing::warn!("the cluster's lease {NAMESPACE}/{NAME} is gone");
                return;
            }
            Err(e) => {
                tracing::debug!("the cluster's lease could not be read for renewal: {e}");
                continue;
            }
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(identity.as_str()) {
            tracing::warn!("the cluster's lease {NAMESPACE}/{NAME} was taken by another run");
            return;
        }
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        match api.replace(NAME, &PostParams::default(), &lease).await {
            Ok(written) => *version.lock().unwrap() = written.metadata.resource_version,
            Err(e) => tracing::debug!("the cluster's lease was not renewed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_current_until_its_duration_past_renewal() {
        let renewed: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let holder = LeaseHolder {
            identity: "a".to_owned(),
            place: "p".to_owned(),
            details: "d".to_owned(),
            renewed: Some(renewed),
            duration: Duration::from_secs(30),
        };
        let at = |s: i64| {
            renewed
                .checked_add(jiff::SignedDuration::from_secs(s))
                .unwrap()
        };
        assert!(holder.current(at(29)));
        assert!(!holder.current(at(30)));
        assert!(
            !LeaseHolder {
                renewed: None,
                ..holder
            }
            .current(at(0))
        );
    }
}
