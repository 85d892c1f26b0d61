//! `--classic`: one line per segment in the tcpdump 3.x style of the article, e.g.
//!
//! ```text
//! 20:06:32.845356 192.168.2.10.1249 > 192.168.2.165.23: S 3263977215:3263977215(0) win 16384 <mss 1460,nop,nop,sackOK> (DF)
//! ```
//!
//! No `IP` prefix; flag letters S F R P (then W E for CWR/ECE, as tcpdump 3.x) or `.` when
//! none of them is set; ` first:last(len)` when there is data or SYN/FIN/RST; ` ack N` with
//! ACK; ` win W`; ` urg U` with URG; options in ` <...>` (same option texts as tcpdump 4);
//! ` (DF)` when the IPv4 DF bit is set. Sequence numbers are relative by the same rules as
//! tcpdump 4 (the 3.x printer kept the same table).

use crate::decode::Segment;
use crate::render::RenderOptions;
use crate::render::options::{OptStyle, put_ack_to_options};
use crate::render::put_u32;
use crate::render::seq::SeqTable;
use tcptrace_common::tcp_flags;

/// Appends the classic line body (everything after the timestamp, no newline).
pub(crate) fn body(seq: &mut SeqTable, opts: &RenderOptions, seg: &Segment, out: &mut Vec<u8>) {
    tcp(seq, opts, seg, out);
    if seg.dont_fragment() {
        out.extend_from_slice(b" (DF)");
    }
}

fn tcp(table: &mut SeqTable, opts: &RenderOptions, seg: &Segment, out: &mut Vec<u8>) {
    if !super::put_tcp_lead(out, seg, |o| super::put_endpoints(o, seg), b"[|tcp]") {
        return;
    }
    let hlen = seg.hdr_len as u32;
    let length = seg.tcp_len;
    if opts.quiet {
        out.extend_from_slice(b"tcp ");
        put_u32(out, length.wrapping_sub(hlen));
        return;
    }
    let flags = seg.flag_byte();
    const SFRP: [(u8, u8); 6] = [
        (0x02, b'S'),
        (0x01, b'F'),
        (0x04, b'R'),
        (0x08, b'P'),
        (0x80, b'W'),
        (0x40, b'E'),
    ];
    if flags & 0xcf != 0 {
        for (bit, c) in SFRP {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    } else {
        out.push(b'.');
    }
    let rel = table.numbers(seg, opts.absolute_seq);
    if hlen > length {
        super::bad_too_long(out, hlen, length);
        return;
    }
    let plen = length - hlen;
    let sfr = (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST) as u8;
    if opts.verbose > 1 || plen > 0 || flags & sfr != 0 {
        out.push(b' ');
        put_u32(out, rel.seq);
        out.push(b':');
        put_u32(out, rel.seq.wrapping_add(plen));
        out.push(b'(');
        put_u32(out, plen);
        out.push(b')');
    }
    put_ack_to_options(out, seg, rel, plen, OptStyle::Classic);
}

#[cfg(test)]
mod tests {
    use crate::decode::{Segment, Timestamp, fixture};
    use crate::render::{RenderOptions, Renderer, TsStyle};
    use crate::timefmt::LocalClock;
    use tcptrace_common::Record;

    const CLIENT: [u8; 4] = [192, 168, 2, 10];
    const SERVER: [u8; 4] = [192, 168, 2, 165];

    /// Rebuilds the packet behind one article line.
    #[allow(clippy::too_many_arguments)]
    fn pkt(
        from_client: bool,
        cport: u16,
        flags: u16,
        seq: u32,
        ack: u32,
        win: u16,
        opts: &[u8],
        df: bool,
    ) -> Record {
        let (s, d, sp, dp) = if from_client {
            (CLIENT, SERVER, cport, 23)
        } else {
            (SERVER, CLIENT, 23, cport)
        };
        let mut r = fixture::v4(s, d, sp, dp);
        r.flags = flags;
        r.seq = seq;
        r.ack = ack;
        r.window = win;
        r.frag = if df { 0x4000 } else { 0 };
        fixture::set_options(&mut r, opts);
        r
    }

    #[test]
    fn classic_data_and_flags() {
        let mut r = Renderer::with_clock(
            RenderOptions {
                classic: true,
                ts: TsStyle::None,
                absolute_seq: true,
                ..Default::default()
            },
            LocalClock::utc(),
        );
        let mut p = pkt(true, 1249, 0x18, 100, 200, 512, &[], true);
        p.ip_len += 24;
        p.frame_len += 24;
        let mut out = Vec::new();
        r.render(&Segment::from_record(&p, Timestamp::default()), &mut out);
        p.flags = 0x30;
        p.urg_ptr = 3;
        p.frag = 0;
        r.render(&Segment::from_record(&p, Timestamp::default()), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "192.168.2.10.1249 > 192.168.2.165.23: P 100:124(24) ack 200 win 512 (DF)\n\
             192.168.2.10.1249 > 192.168.2.165.23: . 100:124(24) ack 200 win 512 urg 3\n"
        );
    }
}
