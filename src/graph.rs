//! The dependency graph of a spec: one node per address, an edge from each
//! dependency to what depends on it (every in-cluster resource depends on
//! `cluster`; `depends_on` adds the rest, `*` globs included), cycles refused,
//! and the layers that could run in parallel. Renders as DOT, Mermaid or text.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use globset::GlobBuilder;
use kindform_api::{Address, ResourceKind, Spec};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

/// Why an edge exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The dependent lives in the cluster.
    Contains,
    /// The dependent's `depends_on` entry at this position names the dependency.
    DependsOn {
        /// The position in `depends_on`.
        entry: usize,
    },
}

/// The dependency graph of one spec.
#[derive(Debug, Clone)]
pub struct Graph {
    dag: DiGraph<Address, Edge>,
    index: HashMap<Address, NodeIndex>,
}

/// Why a spec's dependencies do not form a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A `depends_on` entry matches no resource.
    #[error("`{pattern}` in the depends_on of {from} names no resource{hint}")]
    NoMatch {
        /// The resource whose entry it is.
        from: Address,
        /// The entry's position.
        entry: usize,
        /// The entry as written.
        pattern: String,
        /// A "did you mean", or nothing.
        hint: String,
    },
    /// A `depends_on` entry is neither an address nor a glob of addresses.
    #[error("`{pattern}` is not an address or glob: {reason}")]
    BadPattern {
        /// The resource whose entry it is.
        from: Address,
        /// The entry's position.
        entry: usize,
        /// The entry as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A resource names itself.
    #[error("{from} depends on itself")]
    SelfDependency {
        from: Address,
        /// The entry's position.
        entry: usize,
    },
    /// Resources depend on each other in a circle.
    #[error("dependency cycle: {} (each depends on the next)", cycle_text(.cycle))]
    Cycle {
        /// The circle, starting and ending at the same address.
        cycle: Vec<Address>,
        /// The position, in the first resource's `depends_on`, of the entry naming the second.
        entry: usize,
    },
}

fn cycle_text(cycle: &[Address]) -> String {
    cycle
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

impl Error {
    /// The resource and `depends_on` position the problem is at.
    pub fn place(&self) -> (&Address, usize) {
        match self {
            Error::NoMatch { from, entry, .. }
            | Error::BadPattern { from, entry, .. }
            | Error::SelfDependency { from, entry } => (from, *entry),
            Error::Cycle { cycle, entry } => (&cycle[0], *entry),
        }
    }
}

impl Graph {
    /// The graph of a whole spec.
    pub fn build(spec: &Spec) -> Result<Graph, Vec<Error>> {
        Self::from_parts(&spec.addresses(), |a| spec.depends_on(a))
    }

    /// The graph of `addresses`, each depending on the cluster (when in it)
    /// and on what its `depends_on` entries match. Every problem is returned.
    pub fn from_parts<'s>(
        addresses: &[Address],
        depends_on: impl Fn(&Address) -> &'s [String],
    ) -> Result<Graph, Vec<Error>> {
        let mut dag = DiGraph::with_capacity(addresses.len(), addresses.len() * 2);
        let mut index = HashMap::with_capacity(addresses.len());
        for address in addresses {
            index.insert(address.clone(), dag.add_node(address.clone()));
        }
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        let mut errors = Vec::new();
        let cluster = index.get(&Address::Cluster).copied();
        // Edges are gathered first: asking the graph whether an edge exists
        // scans the cluster's thousands of edges each time.
        let mut edges: HashMap<(NodeIndex, NodeIndex), Edge> = HashMap::new();
        let mut order = Vec::new();
        for address in addresses {
            let to = index[address];
            if let (true, Some(cluster)) = (address.is_in_cluster(), cluster) {
                if edges.insert((cluster, to), Edge::Contains).is_none() {
                    order.push((cluster, to));
                }
            }
            for (entry, pattern) in depends_on(address).iter().enumerate() {
                let matched =
                    match Self::resolve(address, entry, pattern, addresses, &texts, &index) {
                        Ok(matched) => matched,
                        Err(error) => {
                            errors.push(error);
                            continue;
                        }
                    };
                for dependency in matched {
                    let from = index[dependency];
                    match edges.get(&(from, to)) {
                        None => {
                            edges.insert((from, to), Edge::DependsOn { entry });
                            order.push((from, to));
                        }
                        // An explicit entry says more than the implicit cluster edge.
                        Some(Edge::Contains) => {
                            edges.insert((from, to), Edge::DependsOn { entry });
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        for pair in order {
            dag.add_edge(pair.0, pair.1, edges[&pair]);
        }
        let graph = Graph { dag, index };
        errors.extend(graph.cycles());
        if errors.is_empty() {
            Ok(graph)
        } else {
            Err(errors)
        }
    }

    fn resolve<'a>(
        from: &Address,
        entry: usize,
        pattern: &str,
        addresses: &'a [Address],
        texts: &[String],
        index: &'a HashMap<Address, NodeIndex>,
    ) -> Result<Vec<&'a Address>, Error> {
        let no_match = |hint: String| Error::NoMatch {
            from: from.clone(),
            entry,
            pattern: pattern.to_owned(),
            hint,
        };
        let is_glob = pattern.contains(['*', '?', '[', '{']);
        if !is_glob {
            let address: Address =
                pattern
                    .parse()
                    .map_err(|e: kindform_api::address::AddressError| Error::BadPattern {
                        from: from.clone(),
                        entry,
                        pattern: pattern.to_owned(),
                        reason: e.to_string(),
                    })?;
            if &address == from {
                return Err(Error::SelfDependency {
                    from: from.clone(),
                    entry,
                });
            }
            // By the index: a scan per entry would make the graph quadratic.
            return match index.get_key_value(&address) {
                Some((found, _)) => Ok(vec![found]),
                None => Err(no_match(crate::suggest::hint(
                    pattern,
                    texts.iter().map(String::as_str),
                ))),
            };
        }
        // `image.*` is a typo for `images.*`, not a glob that happens to match nothing.
        if let Some((section, _)) = pattern.split_once('.') {
            let known = ResourceKind::ALL.map(ResourceKind::section);
            if !section.contains(['*', '?', '[', '{']) && !known.contains(&section) {
                return Err(Error::BadPattern {
                    from: from.clone(),
                    entry,
                    pattern: pattern.to_owned(),
                    reason: format!(
                        "`{section}` is not a resource table{}",
                        crate::suggest::hint(section, known)
                    ),
                });
            }
        }
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map_err(|e| Error::BadPattern {
                from: from.clone(),
                entry,
                pattern: pattern.to_owned(),
                reason: e.kind().to_string(),
            })?
            .compile_matcher();
        // A glob never makes a resource depend on itself: `releases.*` in a
        // release means every other release.
        let matched: Vec<&Address> = addresses
            .iter()
            .zip(texts)
            .filter(|(a, text)| *a != from && matcher.is_match(text.as_str()))
            .map(|(a, _)| a)
            .collect();
        if matched.is_empty() {
            return Err(no_match(String::new()));
        }
        Ok(matched)
    }

    /// One error per circle of dependencies, each listing the circle in order.
    fn cycles(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        for mut component in petgraph::algo::tarjan_scc(&self.dag) {
            if component.len() < 2 {
                continue;
            }
            component.sort_by(|a, b| self.dag[*a].cmp(&self.dag[*b]));
            let start = component[0];
            let inside = |n: &NodeIndex| component.contains(n);
            // Breadth-first along "depends on" for the shortest way back to start.
            let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
            let mut queue = VecDeque::from([start]);
            let mut last = None;
            'search: while let Some(node) = queue.pop_front() {
                for dependency in self.sorted_neighbors(node, Direction::Incoming) {
                    if dependency == start {
                        last = Some(node);
                        break 'search;
                    }
                    if inside(&dependency) && !parent.contains_key(&dependency) {
                        parent.insert(dependency, node);
                        queue.push_back(dependency);
                    }
                }
            }
            let Some(mut node) = last else { continue };
            let mut path = vec![node];
            while node != start {
                node = parent[&node];
                path.push(node);
            }
            path.reverse();
            let second = *path.get(1).unwrap_or(&start);
            let entry = self
                .dag
                .find_edge(second, start)
                .and_then(|e| match self.dag[e] {
                    Edge::DependsOn { entry } => Some(entry),
                    Edge::Contains => None,
                })
                .unwrap_or(0);
            let mut cycle: Vec<Address> = path.iter().map(|n| self.dag[*n].clone()).collect();
            cycle.push(self.dag[start].clone());
            errors.push(Error::Cycle { cycle, entry });
        }
        errors
    }

    fn sorted_neighbors(&self, node: NodeIndex, direction: Direction) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self.dag.neighbors_directed(node, direction).collect();
        out.sort_by(|a, b| self.dag[*a].cmp(&self.dag[*b]));
        out.dedup();
        out
    }

    /// Every address, in spec order.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.dag.node_weights()
    }

    /// How many resources the graph holds.
    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    /// Whether the graph holds no resource.
    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// Whether the graph has this address.
    pub fn contains(&self, address: &Address) -> bool {
        self.index.contains_key(address)
    }

    /// What `address` depends on directly, in spec order.
    pub fn dependencies(&self, address: &Address) -> Vec<&Address> {
        self.related(address, Direction::Incoming)
    }

    /// What depends directly on `address`, in spec order.
    pub fn dependents(&self, address: &Address) -> Vec<&Address> {
        self.related(address, Direction::Outgoing)
    }

    fn related(&self, address: &Address, direction: Direction) -> Vec<&Address> {
        match self.index.get(address) {
            Some(&node) => self
                .sorted_neighbors(node, direction)
                .into_iter()
                .map(|n| &self.dag[n])
                .collect(),
            None => Vec::new(),
        }
    }

    /// The resources grouped in layers: each depends only on earlier layers, so
    /// the resources of one layer could run at the same time.
    pub fn layers(&self) -> Vec<Vec<&Address>> {
        let order = petgraph::algo::toposort(&self.dag, None).unwrap_or_default();
        let mut depth: HashMap<NodeIndex, usize> = HashMap::with_capacity(order.len());
        let mut layers: Vec<Vec<NodeIndex>> = Vec::new();
        for node in order {
            let layer = self
                .dag
                .neighbors_directed(node, Direction::Incoming)
                .map(|d| depth[&d] + 1)
                .max()
                .unwrap_or(0);
            depth.insert(node, layer);
            if layers.len() <= layer {
                layers.resize(layer + 1, Vec::new());
            }
            layers[layer].push(node);
        }
        layers
            .into_iter()
            .map(|mut layer| {
                layer.sort_by(|a, b| self.dag[*a].cmp(&self.dag[*b]));
                layer.into_iter().map(|n| &self.dag[n]).collect()
            })
            .collect()
    }

    /// Every address, dependencies before dependents (layer by layer).
    pub fn topological(&self) -> Vec<&Address> {
        self.layers().into_iter().flatten().collect()
    }

    /// Everything `address` depends on, directly or not, in spec order.
    pub fn ancestors(&self, address: &Address) -> Vec<&Address> {
        let Some(&start) = self.index.get(address) else {
            return Vec::new();
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for dependency in self.dag.neighbors_directed(node, Direction::Incoming) {
                if seen.insert(dependency) {
                    stack.push(dependency);
                }
            }
        }
        let mut out: Vec<&Address> = seen.into_iter().map(|n| &self.dag[n]).collect();
        out.sort();
        out
    }

    /// Graphviz DOT, edges from each dependency to its dependents.
    pub fn to_dot(&self, name: &str) -> String {
        let mut out = format!(
            "digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n",
            dot_id(name)
        );
        for address in self.sorted_addresses() {
            let _ = writeln!(out, "  {};", dot_id(&address.to_string()));
        }
        for (from, to) in self.sorted_edges() {
            let _ = writeln!(
                out,
                "  {} -> {};",
                dot_id(&from.to_string()),
                dot_id(&to.to_string())
            );
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart, edges from each dependency to its dependents.
    pub fn to_mermaid(&self) -> String {
        let addresses = self.sorted_addresses();
        let ids: HashMap<&Address, usize> =
            addresses.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let mut out = String::from("flowchart LR\n");
        for (i, address) in addresses.iter().enumerate() {
            let _ = writeln!(
                out,
                "  n{i}[\"{}\"]",
                address.to_string().replace('"', "#quot;")
            );
        }
        for (from, to) in self.sorted_edges() {
            let _ = writeln!(out, "  n{} --> n{}", ids[from], ids[to]);
        }
        out
    }

    /// The layers as text, each resource with what it waits for.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let layers = self.layers();
        let width = self
            .addresses()
            .map(|a| a.to_string().len())
            .max()
            .unwrap_or(0);
        for (i, layer) in layers.iter().enumerate() {
            let count = if layer.len() == 1 {
                "1 resource".to_owned()
            } else {
                format!("{} resources in parallel", layer.len())
            };
            let _ = writeln!(out, "layer {} ({count})", i + 1);
            for address in layer {
                let mut deps = self.dependencies(address);
                // Everything in the cluster waits for it; say so only when nothing else is waited for.
                if deps.len() > 1 {
                    deps.retain(|d| **d != Address::Cluster);
                }
                if deps.is_empty() {
                    let _ = writeln!(out, "  {address}");
                } else {
                    let deps: Vec<String> = deps.iter().map(ToString::to_string).collect();
                    let _ = writeln!(
                        out,
                        "  {:<width$}  after {}",
                        address.to_string(),
                        deps.join(", ")
                    );
                }
            }
        }
        out
    }

    fn sorted_addresses(&self) -> Vec<&Address> {
        let mut all: Vec<&Address> = self.addresses().collect();
        all.sort();
        all
    }

    fn sorted_edges(&self) -> Vec<(&Address, &Address)> {
        let mut edges: Vec<(&Address, &Address)> = self
            .dag
            .edge_indices()
            .filter_map(|e| self.dag.edge_endpoints(e))
            .map(|(a, b)| (&self.dag[a], &self.dag[b]))
            .collect();
        edges.sort();
        edges
    }
}

fn dot_id(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(deps: &[(&str, &[&str])]) -> Result<Graph, Vec<Error>> {
        let mut addresses = vec![Address::Cluster];
        let mut map: HashMap<Address, Vec<String>> = HashMap::new();
        for (address, list) in deps {
            let address: Address = address.parse().unwrap();
            addresses.push(address.clone());
            map.insert(address, list.iter().map(|s| s.to_string()).collect());
        }
        let empty = Vec::new();
        Graph::from_parts(&addresses, |a| map.get(a).unwrap_or(&empty).as_slice())
    }

    fn names(layer: &[&Address]) -> Vec<String> {
        layer.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn layers_follow_dependencies_and_globs() {
        let g = graph(&[
            ("images.a", &[]),
            ("images.b", &[]),
            ("releases.dapr", &[]),
            ("releases.app", &["images.*", "releases.dapr"]),
            ("checks.http", &["releases.app"]),
        ])
        .unwrap();
        let layers: Vec<Vec<String>> = g.layers().iter().map(|l| names(l)).collect();
        assert_eq!(
            layers,
            [
                vec!["cluster"],
                vec!["images.a", "images.b", "releases.dapr"],
                vec!["releases.app"],
                vec!["checks.http"]
            ]
        );
    }

    #[test]
    fn a_cycle_of_three_names_all_three_in_order() {
        let errors = graph(&[
            ("releases.a", &["releases.b"]),
            ("releases.b", &["releases.c"]),
            ("releases.c", &["releases.a"]),
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "dependency cycle: releases.a -> releases.b -> releases.c -> releases.a (each depends on the next)"
        );
    }

    #[test]
    fn unknown_and_self_dependencies_are_errors() {
        let errors = graph(&[(
            "releases.web",
            &["releases.wbe", "releases.web", "manifests.*", "nope"],
        )])
        .unwrap_err();
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts[0].contains("names no resource"), "{}", texts[0]);
        assert_eq!(texts[1], "releases.web depends on itself");
        assert!(texts[2].starts_with("`manifests.*` in the depends_on"));
        assert!(texts[3].starts_with("`nope` is not an address"));
    }

    #[test]
    fn a_glob_in_a_release_means_the_other_releases() {
        let g = graph(&[("releases.a", &["releases.*"]), ("releases.b", &[])]).unwrap();
        assert_eq!(
            names(&g.dependencies(&"releases.a".parse().unwrap())),
            ["cluster", "releases.b"]
        );
    }
}
