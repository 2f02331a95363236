//! The kernel floor of a topology: the raw netlink and procfs operations that make its
//! namespaces, devices, addresses, routes and NAT rules, issued as directly as a program
//! can, with none of the framework around them.
//!
//! Per namespace: `unshare(CLONE_NEWNET)` on this thread, an fd to hold it, one rtnetlink
//! socket, `lo` up, the forwarding sysctl of a router. Then, each phase's requests all in
//! flight at once (as the framework issues them): bridges; veth pairs with the peer
//! created in its namespace and the bridge port's master set; peers up and addresses;
//! routes; each router's nf_tables batch. Then, as the framework does, the wait until
//! every link reports operstate UP (the kernel's linkwatch work: before it a link has no
//! queue and drops what it is given), with the framework's schedule: a dump of each
//! waiting namespace's links, a pause that grows with the links still waiting (0.5 ms to
//! 16 ms), and past 200 links a kick of the linkwatch (a veth of a namespace of its own
//! taken down and up). [`Floor::wait`] is that wait's share of the build. What it leaves
//! out, and the framework does: planning, name services, `ping_group_range`, node files.
//!
//! The threads are the framework's: namespaces are made on the calling thread, requests
//! go out from it, and the netlink connections run on the runtime's one worker (the
//! caller passes a multi-thread runtime with one worker, as a network has).

use std::fs::File;
use std::os::fd::AsFd;

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, State};
use netns_test::topology::Plan;
use nix::sched::{setns, unshare, CloneFlags};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::os::fd::AsRawFd;

/// A network built by [`build`]: dropping it closes every fd, and the kernel frees it.
pub(crate) struct Floor {
    _netns: Vec<File>,
    handles: Vec<Handle>,
    /// How long the wait for links took, within the build.
    pub wait: Duration,
}

impl Floor {
    /// Deletes the plan's bridges (`RTM_DELLINK`) now, instead of leaving them to the
    /// kernel's teardown of their namespace.
    pub(crate) fn delete_bridges(&self, plan: &Plan, rt: &tokio::runtime::Runtime) {
        rt.block_on(async {
            for b in &plan.bridges {
                self.handles[b.node]
                    .link()
                    .del(b.index)
                    .execute()
                    .await
                    .expect("del bridge");
            }
        });
    }
}

fn this_netns() -> File {
    File::open("/proc/thread-self/ns/net").expect("own netns")
}

fn sysctl(key: &str, value: &str) {
    std::fs::write(format!("/proc/sys/{key}"), value).expect(key);
}

/// Builds `plan` on `rt`; the calling thread ends in the netns it started in.
pub(crate) fn build(plan: &Plan, rt: &tokio::runtime::Runtime) -> Floor {
    let home = this_netns();
    let mut netns = Vec::new();
    let mut nl = Vec::new();
    {
        let _guard = rt.enter();
        for node in &plan.nodes {
            assert!(node.net_of.is_none(), "the floor has no shared namespaces");
            unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            netns.push(this_netns());
            let (conn, handle, _) = rtnetlink::new_connection().expect("rtnetlink socket");
            tokio::spawn(conn);
            if node.forwarding {
                sysctl("net/ipv4/ip_forward", "1");
            }
            nl.push(handle);
        }
    }
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET).expect("back home");
    let (nl, ns) = (&nl, &netns);
    rt.block_on(async move {
        let lo_up = nl.iter().map(|h| {
            h.link()
                .set(LinkUnspec::new_with_index(1).up().build())
                .execute()
        });
        try_join_all(lo_up).await.expect("lo up");
        try_join_all(plan.bridges.iter().map(|b| {
            let msg = LinkBridge::new(&b.name)
                .index(b.index)
                .address(b.mac.to_vec())
                .up()
                .build();
            nl[b.node].link().add(msg).execute()
        }))
        .await
        .expect("bridges");
        try_join_all(plan.veths.iter().map(|v| {
            let (main, peer) = if v.ends[1].master.is_some() {
                (&v.ends[1], &v.ends[0])
            } else {
                (&v.ends[0], &v.ends[1])
            };
            let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
                .name(peer.name.clone())
                .index(peer.index)
                .address(peer.mac.to_vec())
                .setns_by_fd(ns[peer.node].as_raw_fd())
                .build();
            let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(main.name.clone())
                .index(main.index)
                .address(main.mac.to_vec())
                .up()
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
            if let Some(b) = main.master {
                msg = msg.controller(plan.bridges[b].index);
            }
            nl[main.node].link().add(msg.build()).execute()
        }))
        .await
        .expect("veths");
        let peers = plan.veths.iter().map(|v| {
            let peer = if v.ends[1].master.is_some() {
                &v.ends[0]
            } else {
                &v.ends[1]
            };
            nl[peer.node]
                .link()
                .set(LinkUnspec::new_with_index(peer.index).up().build())
                .execute()
        });
        let mut addrs = Vec::new();
        for b in &plan.bridges {
            addrs.extend(b.addrs.iter().map(|a| (b.node, b.index, *a)));
        }
        for e in plan.veths.iter().flat_map(|v| &v.ends) {
            addrs.extend(e.addrs.iter().map(|a| (e.node, e.index, *a)));
        }
        let addrs = addrs.into_iter().map(|(node, index, a)| {
            nl[node]
                .address()
                .add(index, a.addr(), a.prefix_len())
                .execute()
        });
        futures::try_join!(try_join_all(peers), try_join_all(addrs)).expect("peers up, addresses");
        try_join_all(plan.routes.iter().map(|r| {
            let msg = match (r.dest, r.via) {
                (ipnet::IpNet::V4(d), std::net::IpAddr::V4(g)) => {
                    rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                        .destination_prefix(d.network(), d.prefix_len())
                        .gateway(g)
                        .build()
                }
                _ => panic!("the reference topologies route IPv4 only"),
            };
            nl[r.node].route().add(msg).execute()
        }))
        .await
        .expect("routes");
    });
    for (node, fd) in plan.nodes.iter().zip(&netns) {
        if let Some(rules) = &node.rules {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).expect("into the router");
            netns_test::nft::apply(rules).expect("nf_tables batch");
        }
    }
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET).expect("back home");
    let start = Instant::now();
    rt.block_on(wait_up(plan, nl));
    Floor {
        _netns: netns,
        handles: nl.clone(),
        wait: start.elapsed(),
    }
}

/// Waits until every veth end, and every bridge with ports, reports operstate UP, on the
/// framework's schedule (`kernel/build.rs`, `wait_up`).
async fn wait_up(plan: &Plan, nl: &[Handle]) {
    let mut pending: std::collections::BTreeMap<usize, Vec<u32>> = Default::default();
    for e in plan.veths.iter().flat_map(|v| &v.ends) {
        pending.entry(e.node).or_default().push(e.index);
    }
    for (b, bridge) in plan.bridges.iter().enumerate() {
        if plan
            .veths
            .iter()
            .any(|v| v.ends.iter().any(|e| e.master == Some(b)))
        {
            pending.entry(bridge.node).or_default().push(bridge.index);
        }
    }
    let total: usize = pending.values().map(Vec::len).sum();
    let start = Instant::now();
    loop {
        let checks = pending.iter().map(|(&node, links)| async move {
            let up = links_up(&nl[node]).await;
            let left: Vec<u32> = links.iter().copied().filter(|i| !up.contains(i)).collect();
            (node, left)
        });
        pending = futures::future::join_all(checks)
            .await
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "floor: links not up after 60 s: {pending:?}"
        );
        let waiting: usize = pending.values().map(Vec::len).sum();
        let pause = (Duration::from_micros(500) + Duration::from_micros(15) * waiting as u32)
            .min(Duration::from_millis(16));
        if total > 200 {
            kick().await;
        }
        tokio::time::sleep(pause).await;
    }
}

/// Indexes of the links of a namespace whose operstate is UP (a dump without statistics).
async fn links_up(nl: &Handle) -> HashSet<u32> {
    let mut links = nl
        .link()
        .get()
        .set_filter_mask(
            netlink_packet_route::AddressFamily::Unspec,
            vec![netlink_packet_route::link::LinkExtentMask::SkipStats],
        )
        .execute();
    let mut up = HashSet::new();
    while let Some(msg) = links.try_next().await.expect("link dump") {
        if msg
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
        {
            up.insert(msg.header.index);
        }
    }
    up
}

/// The kick namespace: a veth pair `kick0`/`kick1`, and its netlink handle.
struct Kick {
    _ns: File,
    nl: Handle,
}

static KICK: OnceLock<Kick> = OnceLock::new();

/// Takes `kick0` down and up: two urgent events, so that the kernel's next linkwatch run
/// starts now (`kernel/kick.rs`). Made once per process, on first use.
async fn kick() {
    if KICK.get().is_none() {
        let kick = make_kick().await;
        let _ = KICK.set(kick);
    }
    let k = KICK.get().expect("kick made");
    for up in [false, true] {
        let msg = LinkUnspec::new_with_name("kick0");
        let msg = if up { msg.up() } else { msg.down() };
        k.nl.link().set(msg.build()).execute().await.expect("kick");
    }
}

async fn make_kick() -> Kick {
    let home = this_netns();
    unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let ns = this_netns();
    let (conn, nl, _) = rtnetlink::new_connection().expect("rtnetlink socket");
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET).expect("back home");
    tokio::spawn(conn);
    nl.link()
        .add(LinkVeth::new("kick0", "kick1").up().build())
        .execute()
        .await
        .expect("kick veth");
    Kick { _ns: ns, nl }
}
