//! Step 5 (assemble) in a rebuild loop: the views the last build made, each with a hash
//! of what it was made from. A view whose inputs hash the same is taken from here instead
//! of being made again: formatting dates, day sentences and chart lines is most of the
//! work of assembling a model, and one edited post changes few of them. Outside a rebuild
//! loop nothing is hashed or kept.

use std::collections::HashMap;

/// Views of one kind by id (a component's, a post's), from the last build and this one.
#[derive(Debug)]
pub struct Kept<V> {
    before: HashMap<String, (u64, V)>,
    after: HashMap<String, (u64, V)>,
}

impl<V> Default for Kept<V> {
    fn default() -> Self {
        Kept {
            before: HashMap::new(),
            after: HashMap::new(),
        }
    }
}

impl<V: Clone> Kept<V> {
    /// The view `id`, taken from the last build when `key` (what it is made from) is the
    /// same, else made by `make`.
    fn get(
        &mut self,
        on: bool,
        id: &str,
        key: impl FnOnce() -> u64,
        make: impl FnOnce() -> V,
    ) -> V {
        if !on {
            return make();
        }
        let key = key();
        let view = match self.before.remove(id) {
            Some((k, v)) if k == key => v,
            _ => make(),
        };
        self.after.insert(id.to_string(), (key, view.clone()));
        view
    }

    /// Start a build: what the last one made is what this one may take.
    fn turn(&mut self) {
        self.before = std::mem::take(&mut self.after);
    }
}

/// What a rebuild loop keeps between builds for `assemble`.
#[derive(Debug, Default)]
pub struct Memo {
    on: bool,
    /// A hash of what every view depends on besides its own inputs (the build's time,
    /// the time zone, the page's words), part of every key.
    env: u64,
    /// Each component's day bars, uptime and charts.
    pub(super) bars: Kept<super::Bars>,
    /// Each post's view and its link.
    pub(super) posts: Kept<super::PostViews>,
}

impl Memo {
    /// A memo that keeps views, for a rebuild loop.
    pub fn keeping() -> Memo {
        Memo {
            on: true,
            ..Memo::default()
        }
    }

    /// Start a build whose views all depend on `env` (hashed only when views are kept).
    pub(super) fn turn<T: serde::Serialize>(&mut self, env: impl FnOnce() -> T) {
        if self.on {
            self.env = crate::fingerprint::of(&env());
        }
        self.bars.turn();
        self.posts.turn();
    }

    /// A component's bars, kept or made.
    pub(super) fn bars(
        &mut self,
        id: &str,
        key: impl FnOnce() -> u64,
        make: impl FnOnce() -> super::Bars,
    ) -> super::Bars {
        let env = self.env;
        self.bars
            .get(self.on, id, || crate::fingerprint::of(&(env, key())), make)
    }

    /// A post's views, kept or made.
    pub(super) fn post(
        &mut self,
        slug: &str,
        key: impl FnOnce() -> u64,
        make: impl FnOnce() -> super::PostViews,
    ) -> super::PostViews {
        let env = self.env;
        self.posts.get(
            self.on,
            slug,
            || crate::fingerprint::of(&(env, key())),
            make,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_made_again_only_when_its_key_changes_and_only_last_builds_views_are_kept() {
        let mut kept: Kept<String> = Kept::default();
        let mut made = 0;
        let mut get = |kept: &mut Kept<String>, id: &str, key: u64| {
            kept.get(
                true,
                id,
                || key,
                || {
                    made += 1;
                    format!("{id}{key}")
                },
            )
        };
        assert_eq!(get(&mut kept, "a", 1), "a1");
        kept.turn();
        assert_eq!(get(&mut kept, "a", 1), "a1", "kept");
        assert_eq!(get(&mut kept, "b", 1), "b1");
        kept.turn();
        assert_eq!(get(&mut kept, "a", 2), "a2", "its input changed");
        kept.turn();
        // b was not asked for in the last build: it is gone.
        assert_eq!(get(&mut kept, "b", 1), "b1");
        assert_eq!(made, 4);
        let mut off = 0;
        let mut kept: Kept<u32> = Kept::default();
        kept.get(
            false,
            "a",
            || unreachable!("no key is computed when off"),
            || {
                off += 1;
                1
            },
        );
        kept.turn();
        assert!(kept.before.is_empty());
    }
}
