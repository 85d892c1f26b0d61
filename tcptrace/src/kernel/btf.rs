//! The little of the kernel's BTF (`/sys/kernel/btf/vmlinux`) that packet fate needs: a
//! struct member's byte offset (through anonymous structs and unions) and an enum's
//! names. (No crate fits: aya keeps its BTF types private, btf-rs is LGPL, which a static
//! binary cannot carry lightly.)
use std::collections::HashMap;

const MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// One type's header: its kind, name and the type it refers to, and where its members
/// (struct, union) or enumerators are in the type section (read when asked for).
struct Type {
    kind: u32,
    name: u32,
    refers: u32,
    kind_flag: bool,
    vlen: u32,
    at: usize,
}

pub struct Btf {
    types: Vec<Type>,
    raw: Vec<u8>,
    /// Where the type section and the strings are in `raw`.
    types_at: usize,
    strings_at: usize,
    strings_len: usize,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

impl Btf {
    /// The running kernel's BTF.
    pub fn vmlinux() -> Option<Btf> {
        Btf::parse(std::fs::read("/sys/kernel/btf/vmlinux").ok()?)
    }

    /// Indexes raw (little-endian) BTF; None when it is not that.
    pub fn parse(raw: Vec<u8>) -> Option<Btf> {
        let b = &raw;
        if b.len() < 24 || u16::from_le_bytes([b[0], b[1]]) != MAGIC {
            return None;
        }
        let hdr_len = u32_at(b, 4)? as usize;
        let (type_off, type_len) = (u32_at(b, 8)? as usize, u32_at(b, 12)? as usize);
        let (str_off, str_len) = (u32_at(b, 16)? as usize, u32_at(b, 20)? as usize);
        let types_at = hdr_len + type_off;
        let section = b.get(types_at..types_at + type_len)?;
        b.get(hdr_len + str_off..hdr_len + str_off + str_len)?;
        // Type 0 is void.
        let mut types = vec![Type {
            kind: 0,
            name: 0,
            refers: 0,
            kind_flag: false,
            vlen: 0,
            at: 0,
        }];
        let mut at = 0;
        while at + 12 <= section.len() {
            let info = u32_at(section, at + 4)?;
            let (kind, vlen) = ((info >> 24) & 0x1f, info & 0xffff);
            types.push(Type {
                kind,
                name: u32_at(section, at)?,
                refers: u32_at(section, at + 8)?,
                kind_flag: info >> 31 == 1,
                vlen,
                at: at + 12,
            });
            at += 12
                + match kind {
                    KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                    KIND_ARRAY => 12,
                    KIND_STRUCT | KIND_UNION | KIND_ENUM64 | KIND_DATASEC => 12 * vlen as usize,
                    KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen as usize,
                    _ => 0,
                };
        }
        Some(Btf {
            types,
            types_at,
            strings_at: hdr_len + str_off,
            strings_len: str_len,
            raw,
        })
    }

    fn string(&self, off: u32) -> &str {
        let all = &self.raw[self.strings_at..self.strings_at + self.strings_len];
        let s = all.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or_default()
    }

    /// Word `i` of the `n`-word entries after type `t`'s header.
    fn word(&self, t: &Type, entry: usize, n: usize, i: usize) -> u32 {
        u32_at(&self.raw, self.types_at + t.at + entry * 4 * n + 4 * i).unwrap_or(0)
    }

    /// The first struct, union or enum of this name (of one of `kinds`) with members.
    fn named(&self, name: &str, kinds: &[u32]) -> Option<&Type> {
        self.types
            .iter()
            .find(|t| kinds.contains(&t.kind) && t.vlen > 0 && self.string(t.name) == name)
    }

    /// Through typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Option<&Type> {
        for _ in 0..16 {
            let t = self.types.get(id as usize)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.refers
                }
                _ => return Some(t),
            }
        }
        None
    }

    /// Byte offset of `member` in `struct name`, looking into anonymous members.
    pub fn member_offset(&self, name: &str, member: &str) -> Option<u32> {
        let t = self.named(name, &[KIND_STRUCT])?;
        self.find_member(t, member, 0).map(|bits| bits / 8)
    }

    fn find_member(&self, t: &Type, member: &str, depth: u32) -> Option<u32> {
        if depth > 8 {
            return None;
        }
        for m in 0..t.vlen as usize {
            let (name, ty, off) = (
                self.word(t, m, 3, 0),
                self.word(t, m, 3, 1),
                self.word(t, m, 3, 2),
            );
            let bits = if t.kind_flag { off & 0xff_ffff } else { off };
            if name == 0 {
                let inner = self.resolve(ty)?;
                if matches!(inner.kind, KIND_STRUCT | KIND_UNION)
                    && let Some(b) = self.find_member(inner, member, depth + 1)
                {
                    return Some(bits + b);
                }
            } else if self.string(name) == member {
                return Some(bits);
            }
        }
        None
    }

    /// How many arguments tracepoint `tp` hands its programs (the parameters of
    /// `btf_trace_TP`, a pointer to a function whose first parameter is the probe's data).
    pub fn tracepoint_args(&self, tp: &str) -> Option<usize> {
        let name = format!("btf_trace_{tp}");
        let t = self
            .types
            .iter()
            .find(|t| t.kind == KIND_TYPEDEF && self.string(t.name) == name)?;
        let ptr = self.resolve(t.refers)?;
        if ptr.kind != KIND_PTR {
            return None;
        }
        let proto = self.resolve(ptr.refers)?;
        (proto.kind == KIND_FUNC_PROTO).then(|| (proto.vlen as usize).saturating_sub(1))
    }

    /// The enumerators of `enum name`, by value.
    pub fn enum_names(&self, name: &str) -> Option<HashMap<u32, String>> {
        let t = self.named(name, &[KIND_ENUM, KIND_ENUM64])?;
        let n = if t.kind == KIND_ENUM { 2 } else { 3 };
        Some(
            (0..t.vlen as usize)
                .map(|e| {
                    (
                        self.word(t, e, n, 1),
                        self.string(self.word(t, e, n, 0)).to_string(),
                    )
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob made by hand: `struct outer { int a; union { int b; struct { int c;
    /// int d; }; }; }` and `enum e { X = 1, Y = 7 }`.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0outer\0a\0b\0c\0d\0e\0X\0Y\0";
        let s = |name: &str| {
            let mut at = 0;
            for part in strings.split(|&c| c == 0) {
                if part == name.as_bytes() {
                    return at as u32;
                }
                at += part.len() + 1;
            }
            panic!("{name}")
        };
        let mut t = Vec::new();
        let mut push = |words: &[u32]| words.iter().for_each(|w| t.extend(w.to_le_bytes()));
        let info = |kind: u32, vlen: u32| (kind << 24) | vlen;
        // 1: int
        push(&[s("int"), info(KIND_INT, 0), 4, 32]);
        // 2: struct { int c; int d; } (anonymous)
        push(&[0, info(KIND_STRUCT, 2), 8, s("c"), 1, 0, s("d"), 1, 32]);
        // 3: union { int b; struct 2; } (anonymous)
        push(&[0, info(KIND_UNION, 2), 8, s("b"), 1, 0, 0, 2, 0]);
        // 4: struct outer { int a; union 3; } (union at byte 8)
        push(&[s("outer"), info(KIND_STRUCT, 2), 16, s("a"), 1, 0, 0, 3, 64]);
        // 5: enum e
        push(&[s("e"), info(KIND_ENUM, 2), 4, s("X"), 1, s("Y"), 7]);
        let mut b = Vec::new();
        b.extend(MAGIC.to_le_bytes());
        b.extend([1, 0]);
        for w in [24, 0, t.len() as u32, t.len() as u32, strings.len() as u32] {
            b.extend(w.to_le_bytes());
        }
        b.extend(&t);
        b.extend(strings);
        b
    }

    #[test]
    fn members_through_anonymous_unions_and_structs() {
        let btf = Btf::parse(blob()).unwrap();
        assert_eq!(btf.member_offset("outer", "a"), Some(0));
        assert_eq!(btf.member_offset("outer", "b"), Some(8));
        assert_eq!(btf.member_offset("outer", "c"), Some(8));
        assert_eq!(btf.member_offset("outer", "d"), Some(12));
        assert_eq!(btf.member_offset("outer", "z"), None);
        let e = btf.enum_names("e").unwrap();
        assert_eq!(e[&1], "X");
        assert_eq!(e[&7], "Y");
    }

    #[test]
    fn not_btf() {
        assert!(Btf::parse(b"not btf at all, not at all".to_vec()).is_none());
    }
}
