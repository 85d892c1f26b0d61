//! Syntax tree → the kernel's rule table: `not` pushed down to the primitives (De Morgan),
//! then expanded to disjunctive normal form, simplified (contradictions, tests implied by
//! the address family, duplicates, terms covered by smaller ones), and checked against the
//! table's limits — a filter that does not fit is refused, never cut.
use std::collections::BTreeSet;

use tcptrace_common::rules::{
    DIR_DST, DIR_EITHER, DIR_SRC, KIND_FLAGS_EQ, KIND_FLAGS_NE, KIND_NET4, KIND_NET6, KIND_PORT,
    KIND_V4, KIND_V6, KIND_VLAN, KIND_VLAN_ID, MAX_TERMS, MAX_TESTS, RuleTable, Test,
};

use super::{
    FilterError,
    parse::{Expr, Prim, Side},
};

/// A primitive, possibly negated (`true` = negated).
pub type Lit = (Prim, bool);
/// A conjunction of literals.
pub type Conj = BTreeSet<Lit>;

/// Expansion stops (with an error) past this many intermediate terms.
const EXPANSION_CAP: usize = 1024;

/// Negation normal form: `not` only on primitives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Nnf {
    Const(bool),
    Lit(Lit),
    And(Box<Nnf>, Box<Nnf>),
    Or(Box<Nnf>, Box<Nnf>),
}

fn nnf(e: &Expr, neg: bool) -> Nnf {
    match e {
        Expr::Const(b) => Nnf::Const(*b != neg),
        // Every packet is IPv4 or IPv6: `ip6` is `not ip`, so that `ip or ip6` resolves.
        Expr::Prim(Prim::V6) => Nnf::Lit((Prim::V4, !neg)),
        Expr::Prim(p) => Nnf::Lit((*p, neg)),
        Expr::Not(x) => nnf(x, !neg),
        Expr::And(a, b) if neg => Nnf::Or(Box::new(nnf(a, true)), Box::new(nnf(b, true))),
        Expr::And(a, b) => Nnf::And(Box::new(nnf(a, false)), Box::new(nnf(b, false))),
        Expr::Or(a, b) if neg => Nnf::And(Box::new(nnf(a, true)), Box::new(nnf(b, true))),
        Expr::Or(a, b) => Nnf::Or(Box::new(nnf(a, false)), Box::new(nnf(b, false))),
    }
}

/// The address family a literal requires, if any (every packet is IPv4 or IPv6).
fn family(l: &Lit) -> Option<u8> {
    match l {
        (Prim::V4 | Prim::Net4 { .. } | Prim::Flags { .. }, false) | (Prim::V6, true) => Some(4),
        (Prim::V6 | Prim::Net6 { .. }, false) | (Prim::V4, true) => Some(6),
        _ => None,
    }
}

/// Whether `l` holds for every packet of family `fam`.
fn implied(l: &Lit, fam: u8) -> bool {
    match fam {
        4 => matches!(l, (Prim::V4, false) | (Prim::V6 | Prim::Net6 { .. }, true)),
        _ => matches!(
            l,
            (Prim::V6, false) | (Prim::V4 | Prim::Net4 { .. } | Prim::Flags { .. }, true)
        ),
    }
}

/// The family every packet matching `lits` has; `Err` when they need both (unsatisfiable).
fn term_family<'a>(lits: impl Iterator<Item = &'a Lit>) -> Result<Option<u8>, ()> {
    let mut fam = None;
    for l in lits {
        if let Some(f) = family(l) {
            if fam.is_some_and(|g| g != f) {
                return Err(());
            }
            fam = Some(f);
        }
    }
    Ok(fam)
}

/// Simplifies one conjunction; `None` when it can never hold.
fn simplify_term(mut t: Conj) -> Option<Conj> {
    if t.iter().any(|(p, n)| t.contains(&(*p, !n))) {
        return None;
    }
    term_family(t.iter()).ok()?;
    // Drop literals the rest of the term implies.
    loop {
        let redundant = t.iter().copied().find(
            |l| matches!(term_family(t.iter().filter(|m| *m != l)), Ok(Some(f)) if implied(l, f)),
        );
        match redundant {
            Some(l) => {
                t.remove(&l);
            }
            None => return Some(t),
        }
    }
}

/// Simplifies a disjunction: unsatisfiable terms out, duplicates and terms that a smaller
/// term covers out. A single empty term means "always".
fn simplify(terms: Vec<Conj>) -> Vec<Conj> {
    let mut terms: Vec<Conj> = terms.into_iter().filter_map(simplify_term).collect();
    // Resolution: `A and x` or `A and not x` = `A` (small tables only: it is quadratic).
    if terms.len() <= 64 {
        'again: loop {
            for i in 0..terms.len() {
                for j in i + 1..terms.len() {
                    if terms[i].len() != terms[j].len() {
                        continue;
                    }
                    let diff: Vec<&Lit> = terms[i].symmetric_difference(&terms[j]).collect();
                    if diff.len() == 2 && diff[0].0 == diff[1].0 {
                        let common: Conj = terms[i].intersection(&terms[j]).copied().collect();
                        terms[i] = common;
                        terms.remove(j);
                        continue 'again;
                    }
                }
            }
            break;
        }
    }
    if terms.iter().any(BTreeSet::is_empty) {
        return vec![Conj::new()];
    }
    if terms.len() > 256 {
        // Too large to fit anyway; the quadratic passes are not worth it.
        return terms;
    }
    let mut by_size: Vec<(usize, Conj)> = terms.drain(..).enumerate().collect();
    by_size.sort_by_key(|(i, t)| (t.len(), *i));
    let mut kept: Vec<(usize, Conj)> = Vec::new();
    for (i, t) in by_size {
        if !kept.iter().any(|(_, k)| k.is_subset(&t)) {
            kept.push((i, t));
        }
    }
    // Back to the expression's order.
    kept.sort_by_key(|(i, _)| *i);
    kept.into_iter().map(|(_, t)| t).collect()
}

fn dnf(n: &Nnf) -> Result<Vec<Conj>, FilterError> {
    Ok(match n {
        Nnf::Const(true) => vec![Conj::new()],
        Nnf::Const(false) => vec![],
        Nnf::Lit(l) => simplify(vec![Conj::from([*l])]),
        Nnf::Or(a, b) => {
            let mut t = dnf(a)?;
            t.extend(dnf(b)?);
            if t.len() > EXPANSION_CAP {
                return Err(FilterError::TooManyTerms { terms: t.len() });
            }
            simplify(t)
        }
        Nnf::And(a, b) => {
            let (x, y) = (dnf(a)?, dnf(b)?);
            let n = x.len().saturating_mul(y.len());
            if n > EXPANSION_CAP {
                return Err(FilterError::TooManyTerms { terms: n });
            }
            let mut t = Vec::with_capacity(n);
            for l in &x {
                for r in &y {
                    t.push(l.union(r).copied().collect());
                }
            }
            simplify(t)
        }
    })
}

/// The expression in simplified disjunctive normal form (no limits applied).
pub fn to_dnf(e: &Expr) -> Result<Vec<Conj>, FilterError> {
    dnf(&nnf(e, false))
}

fn dir(side: Side) -> u8 {
    match side {
        Side::Src => DIR_SRC,
        Side::Dst => DIR_DST,
        Side::Either => DIR_EITHER,
    }
}

/// Wire bytes as native-endian words, the way the kernel reads the packet.
fn words<const N: usize>(b: [u8; N]) -> [u32; 4] {
    let mut w = [0u32; 4];
    for (i, c) in b.chunks_exact(4).enumerate() {
        w[i] = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

fn test(l: &Lit) -> Test {
    let mut t = Test {
        negate: u8::from(l.1),
        ..Test::default()
    };
    match l.0 {
        Prim::Net4 { side, addr, mask } => {
            t.kind = KIND_NET4;
            t.dir = dir(side);
            t.addr = words(addr.to_be_bytes());
            t.mask = words(mask.to_be_bytes());
        }
        Prim::Net6 { side, addr, mask } => {
            t.kind = KIND_NET6;
            t.dir = dir(side);
            t.addr = words(addr.to_be_bytes());
            t.mask = words(mask.to_be_bytes());
        }
        Prim::Port { side, lo, hi } => {
            t.kind = KIND_PORT;
            t.dir = dir(side);
            t.lo = lo;
            t.hi = hi;
        }
        Prim::V4 => t.kind = KIND_V4,
        Prim::V6 => t.kind = KIND_V6,
        Prim::Flags { mask, value, eq } => {
            t.kind = if eq { KIND_FLAGS_EQ } else { KIND_FLAGS_NE };
            t.lo = mask.into();
            t.hi = value.into();
        }
        Prim::Vlan(None) => t.kind = KIND_VLAN,
        Prim::Vlan(Some(id)) => {
            t.kind = KIND_VLAN_ID;
            t.lo = id;
        }
    }
    t
}

/// Compiles a syntax tree to the rule table, or says which limit it exceeds.
pub fn table(e: &Expr) -> Result<RuleTable, FilterError> {
    let terms = to_dnf(e)?;
    if terms.len() == 1 && terms[0].is_empty() {
        return Ok(RuleTable::ALL);
    }
    if terms.len() > MAX_TERMS {
        return Err(FilterError::TooManyTerms { terms: terms.len() });
    }
    if let Some(n) = terms
        .iter()
        .map(BTreeSet::len)
        .max()
        .filter(|n| *n > MAX_TESTS)
    {
        return Err(FilterError::TooManyTests { tests: n });
    }
    let mut t = RuleTable::ALL;
    t.enabled = 1;
    t.n_terms = terms.len() as u32;
    for (slot, conj) in t.terms.iter_mut().zip(&terms) {
        slot.len = conj.len() as u32;
        for (s, l) in slot.tests.iter_mut().zip(conj) {
            *s = test(l);
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{compile, parse};

    fn dnf_of(s: &str) -> Vec<Conj> {
        to_dnf(&parse(s).unwrap()).unwrap()
    }

    /// Each expression's disjunctive normal form.
    #[track_caller]
    fn assert_dnf(cases: &[(&str, Vec<Conj>)]) {
        for (text, want) in cases {
            assert_eq!(&dnf_of(text), want, "{text}");
        }
    }

    fn port(p: u16) -> Prim {
        Prim::Port {
            side: Side::Either,
            lo: p,
            hi: p,
        }
    }

    #[test]
    fn empty_and_tcp_match_everything() {
        assert_eq!(compile("").unwrap(), RuleTable::ALL);
        assert_eq!(compile("tcp").unwrap(), RuleTable::ALL);
        assert_eq!(compile("ip or ip6").unwrap(), RuleTable::ALL);
        assert_eq!(compile("port 1 or not port 1").unwrap(), RuleTable::ALL);
    }

    #[test]
    fn contradictions_match_nothing() {
        for e in [
            "ip and ip6",
            "port 1 and not port 1",
            "not tcp",
            "host 1.1.1.1 and ip6",
        ] {
            let t = compile(e).unwrap();
            assert_eq!((t.enabled, t.n_terms), (1, 0), "{e}");
        }
    }

    #[test]
    fn article_expression_is_one_term() {
        let t = compile("host 192.168.2.165 and port 23").unwrap();
        assert_eq!((t.enabled, t.n_terms, t.terms[0].len), (1, 1, 2));
        let host = t.terms[0].tests[0];
        assert_eq!(
            (host.kind, host.dir, host.negate),
            (KIND_NET4, DIR_EITHER, 0)
        );
        assert_eq!(host.addr[0].to_ne_bytes(), [192, 168, 2, 165]);
        assert_eq!(host.mask[0], u32::MAX);
        let port = t.terms[0].tests[1];
        assert_eq!((port.kind, port.lo, port.hi), (KIND_PORT, 23, 23));
    }

    #[test]
    fn de_morgan_before_expansion() {
        assert_dnf(&[
            // not (port 1 or port 2) = not port 1 and not port 2: one term.
            (
                "not (port 1 or port 2)",
                vec![Conj::from([(port(1), true), (port(2), true)])],
            ),
            // not (port 1 and port 2) = not port 1 or not port 2: two terms.
            (
                "not (port 1 and port 2)",
                vec![Conj::from([(port(1), true)]), Conj::from([(port(2), true)])],
            ),
            ("not not port 1", vec![Conj::from([(port(1), false)])]),
        ]);
    }

    #[test]
    fn distribution_and_absorption() {
        let d = dnf_of("(port 1 or port 2) and (port 3 or port 4)");
        assert_eq!(d.len(), 4);
        // port 1 or (port 1 and port 2) = port 1
        assert_eq!(
            dnf_of("port 1 or (port 1 and port 2)"),
            vec![Conj::from([(port(1), false)])]
        );
    }

    #[test]
    fn family_implications() {
        // `ip` is implied by an IPv4 host; `not ip6` too.
        let d = dnf_of("ip and not ip6 and host 1.2.3.4");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].len(), 1);
        assert_dnf(&[
            // An IPv6 net's negation holds for every IPv4 packet.
            (
                "ip and not net fd00::/8",
                vec![Conj::from([(Prim::V4, false)])],
            ),
            // The family test stays when nothing else implies it.
            ("ip6", vec![Conj::from([(Prim::V4, true)])]),
        ]);
    }

    #[test]
    fn limits_are_errors_not_cuts() {
        let e = compile(
            "(port 1 or port 2 or port 3 or port 4 or port 5) and (host 1.1.1.1 or 2.2.2.2 or \
             3.3.3.3 or 4.4.4.4 or 5.5.5.5 or 6.6.6.6 or 7.7.7.7 or 8.8.8.8)",
        )
        .unwrap_err();
        assert_eq!(e, FilterError::TooManyTerms { terms: 40 });
        assert_eq!(
            e.to_string(),
            "filter too large: 40 terms after expansion, the kernel table holds 16"
        );
        let e = compile(
            "port 1 and port 2 and port 3 and port 4 and port 5 and port 6 and port 7 and \
             port 8 and port 9",
        )
        .unwrap_err();
        assert_eq!(e, FilterError::TooManyTests { tests: 9 });
        // Huge expansions stop early.
        let mut s = String::from("(port 1 or port 2)");
        for i in 0..14 {
            s += &format!(" and (port {} or port {})", 10 + 2 * i, 11 + 2 * i);
        }
        assert!(matches!(compile(&s), Err(FilterError::TooManyTerms { .. })));
        // Exactly at the limits: accepted.
        let mut s = String::from("port 1");
        for p in 2..=16 {
            s += &format!(" or port {p}");
        }
        assert_eq!(compile(&s).unwrap().n_terms, 16);
    }

    #[test]
    fn ten_term_benchmark_expression_fits() {
        let t = compile(
            "(host 10.0.0.1 or 10.0.0.2 or 10.0.0.3 or 10.0.0.4 or 10.0.0.5) and \
             (port 80 or port 443)",
        )
        .unwrap();
        assert_eq!(t.n_terms, 10);
    }

    #[test]
    fn tests_are_encoded_for_the_kernel() {
        let t = compile("src net fd00:1::/32 and not dst portrange 10-20").unwrap();
        let [net, range] = [t.terms[0].tests[0], t.terms[0].tests[1]];
        assert_eq!((net.kind, net.dir), (KIND_NET6, DIR_SRC));
        assert_eq!(net.addr[0].to_ne_bytes(), [0xfd, 0, 0, 1]);
        assert_eq!(net.mask[0], u32::MAX);
        assert_eq!(net.mask[1], 0);
        assert_eq!(
            (range.kind, range.dir, range.negate),
            (KIND_PORT, DIR_DST, 1)
        );
        assert_eq!((range.lo, range.hi), (10, 20));
        let t = compile("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and vlan 7").unwrap();
        let [f, v] = [t.terms[0].tests[0], t.terms[0].tests[1]];
        assert_eq!((f.kind, f.lo, f.hi), (KIND_FLAGS_EQ, 0x12, 0x02));
        assert_eq!((v.kind, v.lo), (KIND_VLAN_ID, 7));
        let t = compile("tcp[13] & 4 != 0 or vlan").unwrap();
        assert_eq!(t.terms[0].tests[0].kind, KIND_FLAGS_NE);
        assert_eq!(t.terms[1].tests[0].kind, KIND_VLAN);
        // `ip6` is compiled as `not ip`.
        let v6 = compile("ip6").unwrap().terms[0].tests[0];
        assert_eq!((v6.kind, v6.negate), (KIND_V4, 1));
        assert_eq!(compile("not ip").unwrap().terms[0].tests[0], v6);
        let v4 = compile("not ip6").unwrap().terms[0].tests[0];
        assert_eq!((v4.kind, v4.negate), (KIND_V4, 0));
    }

    #[test]
    fn hosts_and_ports_sugar() {
        use std::net::IpAddr;
        let h: Vec<IpAddr> = vec!["1.1.1.1".parse().unwrap(), "::1".parse().unwrap()];
        let t = crate::filter::compile_with(&h, &[23], "").unwrap();
        assert_eq!(t.n_terms, 2);
        assert!(t.terms[..2].iter().all(|t| t.len == 2));
        assert_eq!(
            crate::filter::compile_with(&[], &[], "").unwrap(),
            RuleTable::ALL
        );
        let t = crate::filter::compile_with(&[], &[23], "not host 1.1.1.1").unwrap();
        assert_eq!((t.n_terms, t.terms[0].len), (1, 2));
    }
}
