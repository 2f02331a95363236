//! Seed 001, the last step ("Configure Networking From Container To Internet"), and Docker's
//! `-p`: a container `web` on `docker0` (172.17.0.0/16) gets out to the "internet" through
//! the host's masquerade, and the world gets in through a published port.
//!
//! ```text
//! root@test1:~# sysctl -w net.ipv4.ip_forward=1
//! root@test1:~# iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
//! $ docker run -d --name web -p 8080:80 -p 7007:7/udp ...
//! #   iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 \
//! #       -j DNAT --to-destination 172.17.0.2:80
//! #   iptables -t nat -A OUTPUT -m addrtype --dst-type LOCAL -p tcp --dport 8080 \
//! #       -j DNAT --to-destination 172.17.0.2:80                   (and the same for udp/7)
//! #   iptables -t nat -A POSTROUTING -m conntrack --ctstate DNAT -s 127.0.0.0/8 \
//! #       -o docker0 -j MASQUERADE; sysctl -w net.ipv4.conf.docker0.route_localnet=1
//! outside$ curl http://203.0.113.1:8080/
//! host$ curl http://localhost:8080/
//! ```
//!
//! The internet is one node, `outside` (203.0.113.2), on a point-to-point link to the host
//! (203.0.113.1): TEST-NET-3 addresses, so nothing here could ever be mistaken for a real
//! network. Like a machine on the internet, `outside` has no route to 172.17.0.0/16: the
//! container network is hidden behind the host's NAT, and everything `outside` sees of
//! `web` is the host's address.
//!
//! | node | address | role |
//! | --- | --- | --- |
//! | `host` | `docker0` 172.17.0.1/16, `eth0` 203.0.113.1/24 | forwards, masquerades 172.17.0.0/16, publishes 8080/tcp and 7007/udp |
//! | `web` | `eth0` 172.17.0.2/16, default via 172.17.0.1 | `python3 -m http.server 80`, UDP echoes on 7 and (not published) 7008 |
//! | `outside` | `eth0` 203.0.113.2/24, no default route | the internet |

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime};

use netns_test::reach::{Outcome, Probe};
use netns_test::{netns_test, Net, Node, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const WEB: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 2);

const PAGE: &str = "<!DOCTYPE html>\n<html><head><title>web on docker0</title></head></html>\n";

/// `docker0` with Docker's outbound NAT, `web` publishing 8080/tcp -> 80 and 7007/udp -> 7,
/// and `outside` standing for the internet.
fn docker_host() -> Topology {
    Topology::new()
        // ip_forward=1 + MASQUERADE for 172.17.0.0/16 leaving through anything but docker0.
        .bridge_with("docker0", "172.17.0.0/16", |b| b.masquerade())
        .node("web", |n| {
            n.on("docker0")
                // docker run -p 8080:80 -p 7007:7/udp
                .publish(8080, 80)
                .publish_udp(7007, 7)
        })
        .node("outside", |n| n)
        .link("host", "outside", "203.0.113.0/24")
}

/// `curl -s --max-time 5 URL` inside `node`: the page, or curl's exit code.
async fn curl(node: &Node, url: &str) -> anyhow::Result<Result<String, i32>> {
    let out = node
        .tokio_command("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .await?;
    Ok(match out.status.code() {
        Some(0) => Ok(String::from_utf8(out.stdout)?),
        code => Err(code.unwrap_or(-1)),
    })
}

/// `python3 -m http.server 80` in a node, serving an `index.html` with [`PAGE`]; the process
/// and its directory go away on drop, whether the test passed or not.
struct HttpServer {
    process: Child,
    root: PathBuf,
}

impl HttpServer {
    async fn start(node: &Node) -> anyhow::Result<HttpServer> {
        // /tmp is the machine's: make the directory's name unique.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_nanos();
        let root =
            std::env::temp_dir().join(format!("netns-test-web-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&root)?;
        std::fs::write(root.join("index.html"), PAGE)?;
        let process = node
            .command("python3")
            .args(["-m", "http.server", "80"])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let process = match process {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&root);
                anyhow::bail!("starting python3 in node {}: {e}", node.name());
            }
        };
        let server = HttpServer { process, root };
        // No sleep: wait until web's own address accepts connections on port 80.
        node.wait_for_port(Probe::Tcp(80), Duration::from_secs(10))
            .await?;
        Ok(server)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[netns_test(topology = docker_host(), timeout = "30s")]
async fn the_published_port_serves_the_internet_and_the_host(net: Net) -> anyhow::Result<()> {
    let (host, web, outside) = (net.host(), net.node("web"), net.node("outside"));
    let server = HttpServer::start(&web).await?;

    // outside$ curl -s http://203.0.113.1:8080/   (DNAT in the host's prerouting)
    let page = curl(&outside, "http://203.0.113.1:8080/").await?;
    assert_eq!(page.as_deref(), Ok(PAGE), "outside -> 203.0.113.1:8080");

    // host$ curl -s http://172.17.0.1:8080/   (the host's own connections: DNAT in output)
    let page = curl(&host, "http://172.17.0.1:8080/").await?;
    assert_eq!(page.as_deref(), Ok(PAGE), "host -> 172.17.0.1:8080");
    // Any local address of the host will do, the WAN one too.
    let page = curl(&host, "http://203.0.113.1:8080/").await?;
    assert_eq!(page.as_deref(), Ok(PAGE), "host -> 203.0.113.1:8080");

    // Loopback too, as Docker answers it: host$ curl http://localhost:8080/ (curl tries
    // ::1 first, which is not published, then 127.0.0.1).
    let page = curl(&host, "http://127.0.0.1:8080/").await?;
    assert_eq!(page.as_deref(), Ok(PAGE), "host -> 127.0.0.1:8080");
    let page = curl(&host, "http://localhost:8080/").await?;
    assert_eq!(page.as_deref(), Ok(PAGE), "host -> localhost:8080");

    // The container's own address is not reachable from the internet: no route to it.
    // The host, on docker0, fetches the page there directly ...
    let page = curl(&host, "http://172.17.0.2/").await?;
    assert_eq!(page.as_deref(), Ok(PAGE), "host -> 172.17.0.2:80 directly");
    // ... the outside does not get there (curl exit code 7: failed to connect) ...
    let direct = curl(&outside, "http://172.17.0.2/").await?;
    assert_eq!(direct, Err(7), "outside -> 172.17.0.2:80 directly");
    let outcome = outside
        .assert_cannot_reach(IpAddr::V4(WEB), Probe::Tcp(80))
        .await;
    assert_eq!(outcome, Outcome::NetUnreachable);
    // ... and a route is all it lacks: given one through the host, it does.
    outside
        .route()
        .add("172.17.0.0/16", HOST_WAN.into())
        .await?;
    let page = curl(&outside, "http://172.17.0.2/").await?;
    assert_eq!(
        page.as_deref(),
        Ok(PAGE),
        "outside -> 172.17.0.2:80 with a route"
    );

    drop(server);
    Ok(())
}

#[netns_test(topology = docker_host(), timeout = "30s")]
async fn outbound_connections_leave_with_the_hosts_address(net: Net) -> anyhow::Result<()> {
    let (host, web, outside) = (net.host(), net.node("web"), net.node("outside"));

    // outside$ ip route   -> only its link: the internet knows nothing of 172.17.0.0/16.
    let routes = outside.output("ip", ["-4", "route"])?;
    assert_eq!(
        routes.trim_end(),
        "203.0.113.0/24 dev eth0 proto kernel scope link src 203.0.113.2",
        "outside's routes"
    );

    // The tutorial's check that the container is online: ping an internet address.
    // (sample)# ping 8.8.8.8   ->   here 203.0.113.2, through the host's NAT.
    web.output("ping", ["-c", "1", "-W", "2", "203.0.113.2"])?;

    // A TCP server on the internet, and a connection from the container to it.
    let listener = outside
        .run(async { tokio::net::TcpListener::bind((OUTSIDE, 9000)).await })
        .await?;
    let server = outside.spawn(async move {
        let (mut conn, peer) = listener.accept().await?;
        let mut hello = Vec::new();
        conn.read_to_end(&mut hello).await?;
        Ok::<_, std::io::Error>((peer, hello))
    });
    let local = web
        .run(async {
            let mut conn = tokio::net::TcpStream::connect((OUTSIDE, 9000)).await?;
            let local = conn.local_addr()?;
            conn.write_all(b"hello from web").await?;
            conn.shutdown().await?;
            Ok::<_, std::io::Error>(local)
        })
        .await?;
    let (peer, hello) = server.await??;
    assert_eq!(hello, b"hello from web");
    assert_eq!(
        local.ip(),
        IpAddr::V4(WEB),
        "web connects from its own address"
    );
    // MASQUERADE: the server sees the host's WAN address, never 172.17.0.2.
    assert_eq!(
        peer.ip(),
        IpAddr::V4(HOST_WAN),
        "outside sees the connection from the host's address"
    );

    // host# conntrack -L -p tcp --dport 9000: the entry the masquerade made. The original
    // direction is web -> outside; the reply direction is addressed to the host.
    let entries = host.nft().conntrack().await?;
    let entry = entries
        .iter()
        .find(|e| e.orig.src == IpAddr::V4(WEB) && e.orig.dport == 9000)
        .unwrap_or_else(|| panic!("no conntrack entry for web -> outside:9000 in {entries:#?}"));
    assert!(entry.is_src_nat(), "{entry:?}");
    assert_eq!(entry.reply.src, IpAddr::V4(OUTSIDE), "{entry:?}");
    assert_eq!(entry.reply.dst, IpAddr::V4(HOST_WAN), "{entry:?}");
    assert_eq!(entry.reply.dport, peer.port(), "{entry:?}");
    Ok(())
}

#[netns_test(topology = docker_host())]
async fn a_published_udp_port_answers(net: Net) -> anyhow::Result<()> {
    let (host, web, outside) = (net.host(), net.node("web"), net.node("outside"));
    // The container's UDP service: the echo service, port 7 (bound when this returns).
    // (Not port 53: every node's own name responder holds 127.0.0.11:53.)
    let echo = web.udp_echo(7)?;

    // -p 7007:7/udp, from the internet and from the host itself.
    outside
        .assert_reaches(IpAddr::V4(HOST_WAN), Probe::Udp(7007))
        .await;
    host.assert_reaches("172.17.0.1", Probe::Udp(7007)).await;
    assert!(
        echo.echoed() >= 2,
        "web answered {} datagrams",
        echo.echoed()
    );

    // Ports that are not published are not forwarded. web answers on 7008 as well, yet
    // the host's 7008 refuses (ICMP port unreachable from the host itself) and web's
    // 7008 never hears of it ...
    let unpublished = web.udp_echo(7008)?;
    let r = outside
        .reach(IpAddr::V4(HOST_WAN), Probe::Udp(7008))
        .within(Duration::from_secs(2))
        .result()
        .await;
    assert_eq!(r.outcome, Outcome::Refused, "{r}");
    assert_eq!(unpublished.echoed(), 0, "host:7008 was forwarded to web");
    // ... although it answers whoever reaches it: the host, directly.
    host.assert_reaches(IpAddr::V4(WEB), Probe::Udp(7008)).await;
    assert!(unpublished.echoed() >= 1);

    // web's own port 7 answers the host directly, and is not reachable from outside at
    // all: no route to 172.17.0.0/16 there ...
    host.assert_reaches(IpAddr::V4(WEB), Probe::Udp(7)).await;
    let outcome = outside
        .assert_cannot_reach(IpAddr::V4(WEB), Probe::Udp(7))
        .await;
    assert_eq!(outcome, Outcome::NetUnreachable);
    // ... which is all it lacks.
    outside
        .route()
        .add("172.17.0.0/16", HOST_WAN.into())
        .await?;
    outside.assert_reaches(IpAddr::V4(WEB), Probe::Udp(7)).await;
    Ok(())
}

/// `labs/docker_nat_and_published_port.toml` is this lab: `netns-test lab examples/labs/docker_nat_and_published_port.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("docker_nat_and_published_port.toml", docker_host());
}
