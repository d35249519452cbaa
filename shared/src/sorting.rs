//! Sorting and ordered collections with one copy of the standard library's sort.
//!
//! Every `slice::sort_by` with its own element type or closure, and every `collect()` into a
//! `BTreeMap` or `BTreeSet` (which sorts what it collects), compiles its own copy of the standard
//! stable sort: 3–4 KB of wasm each, ~20 copies in the app shell before these helpers
//! (BENCH-RESULTS.md, "Session 5: app shell size"). The lists the app sorts are short
//! (sessions, visit cases, search hits, conflicts), so the helpers here sort *positions* with
//! the comparison behind a `dyn` (one copy of the sort for every caller) and then move the
//! items into that order. Build ordered collections with `extend` (one `insert` per item, no
//! sort) instead of `collect`.
//!
//! Both sorts are stable, like `slice::sort_by`.

use std::cmp::Ordering;

/// Sorts `items` by `compare`, stably.
pub fn sort_by<T>(items: &mut Vec<T>, compare: impl Fn(&T, &T) -> Ordering) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_positions(&mut order, &|a, b| compare(&items[a], &items[b]));
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    // `order` is a permutation of the positions, so every slot is taken exactly once.
    items.extend(
        order
            .into_iter()
            .filter_map(|position| slots.get_mut(position).and_then(Option::take)),
    );
}

/// Sorts `items` by the key `key` gives each, stably.
pub fn sort_by_key<T, K: Ord>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `items` in their natural order, stably.
pub fn sort<T: Ord>(items: &mut Vec<T>) {
    sort_by(items, T::cmp);
}

/// The one instance of the standard sort: positions, compared through `compare`.
#[inline(never)]
fn sort_positions(order: &mut [usize], compare: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|a, b| compare(*a, *b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_stable_sort() {
        // Pairs sorted by their first member only: equal keys must keep their order.
        let original: Vec<(u8, usize)> = [3, 1, 2, 1, 3, 0, 2, 1, 0, 3]
            .into_iter()
            .enumerate()
            .map(|(position, key)| (key, position))
            .collect();
        let mut ours = original.clone();
        sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
        let mut standard = original.clone();
        standard.sort_by_key(|pair| pair.0);
        assert_eq!(ours, standard);

        let mut by_key = original.clone();
        sort_by_key(&mut by_key, |pair| std::cmp::Reverse(pair.0));
        standard.sort_by_key(|pair| std::cmp::Reverse(pair.0));
        assert_eq!(by_key, standard);
    }

    #[test]
    fn sorts_owned_values_without_losing_any() {
        let mut words: Vec<String> = ["さくら", "あおい", "", "かえで", "あおい"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        sort(&mut words);
        assert_eq!(words, ["", "あおい", "あおい", "かえで", "さくら"]);
        let mut empty: Vec<String> = Vec::new();
        sort(&mut empty);
        assert!(empty.is_empty());
    }
}
