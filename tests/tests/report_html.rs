//! `report.html`, the one-page report in a failed test's diagnostics folder: what it
//! holds (the topology, the failure, the sockets with their owners, the pcaps linked), that
//! it needs nothing from the network, and that a real browser (Chromium, headless) renders
//! it without a console error and shows the failing node.
//!
//! The failing test is the `#[ignore]`d fixture below, run through this very binary as
//! `cargo test` would, with `NETNS_TEST_ARTIFACTS` pointing at a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use support::text;

/// The port `b` listens on, with a connection from `a` open at the failure.
const PORT: u16 = 7000;

mod fixtures {
    use std::net::TcpStream;

    use netns_test::{netns_test, presets, Net};

    use super::PORT;

    /// A program listens in `b`, `a` connects and stays connected, then the test fails
    /// naming `b`.
    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by report_html::a_failed_test_leaves_a_report_a_browser_renders"]
    fn connected_then_panic(net: Net) {
        let b = net.node("b");
        let ip = b.ip();
        let server = format!(
            "import socket, time\n\
             s = socket.socket(); s.bind(('0.0.0.0', {PORT})); s.listen()\n\
             c, _ = s.accept(); time.sleep(60)\n"
        );
        let mut program = b
            .command("python3")
            .args(["-c", &server])
            .spawn()
            .expect("python3 (scripts/setup.sh installs it)");
        let mut client = None;
        for _ in 0..100 {
            match net
                .node("a")
                .run_blocking(|| TcpStream::connect((ip, PORT)))
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
        let client = client.expect("b's server accepts within 5 s");
        // Open at the failure: a panic would close it on its way out.
        std::mem::forget(client);
        let _ = program.try_wait();
        panic!("fixture: <b> did not answer on port 7001");
    }

    /// A rate limit on `a`'s link, then a matrix that expects `a` and `b` isolated: the
    /// check's error fails the test.
    #[netns_test(topology = presets::bridge_pair())]
    #[ignore = "fixture: run by report_html::a_failed_matrix_is_its_own_table_and_conditions_show_their_values"]
    async fn matrix_mismatch_on_a_slow_link(net: Net) -> netns_test::Result<()> {
        use netns_test::reach::{Matrix, Probe};
        net.node("a").conditions("eth0").rate(10_000_000).await?;
        let isolated = Matrix::new(&["a", "b"])
            .expect_all(false)
            .isolation_wait(std::time::Duration::from_millis(300));
        net.check_matrix(Probe::Icmp, &isolated).await?;
        Ok(())
    }

    /// The NAT lab: a connection from `lan1` to the server through the router's NAT.
    #[netns_test(topology = presets::nat_lan_wan(2))]
    #[ignore = "fixture: run by report_html::the_report_of_the_nat_lab_shows_the_nat_and_stays_small"]
    fn nat_lab_then_panic(net: Net) {
        let server = net.node("server");
        let ip = server.ip();
        let listener = server
            .run_blocking(|| std::net::TcpListener::bind(("0.0.0.0", PORT)))
            .expect("listen in server");
        let client = net
            .node("lan1")
            .run_blocking(|| TcpStream::connect((ip, PORT)))
            .expect("connect through the NAT");
        std::mem::forget((listener, client));
        panic!("fixture: the server saw the wrong address");
    }
}

/// A temporary folder, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(tag: &str) -> Temp {
        let dir =
            std::env::temp_dir().join(format!("netns-test-report-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temporary folder");
        Temp(dir)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs fixture `name`; returns the folder it left.
fn failed_folder(root: &Path, name: &str) -> PathBuf {
    let out = support::run_fixture(
        &format!("fixtures::{name}"),
        &[
            "NETNS_TEST_KEEP_ARTIFACTS",
            "NETNS_TEST_CAPTURE",
            "NETNS_TEST_PAUSE_ON_FAILURE",
        ],
        &[("NETNS_TEST_ARTIFACTS", root.to_str().expect("utf-8 path"))],
    );
    let t = text(&out);
    assert!(!out.status.success(), "the fixture should fail:\n{t}");
    assert!(t.contains(&format!("test fixtures::{name} ... ")), "{t}");
    assert!(t.contains("report.html: all of it in one page"), "{t}");
    root.join(format!("report_html__fixtures__{name}"))
}

/// The NAT lab's page shows the router's NAT, its masquerade rule and the translated
/// connection, in well under 64 KiB (the README gives its size).
#[test]
fn the_report_of_the_nat_lab_shows_the_nat_and_stays_small() {
    let root = Temp::new("nat");
    let dir = failed_folder(&root.0, "nat_lab_then_panic");
    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(
        page.contains("router, nftables</text>"),
        "the router's rules in the drawing:\n{page}"
    );
    assert!(
        page.contains("masquerade"),
        "the rule in nft syntax:\n{page}"
    );
    assert!(
        page.contains(&format!("dport={PORT}")),
        "the connection in conntrack:\n{page}"
    );
    for node in ["router", "server", "lan1", "lan2"] {
        assert!(
            page.contains(&format!(">{node}</text>")),
            "node {node}:\n{page}"
        );
    }
    println!("report.html of the NAT lab: {} bytes", page.len());
    assert!(page.len() < 64 * 1024, "{} bytes", page.len());
}

/// A test failed by a matrix check: the page draws the matrix as a table of expected /
/// observed per pair, the mismatches highlighted, and lists the rate limit that was set.
#[test]
fn a_failed_matrix_is_its_own_table_and_conditions_show_their_values() {
    let root = Temp::new("matrix");
    let dir = failed_folder(&root.0, "matrix_mismatch_on_a_slow_link");
    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(page.contains("<h2>Reachability matrix</h2>"), "{page}");
    let table = &page[page.find("<h2>Reachability matrix</h2>").expect("table")..];
    let table = &table[..table.find("</table>").expect("its end")];
    assert_eq!(
        table.matches("<td class=\"differs\"").count(),
        2,
        "a -> b and b -> a differ:\n{table}"
    );
    assert!(table.contains(">n / y</td>"), "{table}");
    assert!(table.contains("<td>- / -</td>"), "{table}");
    assert!(
        page.contains("<tr><td>a:eth0</td><td>0 µs</td><td>0 µs</td><td>0%</td><td>10 Mbit/s</td><td>tbf</td></tr>"),
        "a's rate limit:\n{page}"
    );
}

/// The page holds the failure (escaped), every node, `b`'s listening and connected
/// sockets with the process holding them, and links to the pcaps; it loads nothing.
#[test]
fn a_failed_test_leaves_a_report_a_browser_renders() {
    let root = Temp::new("root");
    let dir = failed_folder(&root.0, "connected_then_panic");
    let page_path = dir.join("report.html");
    let page = std::fs::read_to_string(&page_path)
        .unwrap_or_else(|e| panic!("{}: {e}", page_path.display()));
    assert!(
        page.contains("fixture: &lt;b&gt; did not answer on port 7001"),
        "the failure, escaped:\n{page}"
    );
    assert!(!page.contains("fixture: <b>"), "{page}");
    for node in ["host", "a", "b"] {
        assert!(
            page.contains(&format!(">{node}</text>")),
            "node {node} drawn:\n{page}"
        );
        assert!(
            page.contains(&format!("<h3 id=\"node-{node}\">")),
            "node {node}:\n{page}"
        );
    }
    let b_section = &page[page.find("<h3 id=\"node-b\">").expect("b")..];
    let b_section = &b_section[..b_section[4..]
        .find("<h3")
        .map_or(b_section.len(), |e| e + 4)];
    let listen = b_section
        .lines()
        .find(|l| l.contains("LISTEN") && l.contains(&format!(":{PORT} ")))
        .unwrap_or_else(|| panic!("b's listener:\n{b_section}"));
    assert!(listen.contains("python3["), "held by the program: {listen}");
    assert!(
        b_section
            .lines()
            .any(|l| l.contains("ESTAB") && l.contains(&format!(":{PORT} "))),
        "b's connection:\n{b_section}"
    );
    for pcap in ["a-eth0.pcap", "b-eth0.pcap"] {
        assert!(
            page.contains(&format!("<a href=\"{pcap}\">")),
            "{pcap}:\n{page}"
        );
        assert!(dir.join(pcap).is_file(), "{pcap}");
    }
    assert!(page.contains("[S] len 0"), "a SYN in a timeline:\n{page}");
    // Self-contained: no script, no stylesheet or image to fetch.
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("src="), "{page}");
    assert!(!page.contains("<link"), "{page}");
    let http = page.matches("http").count();
    let xmlns = page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(http, xmlns, "only the SVG namespace names a URL:\n{page}");
    assert!(page.len() < 64 * 1024, "{} bytes", page.len());

    browser_renders(&page_path);
}

/// Chromium, headless, renders the page: the DOM it dumps has the drawing and the failing
/// node, the screenshot is written, and its log has no console message.
fn browser_renders(page: &Path) {
    let profile = Temp::new("chromium");
    let shot = profile.0.join("report.png");
    let run = |extra: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.0.join("profile").display()
            ))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .env("HOME", &profile.0)
            .env("XDG_CONFIG_HOME", profile.0.join("config"))
            .env("XDG_CACHE_HOME", profile.0.join("cache"))
            .output()
            .expect("running chromium (scripts/setup.sh installs it)");
        let t = text(&out);
        assert!(out.status.success(), "chromium failed:\n{t}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for bad in ["CONSOLE", "Uncaught", "Failed to load resource"] {
            assert!(!stderr.contains(bad), "a console message ({bad}):\n{t}");
        }
        out
    };
    let out = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<svg"), "the drawing in the DOM:\n{dom}");
    assert!(
        dom.contains("class=\"mentioned\"") && dom.contains(">b</text>"),
        "the failing node b, outlined:\n{dom}"
    );
    run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1000,800",
    ]);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
}
