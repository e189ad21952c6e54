//! A stable hash of names: FNV-1a over the ASCII-folded bytes, mixed by splitmix64. Fixed, unlike
//! `std`'s randomly keyed hasher, because its values must agree between processes and machines:
//! the simulated internet and its `--truth` draw each name's answer from it, and `--shard-by host`
//! sends each host to one shard on every machine of a sharded run.

/// The hash of `name` (ASCII case folded) under `seed`.
pub fn name_hash(name: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(h ^ splitmix64(seed))
}

/// One step of splitmix64: a cheap, well-mixed bijection of `u64`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_pinned_and_folds_case() {
        // Pinned: a change here changes every published truth file and every host shard.
        assert_eq!(
            name_hash("", 0),
            splitmix64(0xcbf2_9ce4_8422_2325 ^ splitmix64(0))
        );
        assert_eq!(name_hash("abc.com", 7), name_hash("ABC.com", 7));
        assert_ne!(name_hash("abc.com", 7), name_hash("abc.com", 8));
    }
}
