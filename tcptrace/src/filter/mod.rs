//! pcap-filter expressions, the TCP/IP part: parsed here ([`parse`]) with tcpdump's
//! grammar, compiled ([`compile`]) to the kernel's rule table
//! ([`tcptrace_common::rules::RuleTable`], disjunctive normal form), which the XDP and TC
//! programs evaluate before building any record.
//!
//! ```
//! let table = tcptrace::filter::compile("host 192.168.2.165 and port 23").unwrap();
//! assert_eq!(table.n_terms, 1);
//! ```
pub mod compile;
pub mod parse;

use std::net::IpAddr;

pub use compile::table;
pub use parse::{Expr, MAX_DEPTH, MAX_TOKENS, Prim, Side, parse};
pub use tcptrace_common::rules::{MAX_TERMS, MAX_TESTS, RuleTable};

/// Why an expression was refused. Words are counted from 1 over the expression's
/// whitespace-separated words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// `near` is `None` at the end of the expression.
    #[error("syntax error {}: expected {expected}", near_text(near, *word))]
    Syntax {
        near: Option<String>,
        word: usize,
        expected: String,
    },
    #[error("'{what}' (word {word}) is not supported: {why}")]
    Unsupported {
        what: String,
        word: usize,
        why: String,
    },
    #[error("invalid filter near '{near}' (word {word}): {why}")]
    Invalid {
        near: String,
        word: usize,
        why: String,
    },
    #[error(
        "filter too long: {tokens} tokens (words, operators, parentheses), at most {}",
        MAX_TOKENS
    )]
    TooLong { tokens: usize },
    #[error(
        "filter nested too deep at word {word}: more than {} levels of parentheses and 'not'",
        MAX_DEPTH
    )]
    TooDeep { word: usize },
    #[error(
        "filter too large: {terms} terms after expansion, the kernel table holds {}",
        MAX_TERMS
    )]
    TooManyTerms { terms: usize },
    #[error(
        "filter too large: a term has {tests} tests after expansion, the kernel table holds {} per term",
        MAX_TESTS
    )]
    TooManyTests { tests: usize },
}

fn near_text(near: &Option<String>, word: usize) -> String {
    match near {
        Some(t) => format!("near '{t}' (word {word})"),
        None => "at the end of the expression".to_string(),
    }
}

/// Compiles an expression (as one string; words separated by spaces) to the rule table.
/// An empty expression matches every TCP segment ([`RuleTable::ALL`]).
pub fn compile(expr: &str) -> Result<RuleTable, FilterError> {
    table(&parse(expr)?)
}

/// The table for `--host` / `--port` and an expression together:
/// `(host H1 or host H2 …) and (port P1 or port P2 …) and (EXPR)`, each part present only
/// when given.
pub fn compile_with(hosts: &[IpAddr], ports: &[u16], expr: &str) -> Result<RuleTable, FilterError> {
    let e = parse::and_all([hosts_ports(hosts, ports), parse(expr)?]);
    table(&e)
}

/// `--host` / `--port` as an expression: `(host H1 or …) and (port P1 or …)`.
pub fn hosts_ports(hosts: &[IpAddr], ports: &[u16]) -> Expr {
    // A balanced tree: the compiler recurses on its depth, and the command line can
    // repeat --host and --port any number of times.
    fn any(mut prims: Vec<Expr>) -> Expr {
        match prims.len() {
            0 => Expr::Const(true),
            1 => prims.pop().unwrap(),
            n => {
                let right = prims.split_off(n / 2);
                Expr::Or(Box::new(any(prims)), Box::new(any(right)))
            }
        }
    }
    let hosts = any(hosts
        .iter()
        .map(|h| Expr::Prim(Prim::host(*h, Side::Either)))
        .collect());
    let ports = any(ports
        .iter()
        .map(|p| {
            Expr::Prim(Prim::Port {
                side: Side::Either,
                lo: *p,
                hi: *p,
            })
        })
        .collect());
    parse::and_all([hosts, ports])
}
