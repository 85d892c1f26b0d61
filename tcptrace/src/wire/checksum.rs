//! The Internet checksum (RFC 1071): one's complement sums of 16-bit big-endian words.

/// Adds the words of `data` to `acc` (an odd last byte is padded with zero).
pub fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = words.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

/// Folds the carries of a 32-bit sum into 16 bits (not complemented).
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The value for a checksum field over `data` (sum, folded, complemented).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum16(0, data))
}

/// The pseudo-header's sum: both addresses (4 or 16 bytes each), protocol and length.
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: u32) -> u32 {
    let acc = sum16(sum16(0, src), dst);
    acc + u32::from(proto) + (len >> 16) + (len & 0xffff)
}

/// tcpdump's `in_cksum_shouldbe`: what a field holding `field` should hold, given the
/// complemented sum `computed` over the data with that field in it.
pub fn should_be(field: u16, computed: u16) -> u16 {
    fold(u32::from(field) + u32::from(computed))
}

/// The field value that is right with `to` in the pseudo-header, given the value `calc`
/// that is right with `from` (equal lengths).
pub fn replace_in_pseudo_header(calc: u16, from: &[u8], to: &[u8]) -> u16 {
    let mut acc = u32::from(calc);
    for (a, b) in from.chunks(2).zip(to.chunks(2)) {
        acc += u32::from(u16::from_be_bytes([a[0], a[1]]));
        acc += u32::from(!u16::from_be_bytes([b[0], b[1]]));
    }
    fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's example words, and an IPv4 header whose checksum is known.
    #[test]
    fn sums_and_checksums() {
        assert_eq!(
            fold(sum16(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
        let mut ip = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&ip), 0xb861);
        ip[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&ip), 0);
        assert_eq!(should_be(0xb861, 0), 0xb861);
        // An odd byte counts as the high half of a word.
        assert_eq!(sum16(0, &[0x12]), 0x1200);
    }

    /// A field right for one destination, moved to another, is right for the new one.
    #[test]
    fn pseudo_header_replacement() {
        let (a, b, c) = ([10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 7, 9]);
        let payload = [1u8, 2, 3, 4, 5];
        let with = |dst: &[u8]| {
            !fold(pseudo_header(&a, dst, 17, payload.len() as u32) + sum16(0, &payload))
        };
        assert_eq!(replace_in_pseudo_header(with(&b), &b, &c), with(&c));
    }
}
