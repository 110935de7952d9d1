//! A release's health: its workloads (found by Helm's release annotation)
//! rolled out, no container stuck (crash-looping, unable to pull), every
//! pod Ready, and what the release's own `health` asks (pods Ready by
//! selector, so many ready containers per pod).

use std::collections::BTreeMap;

use kindform_api::{Health, HealthState, ReleaseSpec};
use kindform_kube::Workload;
use kindform_kube::pods::PodState;

/// A release as health sees it.
pub struct Judged {
    /// Its health.
    pub health: Health,
    /// Its workloads whose containers are stuck.
    pub stuck: Vec<Workload>,
    /// How often each container of its pods restarted, keyed
    /// `pod <pod>, container <container>`: two readings of it tell restarts
    /// that keep growing.
    pub restarts: BTreeMap<String, i32>,
}

/// How release `name` is doing, from the cluster's workloads and pods.
pub fn release_health(
    name: &str,
    spec: &ReleaseSpec,
    workloads: &[Workload],
    pods: &[PodState],
) -> Judged {
    let mut health = Health::healthy();
    let mut stuck = Vec::new();
    let mut restarts = BTreeMap::new();
    let namespace = &spec.namespace;
    let mine: Vec<&Workload> = workloads
        .iter()
        .filter(|w| w.of_release(name, namespace))
        .collect();
    let mut release_pods: Vec<&PodState> = Vec::new();
    for workload in &mine {
        if let Some(rolling) = &workload.rolling {
            health.note(HealthState::Degraded, format!("{workload}: {rolling}"));
        }
        for pod in pods.iter().filter(|p| workload.runs(p)) {
            release_pods.push(pod);
            for container in &pod.containers {
                let key = format!("pod {}, container {}", pod.name, container.name);
                restarts.insert(key, container.restarts);
            }
            for (container, reason) in pod.stuck() {
                health.note(
                    HealthState::Broken,
                    format!(
                        "pod {}: container {} {reason}, {} restarts",
                        pod.name, container.name, container.restarts
                    ),
                );
                if !stuck.contains(*workload) {
                    stuck.push((*workload).clone());
                }
            }
            if !pod.ready && pod.phase != "Succeeded" && !stuck.contains(*workload) {
                health.note(
                    HealthState::Degraded,
                    format!("pod {}: {} and not Ready", pod.name, pod.phase),
                );
            }
        }
    }
    if let Some(wanted) = &spec.health {
        let mut chosen: Vec<&PodState> = Vec::new();
        for selector in &wanted.pods_ready {
            let matching: Vec<&PodState> = pods
                .iter()
                .filter(|p| &p.namespace == namespace && p.matches(selector))
                .collect();
            if matching.is_empty() {
                health.note(
                    HealthState::Broken,
                    format!("no pods match {selector} in namespace {namespace}"),
                );
            }
            for pod in &matching {
                if !pod.ready {
                    health.note(
                        HealthState::Broken,
                        format!("pod {} ({selector}) is not Ready", pod.name),
                    );
                }
            }
            chosen.extend(matching);
        }
        if let Some(containers) = wanted.containers {
            let pods = if wanted.pods_ready.is_empty() {
                release_pods.clone()
            } else {
                chosen
            };
            for pod in pods.iter().filter(|p| p.phase != "Succeeded") {
                let ready = pod.containers.iter().filter(|c| c.ready).count();
                if ready != containers as usize {
                    health.note(
                        HealthState::Degraded,
                        format!(
                            "pod {}: {ready}/{} containers ready, wants {containers}",
                            pod.name,
                            pod.containers.len()
                        ),
                    );
                }
            }
        }
    }
    if health.state == HealthState::Healthy {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let ready = release_pods.iter().filter(|p| p.ready).count();
        health.evidence.push(format!(
            "{} workload{} rolled out, {ready} pod{} Ready",
            mine.len(),
            plural(mine.len()),
            plural(ready)
        ));
    }
    Judged {
        health,
        stuck,
        restarts,
    }
}
