//! The little of the kernel's BTF (`/sys/kernel/btf/vmlinux`) that packet fate needs: a
//! struct member's byte offset (through anonymous structs and unions) and an enum's
//! names. (No crate fits: aya keeps its BTF types private, btf-rs is LGPL, which a static
//! binary cannot carry lightly.)
use std::collections::HashMap;

const MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
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

/// One type: its kind, name, the type it refers to, and its members (name, type, bit
/// offset) or enumerators (name, value).
struct Type {
    kind: u32,
    name: u32,
    refers: u32,
    kind_flag: bool,
    members: Vec<(u32, u32, u32)>,
}

pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    by_name: HashMap<String, Vec<u32>>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

impl Btf {
    /// The running kernel's BTF.
    pub fn vmlinux() -> Option<Btf> {
        Btf::parse(&std::fs::read("/sys/kernel/btf/vmlinux").ok()?)
    }

    /// Parses raw (little-endian) BTF; None when it is not that.
    pub fn parse(b: &[u8]) -> Option<Btf> {
        if b.len() < 24 || u16::from_le_bytes([b[0], b[1]]) != MAGIC {
            return None;
        }
        let hdr_len = u32_at(b, 4)? as usize;
        let (type_off, type_len) = (u32_at(b, 8)? as usize, u32_at(b, 12)? as usize);
        let (str_off, str_len) = (u32_at(b, 16)? as usize, u32_at(b, 20)? as usize);
        let types_raw = b.get(hdr_len + type_off..hdr_len + type_off + type_len)?;
        let strings = b
            .get(hdr_len + str_off..hdr_len + str_off + str_len)?
            .to_vec();
        // Type 0 is void.
        let mut types = vec![Type {
            kind: 0,
            name: 0,
            refers: 0,
            kind_flag: false,
            members: Vec::new(),
        }];
        let mut at = 0;
        while at + 12 <= types_raw.len() {
            let name = u32_at(types_raw, at)?;
            let info = u32_at(types_raw, at + 4)?;
            let refers = u32_at(types_raw, at + 8)?;
            at += 12;
            let (kind, vlen, kind_flag) = ((info >> 24) & 0x1f, info & 0xffff, info >> 31 == 1);
            let mut members = Vec::new();
            let each = |n: usize| n * vlen as usize;
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => at += 4,
                KIND_ARRAY => at += 12,
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen as usize {
                        let m = at + i * 12;
                        members.push((
                            u32_at(types_raw, m)?,
                            u32_at(types_raw, m + 4)?,
                            u32_at(types_raw, m + 8)?,
                        ));
                    }
                    at += each(12);
                }
                KIND_ENUM => {
                    for i in 0..vlen as usize {
                        let m = at + i * 8;
                        members.push((u32_at(types_raw, m)?, 0, u32_at(types_raw, m + 4)?));
                    }
                    at += each(8);
                }
                KIND_ENUM64 => {
                    for i in 0..vlen as usize {
                        let m = at + i * 12;
                        members.push((u32_at(types_raw, m)?, 0, u32_at(types_raw, m + 4)?));
                    }
                    at += each(12);
                }
                KIND_FUNC_PROTO => at += each(8),
                KIND_DATASEC => at += each(12),
                _ => {}
            }
            types.push(Type {
                kind,
                name,
                refers,
                kind_flag,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        for (id, t) in btf.types.iter().enumerate() {
            if matches!(t.kind, KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64) {
                let n = btf.string(t.name).to_string();
                btf.by_name.entry(n).or_default().push(id as u32);
            }
        }
        Some(btf)
    }

    fn string(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or_default()
    }

    /// The first struct, union or enum of this name (kind as given).
    fn named(&self, name: &str, kinds: &[u32]) -> Option<&Type> {
        self.by_name
            .get(name)?
            .iter()
            .map(|&id| &self.types[id as usize])
            .find(|t| kinds.contains(&t.kind) && !t.members.is_empty())
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
        for &(name, ty, off) in &t.members {
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

    /// The enumerators of `enum name`, by value.
    pub fn enum_names(&self, name: &str) -> Option<HashMap<u32, String>> {
        let t = self.named(name, &[KIND_ENUM, KIND_ENUM64])?;
        Some(
            t.members
                .iter()
                .map(|&(n, _, v)| (v, self.string(n).to_string()))
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
        let btf = Btf::parse(&blob()).unwrap();
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
        assert!(Btf::parse(b"not btf at all, not at all").is_none());
    }
}
