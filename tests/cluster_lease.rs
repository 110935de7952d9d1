//! The cluster's lease against the stand-in API server (no Docker needed):
//! a holder refuses others, a lease taken after a plan read it refuses that
//! plan (compare-and-swap on its resourceVersion), a lease that stopped
//! being renewed is taken over, and so is one left by the same place.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kindform_kube::lease::{self, Claimant, ClusterLease, LeaseError};
use kindform_world::apiserver::{ApiServer, Store};
use kindform_world::pki::Pki;
use serde_json::json;

struct Api {
    server: Arc<ApiServer>,
    client: kube::Client,
    _dir: std::path::PathBuf,
}

async fn api(test: &str) -> Api {
    let store = Arc::new(Store::new());
    let ns = store.resource("", "namespaces").unwrap();
    store
        .create(&ns, "", json!({"metadata": {"name": "kube-system"}}))
        .unwrap();
    let pki = Pki::generate().unwrap();
    let server = ApiServer::start(store, pki.clone(), "v1.34.0")
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("kindform-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        kindform_world::kubeconfig::render("lease", &server.url(), &pki),
    )
    .unwrap();
    let client = kindform_kube::connect(&path, "kind-lease", Duration::from_secs(5))
        .await
        .unwrap();
    Api {
        server,
        client,
        _dir: dir,
    }
}

fn claimant(name: &str, place: &str) -> Claimant {
    Claimant {
        identity: format!("host/{name}"),
        place: place.to_owned(),
        details: format!("kindform apply of {name}"),
    }
}

#[tokio::test]
async fn a_held_lease_refuses_others_and_is_let_go_at_the_end() {
    let api = api("lease-held").await;
    let seen = lease::read(&api.client).await.unwrap();
    assert_eq!(seen.resource_version, None);
    let (a, taken_over) = ClusterLease::claim(&api.client, &seen, &claimant("a", "host:/a"))
        .await
        .unwrap();
    assert!(taken_over.is_none());
    let seen = lease::read(&api.client).await.unwrap();
    assert_eq!(seen.holder.as_ref().unwrap().details, "kindform apply of a");
    let err = ClusterLease::claim(&api.client, &seen, &claimant("b", "host:/b"))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("the cluster is being changed by kindform apply of a; wait for it"),
        "{err}"
    );
    a.release().await;
    let seen = lease::read(&api.client).await.unwrap();
    assert_eq!(seen.holder, None);
    let (b, _) = ClusterLease::claim(&api.client, &seen, &claimant("b", "host:/b"))
        .await
        .unwrap();
    b.release().await;
    api.server.stop().await;
}

#[tokio::test]
async fn a_lease_taken_after_the_plan_read_it_refuses_that_plan() {
    let api = api("lease-swap").await;
    let (a, _) = ClusterLease::claim(
        &api.client,
        &lease::read(&api.client).await.unwrap(),
        &claimant("a", "host:/a"),
    )
    .await
    .unwrap();
    a.release().await;
    // Two plans read the lease free; one run takes it and lets it go; the
    // other plan was made while that run changed the cluster.
    let seen_by_b = lease::read(&api.client).await.unwrap();
    let seen_by_c = lease::read(&api.client).await.unwrap();
    let (c, _) = ClusterLease::claim(&api.client, &seen_by_c, &claimant("c", "host:/c"))
        .await
        .unwrap();
    c.release().await;
    let err = ClusterLease::claim(&api.client, &seen_by_b, &claimant("b", "host:/b"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LeaseError::ChangedHands), "{err}");
    // Where there was no lease, two that both saw none: one wins.
    let api = api_fresh(api).await;
    let none = lease::read(&api.client).await.unwrap();
    let (first, _) = ClusterLease::claim(&api.client, &none, &claimant("d", "host:/d"))
        .await
        .unwrap();
    let err = ClusterLease::claim(&api.client, &none, &claimant("e", "host:/e"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, LeaseError::ChangedHands), "{err}");
    first.release().await;
    api.server.stop().await;
}

async fn api_fresh(old: Api) -> Api {
    old.server.stop().await;
    api("lease-swap-fresh").await
}

/// Backdates the lease's last renewal by `seconds`.
async fn backdate(client: &kube::Client, seconds: i64) {
    let api: kube::Api<Lease> = kube::Api::namespaced(client.clone(), "kube-system");
    let mut lease = api.get("kindform").await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    let renewed = spec.renew_time.as_ref().unwrap().0;
    spec.renew_time = Some(MicroTime(
        renewed
            .checked_sub(jiff::SignedDuration::from_secs(seconds))
            .unwrap(),
    ));
    api.replace("kindform", &Default::default(), &lease)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lease_no_longer_renewed_is_taken_over_and_so_is_one_from_the_same_place() {
    let api = api("lease-takeover").await;
    let seen = lease::read(&api.client).await.unwrap();
    let (killed, _) = ClusterLease::claim(&api.client, &seen, &claimant("a", "host:/a"))
        .await
        .unwrap();
    // Killed: no release, no more renewals.
    drop(killed);
    backdate(&api.client, 10).await;
    let seen = lease::read(&api.client).await.unwrap();
    assert!(
        ClusterLease::claim(&api.client, &seen, &claimant("b", "host:/b"))
            .await
            .is_err(),
        "still within its 30s"
    );
    backdate(&api.client, 25).await;
    let seen = lease::read(&api.client).await.unwrap();
    let (b, taken_over) = ClusterLease::claim(&api.client, &seen, &claimant("b", "host:/b"))
        .await
        .unwrap();
    assert_eq!(taken_over.unwrap().details, "kindform apply of a");
    drop(b);
    // The same place (its own lock held by the taker): at once.
    let seen = lease::read(&api.client).await.unwrap();
    let (again, taken_over) = ClusterLease::claim(&api.client, &seen, &claimant("b2", "host:/b"))
        .await
        .unwrap();
    assert_eq!(taken_over.unwrap().details, "kindform apply of b");
    again.release().await;
    api.server.stop().await;
}
