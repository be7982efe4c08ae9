//! The data set every subject works on: the same groups, keys and value, touched in the
//! same order, so that every subject does exactly the same work.
//!
//! Operation `i` of a workload touches key `permuted(i)`: a fixed permutation that spreads
//! consecutive operations over the whole key space (as real traffic does) yet is the same
//! in every process. The denokv peer (`peers/denokv/src/main.rs`) and the diskcache peer
//! (`peers/diskcache_peer.py`) repeat this scheme in their own language.

/// Every value is this many bytes.
pub const VALUE_SIZE: usize = 100;

/// A prime, so it is coprime with every key count that is not a multiple of it.
const PERMUTATION_MULTIPLIER: u64 = 1_000_003;

/// Operation `index` of `keys` touches key `permuted(index, keys)`; a bijection on
/// `0..keys`.
#[must_use]
pub fn permuted(index: usize, keys: usize) -> usize {
    let keys_wide = keys as u64;
    if keys == 0 || keys_wide % PERMUTATION_MULTIPLIER == 0 {
        return index;
    }
    // Both factors are below 2^32 for any key count this benchmark uses, and the result
    // is below `keys`, so neither the product nor the conversion back can overflow.
    usize::try_from((index as u64 % keys_wide) * PERMUTATION_MULTIPLIER % keys_wide)
        .unwrap_or(index)
}

/// The names of a data set of `keys` keys spread over `groups` groups, made before any
/// clock starts.
#[derive(Debug)]
pub struct DataSet {
    groups: Vec<String>,
    keys: Vec<String>,
    missing_keys: Vec<String>,
    value: String,
}

impl DataSet {
    /// Names for `keys` keys over `groups` groups (key `k` lives in group `k % groups`).
    #[must_use]
    pub fn new(keys: usize, groups: usize) -> DataSet {
        let groups = groups.max(1);
        DataSet {
            groups: (0..groups).map(group_name).collect(),
            keys: (0..keys).map(|index| format!("key-{index:08}")).collect(),
            missing_keys: (0..keys)
                .map(|index| format!("missing-{index:08}"))
                .collect(),
            value: value(),
        }
    }

    /// How many keys the data set has.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The group of key `index`.
    #[must_use]
    pub fn group_of(&self, index: usize) -> &str {
        &self.groups[index % self.groups.len()]
    }

    /// Key `index` (modulo the key count).
    #[must_use]
    pub fn key(&self, index: usize) -> &str {
        &self.keys[index % self.keys.len().max(1)]
    }

    /// A key that is never written, in the group of key `index`.
    #[must_use]
    pub fn missing_key(&self, index: usize) -> &str {
        &self.missing_keys[index % self.missing_keys.len().max(1)]
    }

    /// The value every key holds.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// The name of group `index`.
#[must_use]
pub fn group_name(index: usize) -> String {
    format!("group-{index:04}")
}

/// The 100-byte value.
#[must_use]
pub fn value() -> String {
    let mut value = String::from("value-");
    while value.len() < VALUE_SIZE {
        value.push('x');
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_good_is_a_bijection() {
        for keys in [1, 7, 100, 1_000, 10_000] {
            let mut seen = vec![false; keys];
            for index in 0..keys {
                let key = permuted(index, keys);
                assert!(!seen[key], "key {key} of {keys} seen twice");
                seen[key] = true;
            }
        }
    }

    #[test]
    fn permuted_good_spreads_neighbours() {
        assert_ne!(permuted(1, 100_000), 1);
        assert_eq!(permuted(1, 100_000), 1_000_003 % 100_000);
    }

    #[test]
    fn data_set_good_names_and_value() {
        let data = DataSet::new(10, 3);
        assert_eq!(data.len(), 10);
        assert_eq!(data.group_of(4), "group-0001");
        assert_eq!(data.key(4), "key-00000004");
        assert_eq!(data.missing_key(4), "missing-00000004");
        assert_eq!(data.value().len(), VALUE_SIZE);
    }
}
