//! Defaulting: the fields a real API server fills in on every write, for the
//! kinds the real clients read back and dereference (Helm 3's `--wait`
//! dereferences a Deployment's `replicas` and `strategy.rollingUpdate`, a
//! StatefulSet's `updateStrategy`, a DaemonSet's `rollingUpdate`; Helm 3 and
//! kubectl three-way merges see the defaults as live state), and the
//! allocation of a Service's cluster IP. A Secret's `stringData` is
//! written into its `data`, as the v1 conversion does.
//!
//! Only the defaults of the Kubernetes types' `SetDefaults_*` functions for
//! fields these kinds carry are written here; admission plugins (service
//! account tokens, default storage classes, limit ranges) are not modelled.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

static NEXT_IP: AtomicU32 = AtomicU32::new(10);

/// Fills in the defaults of an object of `kind` (group ignored: the kinds
/// named here are unique across the built-in groups).
pub fn apply(kind: &str, object: &mut Value) {
    match kind {
        "Deployment" => {
            let spec = ensure(object, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = ensure(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = ensure(strategy, "rollingUpdate");
                default(rolling, "maxUnavailable", json!("25%"));
                default(rolling, "maxSurge", json!("25%"));
            }
            template(spec);
        }
        "ReplicaSet" => {
            let spec = ensure(object, "spec");
            default(spec, "replicas", json!(1));
            template(spec);
        }
        "StatefulSet" => {
            let spec = ensure(object, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = ensure(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                default(ensure(strategy, "rollingUpdate"), "partition", json!(0));
            }
            let retention = ensure(spec, "persistentVolumeClaimRetentionPolicy");
            default(retention, "whenDeleted", json!("Retain"));
            default(retention, "whenScaled", json!("Retain"));
            template(spec);
        }
        "DaemonSet" => {
            let spec = ensure(object, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = ensure(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = ensure(strategy, "rollingUpdate");
                default(rolling, "maxUnavailable", json!(1));
                default(rolling, "maxSurge", json!(0));
            }
            template(spec);
        }
        "Job" => {
            let spec = ensure(object, "spec");
            default(spec, "parallelism", json!(1));
            default(spec, "completions", json!(1));
            default(spec, "backoffLimit", json!(6));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            template(spec);
        }
        "CronJob" => {
            let spec = ensure(object, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(job) = spec.get_mut("jobTemplate").and_then(|t| t.get_mut("spec")) {
                template(job);
            }
        }
        "Pod" => pod_spec(ensure(object, "spec")),
        "Service" => service(object),
        "Secret" => {
            default(object, "type", json!("Opaque"));
            string_data(object);
        }
        "Namespace" => {
            default(ensure(object, "spec"), "finalizers", json!(["kubernetes"]));
            default(ensure(object, "status"), "phase", json!("Active"));
        }
        "PersistentVolumeClaim" => {
            default(ensure(object, "spec"), "volumeMode", json!("Filesystem"));
        }
        _ => {}
    }
}

/// `stringData` is write-only: the v1 conversion writes each of its keys
/// into `data` (base64, over a key of the same name) and the API never
/// returns it.
fn string_data(secret: &mut Value) {
    use base64::Engine as _;
    let Some(Value::Object(strings)) = secret.as_object_mut().and_then(|s| s.remove("stringData"))
    else {
        return;
    };
    let data = ensure(secret, "data");
    for (key, value) in strings {
        let text = value.as_str().map(str::to_owned).unwrap_or_default();
        data[key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

fn template(spec: &mut Value) {
    if let Some(pod) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod_spec(pod);
    }
}

fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "securityContext", json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(container);
        }
    }
}

fn container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let image = c["image"].as_str().unwrap_or_default();
    let tag = image.rsplit('/').next().unwrap_or(image);
    let latest = !tag.contains(':') && !tag.contains('@') || tag.ends_with(":latest");
    default(
        c,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter(|p| p.is_object()) {
            default(port, "protocol", json!("TCP"));
        }
    }
}

fn service(object: &mut Value) {
    let spec = ensure(object, "spec");
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    if spec["type"] != "ExternalName" {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
        if spec["clusterIP"].as_str().is_none_or(str::is_empty) {
            let n = NEXT_IP.fetch_add(1, Ordering::Relaxed);
            spec["clusterIP"] = json!(format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1));
        }
        if spec["clusterIPs"].is_null() {
            spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
        }
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter(|p| p.is_object()) {
            default(port, "protocol", json!("TCP"));
            if port["targetPort"].is_null() {
                port["targetPort"] = port["port"].clone();
            }
        }
    }
}

/// The object at `key`, made an empty map when absent.
fn ensure<'a>(object: &'a mut Value, key: &str) -> &'a mut Value {
    if !object[key].is_object() {
        object[key] = json!({});
    }
    &mut object[key]
}

fn default(object: &mut Value, key: &str, value: Value) {
    if object.is_object() && object[key].is_null() {
        object[key] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_deployment_gets_what_helm_3_dereferences() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:local", "ports": [{"containerPort": 80}]}]}}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "25%"
        );
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn given_values_are_kept_and_latest_images_are_always_pulled() {
        let mut d = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"},
            "template": {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 3);
        assert!(d["spec"]["strategy"]["rollingUpdate"].is_null());
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
    }

    #[test]
    fn services_get_a_cluster_ip_and_target_ports() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply("Service", &mut s);
        assert!(
            s["spec"]["clusterIP"]
                .as_str()
                .unwrap()
                .starts_with("10.96.")
        );
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        let ip = s["spec"]["clusterIP"].clone();
        apply("Service", &mut s);
        assert_eq!(s["spec"]["clusterIP"], ip, "an allocated IP stays");
    }
}
