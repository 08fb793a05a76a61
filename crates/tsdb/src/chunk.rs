//! Gorilla-compressed chunks: delta-of-delta timestamps and XOR values.
//!
//! The layout follows Facebook's Gorilla paper (VLDB 2015) with the
//! timestamp buckets Prometheus chose for millisecond times, so a regular
//! scrape costs one bit per timestamp and a steady value one bit per value:
//!
//! - first sample: time as a zig-zag varint, value as 64 raw bits;
//! - second: the time delta as a varint, the value XOR-encoded;
//! - then each time as the delta of deltas in the smallest bucket that holds
//!   it (`0`, `10`+14 bits, `110`+17, `1110`+20, `1111`+64), and each value
//!   XORed with the one before: `0` when equal, `10` + the meaningful bits when
//!   they fit the previous window, `11` + 5 bits leading zeros + 6 bits length
//!   + the bits otherwise.
//!
//! Values are kept bit for bit, so Prometheus's staleness marker (one
//! particular NaN) survives the round trip.

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0 when a new byte is needed).
    free: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << self.free;
            }
        }
    }

    /// Writes the low `count` bits of `value` (count <= 64).
    fn write_bits(&mut self, value: u64, count: u8) {
        let mut left = count;
        while left > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = left.min(self.free);
            let shift = left - take;
            let part = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            self.free -= take;
            if let Some(last) = self.bytes.last_mut() {
                *last |= part << self.free;
            }
            left -= take;
        }
    }

    fn write_uvarint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.write_bits(byte as u64, 8);
                return;
            }
            self.write_bits((byte | 0x80) as u64, 8);
        }
    }
}

/// Reads bits written by [`BitWriter`]; every read is bounds-checked so a
/// corrupt chunk ends the iteration instead of panicking.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    fn read_bits(&mut self, count: u8) -> Option<u64> {
        if self.pos + count as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut value = 0u64;
        let mut left = count;
        while left > 0 {
            let byte = self.bytes[self.pos / 8];
            let used = (self.pos % 8) as u8;
            let avail = 8 - used;
            let take = left.min(avail);
            let part = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            value = (value << take) | part as u64;
            self.pos += take as usize;
            left -= take;
        }
        Some(value)
    }

    fn read_uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read_bits(8)?;
            value |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Delta-of-delta buckets: (prefix bits, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits_signed(value: i64, bits: u8) -> bool {
    let half = 1i64 << (bits - 1);
    // Prometheus's ranges: -(2^(n-1) - 1) ..= 2^(n-1)
    value > -half && value <= half
}

/// One chunk being written: the state the next append needs.
#[derive(Debug, Clone, Default)]
pub struct ChunkWriter {
    bits: BitWriter,
    count: u32,
    first_t: i64,
    last_t: i64,
    last_delta: i64,
    last_v: u64,
    leading: u8,
    trailing: u8,
}

impl ChunkWriter {
    pub fn new() -> Self {
        ChunkWriter {
            leading: u8::MAX,
            ..Default::default()
        }
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn min_time(&self) -> i64 {
        self.first_t
    }

    pub fn max_time(&self) -> i64 {
        self.last_t
    }

    /// The encoded bytes so far (a valid chunk of `len()` samples).
    pub fn bytes(&self) -> &[u8] {
        &self.bits.bytes
    }

    /// Appends one sample; times must not go backwards (the store checks).
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.bits.write_uvarint(zigzag(t));
                self.bits.write_bits(bits, 64);
                self.first_t = t;
            }
            1 => {
                let delta = t - self.last_t;
                self.bits.write_uvarint(zigzag(delta));
                self.write_value(bits);
                self.last_delta = delta;
            }
            _ => {
                let delta = t - self.last_t;
                self.write_dod(delta - self.last_delta);
                self.write_value(bits);
                self.last_delta = delta;
            }
        }
        self.last_t = t;
        self.last_v = bits;
        self.count += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.bits.write_bit(false);
            return;
        }
        for (prefix, prefix_len, payload) in DOD_BUCKETS {
            if fits_signed(dod, payload) {
                self.bits.write_bits(prefix, prefix_len);
                self.bits.write_bits(dod as u64, payload);
                return;
            }
        }
        self.bits.write_bits(0b1111, 4);
        self.bits.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.last_v;
        if xor == 0 {
            self.bits.write_bit(false);
            return;
        }
        self.bits.write_bit(true);
        // 5 bits hold at most 31 leading zeros.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.bits.write_bit(false);
            let significant = 64 - self.leading - self.trailing;
            self.bits.write_bits(xor >> self.trailing, significant);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.bits.write_bit(true);
        self.bits.write_bits(leading as u64, 5);
        let significant = 64 - leading - trailing;
        // 64 significant bits are written as 0 in six bits.
        self.bits.write_bits((significant & 63) as u64, 6);
        self.bits.write_bits(xor >> trailing, significant);
    }
}

/// Iterates over the samples of an encoded chunk of `count` samples.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    bits: BitReader<'a>,
    left: u32,
    read: u32,
    t: i64,
    delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl<'a> ChunkIter<'a> {
    pub fn new(bytes: &'a [u8], count: u32) -> Self {
        ChunkIter {
            bits: BitReader::new(bytes),
            left: count,
            read: 0,
            t: 0,
            delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn read_dod(&mut self) -> Option<i64> {
        if !self.bits.read_bit()? {
            return Some(0);
        }
        for (_, _, payload) in DOD_BUCKETS {
            if !self.bits.read_bit()? {
                let raw = self.bits.read_bits(payload)?;
                return Some(sign_extend(raw, payload));
            }
        }
        Some(self.bits.read_bits(64)? as i64)
    }

    fn read_value(&mut self) -> Option<u64> {
        if !self.bits.read_bit()? {
            return Some(self.v);
        }
        if self.bits.read_bit()? {
            self.leading = self.bits.read_bits(5)? as u8;
            let significant = self.bits.read_bits(6)? as u8;
            let significant = if significant == 0 { 64 } else { significant };
            self.trailing = 64u8.checked_sub(self.leading + significant)?;
        }
        let significant = 64u8.checked_sub(self.leading + self.trailing)?;
        let xor = self.bits.read_bits(significant)? << self.trailing;
        Some(self.v ^ xor)
    }

    fn next_sample(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = unzigzag(self.bits.read_uvarint()?);
                self.v = self.bits.read_bits(64)?;
            }
            1 => {
                self.delta = unzigzag(self.bits.read_uvarint()?);
                self.t = self.t.wrapping_add(self.delta);
                self.v = self.read_value()?;
            }
            _ => {
                self.delta = self.delta.wrapping_add(self.read_dod()?);
                self.t = self.t.wrapping_add(self.delta);
                self.v = self.read_value()?;
            }
        }
        self.read += 1;
        Some((self.t, f64::from_bits(self.v)))
    }
}

fn sign_extend(raw: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let sample = self.next_sample();
        if sample.is_none() {
            // A truncated or corrupt chunk: stop rather than yield garbage.
            self.left = 0;
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        let mut w = ChunkWriter::new();
        for &(t, v) in samples {
            w.append(t, v);
        }
        ChunkIter::new(w.bytes(), w.len())
            .map(|(t, v)| (t, v.to_bits()))
            .collect()
    }

    #[test]
    fn regular_scrapes_cost_about_two_bits_a_sample() {
        let mut w = ChunkWriter::new();
        for i in 0..120 {
            w.append(1_700_000_000_000 + i * 15_000, 42.0);
        }
        // 2 bits a sample after the first two.
        assert!(w.bytes().len() < 50, "{} bytes", w.bytes().len());
    }

    #[test]
    fn staleness_nan_and_specials_survive() {
        let stale = f64::from_bits(0x7ff0000000000002);
        let samples = [
            (0, 1.0),
            (10, stale),
            (20, f64::INFINITY),
            (30, -0.0),
            (40, f64::NAN),
            (41, f64::MIN_POSITIVE),
        ];
        let back = round_trip(&samples);
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn truncated_chunks_stop_without_panicking() {
        let mut w = ChunkWriter::new();
        for i in 0..50 {
            w.append(i * 1000 + (i % 7) * 13, i as f64 * 1.37);
        }
        for cut in 0..w.bytes().len() {
            let n = ChunkIter::new(&w.bytes()[..cut], w.len()).count();
            assert!(n <= 50);
        }
    }

    proptest! {
        #[test]
        fn any_increasing_series_round_trips(
            start in -1_000_000_000_000i64..4_000_000_000_000i64,
            steps in proptest::collection::vec((0i64..10_000_000_000i64, any::<u64>()), 1..300),
        ) {
            let mut t = start;
            let samples: Vec<(i64, f64)> = steps.iter().map(|&(dt, bits)| { t += dt; (t, f64::from_bits(bits)) }).collect();
            let back = round_trip(&samples);
            let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), count in 0u32..500) {
            let _ = ChunkIter::new(&bytes, count).count();
        }
    }
}
