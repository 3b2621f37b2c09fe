//! The decision digest: a running BLAKE3 hash of every output, so two runs with the
//! same inputs can be compared with one value.
//!
//! Outputs are fed through `std::hash::Hash` into a hasher that writes every integer
//! as fixed-width little-endian bytes (including `usize`/`isize`, widened to 64 bits),
//! so the digest does not depend on the platform's endianness or pointer width.

use std::hash::{Hash, Hasher};

/// A running digest.
#[derive(Clone)]
pub struct Digest {
    hasher: blake3::Hasher,
    count: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            hasher: blake3::Hasher::new(),
            count: 0,
        }
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({} items, {})", self.count, self.hex())
    }
}

struct Feed<'a>(&'a mut blake3::Hasher);

impl Hasher for Feed<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.0.update(&[i]);
    }
    fn write_u16(&mut self, i: u16) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.0.update(&(i as u64).to_le_bytes());
    }
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as i64 as u64);
    }
}

impl Digest {
    /// Adds one item.
    pub fn add<T: Hash + ?Sized>(&mut self, item: &T) {
        item.hash(&mut Feed(&mut self.hasher));
        self.count += 1;
    }

    /// Items added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest so far.
    pub fn value(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }

    /// The digest so far as lower-case hex.
    pub fn hex(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_matter() {
        let mut a = Digest::default();
        a.add(&(1u64, "x"));
        a.add(&2i32);
        let mut b = Digest::default();
        b.add(&2i32);
        b.add(&(1u64, "x"));
        assert_ne!(a.value(), b.value());
        let mut c = Digest::default();
        c.add(&(1u64, "x"));
        c.add(&2i32);
        assert_eq!(a.value(), c.value());
        assert_eq!(a.count(), 2);
    }

    #[test]
    fn known_value_is_stable_across_platforms() {
        let mut d = Digest::default();
        d.add(&(7u64, -1i32, 3usize));
        // The encoding is 7u64 LE ‖ 0xffffffff ‖ 3u64 LE.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.extend_from_slice(&(-1i32).to_le_bytes());
        bytes.extend_from_slice(&3u64.to_le_bytes());
        assert_eq!(d.value(), *blake3::hash(&bytes).as_bytes());
    }
}
