//! Docker's user-defined bridge networks: isolated from each other although the host
//! forwards, names known only on the network, and a container on two networks.
//!
//! ```text
//! $ docker network create --subnet 172.21.0.0/16 frontnet
//! $ docker network create --subnet 172.22.0.0/16 backnet
//! $ docker run -d --name web1 --network frontnet ...
//! $ docker run -d --name web2 --network frontnet ...
//! $ docker run -d --name db1  --network backnet  ...
//! $ docker run -d --name api  --network frontnet ...
//! $ docker network connect backnet api
//! ```
//!
//! Both networks have Docker's outbound NAT (`masquerade()`), so the host forwards. Docker
//! keeps two networks apart with its isolation chains, not with missing routes:
//!
//! ```text
//! iptables -I DOCKER-ISOLATION-STAGE-1 -i br-frontnet ! -o br-frontnet -j DOCKER-ISOLATION-STAGE-2
//! iptables -I DOCKER-ISOLATION-STAGE-2 -o br-backnet -j DROP           (and the other way)
//! ```
//!
//! which the topology gets as `iifname "frontnet" oifname "backnet" drop` (and the reverse)
//! in the host's forward chain. `web1`'s default route does lead to the host, and the host
//! would route the packet to `backnet`, but drops it first. `api`, on both networks,
//! reaches everyone directly, without the host forwarding anything.
//!
//! | node | frontnet 172.21.0.0/16 | backnet 172.22.0.0/16 |
//! | --- | --- | --- |
//! | `host` | 172.21.0.1 (gateway) | 172.22.0.1 (gateway) |
//! | `web1` | 172.21.0.2 | |
//! | `web2` | 172.21.0.3 | |
//! | `api` | 172.21.0.4 (`eth0`, default route) | 172.22.0.3 (`eth1`) |
//! | `db1` | | 172.22.0.2 |

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;

use netns_test::reach::{Outcome, Probe};
use netns_test::{netns_test, Net, Node, Topology};
use tokio::io::AsyncReadExt;

const DB1: Ipv4Addr = Ipv4Addr::new(172, 22, 0, 2);
const API_ON_BACKNET: Ipv4Addr = Ipv4Addr::new(172, 22, 0, 3);

/// Two user-defined networks with outbound NAT and names scoped to the network, three
/// single-network containers and `api` on both.
fn user_networks() -> Topology {
    Topology::new()
        .bridge_with("frontnet", "172.21.0.0/16", |b| {
            b.masquerade().scoped_names()
        })
        .bridge_with("backnet", "172.22.0.0/16", |b| {
            b.masquerade().scoped_names()
        })
        .node("web1", |n| n.on("frontnet"))
        .node("web2", |n| n.on("frontnet"))
        .node("db1", |n| n.on("backnet"))
        // docker run --network frontnet; docker network connect backnet api
        .node("api", |n| n.on("frontnet").on("backnet"))
}

/// The same, with the host routing between the two networks: the isolation rule is gone
/// for this pair (what `docker network connect` cannot do, and an operator does by
/// deleting the DOCKER-ISOLATION rules).
fn routed_user_networks() -> Topology {
    user_networks().route_between("frontnet", "backnet")
}

/// Runs a real program inside `node` and returns its exit code, standard output and
/// standard error.
async fn run(node: &Node, prog: &str, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let out = node.tokio_command(prog).args(args).output().await?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    ))
}

/// [`run`], which must succeed: its standard output.
async fn sh(node: &Node, prog: &str, args: &[&str]) -> anyhow::Result<String> {
    let (code, out, err) = run(node, prog, args).await?;
    anyhow::ensure!(
        code == 0,
        "{prog} {args:?} in {}: exit {code}: {err}",
        node.name()
    );
    Ok(out)
}

/// `getent hosts NAME` inside `node`: the addresses it resolves to, empty if the name is
/// unknown (getent's exit 2, "key not found"; any other failure is an error).
async fn getent(node: &Node, name: &str) -> anyhow::Result<Vec<String>> {
    let (code, out, err) = run(node, "getent", &["hosts", name]).await?;
    let addrs: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    anyhow::ensure!(
        (code == 0 && !addrs.is_empty()) || (code == 2 && addrs.is_empty()),
        "getent hosts {name} in {}: exit {code}: {out}{err}",
        node.name()
    );
    Ok(addrs)
}

/// `ping -c 1 -W 1 TO` inside `from`, which must be answered.
async fn ping(from: &Node, to: &str) -> anyhow::Result<()> {
    sh(from, "ping", &["-c", "1", "-W", "1", to])
        .await
        .map(drop)
}

#[netns_test(topology = user_networks())]
async fn networks_are_isolated_but_api_reaches_both(net: Net) -> anyhow::Result<()> {
    // Each column is probed at the node's first IPv4 address; api's is its frontnet one
    // (172.21.0.4), which db1 could only reach through the host: `n`, just as in Docker,
    // where db1 reaches api at its backnet address (checked below). The host reaches
    // everyone and everyone reaches the host: isolation drops forwarded packets only, and
    // 172.21.0.1 is a local address of the host for db1 too.
    net.assert_matrix(
        Probe::Icmp,
        "
                 host  web1  web2  api   db1
            host   -     y     y     y     y
            web1   y     -     y     y     n
            web2   y     y     -     y     n
            api    y     y     y     -     y
            db1    y     n     n     n     -
        ",
    )
    .await;

    let (web1, db1) = (net.node("web1"), net.node("db1"));
    // db1 and api share backnet: db1 reaches api there, directly.
    db1.assert_reaches(IpAddr::V4(API_ON_BACKNET), Probe::Icmp)
        .await;

    // db1's database port is open: api, its neighbour on backnet, connects to it.
    let _db = db1
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:5432").await })
        .await?;
    let api = net.node("api");
    api.assert_reaches(IpAddr::V4(DB1), Probe::Tcp(5432)).await;
    // Not for lack of a route: web1's default route leads to the host, which forwards,
    // and silently drops this pair in its forward chain: no answer, no ICMP error.
    let outcome = web1
        .assert_cannot_reach(IpAddr::V4(DB1), Probe::Tcp(5432))
        .await;
    assert_eq!(outcome, Outcome::Timeout);
    let route = sh(&web1, "ip", &["route", "get", "172.22.0.2"]).await?;
    assert!(
        route.starts_with("172.22.0.2 via 172.21.0.1 dev eth0"),
        "{route}"
    );
    let fwd = sh(&net.host(), "sysctl", &["-n", "net.ipv4.ip_forward"]).await?;
    assert_eq!(fwd.trim(), "1", "the host forwards");
    // The drop rules are the whole isolation: without the host's rules, web1 gets in.
    net.host().nft().flush().await?;
    web1.assert_reaches(IpAddr::V4(DB1), Probe::Tcp(5432)).await;
    Ok(())
}

#[netns_test(topology = user_networks())]
async fn names_are_known_only_on_the_network(net: Net) -> anyhow::Result<()> {
    let (web1, web2, db1, api) = (
        net.node("web1"),
        net.node("web2"),
        net.node("db1"),
        net.node("api"),
    );
    // web1$ getent hosts db1   -> nothing: db1 is on backnet only.
    assert_eq!(getent(&web1, "db1").await?, Vec::<String>::new());
    assert_eq!(getent(&db1, "web1").await?, Vec::<String>::new());
    // Members of one network know each other.
    assert_eq!(getent(&web1, "web2").await?, ["172.21.0.3"]);
    // api knows both sides, and both sides know api at the address they share with it.
    assert_eq!(getent(&api, "db1").await?, ["172.22.0.2"]);
    assert_eq!(getent(&api, "web1").await?, ["172.21.0.2"]);
    assert_eq!(getent(&db1, "api").await?, ["172.22.0.3"]);
    assert_eq!(getent(&web2, "api").await?, ["172.21.0.4"]);

    // By name, with a real ping: api -> db1 works, web1 -> db1 cannot even resolve it.
    ping(&api, "db1").await.context("api -> db1")?;
    ping(&db1, "api").await.context("db1 -> api (172.22.0.3)")?;
    let (code, _, err) = run(&web1, "ping", &["-c", "1", "-W", "1", "db1"]).await?;
    assert_eq!(
        code, 2,
        "ping exits 2 when the name does not resolve: {err}"
    );
    assert!(err.contains("db1"), "{err}");
    Ok(())
}

#[netns_test(topology = routed_user_networks())]
async fn routing_between_the_networks_lifts_the_isolation(net: Net) -> anyhow::Result<()> {
    net.assert_matrix(
        Probe::Icmp,
        "
                 web1  web2  api   db1
            web1   -     y     y     y
            web2   y     -     y     y
            api    y     y     -     y
            db1    y     y     y     -
        ",
    )
    .await;

    let (web1, db1) = (net.node("web1"), net.node("db1"));
    // A real connection web1 -> db1:5432. Both networks masquerade everything that leaves
    // them through another interface (`-s 172.21.0.0/16 ! -o frontnet -j MASQUERADE`), and
    // backnet is "another interface": db1 sees the connection coming from the host's
    // backnet address, as it would in Docker with the isolation rules removed.
    let listener = db1
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:5432").await })
        .await?;
    let server = db1.spawn(async move {
        let (mut conn, peer) = listener.accept().await?;
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await?;
        Ok::<_, std::io::Error>(peer)
    });
    web1.run(async { tokio::net::TcpStream::connect((DB1, 5432)).await.map(drop) })
        .await?;
    let peer = server.await??;
    assert_eq!(
        peer.ip(),
        IpAddr::V4(Ipv4Addr::new(172, 22, 0, 1)),
        "{peer}"
    );

    // Routing does not publish names: web1 reaches db1's address but still cannot
    // resolve its name, which api (on backnet) resolves.
    assert_eq!(getent(&web1, "db1").await?, Vec::<String>::new());
    assert_eq!(getent(&net.node("api"), "db1").await?, ["172.22.0.2"]);
    Ok(())
}

/// `labs/user_networks_isolated.toml` is this lab: `netns-test lab examples/labs/user_networks_isolated.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("user_networks_isolated.toml", user_networks());
}
