//! Tokens and syntax tree of the supported part of pcap-filter, parsed the way libpcap's
//! grammar does: `and` and `or` have the same precedence and associate left to right,
//! `not` binds tightest, and a bare value after `and`/`or` takes the qualifiers of the
//! primitive before it (`host a or b`, `port 23 or 80`; after a parenthesized expression,
//! those in force before the parenthesis).
use std::net::{IpAddr, Ipv6Addr};

use super::FilterError;

/// Which address or port of the packet a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Src,
    Dst,
    /// Source or destination.
    Either,
}

/// One field test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prim {
    /// IPv4 and (address & mask) == addr (a host is a /32). Host-order values.
    Net4 { side: Side, addr: u32, mask: u32 },
    /// IPv6 and (address & mask) == addr.
    Net6 { side: Side, addr: u128, mask: u128 },
    /// lo <= port <= hi.
    Port { side: Side, lo: u16, hi: u16 },
    /// `ip`.
    V4,
    /// `ip6`.
    V6,
    /// `tcp[tcpflags] & mask == value` (`eq`) or `!=` (IPv4 only, as tcpdump's `tcp[…]`).
    Flags { mask: u8, value: u8, eq: bool },
    /// `vlan` (any tag) or `vlan ID` (a tag with that ID).
    Vlan(Option<u16>),
}

impl Prim {
    /// `host ADDR` on `side`.
    pub fn host(a: IpAddr, side: Side) -> Prim {
        match a {
            IpAddr::V4(a) => Prim::Net4 {
                side,
                addr: u32::from(a),
                mask: u32::MAX,
            },
            IpAddr::V6(a) => Prim::Net6 {
                side,
                addr: u128::from(a),
                mask: u128::MAX,
            },
        }
    }
}

/// The syntax tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Const(bool),
    Prim(Prim),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// The conjunction of `parts`, leaving out `Const(true)`.
pub fn and_all(parts: impl IntoIterator<Item = Expr>) -> Expr {
    parts
        .into_iter()
        .filter(|e| *e != Expr::Const(true))
        .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
        .unwrap_or(Expr::Const(true))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Word(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Slash,
    /// `!` (not) — `!=` is `Ne`.
    Bang,
    AndAnd,
    OrOr,
    Amp,
    Pipe,
    Eq,
    Ne,
    /// `<`, `>`, `<=`, `>=`, arithmetic: refused.
    OtherOp(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub text: String,
    /// 1-based index of the whitespace-separated word the token is in.
    pub word: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// Splits the expression into tokens, remembering the word each came from.
pub fn tokenize(expr: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    for (wi, w) in expr.split_whitespace().enumerate() {
        let word = wi + 1;
        let chars: Vec<char> = w.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            let (tok, len) = if is_word_char(c) {
                let mut j = i;
                while j < chars.len() && is_word_char(chars[j]) {
                    j += 1;
                }
                (Tok::Word(chars[i..j].iter().collect()), j - i)
            } else {
                match (c, next) {
                    ('(', _) => (Tok::LParen, 1),
                    (')', _) => (Tok::RParen, 1),
                    ('[', _) => (Tok::LBracket, 1),
                    (']', _) => (Tok::RBracket, 1),
                    ('/', _) => (Tok::Slash, 1),
                    ('!', Some('=')) => (Tok::Ne, 2),
                    ('!', _) => (Tok::Bang, 1),
                    ('&', Some('&')) => (Tok::AndAnd, 2),
                    ('&', _) => (Tok::Amp, 1),
                    ('|', Some('|')) => (Tok::OrOr, 2),
                    ('|', _) => (Tok::Pipe, 1),
                    ('=', Some('=')) => (Tok::Eq, 2),
                    ('=', _) => (Tok::Eq, 1),
                    ('<' | '>', Some('=')) => (Tok::OtherOp(format!("{c}=")), 2),
                    ('<', Some('<')) | ('>', Some('>')) => (Tok::OtherOp(format!("{c}{c}")), 2),
                    ('<' | '>' | '+' | '*' | '%' | '^', _) => (Tok::OtherOp(c.to_string()), 1),
                    _ => {
                        return Err(FilterError::Syntax {
                            near: Some(c.to_string()),
                            word,
                            expected: "a filter word (host, net, port, …) or an operator".into(),
                        });
                    }
                }
            };
            out.push(Token {
                tok,
                text: chars[i..i + len].iter().collect(),
                word,
            });
            i += len;
        }
    }
    Ok(out)
}

/// pcap-filter keywords tcptrace does not implement: refused by name.
const UNSUPPORTED: &[&str] = &[
    "udp",
    "icmp",
    "icmp6",
    "igmp",
    "igrp",
    "pim",
    "vrrp",
    "carp",
    "sctp",
    "ah",
    "esp",
    "arp",
    "rarp",
    "ether",
    "fddi",
    "tr",
    "wlan",
    "ppp",
    "slip",
    "link",
    "decnet",
    "iso",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "clnp",
    "stp",
    "ipx",
    "netbeui",
    "atalk",
    "aarp",
    "lat",
    "sca",
    "moprc",
    "mopdl",
    "l1",
    "l2",
    "iih",
    "lsp",
    "snp",
    "csnp",
    "psnp",
    "greater",
    "less",
    "proto",
    "protochain",
    "gateway",
    "broadcast",
    "multicast",
    "inbound",
    "outbound",
    "len",
    "mpls",
    "pppoed",
    "pppoes",
    "geneve",
    "llc",
    "ifname",
    "on",
    "rnr",
    "rulenum",
    "reason",
    "rset",
    "srnr",
    "subrulenum",
    "action",
    "type",
    "subtype",
    "dir",
    "ra",
    "ta",
    "addr1",
    "addr2",
    "addr3",
    "addr4",
    "vpi",
    "vci",
    "lane",
    "oamf4",
    "oamf4ec",
    "oamf4sc",
    "oam",
    "metac",
    "bcc",
    "sc",
    "ilmic",
    "connectmsg",
    "metaconnect",
    "radio",
    "hdpi",
    "host6",
    "portrange6",
    "tcp-ece",
    "tcp-cwr",
];

const EXPECT_PRIMITIVE: &str =
    "host, net, port, portrange, src, dst, ip, ip6, tcp, tcp[tcpflags], vlan, not or '('";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Default,
    Ip,
    Ip6,
    Tcp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Default,
    Src,
    Dst,
    Or,
    And,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddrQ {
    Default,
    Host,
    Net,
    Port,
    Portrange,
}

/// libpcap's qualifier triple, or `None` after a primitive that takes no bare values
/// (`tcp`, `ip`, `vlan`, a `tcp[…]` relation): libpcap's `qerr`.
type Qual = Option<(Proto, Dir, AddrQ)>;

/// The longest expression parsed, in tokens (words, operators, parentheses): far more
/// than any expression whose table fits the kernel's (16 terms of 8 tests), and a bound
/// on the work and the syntax tree's size.
pub const MAX_TOKENS: usize = 1024;

/// The deepest nesting of parentheses and `not` parsed: the parser and the compiler
/// recurse on it, and must not run out of stack.
pub const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    words: usize,
    /// Parentheses and `not`s open at `pos`.
    depth: usize,
}

/// Parses an expression (the command line's trailing words joined with spaces). An empty
/// expression is `Const(true)`.
pub fn parse(expr: &str) -> Result<Expr, FilterError> {
    let toks = tokenize(expr)?;
    if toks.is_empty() {
        return Ok(Expr::Const(true));
    }
    if toks.len() > MAX_TOKENS {
        return Err(FilterError::TooLong { tokens: toks.len() });
    }
    let words = expr.split_whitespace().count();
    let mut p = Parser {
        toks,
        pos: 0,
        words,
        depth: 0,
    };
    let (e, _) = p.expr(None)?;
    if p.pos < p.toks.len() {
        return Err(p.error("and, or, or the end of the expression"));
    }
    Ok(e)
}

fn is_and(t: &Tok) -> bool {
    matches!(t, Tok::AndAnd) || matches!(t, Tok::Word(w) if w == "and")
}

fn is_or(t: &Tok) -> bool {
    matches!(t, Tok::OrOr) || matches!(t, Tok::Word(w) if w == "or")
}

fn is_not(t: &Tok) -> bool {
    matches!(t, Tok::Bang) || matches!(t, Tok::Word(w) if w == "not")
}

/// Words with a meaning of their own (never a bare value).
fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "and"
            | "or"
            | "not"
            | "host"
            | "net"
            | "mask"
            | "port"
            | "portrange"
            | "src"
            | "dst"
            | "ip"
            | "ip6"
            | "tcp"
            | "vlan"
    ) || UNSUPPORTED.contains(&w)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        self.pos += 1;
        t
    }

    fn error(&self, expected: &str) -> FilterError {
        match self.toks.get(self.pos) {
            Some(t) => FilterError::Syntax {
                near: Some(t.text.clone()),
                word: t.word,
                expected: expected.to_string(),
            },
            None => FilterError::Syntax {
                near: None,
                word: self.words + 1,
                expected: expected.to_string(),
            },
        }
    }

    fn invalid(t: &Token, why: impl Into<String>) -> FilterError {
        FilterError::Invalid {
            near: t.text.clone(),
            word: t.word,
            why: why.into(),
        }
    }

    fn unsupported_here(&self) -> Option<FilterError> {
        let t = self.toks.get(self.pos)?;
        let Tok::Word(w) = &t.tok else {
            return None;
        };
        UNSUPPORTED.contains(&w.as_str()).then(|| FilterError::Unsupported {
            what: w.clone(),
            word: t.word,
            why: "tcptrace filters TCP over IPv4 and IPv6 with host, net, port, portrange, ip, ip6, tcp, tcp[tcpflags] and vlan".into(),
        })
    }

    /// Takes the `(` or `not` at `pos`, one level deeper.
    fn open(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep {
                word: self.toks[self.pos].word,
            });
        }
        self.pos += 1;
        Ok(())
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<Token, FilterError> {
        if self.peek() == Some(&tok) {
            Ok(self.bump())
        } else {
            Err(self.error(expected))
        }
    }

    /// expr: term ((and|or) (term|id))*
    fn expr(&mut self, ctx: Qual) -> Result<(Expr, Qual), FilterError> {
        let (mut e, mut q) = self.term(ctx)?;
        while let Some(t) = self.peek() {
            let and = is_and(t);
            if !and && !is_or(t) {
                break;
            }
            self.bump();
            let (r, rq) = self.term_or_id(q)?;
            e = if and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
            q = rq;
        }
        Ok((e, q))
    }

    /// After `and`/`or`: a full term, or a bare value taking the qualifiers `q`.
    fn term_or_id(&mut self, q: Qual) -> Result<(Expr, Qual), FilterError> {
        let mut n = 0;
        while self.peek_at(n).is_some_and(is_not) {
            n += 1;
        }
        let id = match self.peek_at(n) {
            Some(Tok::Word(w)) => !is_keyword(w),
            Some(Tok::LParen) => {
                let mut m = n + 1;
                while self.peek_at(m).is_some_and(is_not) {
                    m += 1;
                }
                matches!(self.peek_at(m), Some(Tok::Word(w)) if !is_keyword(w))
            }
            _ => false,
        };
        if id {
            // A name followed by a value (`prot 23`) is a mistyped keyword, not a host.
            if let (Some(Tok::Word(w)), Some(Tok::Word(next))) =
                (self.peek_at(n), self.peek_at(n + 1))
            {
                let value_like = |s: &str| {
                    parse_num(s).is_some()
                        || parse_dotted(s).is_some()
                        || s.contains(':')
                        || s.split_once('-')
                            .is_some_and(|(a, b)| parse_num(a).is_some() && parse_num(b).is_some())
                };
                if !value_like(w)
                    && !is_and(&Tok::Word(next.clone()))
                    && !is_or(&Tok::Word(next.clone()))
                {
                    self.pos += n;
                    return Err(self.error(EXPECT_PRIMITIVE));
                }
            }
            let e = self.id(q)?;
            Ok((e, q))
        } else {
            self.term(q)
        }
    }

    /// term: not term | ( expr ) | head id | pname | relation | vlan [id]
    fn term(&mut self, ctx: Qual) -> Result<(Expr, Qual), FilterError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error(EXPECT_PRIMITIVE));
        };
        if is_not(&t) {
            self.open()?;
            let (e, q) = self.term(ctx)?;
            self.depth -= 1;
            return Ok((Expr::Not(Box::new(e)), q));
        }
        if t == Tok::LParen {
            self.open()?;
            let (e, _) = self.expr(ctx)?;
            self.expect(Tok::RParen, "and, or or ')'")?;
            self.depth -= 1;
            return Ok((e, ctx));
        }
        if let Some(e) = self.unsupported_here() {
            return Err(e);
        }
        let Tok::Word(w) = t else {
            return Err(self.error(EXPECT_PRIMITIVE));
        };
        match w.as_str() {
            "vlan" => {
                self.bump();
                let id = match self.peek_word() {
                    Some(n) if parse_num(n).is_some() => {
                        let nt = self.bump();
                        let v = parse_num(&nt.text).unwrap_or(0);
                        if v > 4095 {
                            return Err(Self::invalid(&nt, format!("VLAN ID {v} > 4095")));
                        }
                        Some(v as u16)
                    }
                    _ => None,
                };
                Ok((Expr::Prim(Prim::Vlan(id)), None))
            }
            "ip" | "ip6" | "tcp" => {
                let pt = self.bump();
                if self.peek() == Some(&Tok::LBracket) {
                    if w != "tcp" {
                        return Err(FilterError::Unsupported {
                            what: format!("{w}[…]"),
                            word: pt.word,
                            why: "only tcp[tcpflags] (tcp[13]) can be tested".into(),
                        });
                    }
                    return Ok((self.relation()?, None));
                }
                let proto = match w.as_str() {
                    "ip" => Proto::Ip,
                    "ip6" => Proto::Ip6,
                    _ => Proto::Tcp,
                };
                match self.peek_word() {
                    Some("src" | "dst" | "host" | "net" | "port" | "portrange") => {
                        self.head_id(proto)
                    }
                    _ => {
                        if let Some(e) = self.unsupported_here() {
                            return Err(e);
                        }
                        Ok((
                            match proto {
                                Proto::Ip => Expr::Prim(Prim::V4),
                                Proto::Ip6 => Expr::Prim(Prim::V6),
                                _ => Expr::Const(true),
                            },
                            None,
                        ))
                    }
                }
            }
            "src" | "dst" | "host" | "net" | "port" | "portrange" => self.head_id(Proto::Default),
            _ => Err(self.error(EXPECT_PRIMITIVE)),
        }
    }

    /// head id: [dqual] [aqual] id, the protocol qualifier already read.
    fn head_id(&mut self, proto: Proto) -> Result<(Expr, Qual), FilterError> {
        let mut dir = Dir::Default;
        if let Some(d @ ("src" | "dst")) = self.peek_word() {
            let first = d.to_string();
            self.bump();
            dir = if first == "src" { Dir::Src } else { Dir::Dst };
            // `src or dst`, `src and dst` (either order).
            let other = if first == "src" { "dst" } else { "src" };
            if let (Some(op), Some(Tok::Word(w2))) = (self.peek(), self.peek_at(1))
                && w2 == other
                && (is_and(op) || is_or(op))
            {
                dir = if is_and(op) { Dir::And } else { Dir::Or };
                self.bump();
                self.bump();
            }
        }
        let addr = match self.peek_word() {
            Some("host") => AddrQ::Host,
            Some("net") => AddrQ::Net,
            Some("port") => AddrQ::Port,
            Some("portrange") => AddrQ::Portrange,
            _ => AddrQ::Default,
        };
        if addr != AddrQ::Default {
            self.bump();
        } else if dir == Dir::Default {
            return Err(self.error("host, net, port or portrange"));
        }
        if let Some(e) = self.unsupported_here() {
            return Err(e);
        }
        let q = Some((proto, dir, addr));
        match self.peek() {
            Some(Tok::Word(w)) if !is_keyword(w) => {}
            _ => {
                return Err(self.error(match addr {
                    AddrQ::Port => "a port number",
                    AddrQ::Portrange => "a port range (LOW-HIGH)",
                    AddrQ::Net => {
                        "a network (A.B.C.D/LEN, A.B.C.D mask M, A.B.C or an IPv6 prefix)"
                    }
                    _ => "an IPv4 or IPv6 address",
                }));
            }
        }
        let e = self.nid(q)?;
        Ok((e, q))
    }

    /// id: not id | ( pid ) | value — with the qualifiers `q`.
    fn id(&mut self, q: Qual) -> Result<Expr, FilterError> {
        match self.peek() {
            Some(t) if is_not(t) => {
                self.open()?;
                let e = self.id(q)?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(e)))
            }
            Some(Tok::LParen) => {
                self.open()?;
                let mut e = self.id(q)?;
                while let Some(t) = self.peek() {
                    let and = is_and(t);
                    if !and && !is_or(t) {
                        break;
                    }
                    self.bump();
                    let r = self.id(q)?;
                    e = if and {
                        Expr::And(Box::new(e), Box::new(r))
                    } else {
                        Expr::Or(Box::new(e), Box::new(r))
                    };
                }
                self.expect(Tok::RParen, "and, or or ')'")?;
                self.depth -= 1;
                Ok(e)
            }
            Some(Tok::Word(w)) if !is_keyword(w) => self.nid(q),
            _ => Err(self.error("an address, a port or a network")),
        }
    }

    /// A value (address, net, port, range) under the qualifiers `q`.
    fn nid(&mut self, q: Qual) -> Result<Expr, FilterError> {
        let t = self.bump();
        let Some((proto, dir, addr)) = q else {
            return Err(FilterError::Syntax {
                near: Some(t.text.clone()),
                word: t.word,
                expected: "a primitive: a bare value here has no host, net or port to belong to"
                    .into(),
            });
        };
        let side_prim = |mk: &dyn Fn(Side) -> Prim| -> Expr {
            match dir {
                Dir::Src => Expr::Prim(mk(Side::Src)),
                Dir::Dst => Expr::Prim(mk(Side::Dst)),
                Dir::Default | Dir::Or => Expr::Prim(mk(Side::Either)),
                Dir::And => Expr::And(
                    Box::new(Expr::Prim(mk(Side::Src))),
                    Box::new(Expr::Prim(mk(Side::Dst))),
                ),
            }
        };
        let text = t.text.clone();
        match addr {
            AddrQ::Port | AddrQ::Portrange => {
                if proto != Proto::Default && proto != Proto::Tcp {
                    return Err(Self::invalid(&t, "illegal qualifier of 'port' (only tcp)"));
                }
                let (lo, hi) = if let Some(v) = parse_num(&text) {
                    let p = port_value(&t, v)?;
                    (p, p)
                } else if addr == AddrQ::Portrange {
                    let Some((a, b)) = text.split_once('-') else {
                        return Err(Self::invalid(&t, "a port range is LOW-HIGH"));
                    };
                    match (parse_num(a), parse_num(b)) {
                        (Some(a), Some(b)) => {
                            let (a, b) = (port_value(&t, a)?, port_value(&t, b)?);
                            (a.min(b), a.max(b))
                        }
                        _ => {
                            return Err(Self::invalid(
                                &t,
                                "port names are not resolved: give numbers (LOW-HIGH)",
                            ));
                        }
                    }
                } else {
                    return Err(Self::invalid(
                        &t,
                        "port names are not resolved: give a number",
                    ));
                };
                if self.peek() == Some(&Tok::Slash) || self.peek_word() == Some("mask") {
                    return Err(self.error("and, or, or the end of the expression"));
                }
                Ok(side_prim(&|side| Prim::Port { side, lo, hi }))
            }
            AddrQ::Default | AddrQ::Host | AddrQ::Net => {
                if proto == Proto::Tcp {
                    return Err(Self::invalid(&t, "'tcp' modifier applied to a host or net"));
                }
                // IPv6.
                if text.contains(':') {
                    let a: Ipv6Addr = text
                        .parse()
                        .map_err(|_| Self::invalid(&t, "not an IPv6 address"))?;
                    if proto == Proto::Ip {
                        return Err(Self::invalid(
                            &t,
                            "'ip' modifier applied to an IPv6 address",
                        ));
                    }
                    let mut len = 128u32;
                    if self.peek() == Some(&Tok::Slash) {
                        self.bump();
                        len = self.prefix_len(128)?;
                        if addr != AddrQ::Net && len != 128 {
                            return Err(Self::invalid(&t, "mask syntax for networks only"));
                        }
                    } else if self.peek_word() == Some("mask") {
                        return Err(Self::invalid(
                            &t,
                            "'mask' is for IPv4 networks; use ADDR/LEN",
                        ));
                    }
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - len)
                    };
                    let v = u128::from(a);
                    if v & !mask != 0 {
                        return Err(Self::invalid(
                            &t,
                            format!("non-network bits set in {text}/{len}"),
                        ));
                    }
                    return Ok(side_prim(&|side| Prim::Net6 {
                        side,
                        addr: v,
                        mask,
                    }));
                }
                // IPv4: a number (a 32-bit address, or a short net), dotted, or CIDR.
                let (mut v, mut mask, dotted) = if let Some(n) = parse_num(&text) {
                    if n > u64::from(u32::MAX) {
                        return Err(Self::invalid(&t, "number too large for an IPv4 address"));
                    }
                    (n as u32, u32::MAX, false)
                } else if let Some((v, parts)) = parse_dotted(&text) {
                    let shift = 32 - 8 * parts;
                    (
                        if shift == 32 { 0 } else { v << shift },
                        if shift == 32 { 0 } else { u32::MAX << shift },
                        true,
                    )
                } else {
                    return Err(Self::invalid(
                        &t,
                        "host names are not resolved: give an IPv4 or IPv6 address",
                    ));
                };
                if proto == Proto::Ip6 {
                    return Err(Self::invalid(
                        &t,
                        "'ip6' modifier applied to an IPv4 address",
                    ));
                }
                if !dotted && addr == AddrQ::Net {
                    // libpcap promotes a short net number: `net 10` is 10.0.0.0/8.
                    while v != 0 && v & 0xff00_0000 == 0 {
                        v <<= 8;
                        mask <<= 8;
                    }
                }
                if self.peek() == Some(&Tok::Slash) {
                    self.bump();
                    if addr != AddrQ::Net {
                        return Err(Self::invalid(&t, "mask syntax for networks only"));
                    }
                    let len = self.prefix_len(32)?;
                    let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    if v & !m != 0 {
                        return Err(Self::invalid(
                            &t,
                            format!("non-network bits set in {text}/{len}"),
                        ));
                    }
                    mask = m;
                } else if self.peek_word() == Some("mask") {
                    self.bump();
                    if addr != AddrQ::Net {
                        return Err(Self::invalid(&t, "mask syntax for networks only"));
                    }
                    let mt = self.bump_value("a mask (A.B.C.D)")?;
                    let m = match parse_dotted(&mt.text) {
                        Some((m, 4)) => m,
                        _ => return Err(Self::invalid(&mt, "a mask is A.B.C.D")),
                    };
                    if v & !m != 0 {
                        return Err(Self::invalid(
                            &t,
                            format!("non-network bits set in {text} mask {}", mt.text),
                        ));
                    }
                    mask = m;
                }
                Ok(side_prim(&|side| Prim::Net4 {
                    side,
                    addr: v & mask,
                    mask,
                }))
            }
        }
    }

    fn bump_value(&mut self, expected: &str) -> Result<Token, FilterError> {
        match self.peek() {
            Some(Tok::Word(_)) => Ok(self.bump()),
            _ => Err(self.error(expected)),
        }
    }

    fn prefix_len(&mut self, max: u32) -> Result<u32, FilterError> {
        let t = self.bump_value("a prefix length")?;
        match parse_num(&t.text) {
            Some(n) if n <= u64::from(max) => Ok(n as u32),
            _ => Err(Self::invalid(
                &t,
                format!("prefix length must be 0 to {max}"),
            )),
        }
    }

    /// `tcp` `[` 13|tcpflags `]` [`&` value] (== | = | !=) value — `tcp` already read.
    fn relation(&mut self) -> Result<Expr, FilterError> {
        self.expect(Tok::LBracket, "'['")?;
        let it = self.bump_value("tcpflags or 13")?;
        let idx = it.text.strip_suffix(":1").unwrap_or(&it.text);
        let idx_ok = idx == "tcpflags" || parse_num(idx) == Some(13);
        if !idx_ok {
            return Err(FilterError::Unsupported {
                what: format!("tcp[{}]", it.text),
                word: it.word,
                why: "only the flag byte can be tested: tcp[tcpflags] or tcp[13]".into(),
            });
        }
        self.expect(Tok::RBracket, "']'")?;
        let mut mask = 0xffu64;
        if self.peek() == Some(&Tok::Amp) {
            self.bump();
            mask = self.value()?;
        }
        let eq = match self.peek() {
            Some(Tok::Eq) => true,
            Some(Tok::Ne) => false,
            Some(Tok::OtherOp(op)) if matches!(op.as_str(), "<" | ">" | "<=" | ">=") => {
                let t = &self.toks[self.pos];
                return Err(FilterError::Unsupported {
                    what: t.text.clone(),
                    word: t.word,
                    why: "the flag byte is compared with == or != only".into(),
                });
            }
            _ => return Err(self.error("'&', '==' or '!='")),
        };
        self.bump();
        let value = self.value()?;
        let m = (mask & 0xff) as u8;
        if value > 0xff || value & !(mask & 0xff) != 0 {
            // Never equal: `==` is false; `!=` holds for every IPv4 TCP segment.
            return Ok(if eq {
                Expr::Const(false)
            } else {
                Expr::Prim(Prim::V4)
            });
        }
        Ok(Expr::Prim(Prim::Flags {
            mask: m,
            value: value as u8,
            eq,
        }))
    }

    /// A number, a flag name, or `( v | v | … )`.
    fn value(&mut self) -> Result<u64, FilterError> {
        if self.peek() == Some(&Tok::LParen) {
            self.open()?;
            let mut v = self.value()?;
            while self.peek() == Some(&Tok::Pipe) {
                self.bump();
                v |= self.value()?;
            }
            self.expect(Tok::RParen, "'|' or ')'")?;
            self.depth -= 1;
            return Ok(v);
        }
        let t = self.bump_value("a number or a flag (tcp-syn, tcp-ack, …)")?;
        let v = match t.text.as_str() {
            "tcp-fin" => 0x01,
            "tcp-syn" => 0x02,
            "tcp-rst" => 0x04,
            "tcp-push" => 0x08,
            "tcp-ack" => 0x10,
            "tcp-urg" => 0x20,
            "tcp-ece" => 0x40,
            "tcp-cwr" => 0x80,
            s => match parse_num(s) {
                Some(n) if n <= u64::from(u32::MAX) => n,
                _ => {
                    self.pos -= 1;
                    return Err(self.error("a number or a flag (tcp-syn, tcp-ack, …)"));
                }
            },
        };
        Ok(v)
    }
}

fn port_value(t: &Token, v: u64) -> Result<u16, FilterError> {
    u16::try_from(v).map_err(|_| Parser::invalid(t, format!("illegal port number {v} > 65535")))
}

/// Decimal, `0x` hex, or (like libpcap) leading-zero octal.
pub fn parse_num(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) || s.is_empty() {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return u64::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

/// `A`, `A.B`, `A.B.C` or `A.B.C.D` with at least one dot: the value (right-aligned) and
/// how many parts there were.
fn parse_dotted(s: &str) -> Option<(u32, u32)> {
    if !s.contains('.') {
        return None;
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut v = 0u32;
    for p in &parts {
        let n: u8 = p.parse().ok()?;
        v = (v << 8) | u32::from(n);
    }
    Some((v, parts.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host4(side: Side, a: [u8; 4]) -> Expr {
        Expr::Prim(Prim::Net4 {
            side,
            addr: u32::from_be_bytes(a),
            mask: u32::MAX,
        })
    }

    fn port(side: Side, p: u16) -> Expr {
        Expr::Prim(Prim::Port { side, lo: p, hi: p })
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    /// Each expression parses to its tree.
    #[track_caller]
    fn assert_parses(cases: &[(&str, Expr)]) {
        for (text, want) in cases {
            assert_eq!(&parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn article_expression() {
        assert_eq!(
            parse("host 192.168.2.165 and port 23").unwrap(),
            and(
                host4(Side::Either, [192, 168, 2, 165]),
                port(Side::Either, 23)
            )
        );
    }

    #[test]
    fn empty_is_true() {
        assert_eq!(parse("").unwrap(), Expr::Const(true));
        assert_eq!(parse("   ").unwrap(), Expr::Const(true));
    }

    #[test]
    fn and_or_same_precedence_left_to_right() {
        assert_parses(&[
            // a or b and c = (a or b) and c
            (
                "port 1 or port 2 and port 3",
                and(
                    or(port(Side::Either, 1), port(Side::Either, 2)),
                    port(Side::Either, 3),
                ),
            ),
            (
                "port 1 and port 2 or port 3",
                or(
                    and(port(Side::Either, 1), port(Side::Either, 2)),
                    port(Side::Either, 3),
                ),
            ),
        ]);
    }

    #[test]
    fn not_binds_tightest() {
        assert_parses(&[
            (
                "not port 1 and port 2",
                and(not(port(Side::Either, 1)), port(Side::Either, 2)),
            ),
            (
                "! ( port 1 || port 2 ) && ip",
                and(
                    not(or(port(Side::Either, 1), port(Side::Either, 2))),
                    Expr::Prim(Prim::V4),
                ),
            ),
        ]);
    }

    #[test]
    fn bare_values_take_the_previous_qualifiers() {
        assert_parses(&[
            (
                "host 1.2.3.4 or 5.6.7.8",
                or(
                    host4(Side::Either, [1, 2, 3, 4]),
                    host4(Side::Either, [5, 6, 7, 8]),
                ),
            ),
            (
                "src port 23 or 80",
                or(port(Side::Src, 23), port(Side::Src, 80)),
            ),
            // `not` before a bare value negates only the value.
            (
                "not host 1.1.1.1 and 2.2.2.2",
                and(
                    not(host4(Side::Either, [1, 1, 1, 1])),
                    host4(Side::Either, [2, 2, 2, 2]),
                ),
            ),
            // In parentheses, a list of bare values.
            (
                "port 1 or (2 or 3)",
                or(
                    port(Side::Either, 1),
                    or(port(Side::Either, 2), port(Side::Either, 3)),
                ),
            ),
            // After a parenthesized expression: the qualifiers before it.
            (
                "host 1.2.3.4 and (port 1) and 5.6.7.8",
                and(
                    and(host4(Side::Either, [1, 2, 3, 4]), port(Side::Either, 1)),
                    host4(Side::Either, [5, 6, 7, 8]),
                ),
            ),
        ]);
    }

    #[test]
    fn direction_qualifiers() {
        assert_parses(&[
            ("src or dst port 23", port(Side::Either, 23)),
            (
                "src and dst host 1.1.1.1",
                and(
                    host4(Side::Src, [1, 1, 1, 1]),
                    host4(Side::Dst, [1, 1, 1, 1]),
                ),
            ),
            ("dst 1.1.1.1", host4(Side::Dst, [1, 1, 1, 1])),
            ("tcp dst port 80", port(Side::Dst, 80)),
        ]);
    }

    #[test]
    fn nets() {
        let net = |a: [u8; 4], len: u32| {
            Expr::Prim(Prim::Net4 {
                side: Side::Either,
                addr: u32::from_be_bytes(a),
                mask: if len == 0 { 0 } else { u32::MAX << (32 - len) },
            })
        };
        assert_parses(&[
            ("net 10", net([10, 0, 0, 0], 8)),
            ("net 192.168.2", net([192, 168, 2, 0], 24)),
            ("net 172.16", net([172, 16, 0, 0], 16)),
            ("net 10.1.0.0/16", net([10, 1, 0, 0], 16)),
            ("net 10.1.0.0 mask 255.255.0.0", net([10, 1, 0, 0], 16)),
            // libpcap: a short dotted host is a net too.
            ("host 10.1", net([10, 1, 0, 0], 16)),
            (
                "net fd00::/8",
                Expr::Prim(Prim::Net6 {
                    side: Side::Either,
                    addr: 0xfd << 120,
                    mask: u128::MAX << 120,
                }),
            ),
        ]);
        assert!(matches!(
            parse("net 10.1.0.1/16"),
            Err(FilterError::Invalid { why, .. }) if why.contains("non-network bits")
        ));
        assert!(parse("host 10.0.0.0/8").is_err());
    }

    #[test]
    fn flags() {
        let flags = |mask, value, eq| Expr::Prim(Prim::Flags { mask, value, eq });
        assert_parses(&[
            ("tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", flags(3, 0, false)),
            ("tcp[13] == 18", flags(0xff, 18, true)),
            ("tcp[13]&tcp-rst=tcp-rst", flags(4, 4, true)),
            ("tcp[13] & 2 == 4", Expr::Const(false)),
        ]);
    }

    #[test]
    fn vlan_and_protocols() {
        assert_parses(&[
            (
                "vlan 5 and ip6",
                and(Expr::Prim(Prim::Vlan(Some(5))), Expr::Prim(Prim::V6)),
            ),
            (
                "vlan and tcp",
                and(Expr::Prim(Prim::Vlan(None)), Expr::Const(true)),
            ),
        ]);
    }

    #[test]
    fn syntax_errors_name_the_word() {
        let e = parse("host 1.2.3.4 and prot 23").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("syntax error near 'prot' (word 4): expected {EXPECT_PRIMITIVE}")
        );
        let e = parse("port 23 and").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("syntax error at the end of the expression"),
            "{e}"
        );
        let e = parse("port 23 )").unwrap_err();
        assert!(e.to_string().contains("near ')' (word 3)"), "{e}");
        let e = parse("tcp and 80").unwrap_err();
        assert!(e.to_string().contains("near '80' (word 3)"), "{e}");
        assert!(parse("(port 1").is_err());
        assert!(parse("port").is_err());
        assert!(parse("port 70000").is_err());
        assert!(parse("host 1.2.3.4 5.6.7.8").is_err());
    }

    #[test]
    fn unsupported_words_are_refused() {
        for (expr, what) in [
            ("udp", "udp"),
            ("icmp or port 1", "icmp"),
            ("ether host 1:2:3:4:5:6", "ether"),
            ("greater 100", "greater"),
            ("less 100", "less"),
            ("ip proto 6", "proto"),
            ("port 1 and arp", "arp"),
        ] {
            let e = parse(expr).unwrap_err();
            assert!(
                matches!(&e, FilterError::Unsupported { what: w, .. } if w == what),
                "{expr}: {e}"
            );
            assert!(e.to_string().contains("is not supported"), "{e}");
        }
        assert!(matches!(
            parse("tcp[0] = 1"),
            Err(FilterError::Unsupported { .. })
        ));
        assert!(matches!(
            parse("ip[9] = 6"),
            Err(FilterError::Unsupported { .. })
        ));
    }

    #[test]
    fn names_are_not_resolved() {
        let e = parse("host example.com").unwrap_err();
        assert!(e.to_string().contains("host names are not resolved"), "{e}");
        assert!(e.to_string().contains("'example.com' (word 2)"), "{e}");
        let e = parse("port telnet").unwrap_err();
        assert!(e.to_string().contains("port names are not resolved"), "{e}");
    }

    #[test]
    fn family_qualifier_mismatch() {
        assert!(parse("ip6 host 1.2.3.4").is_err());
        assert!(parse("ip host ::1").is_err());
        assert!(parse("tcp host 1.2.3.4").is_err());
        assert!(parse("ip port 80").is_err());
        assert_eq!(
            parse("ip host 1.2.3.4").unwrap(),
            host4(Side::Either, [1, 2, 3, 4])
        );
    }

    #[test]
    fn tokens_keep_word_positions() {
        let t = tokenize("tcp[13]&2!=0 and (port 1)").unwrap();
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "tcp", "[", "13", "]", "&", "2", "!=", "0", "and", "(", "port", "1", ")"
            ]
        );
        assert_eq!(t[8].word, 2);
        assert_eq!(t[12].word, 4);
    }

    #[test]
    fn depth_and_length_are_bounded() {
        let nest = |n: usize, inner: &str| format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(
            parse(&nest(10_000, "tcp")),
            Err(FilterError::TooLong { tokens: 20_001 })
        );
        assert_eq!(
            parse(&("tcp or ".repeat(20_000) + "tcp")),
            Err(FilterError::TooLong { tokens: 40_001 })
        );
        assert!(parse(&nest(MAX_DEPTH, "tcp")).is_ok());
        assert_eq!(
            parse(&nest(MAX_DEPTH + 1, "tcp")),
            Err(FilterError::TooDeep { word: 1 })
        );
        assert_eq!(
            parse(&("not ".repeat(MAX_DEPTH + 1) + "tcp")),
            Err(FilterError::TooDeep {
                word: MAX_DEPTH + 1
            })
        );
        let bare = format!("host 10.0.0.1 or {}", nest(MAX_DEPTH + 1, "10.0.0.2"));
        assert!(matches!(parse(&bare), Err(FilterError::TooDeep { .. })));
        let flags = format!("tcp[tcpflags] & {} != 0", nest(MAX_DEPTH + 1, "tcp-syn"));
        assert!(matches!(parse(&flags), Err(FilterError::TooDeep { .. })));
        assert_eq!(
            FilterError::TooLong { tokens: 20_001 }.to_string(),
            "filter too long: 20001 tokens (words, operators, parentheses), at most 1024"
        );
        assert_eq!(
            FilterError::TooDeep { word: 3 }.to_string(),
            "filter nested too deep at word 3: more than 64 levels of parentheses and 'not'"
        );
    }
}
