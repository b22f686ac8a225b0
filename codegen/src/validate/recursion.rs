//! Recursive struct types without indirection.
//!
//! A struct that holds itself by value, directly or through other structs,
//! has no finite size in Rust (and no finite JSON either). Going through
//! `list<...>` or `map<...>` is fine: a list can be empty. Going through `T?`
//! is refused as well: the generated code does not box fields, so the help
//! says to use a list or a map for the recursive field.

use std::collections::{BTreeMap, VecDeque};

use crate::model::{Location, TypeExpr};

/// A by-value reference from one struct to another through one field.
pub(crate) struct Edge {
    /// The field's wire name.
    pub(crate) field: String,
    /// Where the field was written.
    pub(crate) location: Location,
    /// The struct the field holds.
    pub(crate) target: String,
}

/// The struct a field holds by value, if any (`T` or `T?` where `T` is a
/// struct).
pub(crate) fn by_value_target(ty: &TypeExpr, is_struct: impl Fn(&str) -> bool) -> Option<&str> {
    match ty {
        TypeExpr::Named(name) if is_struct(name) => Some(name),
        TypeExpr::Optional(inner) => by_value_target(inner, is_struct),
        _ => None,
    }
}

/// One cycle per strongly connected component of the by-value graph:
/// the field that starts it and the path (`A.b -> B.a -> A`).
pub(crate) fn cycles(graph: &BTreeMap<String, Vec<Edge>>) -> Vec<(Location, String, String)> {
    let names: Vec<&str> = graph.keys().map(String::as_str).collect();
    let index_of = |name: &str| names.binary_search(&name).ok();
    let adj: Vec<Vec<(usize, &Edge)>> = graph
        .values()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| Some((index_of(&e.target)?, e)))
                .collect()
        })
        .collect();
    let mut found = Vec::new();
    for component in components(&adj) {
        let Some(&start) = component.iter().min() else {
            continue;
        };
        let cyclic = component.len() > 1 || adj[start].iter().any(|&(w, _)| w == start);
        if !cyclic {
            continue;
        }
        let in_component = |v: usize| component.contains(&v);
        // Shortest path start -> ... -> start inside the component.
        let mut previous: BTreeMap<usize, (usize, &Edge)> = BTreeMap::new();
        let mut queue = VecDeque::new();
        let mut closing = None;
        for &(w, e) in &adj[start] {
            if w == start {
                closing = Some((start, e));
                break;
            }
        }
        if closing.is_none() {
            for &(w, e) in &adj[start] {
                if in_component(w) && !previous.contains_key(&w) {
                    previous.insert(w, (start, e));
                    queue.push_back(w);
                }
            }
        }
        while closing.is_none() {
            let Some(u) = queue.pop_front() else { break };
            for &(w, e) in &adj[u] {
                if w == start {
                    closing = Some((u, e));
                    break;
                }
                if in_component(w) && !previous.contains_key(&w) {
                    previous.insert(w, (u, e));
                    queue.push_back(w);
                }
            }
        }
        let Some((mut at, last)) = closing else {
            continue;
        };
        let mut path = vec![last];
        while at != start {
            let Some(&(from, e)) = previous.get(&at) else {
                break;
            };
            path.push(e);
            at = from;
        }
        path.reverse();
        let mut owner = names[start];
        let mut text = String::new();
        for (i, e) in path.iter().enumerate() {
            // Long cycles: the first hops and the last one.
            if path.len() > 6 && i == 4 {
                text.push_str(&format!("... ({} more) -> ", path.len() - 5));
            }
            if path.len() <= 6 || i < 4 || i + 1 == path.len() {
                text.push_str(&format!("`{owner}.{}` -> ", e.field));
            }
            owner = &e.target;
        }
        text.push_str(&format!("`{}`", names[start]));
        found.push((path[0].location.clone(), names[start].to_owned(), text));
    }
    found
}

/// Strongly connected components (iterative Tarjan, so deep chains cannot
/// overflow the stack).
fn components(adj: &[Vec<(usize, &Edge)>]) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut calls = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (u, ref mut edge)) = calls.last_mut() {
            if let Some(&(w, _)) = adj[u].get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[u] = low[u].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[u]);
            }
            if low[u] == index[u] {
                let mut component = Vec::new();
                while let Some(v) = stack.pop() {
                    on_stack[v] = false;
                    component.push(v);
                    if v == u {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}
