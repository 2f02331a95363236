//! The kernel floor of a topology: the raw netlink and procfs operations that make its
//! namespaces, devices, addresses, routes and NAT rules, issued as directly as a program
//! can, with none of the framework around them.
//!
//! Per namespace: `unshare(CLONE_NEWNET)` on this thread, an fd to hold it, one rtnetlink
//! socket, `lo` up, the forwarding sysctl of a router. Then, each phase's requests all in
//! flight at once (as the framework issues them): bridges; veth pairs with the peer
//! created in its namespace and the bridge port's master set; peers up and addresses;
//! routes; each router's nf_tables batch. What it leaves out, and the framework does:
//! planning, name services, `ping_group_range`, node files, and the wait until every
//! link reports operstate UP (the kernel's linkwatch work: before it a link has no queue
//! and drops what it is given). So the floor is below what a usable network costs: a
//! naive wait (a dump of every waiting namespace every 2 ms) made 1000 nodes on one
//! bridge take 5.8 s instead of 2.2 s.

use std::fs::File;
use std::os::fd::AsFd;

use futures::future::try_join_all;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use netns_test::topology::Plan;
use nix::sched::{setns, unshare, CloneFlags};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::os::fd::AsRawFd;

/// A network built by [`build`]: dropping it closes every fd, and the kernel frees it.
pub struct Floor {
    _netns: Vec<File>,
    handles: Vec<Handle>,
}

impl Floor {
    /// Deletes the plan's bridges (`RTM_DELLINK`) now, instead of leaving them to the
    /// kernel's teardown of their namespace.
    pub fn delete_bridges(&self, plan: &Plan, rt: &tokio::runtime::Runtime) {
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
pub fn build(plan: &Plan, rt: &tokio::runtime::Runtime) -> Floor {
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
    Floor {
        _netns: netns,
        handles: nl.clone(),
    }
}
