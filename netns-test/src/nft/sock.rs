//! A blocking `NETLINK_NETFILTER` socket: nf_tables batches with every message
//! acknowledged, and dumps.
//!
//! The socket belongs to the network namespace of the thread that opens it. The kernel
//! processes a batch synchronously inside `send()`, so every answer is queued by the time it
//! returns; the receive side only polls as a safety net.

use std::io;
use std::os::fd::AsFd;
use std::sync::{mpsc, OnceLock};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_netfilter::nftables::{
    ChainMessage, NfTablesMessage, RuleMessage, TableMessage,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::expr::BatchMsg;
use crate::error::Error;

/// `NFNL_SUBSYS_NFTABLES`: the batch header's `res_id`.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// How long to wait for an answer that should already be queued, or for a dump part.
const ANSWER_TIMEOUT_MS: u16 = 5000;
/// Dump parts are at most 32 KiB; a batch answer is a few dozen bytes per message.
const RECV_BUF: usize = 64 * 1024;

/// What failed, in words, and the kernel's errno.
#[derive(Debug)]
pub(crate) struct Failure {
    pub what: String,
    pub source: io::Error,
    /// Further refused messages, one line each.
    pub more: Vec<String>,
}

impl Failure {
    fn new(what: impl Into<String>, source: io::Error) -> Failure {
        Failure {
            what: what.into(),
            source,
            more: Vec::new(),
        }
    }

    /// The crate error, with a hint for the errnos that have an explanation.
    pub(crate) fn into_error(self, context: &str) -> Error {
        let hint = match self.source.raw_os_error() {
            Some(libc::EPERM) => {
                "hint: no CAP_NET_ADMIN over this network namespace: go through a node of \
                 the sandbox, e.g. `node.nft().apply(&rules).await`"
            }
            Some(libc::EPROTONOSUPPORT) => {
                "hint: the kernel has no nfnetlink (CONFIG_NETFILTER_NETLINK, CONFIG_NF_TABLES)"
            }
            Some(libc::ENOENT) if self.what.contains("socket transparent") => {
                "hint: the kernel lacks nft_socket (CONFIG_NFT_SOCKET), which the rule's \
                 `socket` match needs; a NAT router of a topology has it in its WAN guard \
                 (Ruleset::wan_guard): declare the router with `no_wan_guard()` on such a \
                 kernel"
            }
            Some(libc::ENOENT) if self.what.contains("rule") => {
                "hint: the kernel lacks an nf_tables expression this rule needs \
                 (CONFIG_NFT_NAT, CONFIG_NFT_MASQ, CONFIG_NFT_CT, CONFIG_NFT_FIB_INET, \
                 CONFIG_NFT_REJECT_INET, CONFIG_NFT_COUNTER)"
            }
            Some(libc::EOPNOTSUPP) => {
                "hint: not supported by this kernel or in this chain (NAT in inet tables \
                 needs Linux >= 5.2 and CONFIG_NF_NAT)"
            }
            Some(libc::EINVAL) | Some(libc::ERANGE) => {
                "hint: the kernel refused the encoding; this is a netns-test bug, please \
                 report it with the rule"
            }
            _ => "",
        };
        let mut detail = String::new();
        for m in &self.more {
            detail.push_str("\n  also refused: ");
            detail.push_str(m);
        }
        if !hint.is_empty() {
            detail.push_str("\n  ");
            detail.push_str(hint);
        }
        Error::Nft {
            what: format!("{context}: {}", self.what),
            source: self.source,
            detail,
        }
    }
}

/// The error of [`super::apply`] and [`super::delete_table`].
pub(crate) fn apply_error(table: &str, f: Failure) -> Error {
    f.into_error(&format!("nf_tables (table inet {table})"))
}

/// The tables, chains and rules of one network namespace, as dumped.
#[derive(Debug, Default)]
pub(crate) struct RulesetDump {
    pub tables: Vec<(u8, TableMessage)>,
    pub chains: Vec<(u8, ChainMessage)>,
    pub rules: Vec<(u8, RuleMessage)>,
    /// Messages that did not decode.
    pub undecodable: Vec<String>,
}

/// Closing a `NETLINK_NETFILTER` socket waits until nf_tables has released the objects of
/// recent transactions, an RCU grace period after the commit (~7-20 ms on a small VM). A
/// background thread does that waiting, so that [`super::apply`] returns when the kernel
/// has committed. (A later transaction in the same namespace may wait for it instead.)
fn close_later(sock: Socket) {
    static CLOSER: OnceLock<Option<mpsc::Sender<Socket>>> = OnceLock::new();
    let closer = CLOSER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Socket>();
        std::thread::Builder::new()
            .name("netns-test-nfnl-close".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    let Some(tx) = closer else {
        return drop(sock);
    };
    if let Err(mpsc::SendError(sock)) = tx.send(sock) {
        drop(sock);
    }
}

impl Drop for Nfnl {
    fn drop(&mut self) {
        if let Some(sock) = self.sock.take() {
            close_later(sock);
        }
    }
}

/// A `NETLINK_NETFILTER` socket in the calling thread's network namespace.
pub(crate) struct Nfnl {
    /// `None` only while dropping.
    sock: Option<Socket>,
    seq: u32,
    buf: Vec<u8>,
}

fn encode(out: &mut Vec<u8>, msg: NetfilterMessage, flags: u16, seq: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    m.finalize();
    let start = out.len();
    out.resize(start + m.buffer_len(), 0);
    m.serialize(&mut out[start..]);
}

/// The sequence number of the request an `NLMSG_ERROR` answers (from its copy of the
/// request's header).
fn answered_seq(header: &[u8]) -> Option<u32> {
    header
        .get(8..12)
        .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
}

fn errno_of(code: i32) -> io::Error {
    io::Error::from_raw_os_error(-code)
}

/// The batch of `msgs` between `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END`; sequence
/// numbers from `first_seq` (the begin message) on.
///
/// The kernel answers every message that fails with an error, whatever its flags; only
/// the last one asks for an acknowledgement (`NLM_F_ACK`). nfnetlink delivers the answers
/// of a batch in message order once the transaction is committed or aborted, so that
/// acknowledgement comes last, and acknowledging every message would make large batches
/// overflow the socket's receive buffer (one skb per answer).
pub(crate) fn encode_batch(msgs: &[BatchMsg], first_seq: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256 * (msgs.len() + 2));
    let control = |m| {
        NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, NFNL_SUBSYS_NFTABLES),
            m,
        )
    };
    encode(&mut buf, control(ControlMessage::BatchBegin), 0, first_seq);
    for (i, m) in msgs.iter().enumerate() {
        let msg = NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::from(m.family), 0, 0),
            m.msg.clone(),
        );
        let ack = if i + 1 == msgs.len() { NLM_F_ACK } else { 0 };
        encode(&mut buf, msg, ack | m.flags, first_seq + 1 + i as u32);
    }
    let end = first_seq + 1 + msgs.len() as u32;
    encode(&mut buf, control(ControlMessage::BatchEnd), 0, end);
    buf
}

impl Nfnl {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Nfnl, Failure> {
        let open = || -> io::Result<Socket> {
            let mut sock = Socket::new(NETLINK_NETFILTER)?;
            sock.bind_auto()?;
            sock.connect(&SocketAddr::new(0, 0))?;
            // Acks carry only the request's header, not the whole request.
            let _ = sock.set_cap_ack(true);
            Ok(sock)
        };
        let sock = open().map_err(|e| Failure::new("opening a NETLINK_NETFILTER socket", e))?;
        Ok(Nfnl {
            sock: Some(sock),
            seq: 1,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    fn sock(&self) -> &Socket {
        self.sock.as_ref().expect("open until dropped")
    }

    fn send(&self, buf: &[u8], what: &str) -> Result<(), Failure> {
        match self.sock().send(buf, 0) {
            Ok(n) if n == buf.len() => Ok(()),
            Ok(n) => Err(Failure::new(
                what,
                io::Error::other(format!("short send: {n} of {} bytes", buf.len())),
            )),
            Err(e) => Err(Failure::new(what, e)),
        }
    }

    /// Receives one datagram into `self.buf`; `Ok(false)` if nothing came within the
    /// timeout (or right away, with `wait == false`).
    fn recv(&mut self, wait: bool) -> io::Result<bool> {
        loop {
            self.buf.clear();
            self.buf.reserve(RECV_BUF);
            match self
                .sock
                .as_ref()
                .expect("open")
                .recv(&mut self.buf, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
            {
                Ok(n) if n > self.buf.len() => {
                    return Err(io::Error::other(format!(
                        "netlink answer of {n} bytes truncated to {}",
                        self.buf.len()
                    )))
                }
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !wait {
                        return Ok(false);
                    }
                    let mut fds = [PollFd::new(self.sock().as_fd(), PollFlags::POLLIN)];
                    match poll(&mut fds, PollTimeout::from(ANSWER_TIMEOUT_MS)) {
                        Ok(0) => return Ok(false),
                        Ok(_) => continue,
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The netlink messages of the last datagram: each decoded, or its decode error.
    fn messages(&self) -> Vec<(u32, Result<NetlinkMessage<NetfilterMessage>, String>)> {
        let mut out = Vec::new();
        let mut rest = &self.buf[..];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
            let seq = u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes"));
            if len < 16 || len > rest.len() {
                break;
            }
            out.push((
                seq,
                NetlinkMessage::<NetfilterMessage>::deserialize(&rest[..len])
                    .map_err(|e| e.to_string()),
            ));
            let advance = ((len + 3) & !3).min(rest.len());
            rest = &rest[advance..];
        }
        out
    }

    /// Sends `msgs` as one nf_tables transaction and checks the kernel's answers: an error
    /// for each refused message, an acknowledgement for the last one. On failure nothing of
    /// the batch is applied; the error names every refused message.
    pub(crate) fn batch(&mut self, msgs: &[BatchMsg]) -> Result<(), Failure> {
        if msgs.is_empty() {
            return Ok(());
        }
        let begin = self.seq;
        let first = begin + 1;
        let end = first + msgs.len() as u32;
        let last = end - 1;
        self.seq = end + 1;
        let buf = encode_batch(msgs, begin);
        self.send(&buf, "sending the nf_tables batch")?;

        let mut failures: Vec<(String, io::Error)> = Vec::new();
        // Everything is queued by now (nfnetlink runs inside send()); poll only as a safety
        // net, until the last message's acknowledgement or a whole-batch error.
        let mut done = false;
        while !done {
            let got = self
                .recv(true)
                .map_err(|e| Failure::new("reading the answers to the nf_tables batch", e))?;
            if !got {
                failures.push((
                    format!(
                        "no acknowledgement for the batch of {} messages",
                        msgs.len()
                    ),
                    io::Error::from(io::ErrorKind::TimedOut),
                ));
                break;
            }
            for (_, msg) in self.messages() {
                let Ok(msg) = msg else { continue };
                let NetlinkPayload::Error(err) = msg.payload else {
                    continue;
                };
                let Some(seq) = answered_seq(&err.header) else {
                    continue;
                };
                if (first..end).contains(&seq) {
                    if let Some(code) = err.code {
                        let what = msgs[(seq - first) as usize].what.clone();
                        failures.push((what, errno_of(code.get())));
                    }
                    done |= seq == last;
                } else if seq == begin || seq == end {
                    if let Some(code) = err.code {
                        // The whole batch was refused (EPERM) or its commit failed; the
                        // other answers, if any, are queued already.
                        failures.push(("committing the transaction".into(), errno_of(code.get())));
                        while let Ok(true) = self.recv(false) {
                            for (_, m) in self.messages() {
                                if let Ok(NetlinkMessage {
                                    payload: NetlinkPayload::Error(e),
                                    ..
                                }) = m
                                {
                                    let s = answered_seq(&e.header).unwrap_or(0);
                                    if let (true, Some(code)) = ((first..end).contains(&s), e.code)
                                    {
                                        let what = msgs[(s - first) as usize].what.clone();
                                        failures.push((what, errno_of(code.get())));
                                    }
                                }
                            }
                        }
                        done = true;
                        break;
                    }
                }
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        // A message's own error explains more than the failed commit it caused.
        failures.sort_by_key(|(w, _)| w == "committing the transaction");
        let mut it = failures.into_iter();
        let (what, source) = it.next().expect("one failure");
        Err(Failure {
            what,
            source,
            more: it.map(|(w, e)| format!("{w}: {e}")).collect(),
        })
    }

    /// Sends one request with `NLM_F_ACK` and waits for its acknowledgement.
    pub(crate) fn request(&mut self, msg: NetfilterMessage, what: &str) -> Result<(), Failure> {
        let seq = self.seq;
        self.seq += 1;
        let mut buf = Vec::new();
        encode(&mut buf, msg, NLM_F_ACK, seq);
        self.send(&buf, what)?;
        loop {
            match self.recv(true) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failure::new(
                        what,
                        io::Error::new(io::ErrorKind::TimedOut, "no answer from the kernel"),
                    ))
                }
                Err(e) => return Err(Failure::new(what, e)),
            }
            for (s, msg) in self.messages() {
                if s != seq {
                    continue;
                }
                if let Ok(NetlinkMessage {
                    payload: NetlinkPayload::Error(err),
                    ..
                }) = msg
                {
                    return match err.code {
                        None => Ok(()),
                        Some(code) => Err(Failure::new(what, errno_of(code.get()))),
                    };
                }
            }
        }
    }

    /// Sends a dump request and collects every message of the answer (decoded, or the
    /// decode error).
    pub(crate) fn dump(
        &mut self,
        msg: NetfilterMessage,
        what: &str,
    ) -> Result<Vec<Result<NetfilterMessage, String>>, Failure> {
        let seq = self.seq;
        self.seq += 1;
        let mut buf = Vec::new();
        encode(&mut buf, msg, NLM_F_DUMP, seq);
        self.send(&buf, what)?;
        let mut out = Vec::new();
        loop {
            match self.recv(true) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failure::new(
                        what,
                        io::Error::new(io::ErrorKind::TimedOut, "the dump did not finish"),
                    ))
                }
                Err(e) => return Err(Failure::new(what, e)),
            }
            for (s, msg) in self.messages() {
                if s != seq {
                    continue;
                }
                match msg {
                    Ok(m) => match m.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(err) => {
                            return match err.code {
                                None => Ok(out),
                                Some(code) => Err(Failure::new(what, errno_of(code.get()))),
                            }
                        }
                        NetlinkPayload::InnerMessage(m) => out.push(Ok(m)),
                        _ => {}
                    },
                    Err(e) => out.push(Err(e)),
                }
            }
        }
    }

    /// Dumps every table, chain and rule of every family.
    pub(crate) fn dump_ruleset(&mut self) -> Result<RulesetDump, Failure> {
        let req = |m: NfTablesMessage| {
            NetfilterMessage::new(NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, 0), m)
        };
        let mut d = RulesetDump::default();
        let tables = self.dump(
            req(NfTablesMessage::GetTable(TableMessage {
                attributes: vec![],
            })),
            "dumping the nf_tables tables",
        )?;
        let chains = self.dump(
            req(NfTablesMessage::GetChain(ChainMessage {
                attributes: vec![],
            })),
            "dumping the nf_tables chains",
        )?;
        let rules = self.dump(
            req(NfTablesMessage::GetRule(RuleMessage { attributes: vec![] })),
            "dumping the nf_tables rules",
        )?;
        for m in tables.into_iter().chain(chains).chain(rules) {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    d.undecodable.push(e);
                    continue;
                }
            };
            let family = u8::from(m.header.family);
            match m.inner {
                NetfilterMessageInner::NfTables(NfTablesMessage::NewTable(t)) => {
                    d.tables.push((family, t))
                }
                NetfilterMessageInner::NfTables(NfTablesMessage::NewChain(c)) => {
                    d.chains.push((family, c))
                }
                NetfilterMessageInner::NfTables(NfTablesMessage::NewRule(r)) => {
                    d.rules.push((family, r))
                }
                other => d.undecodable.push(format!("unexpected message {other:?}")),
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_without_nft_socket_is_named_with_the_way_out() {
        let what = "adding rule #1 `iifname != \"lan\" iifname != \"lo\" ct state new socket \
                    transparent 0-1 counter accept` to chain inet netns_test input";
        let f = Failure::new(what, io::Error::from_raw_os_error(libc::ENOENT));
        let text = f
            .into_error("nf_tables (table inet netns_test)")
            .to_string();
        assert!(text.contains("CONFIG_NFT_SOCKET"), "{text}");
        assert!(text.contains("no_wan_guard()"), "{text}");
        // Other rules keep the general hint.
        let f = Failure::new(
            "adding rule #1 `counter masquerade`",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        let text = f
            .into_error("nf_tables (table inet netns_test)")
            .to_string();
        assert!(text.contains("CONFIG_NFT_MASQ"), "{text}");
    }
}
