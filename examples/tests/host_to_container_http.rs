//! Seed 002, [Shell 4] ("veth Device"): an `nginx` container started with `--network none`,
//! then wired to the host by hand with one bare veth pair, `veth-host` (193.168.0.100/24) in
//! the host and `veth-cont` (193.168.0.101/24) in the container; `curl` from the host gets
//! the page.
//!
//! ```text
//! (host)# ip link add veth-host type veth peer name veth-cont
//! (host)# ip link set veth-cont netns $(docker inspect -f '{{.State.Pid}}' nginx)
//! (nginx)# ip link set dev veth-cont up
//! (nginx)# ip addr add 193.168.0.101/24 dev veth-cont
//! (host)# ip link set dev veth-host up
//! (host)# ip addr add 193.168.0.100/24 dev veth-host
//! (host)# curl 193.168.0.101
//! <title>Welcome to nginx!</title>
//! ```
//!
//! The web server here is `python3 -m http.server 80` serving a page with nginx's title.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use netns_test::reach::{Outcome, Probe};
use netns_test::{netns_test, Net, Node, Topology};

/// A node with no network (`--network none`) and one veth pair to the host: no bridge, no
/// gateway, no default route.
fn nginx_over_veth() -> Topology {
    Topology::new()
        .node("nginx", |n| n)
        .link_with("host", "nginx", "193.168.0.0/24", |l| {
            l.names("veth-host", "veth-cont")
                .ips("193.168.0.100", "193.168.0.101")
        })
}

/// An HTTP server process and the directory it serves; both go away on drop, whether
/// the test passed or not.
struct WebServer {
    process: Child,
    root: PathBuf,
}

impl WebServer {
    /// Starts `python3 -m http.server 80 --bind ADDR` inside `node`, serving an
    /// `index.html` that holds `page`.
    fn start(node: &Node, bind: &str, page: &str) -> anyhow::Result<WebServer> {
        // /tmp is the machine's: make the directory's name unique.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_nanos();
        let root = std::env::temp_dir().join(format!("netns-test-nginx-{nanos}"));
        std::fs::create_dir(&root)?;
        std::fs::write(root.join("index.html"), page)?;
        let process = node
            .command("python3")
            .args(["-m", "http.server", "80", "--bind", bind])
            .current_dir(&root)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting python3 in node {}: {e}", node.name()))?;
        Ok(WebServer { process, root })
    }

    /// Waits until `addr` accepts TCP connections (from the test body's node, the host),
    /// for at most `limit`.
    async fn wait_until_listening(&mut self, addr: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.process.try_wait()? {
                anyhow::bail!("the web server exited before listening: {status}");
            }
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    anyhow::bail!("{addr} still refuses connections after {limit:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[netns_test(topology = nginx_over_veth())]
async fn each_end_of_the_veth_has_its_address_and_route(net: Net) -> anyhow::Result<()> {
    // (nginx)# ip route   ->   193.168.0.0/24 dev veth-cont proto kernel scope link src 193.168.0.101
    let nginx_routes = net.node("nginx").output("ip", ["route"])?;
    assert_eq!(
        nginx_routes.trim_end(),
        "193.168.0.0/24 dev veth-cont proto kernel scope link src 193.168.0.101"
    );
    // (host)# ip route   ->   193.168.0.0/24 dev veth-host proto kernel scope link src 193.168.0.100
    let host_routes = net.host().output("ip", ["route"])?;
    assert_eq!(
        host_routes.trim_end(),
        "193.168.0.0/24 dev veth-host proto kernel scope link src 193.168.0.100"
    );
    // (nginx)# ip a   ->   veth-cont@ifN: <BROADCAST,MULTICAST,UP,LOWER_UP> ... inet 193.168.0.101/24
    let veth_cont = net
        .node("nginx")
        .output("ip", ["-o", "addr", "show", "veth-cont"])?;
    assert!(veth_cont.contains("inet 193.168.0.101/24 "), "{veth_cont}");
    let link = net
        .node("nginx")
        .output("ip", ["-o", "link", "show", "veth-cont"])?;
    assert!(link.contains("veth-cont@if"), "{link}");
    assert!(link.contains(",UP,LOWER_UP>"), "{link}");
    Ok(())
}

#[netns_test(topology = nginx_over_veth(), timeout = "30s")]
async fn host_fetches_a_page_from_the_container(net: Net) -> anyhow::Result<()> {
    let page =
        "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n</html>\n";
    let mut server = WebServer::start(&net.node("nginx"), "193.168.0.101", page)?;
    server
        .wait_until_listening("193.168.0.101:80", Duration::from_secs(10))
        .await?;

    // (host)# curl 193.168.0.101   (the body runs in the host node, so a plain Command works too)
    let body = net
        .host()
        .output("curl", ["-s", "--max-time", "5", "http://193.168.0.101/"])?;
    assert!(body.contains("<title>Welcome to nginx!</title>"), "{body}");

    // The server is bound to the container's address only: the host's end answers nothing.
    // curl's exit code 7, failed to connect; and it is a refusal by the host's own end
    // (a TCP reset), while the container's end accepts.
    let host = net.host();
    let refused = host
        .command("curl")
        .args(["-s", "--max-time", "5", "http://193.168.0.100/"])
        .output()?;
    assert_eq!(
        refused.status.code(),
        Some(7),
        "nothing listens on the host's end"
    );
    let wait = Duration::from_secs(2);
    let r = host
        .reach("193.168.0.100", Probe::Tcp(80))
        .within(wait)
        .result()
        .await;
    assert_eq!(r.outcome, Outcome::Refused, "{r}");
    let r = host
        .reach("193.168.0.101", Probe::Tcp(80))
        .within(wait)
        .result()
        .await;
    assert_eq!(r.outcome, Outcome::Reached, "{r}");
    drop(server);
    Ok(())
}

/// `labs/host_to_container_http.toml` is this lab: `netns-test lab examples/labs/host_to_container_http.toml` opens it.
#[test]
fn the_lab_file_declares_this_topology() {
    netns_test_examples::assert_lab_file("host_to_container_http.toml", nginx_over_veth());
}
