//! The corpus's cut-down rule (`shared/conformance/README.md`): tcpdump's stdout reduced to
//! what a TCP tracer prints, so tcpdump runs can serve as the oracle for `tcptrace` output.

/// Does this line of tcpdump output start a packet? Packets start with their timestamp:
/// a digit (`10:50:09.891237`, `1454324209.891237`, `2016-02-01 …`), or for -ttt a space or
/// a minus sign then a digit (` 00:00:00.000123`, `-00:00:00.315173`). Continuation lines
/// start with a tab (hex dumps, some decoders) or several spaces (-v: `    1.2.3.4.22 > …`).
pub fn is_packet_start(line: &str) -> bool {
    let b = line.as_bytes();
    match b.first() {
        None => false,
        Some(b' ' | b'-') => b.get(1).is_some_and(u8::is_ascii_digit),
        Some(c) => !c.is_ascii_whitespace(),
    }
}

/// tcpdump output split into packets: each a packet-start line and its continuation lines
/// (lines without their `\n`).
pub fn packets(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        match out.last_mut() {
            Some(p) if !is_packet_start(line) => p.push(line),
            _ => out.push(vec![line]),
        }
    }
    out
}

/// Is this packet (given its first line) an IPv4 or IPv6 one? What follows the timestamp
/// must be `IP ` or `IP6 ` (`IP (tos …`, `IP6 (flowlabel …`, `IP truncated-ip …` included).
/// Timestamps consist of digits, `:`, `.`, `-` and spaces only, or are tcpdump's
/// `[Error converting time]` (seconds with bit 31 set, in a damaged capture). A PPPoE
/// session's `PPPoE  [ses 0x…] ` may come first.
pub fn is_ip(first_line: &str) -> bool {
    let rest = first_line.trim_start_matches(|c: char| c.is_ascii_digit() || ":.- ".contains(c));
    let rest = rest
        .strip_prefix("[Error converting time] ")
        .unwrap_or(rest);
    let rest = match rest.strip_prefix("PPPoE  [ses ") {
        Some(r) => r.split_once("] ").map_or(r, |(_, r)| r),
        None => rest,
    };
    rest.starts_with("IP ") || rest.starts_with("IP6 ")
}

/// Byte offset just past the digits of the first `needle` at or after `from` that is
/// followed by at least one digit.
pub fn end_of_number_after(text: &str, needle: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = text[at..].find(needle) {
        let start = at + i + needle.len();
        let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            return Some(start + digits);
        }
        at = start;
    }
    None
}

/// Where a packet's TCP text ends: just past the first `, length N` after `: Flags [`
/// (with `quiet`, just past the first `: tcp N`), or past `[|tcp]` for a cut-short header,
/// whichever comes first. `None`: the packet carries no TCP header line.
///
/// tcpdump's TCP printer writes `Flags [` (or `tcp N` with -q) right after the `: ` that
/// ends `addr.port > addr.port`; other printers with a `Flags [` of their own (LLC's
/// `…, rcv seq 26, Flags [Command]`, GRE's `GREv1, Flags [key present, …]`) do not follow
/// a `: `. `[|tcp]` (`[|tcp]>` inside an option after the first) is only ever printed by
/// the TCP printer.
///
/// Three more ways the TCP printer ends a line, on malformed headers (none occurs in the
/// corpus's captures):
/// - a data offset below 5: `:  tcp N [bad hdr length H - too short, < 20]`, in every style;
/// - a header longer than the segment: `Flags [S] [bad hdr length H - too long, > L]`, or
///   `tcp N [bad hdr length …]` with -q;
/// - a malformed option: `options [mss 1460,[bad opt]]`, or `options [[bad opt]` when it
///   is the first.
pub fn tcp_end(text: &str, quiet: bool) -> Option<usize> {
    // `[|tcp]>` when an option's data after the first option is cut short.
    let cut_short = text.find("[|tcp]").map(|i| {
        let end = i + "[|tcp]".len();
        if text[end..].starts_with('>') {
            end + 1
        } else {
            end
        }
    });
    let too_short = text
        .find(":  tcp ")
        .and_then(|t| bracket_end(text, t, " [bad hdr length "));
    let (full, head) = if quiet {
        let t = text.find(": tcp ");
        (end_of_number_after(text, ": tcp ", 0), t)
    } else {
        let f = text.find(": Flags [");
        (f.and_then(|f| end_of_number_after(text, ", length ", f)), f)
    };
    // After the flags (or `tcp N`): the header is longer than the segment.
    const TOO_LONG: &str = " [bad hdr length ";
    let too_long = head.and_then(|h| bracket_end(text, h, TOO_LONG));
    let full = full.map(|e| match text[e..].starts_with(TOO_LONG) {
        true => bracket_end(text, e, TOO_LONG).unwrap_or(e),
        false => e,
    });
    let bad_opt = head.filter(|_| !quiet).and_then(|h| {
        let end = h + text[h..].find("[bad opt]")? + "[bad opt]".len();
        Some(if text[end..].starts_with(']') {
            end + 1
        } else {
            end
        })
    });
    [cut_short, full, too_short, too_long, bad_opt]
        .into_iter()
        .flatten()
        .min()
}

/// Just past the `]` closing the first `open` at or after `from`.
fn bracket_end(text: &str, from: usize, open: &str) -> Option<usize> {
    let start = from + text[from..].find(open)?;
    Some(start + text[start..].find(']')? + 1)
}

/// The packet's TCP text, if it is an IP packet with a TCP header line.
pub fn tcp_text(packet: &[&str], quiet: bool) -> Option<String> {
    if !is_ip(packet[0]) {
        return None;
    }
    let text = packet.join("\n");
    tcp_end(&text, quiet).map(|end| text[..end].to_string())
}

/// The corpus's cut-down of tcpdump's stdout to what a TCP tracer prints (README): only IP
/// packets that carry a TCP header line are kept, each up to the end of its TCP text
/// ([`tcp_end`]; application decode and hex dumps after it are cut). With -v an IPv4 packet
/// keeps its two lines, as tcpdump prints them.
pub fn cut_down(raw: &str, quiet: bool) -> String {
    let mut out = String::new();
    for p in packets(raw) {
        if let Some(t) = tcp_text(&p, quiet) {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out
}
