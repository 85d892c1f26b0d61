//! The TCP option list (RFC 9293 §3.1): one walk over a header's option bytes, which the
//! tracker ([`crate::track::opts`]) and the printer ([`crate::render::options`]) both use.
//! The walk yields each option's kind, length byte and data; a kind or length byte that
//! was not captured, or a length below 2 or past the header's end, ends it with
//! [`Malformed`]. It stops after an end-of-list option.

/// Option kinds (IANA's registry, those tcpdump names).
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_OK: u8 = 4;
    pub const SACK: u8 = 5;
    pub const ECHO: u8 = 6;
    pub const ECHO_REPLY: u8 = 7;
    pub const TIMESTAMP: u8 = 8;
    pub const CC: u8 = 11;
    pub const CC_NEW: u8 = 12;
    pub const CC_ECHO: u8 = 13;
    pub const MD5: u8 = 19;
    pub const SCPS: u8 = 20;
    pub const UTO: u8 = 28;
    pub const TCP_AO: u8 = 29;
    pub const MPTCP: u8 = 30;
    pub const FAST_OPEN: u8 = 34;
    pub const EXPERIMENT2: u8 = 254;
}

/// One option as the header holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOption<'a> {
    /// Offset of its kind byte in the option bytes.
    pub at: usize,
    pub kind: u8,
    /// Its length byte (1 for end-of-list and no-op, which have none).
    pub len: usize,
    /// The captured bytes after its kind and length bytes, to the header's end (a
    /// printer that reads more than `len` allows sees what follows).
    pub after: &'a [u8],
    /// How many bytes of the header follow its kind and length bytes.
    pub room: usize,
}

impl<'a> TcpOption<'a> {
    /// Kind and length bytes.
    pub fn head(&self) -> usize {
        if self.len == 1 { 1 } else { 2 }
    }

    /// Its data when all `len - 2` bytes were captured.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.after.get(..self.len.saturating_sub(2))
    }
}

/// Why the walk ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The kind byte (`len_byte` false) or the length byte at `at + 1` was not captured.
    Short { at: usize, len_byte: bool },
    /// A length byte below 2 or past the header's end.
    BadLength { at: usize, kind: u8, len: usize },
}

/// The walk. `captured`: the option bytes captured; `header`: how many the header's data
/// offset says it has.
pub struct Options<'a> {
    bytes: &'a [u8],
    header: usize,
    pos: usize,
    done: bool,
}

impl<'a> Options<'a> {
    pub fn new(captured: &'a [u8], header: usize) -> Options<'a> {
        Options {
            bytes: captured,
            header,
            pos: 0,
            done: false,
        }
    }

    /// Goes on from `pos` instead of after the last option's length (tcpdump's printer
    /// moves on by the bytes it read).
    pub fn resume_at(&mut self, pos: usize) {
        self.pos = pos;
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<TcpOption<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.header {
            return None;
        }
        let at = self.pos;
        let Some(&kind) = self.bytes.get(at) else {
            self.done = true;
            return Some(Err(Malformed::Short {
                at,
                len_byte: false,
            }));
        };
        let len = if kind == kind::EOL || kind == kind::NOP {
            1
        } else {
            let Some(&l) = self.bytes.get(at + 1) else {
                self.done = true;
                return Some(Err(Malformed::Short { at, len_byte: true }));
            };
            let l = usize::from(l);
            if l < 2 || at + l > self.header {
                self.done = true;
                return Some(Err(Malformed::BadLength { at, kind, len: l }));
            }
            l
        };
        let head = if len == 1 { 1 } else { 2 };
        let start = (at + head).min(self.bytes.len());
        let end = self.header.min(self.bytes.len()).max(start);
        self.pos = at + len;
        self.done = kind == kind::EOL;
        Some(Ok(TcpOption {
            at,
            kind,
            len,
            after: &self.bytes[start..end],
            room: self.header - (at + head).min(self.header),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_kinds_lengths_and_data() {
        // mss 1460, nop, wscale 7, sackOK, eol, then bytes never read.
        let b = [2, 4, 5, 180, 1, 3, 3, 7, 4, 2, 0, 9, 9];
        let v: Vec<_> = Options::new(&b, b.len()).map(Result::unwrap).collect();
        let kinds: Vec<_> = v.iter().map(|o| (o.kind, o.len)).collect();
        assert_eq!(kinds, [(2, 4), (1, 1), (3, 3), (4, 2), (0, 1)]);
        assert_eq!(v[0].data(), Some(&[5, 180][..]));
        assert_eq!(v[2].data(), Some(&[7][..]));
        assert_eq!(v[3].data(), Some(&[][..]));
        assert_eq!((v[0].room, v[0].after.len()), (11, 11));
    }

    #[test]
    fn malformed_and_cut_short() {
        fn first(b: &[u8], header: usize) -> Result<TcpOption<'_>, Malformed> {
            Options::new(b, header).next().unwrap()
        }
        assert_eq!(
            first(&[2, 1, 0, 0], 4),
            Err(Malformed::BadLength {
                at: 0,
                kind: 2,
                len: 1
            })
        );
        assert_eq!(
            first(&[2, 9, 0, 0], 4),
            Err(Malformed::BadLength {
                at: 0,
                kind: 2,
                len: 9
            })
        );
        assert_eq!(
            first(&[2], 4),
            Err(Malformed::Short {
                at: 0,
                len_byte: true
            })
        );
        // Data past the capture: the option, without whole data.
        let o = first(&[8, 10, 0, 0], 12).unwrap();
        assert_eq!((o.kind, o.data(), o.room, o.after.len()), (8, None, 10, 2));
        let mut it = Options::new(&[1, 1], 4);
        assert!(it.next().unwrap().is_ok() && it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(Malformed::Short {
                at: 2,
                len_byte: false
            }))
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn resume_where_the_reader_stopped() {
        // An MSS whose length byte says 6: a reader of 2 data bytes goes on at byte 4.
        let b = [2, 6, 5, 180, 1, 1];
        let mut it = Options::new(&b, b.len());
        let o = it.next().unwrap().unwrap();
        it.resume_at(o.at + o.head() + 2);
        let next: Vec<_> = it.map(|o| o.unwrap().kind).collect();
        assert_eq!(next, [1, 1]);
    }
}
