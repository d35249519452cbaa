//! How small value types are stored in Automerge documents.
//!
//! Dates, times, enums, 市町村 and ids are stored as short strings (`"2025-03-31"`, `"09:30"`,
//! `"kokoro_supporter"`, `"七ヶ宿町"`): a reader of the raw document (the server's projection, a
//! JavaScript client, a person debugging) sees the meaning, and a concurrent write of two different
//! values is one scalar conflict that [`crate::conflicts`] can show, never two half-merged objects.
//! Sets are maps from the member's string form to `true`, because Automerge lists merge concurrent
//! inserts as duplicates while map keys merge as a union.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::str::FromStr;

use autosurgeon::{HydrateError, Prop, ReadDoc, Reconciler};

/// Implements `Reconcile` and `Hydrate` for a type with `Display` and `FromStr`, stored as a string.
macro_rules! string_scalar {
    ($ty:ty, $expected:expr) => {
        impl ::autosurgeon::Reconcile for $ty {
            type Key<'a> = ::autosurgeon::reconcile::NoKey;

            fn reconcile<R: ::autosurgeon::Reconciler>(
                &self,
                mut reconciler: R,
            ) -> Result<(), R::Error> {
                reconciler.str(self.to_string())
            }
        }

        impl ::autosurgeon::Hydrate for $ty {
            fn hydrate_string(value: &str) -> Result<Self, ::autosurgeon::HydrateError> {
                value.parse().map_err(|_| {
                    ::autosurgeon::HydrateError::unexpected($expected, value.to_owned())
                })
            }
        }
    };
}
pub(crate) use string_scalar;

/// Defines a fieldless enum stored as a stable ASCII code, with a Japanese label for people.
///
/// The code is the contract with stored documents and the server's tables: never change one;
/// add a variant instead.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => ($code:literal, $label:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in documents and used by the server.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// The Japanese label shown to people.
            pub fn label_ja(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Finds a variant by its Japanese label.
            pub fn from_label_ja(label: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.label_ja() == label)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::errors::UnknownCode;

            fn from_str(code: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == code)
                    .ok_or_else(|| $crate::errors::UnknownCode {
                        type_name: stringify!($name),
                        code: code.to_owned(),
                    })
            }
        }

        $crate::encoding::string_scalar!($name, stringify!($name));
    };
}
pub(crate) use coded_enum;

/// `#[autosurgeon(with = "crate::encoding::set_as_map")]` for a `BTreeSet<T>`: stored as a map
/// from each member's string form to `true`, so concurrent additions merge as a union.
pub(crate) mod set_as_map {
    use super::*;

    pub(crate) fn reconcile<T: Display, R: Reconciler>(
        set: &BTreeSet<T>,
        mut reconciler: R,
    ) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let mut map = reconciler.map()?;
        let mut wanted = BTreeSet::new();
        wanted.extend(set.iter().map(ToString::to_string));
        let stale: Vec<String> = map
            .entries()
            .map(|(key, _)| key.to_string())
            .filter(|key| !wanted.contains(key))
            .collect();
        for key in stale {
            map.delete(key)?;
        }
        for key in wanted {
            map.put(key, true)?;
        }
        Ok(())
    }

    pub(crate) fn hydrate<D: ReadDoc, T>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<BTreeSet<T>, HydrateError>
    where
        T: FromStr + Ord,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        // Read as pairs and inserted one by one: no sort (crate::sorting).
        let members: Vec<(T, bool)> =
            autosurgeon::map_with_parseable_keys::hydrate(doc, obj, prop)?;
        let mut set = BTreeSet::new();
        set.extend(
            members
                .into_iter()
                .filter_map(|(member, present)| present.then_some(member)),
        );
        Ok(set)
    }
}

/// `#[autosurgeon(with = "crate::encoding::keyed_map")]` for a `BTreeMap<K, V>` whose keys are
/// stored in their string form: `autosurgeon::map_with_parseable_keys`, except that hydrating
/// inserts the entries one by one instead of collecting them, which would compile a copy of the
/// standard sort per map type (crate::sorting). Same result: automerge yields the keys in
/// order and a key parsed twice keeps its last value, as `collect` does.
pub(crate) mod keyed_map {
    use std::collections::BTreeMap;

    use super::*;

    pub(crate) use autosurgeon::map_with_parseable_keys::reconcile;

    pub(crate) fn hydrate<D: ReadDoc, K, V>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<BTreeMap<K, V>, HydrateError>
    where
        K: FromStr + Ord,
        K::Err: std::error::Error + Send + Sync + 'static,
        V: autosurgeon::Hydrate,
    {
        let entries: Vec<(K, V)> = autosurgeon::map_with_parseable_keys::hydrate(doc, obj, prop)?;
        let mut map = BTreeMap::new();
        map.extend(entries);
        Ok(map)
    }
}
