//! Graph algorithms over step indices: strongly connected components (for
//! cycles) and one concrete cycle to show the user.

use std::collections::VecDeque;

/// The strongly connected components of a graph given as adjacency lists
/// (Kosaraju, iterative so a long chain of steps cannot overflow the stack).
pub fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let count = edges.len();
    let mut order = Vec::with_capacity(count);
    let mut seen = vec![false; count];
    for start in 0..count {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some((node, next)) = stack.pop() {
            if let Some(&target) = edges[node].get(next) {
                stack.push((node, next + 1));
                if !seen[target] {
                    seen[target] = true;
                    stack.push((target, 0));
                }
            } else {
                order.push(node);
            }
        }
    }
    let mut reverse = vec![Vec::new(); count];
    for (node, targets) in edges.iter().enumerate() {
        for &target in targets {
            reverse[target].push(node);
        }
    }
    let mut component_of = vec![usize::MAX; count];
    let mut components = Vec::new();
    for &start in order.iter().rev() {
        if component_of[start] != usize::MAX {
            continue;
        }
        let id = components.len();
        let mut members = Vec::new();
        let mut stack = vec![start];
        component_of[start] = id;
        while let Some(node) = stack.pop() {
            members.push(node);
            for &source in &reverse[node] {
                if component_of[source] == usize::MAX {
                    component_of[source] = id;
                    stack.push(source);
                }
            }
        }
        members.sort_unstable();
        components.push(members);
    }
    components
}

/// A shortest cycle from `start` back to itself inside `component`:
/// `[start, …, start]`.
pub fn cycle_through(edges: &[Vec<usize>], component: &[usize], start: usize) -> Vec<usize> {
    let mut previous = vec![usize::MAX; edges.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &target in &edges[node] {
            if target == start {
                let mut back = Vec::new();
                let mut at = node;
                while at != start {
                    back.push(at);
                    at = previous[at];
                }
                back.reverse();
                let mut path = vec![start];
                path.extend(back);
                path.push(start);
                return path;
            }
            if component.binary_search(&target).is_ok() && previous[target] == usize::MAX {
                previous[target] = node;
                queue.push_back(target);
            }
        }
    }
    vec![start, start]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_and_their_paths() {
        // 0 → 1 → 2 → 1, 3 → 3, 4 alone
        let edges = vec![vec![1], vec![2], vec![1], vec![3], vec![]];
        let mut components = strongly_connected(&edges);
        components.sort();
        assert_eq!(components, vec![vec![0], vec![1, 2], vec![3], vec![4]]);
        assert_eq!(cycle_through(&edges, &[1, 2], 1), vec![1, 2, 1]);
        assert_eq!(cycle_through(&edges, &[3], 3), vec![3, 3]);
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let edges: Vec<Vec<usize>> = (0..100_000).map(|i| vec![i + 1]).chain([vec![0]]).collect();
        assert_eq!(strongly_connected(&edges).len(), 1);
    }
}
