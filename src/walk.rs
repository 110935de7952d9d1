//! The graph walker, Terraform's `dag.Walker` in small, knowing nothing of
//! resources: every node starts once what it depends on has succeeded;
//! independent nodes run at the same time, at most `parallelism` at once; a
//! failure skips what depends on it while the rest of the graph goes on; a
//! stop lets running work finish and starts nothing new. What a node does
//! is the [`Visit`]or's; what happens is told to its [`Hook`] as it happens.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;

/// How one node ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// Its work was done (instantly, when it had none).
    Done(Duration),
    /// Its work failed.
    Failed(Duration, String),
    /// It was not started: something it needs failed or was skipped.
    Skipped(String),
    /// It was not started: the walk was stopped.
    NotStarted,
}

/// What a node does.
pub trait Visit<K> {
    /// The node's work, started now that what it depends on succeeded;
    /// `None` when it has nothing to do.
    fn start(&self, node: &K) -> Option<BoxFuture<'_, Result<(), String>>>;
}

/// What the walk tells as it goes, in the order it happens.
pub trait Hook<K> {
    /// A node's work started.
    fn started(&self, _node: &K) {}
    /// A node's work succeeded.
    fn finished(&self, _node: &K, _took: Duration) {}
    /// A node's work failed.
    fn failed(&self, _node: &K, _took: Duration, _error: &str) {}
    /// A node was skipped; `because` names what it needed.
    fn skipped(&self, _node: &K, _because: &str) {}
}

/// The graph to walk: each node, in the order ties are started, with the
/// nodes it depends on (a dependency that is not a node counts as done).
pub struct Nodes<K> {
    /// The nodes and their dependencies.
    pub nodes: Vec<(K, Vec<K>)>,
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Pending,
    Running,
    Ended(Ending),
}

/// Walks `graph`, at most `parallelism` nodes at once, until every node
/// has ended or `stop` turns true and what runs has finished; how each
/// node ended.
pub async fn walk<K, V, H>(
    graph: &Nodes<K>,
    parallelism: usize,
    mut stop: watch::Receiver<bool>,
    visit: &V,
    hook: &H,
) -> (BTreeMap<K, Ending>, bool)
where
    K: Ord + Clone + Display,
    V: Visit<K>,
    H: Hook<K> + ?Sized,
{
    let parallelism = parallelism.max(1);
    let mut states: BTreeMap<K, State> = graph
        .nodes
        .iter()
        .map(|(k, _)| (k.clone(), State::Pending))
        .collect();
    let mut stopped = *stop.borrow();
    let mut running = FuturesUnordered::new();
    loop {
        let mut progressed = true;
        while progressed {
            progressed = false;
            for (node, deps) in &graph.nodes {
                if states[node] != State::Pending {
                    continue;
                }
                let blocked = deps.iter().find_map(|d| match states.get(d) {
                    Some(State::Ended(Ending::Failed(..))) => Some(format!("{d} failed")),
                    Some(State::Ended(Ending::Skipped(_))) => Some(format!("{d} was skipped")),
                    Some(State::Ended(Ending::NotStarted)) => Some(format!("{d} was not started")),
                    _ => None,
                });
                if let Some(because) = blocked {
                    hook.skipped(node, &because);
                    states.insert(node.clone(), State::Ended(Ending::Skipped(because)));
                    progressed = true;
                    continue;
                }
                let ready = deps
                    .iter()
                    .all(|d| matches!(states.get(d), None | Some(State::Ended(Ending::Done(_)))));
                if !ready {
                    continue;
                }
                if stopped {
                    states.insert(node.clone(), State::Ended(Ending::NotStarted));
                    progressed = true;
                    continue;
                }
                if running.len() >= parallelism {
                    continue;
                }
                let Some(work) = visit.start(node) else {
                    states.insert(node.clone(), State::Ended(Ending::Done(Duration::ZERO)));
                    progressed = true;
                    continue;
                };
                hook.started(node);
                states.insert(node.clone(), State::Running);
                let node = node.clone();
                running.push(async move {
                    let at = Instant::now();
                    let result = work.await;
                    (node, at.elapsed(), result)
                });
                progressed = true;
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((node, took, result)) = running.next() => {
                let ending = match result {
                    Ok(()) => {
                        hook.finished(&node, took);
                        Ending::Done(took)
                    }
                    Err(error) => {
                        hook.failed(&node, took, &error);
                        Ending::Failed(took, error)
                    }
                };
                states.insert(node, State::Ended(ending));
            }
            Ok(()) = stop.changed(), if !stopped => {
                stopped = *stop.borrow();
            }
        }
    }
    let endings = states
        .into_iter()
        .map(|(k, s)| {
            let ending = match s {
                State::Ended(e) => e,
                _ => Ending::NotStarted,
            };
            (k, ending)
        })
        .collect();
    (endings, stopped)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A fake visitor: each node sleeps its time, fails when told to, and
    /// may pull the stop lever when it starts.
    struct Fake {
        work: BTreeMap<&'static str, (u64, bool)>,
        running: AtomicUsize,
        most: AtomicUsize,
        stop_on: Option<(&'static str, watch::Sender<bool>)>,
    }

    impl Fake {
        fn new(work: &[(&'static str, u64, bool)]) -> Self {
            Fake {
                work: work.iter().map(|(k, ms, ok)| (*k, (*ms, *ok))).collect(),
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                stop_on: None,
            }
        }
    }

    impl Visit<&'static str> for Fake {
        fn start(&self, node: &&'static str) -> Option<BoxFuture<'_, Result<(), String>>> {
            let (ms, ok) = *self.work.get(node)?;
            if let Some((at, lever)) = &self.stop_on {
                if at == node {
                    let _ = lever.send(true);
                }
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            Some(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                self.running.fetch_sub(1, Ordering::SeqCst);
                if ok {
                    Ok(())
                } else {
                    Err("it broke".to_owned())
                }
            }))
        }
    }

    #[derive(Default)]
    struct Told(Mutex<Vec<String>>);

    impl Hook<&'static str> for Told {
        fn started(&self, node: &&'static str) {
            self.0.lock().unwrap().push(format!("start {node}"));
        }
        fn finished(&self, node: &&'static str, _took: Duration) {
            self.0.lock().unwrap().push(format!("done {node}"));
        }
        fn failed(&self, node: &&'static str, _took: Duration, error: &str) {
            self.0.lock().unwrap().push(format!("fail {node}: {error}"));
        }
        fn skipped(&self, node: &&'static str, because: &str) {
            self.0
                .lock()
                .unwrap()
                .push(format!("skip {node}: {because}"));
        }
    }

    fn graph(edges: &[(&'static str, &[&'static str])]) -> Nodes<&'static str> {
        Nodes {
            nodes: edges.iter().map(|(k, d)| (*k, d.to_vec())).collect(),
        }
    }

    fn go() -> watch::Receiver<bool> {
        watch::channel(false).1
    }

    #[tokio::test]
    async fn a_failure_skips_its_dependents_and_the_rest_goes_on() {
        let g = graph(&[
            ("cluster", &[]),
            ("platform", &["cluster"]),
            ("app", &["platform"]),
            ("check", &["app"]),
            ("image", &["cluster"]),
        ]);
        let fake = Fake::new(&[
            ("cluster", 1, true),
            ("platform", 1, false),
            ("app", 1, true),
            ("check", 1, true),
            ("image", 20, true),
        ]);
        let told = Told::default();
        let (endings, stopped) = walk(&g, 4, go(), &fake, &told).await;
        assert!(!stopped);
        assert_eq!(
            endings["image"],
            Ending::Done(endings_took(&endings, "image"))
        );
        assert_eq!(
            endings["platform"],
            Ending::Failed(endings_took(&endings, "platform"), "it broke".into())
        );
        assert_eq!(endings["app"], Ending::Skipped("platform failed".into()));
        assert_eq!(endings["check"], Ending::Skipped("app was skipped".into()));
        let told = told.0.into_inner().unwrap();
        assert_eq!(
            told,
            [
                "start cluster",
                "done cluster",
                "start platform",
                "start image",
                "fail platform: it broke",
                "skip app: platform failed",
                "skip check: app was skipped",
                "done image",
            ]
        );
    }

    fn endings_took(endings: &BTreeMap<&'static str, Ending>, node: &str) -> Duration {
        match &endings[node] {
            Ending::Done(t) | Ending::Failed(t, _) => *t,
            _ => Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn no_more_than_parallelism_nodes_run_at_once() {
        let names: [&'static str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let edges: Vec<(&'static str, &[&'static str])> =
            names.iter().map(|n| (*n, &[][..])).collect();
        let work: Vec<(&'static str, u64, bool)> = names.iter().map(|n| (*n, 15, true)).collect();
        for parallelism in [1, 3] {
            let fake = Fake::new(&work);
            let (endings, _) =
                walk(&graph(&edges), parallelism, go(), &fake, &Told::default()).await;
            assert!(endings.values().all(|e| matches!(e, Ending::Done(_))));
            assert_eq!(fake.most.load(Ordering::SeqCst), parallelism);
        }
    }

    #[tokio::test]
    async fn a_stop_lets_running_work_finish_and_starts_nothing_new() {
        let g = graph(&[("a", &[]), ("b", &[]), ("c", &["a"]), ("d", &["c"])]);
        let (lever, stop) = watch::channel(false);
        let mut fake = Fake::new(&[
            ("a", 20, true),
            ("b", 20, true),
            ("c", 1, true),
            ("d", 1, true),
        ]);
        fake.stop_on = Some(("b", lever));
        let told = Told::default();
        let (endings, stopped) = walk(&g, 4, stop, &fake, &told).await;
        assert!(stopped);
        assert!(matches!(endings["a"], Ending::Done(_)));
        assert!(matches!(endings["b"], Ending::Done(_)));
        assert_eq!(endings["c"], Ending::NotStarted);
        assert_eq!(endings["d"], Ending::Skipped("c was not started".into()));
        let told = told.0.into_inner().unwrap();
        assert!(!told.iter().any(|t| t == "start c"), "{told:?}");
    }

    #[tokio::test]
    async fn nodes_without_work_end_at_once_and_silently() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        let fake = Fake::new(&[("c", 1, true)]);
        let told = Told::default();
        let (endings, _) = walk(&g, 2, go(), &fake, &told).await;
        assert_eq!(endings["a"], Ending::Done(Duration::ZERO));
        assert_eq!(told.0.into_inner().unwrap(), ["start c", "done c"]);
    }
}
