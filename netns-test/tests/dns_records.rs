//! DNS records for any name, served by every node's name service: set in the topology and
//! at run time, scoped to a network, followed through CNAMEs, and reverse lookups (PTR) of
//! node addresses; seen alike by `getaddrinfo` (`getent`, `to_socket_addrs`) and `dig`.

use std::net::{IpAddr, ToSocketAddrs};

use netns_test::{netns_test, DnsRecords, Error, Net, Node, Topology};

/// `a` and `b` on `front` (dual-stack), `c` on `back`; records for the whole network and
/// for `front` only.
fn records() -> Topology {
    Topology::new()
        .bridge_with("front", "10.1.0.0/24", |b| {
            b.ipv6("fd00:1::/64")
                .dns_record("api.test", DnsRecords::new().a("10.1.0.50"))
        })
        .bridge("back", "10.2.0.0/24")
        .node("a", |n| n.on("front"))
        .node("b", |n| n.on("front"))
        .node("c", |n| n.on("back"))
        .dns_record(
            "relay.test",
            DnsRecords::new().a("198.51.100.7").aaaa("2001:db8::7"),
        )
        .dns_record("www.relay.test", DnsRecords::new().cname("relay.test"))
        .dns_record("cdn.test", DnsRecords::new().cname("www.relay.test"))
        .dns_record("b-alias.test", DnsRecords::new().cname("b"))
        .dns_record(
            "relay.test.txt",
            DnsRecords::new().txt("v=relay1").txt("key=abc def").ttl(30),
        )
}

/// What `getaddrinfo` gives for `name` in `node`, through Rust's `to_socket_addrs`, from a
/// thread of the node.
fn resolve(node: &Node, name: &str) -> std::io::Result<Vec<IpAddr>> {
    let name = name.to_string();
    node.run_blocking(move || {
        let mut ips: Vec<IpAddr> = (name.as_str(), 0)
            .to_socket_addrs()?
            .map(|a| a.ip())
            .collect();
        ips.sort();
        ips.dedup();
        Ok(ips)
    })
}

/// `dig +short` in `node` (`args` after it), lines trimmed.
fn dig(node: &Node, args: &[&str]) -> Vec<String> {
    let out = node
        .output("dig", ["+short", "+time=2", "+tries=1"].iter().chain(args))
        .unwrap();
    out.lines().map(|l| l.trim().to_string()).collect()
}

/// The status `dig` reports for a query in `node` (`NOERROR`, `NXDOMAIN`, `SERVFAIL`).
fn dig_status(node: &Node, args: &[&str]) -> String {
    let out = node
        .output("dig", ["+time=2", "+tries=1"].iter().chain(args))
        .unwrap();
    let at = out
        .find("status: ")
        .unwrap_or_else(|| panic!("no status in:\n{out}"));
    out[at + 8..].split(',').next().unwrap().to_string()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = list.iter().map(|s| s.parse().unwrap()).collect();
    v.sort();
    v
}

#[netns_test(topology = records())]
fn build_time_records_resolve_through_getaddrinfo_getent_and_dig(net: Net) {
    for name in ["a", "c", "host"] {
        let node = net.node(name);
        assert_eq!(
            resolve(&node, "relay.test").unwrap(),
            ips(&["198.51.100.7", "2001:db8::7"]),
            "node {name}: to_socket_addrs"
        );
        let getent = node.output("getent", ["ahostsv4", "relay.test"]).unwrap();
        assert!(getent.starts_with("198.51.100.7"), "node {name}: {getent}");
        assert_eq!(dig(&node, &["relay.test", "A"]), ["198.51.100.7"]);
        assert_eq!(dig(&node, &["relay.test", "AAAA"]), ["2001:db8::7"]);
        // Node names keep working next to the records.
        assert_eq!(
            resolve(&node, "b").unwrap(),
            ips(&["10.1.0.3", "fd00:1::3"])
        );
    }
    // Control: a name nobody declared fails, at once.
    let a = net.node("a");
    assert!(resolve(&a, "other.test").is_err());
    assert_eq!(dig_status(&a, &["other.test"]), "NXDOMAIN");
    assert!(a.output("getent", ["hosts", "other.test"]).is_err());
}

#[netns_test(topology = records())]
async fn a_record_set_then_removed_at_run_time_is_seen_by_the_next_query(net: Net) {
    let (a, c) = (net.node("a"), net.node("c"));
    assert_eq!(dig_status(&a, &["moved.test"]), "NXDOMAIN");
    net.dns().set("moved.test", c.ip()).await.unwrap();
    assert_eq!(resolve(&a, "moved.test").unwrap(), [c.ip()]);
    assert_eq!(dig(&c, &["moved.test"]), [c.ip().to_string()]);
    // Replaced: the next query gets the new address, TTL 1 by default.
    net.dns()
        .set("moved.test", DnsRecords::new().a("10.2.0.99"))
        .await
        .unwrap();
    assert_eq!(resolve(&a, "moved.test").unwrap(), ips(&["10.2.0.99"]));
    let answer = a
        .output("dig", ["+noall", "+answer", "moved.test"])
        .unwrap();
    let fields: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(fields[1..], ["1", "IN", "A", "10.2.0.99"], "{answer}");
    net.dns().remove("moved.test").await.unwrap();
    assert!(resolve(&a, "moved.test").is_err());
    assert_eq!(dig_status(&a, &["moved.test"]), "NXDOMAIN");
    // A record over a node name wins, and removing it gives the node's address back.
    net.dns()
        .set("b", DnsRecords::new().a("10.1.0.77"))
        .await
        .unwrap();
    assert_eq!(resolve(&a, "b").unwrap(), ips(&["10.1.0.77"]));
    net.dns().remove("b").await.unwrap();
    assert_eq!(resolve(&a, "b").unwrap(), ips(&["10.1.0.3", "fd00:1::3"]));
}

#[netns_test(topology = records())]
async fn cname_chains_are_followed_to_the_addresses(net: Net) {
    let a = net.node("a");
    assert_eq!(
        dig(&a, &["cdn.test", "A"]),
        ["www.relay.test.", "relay.test.", "198.51.100.7"]
    );
    assert_eq!(
        resolve(&a, "cdn.test").unwrap(),
        ips(&["198.51.100.7", "2001:db8::7"])
    );
    let getent = a.output("getent", ["hosts", "www.relay.test"]).unwrap();
    assert!(getent.contains("relay.test"), "{getent}");
    // To a node name.
    assert_eq!(dig(&a, &["b-alias.test"]), ["b.", "10.1.0.3"]);
    // Asked for the CNAME itself: only it.
    assert_eq!(dig(&a, &["cdn.test", "CNAME"]), ["www.relay.test."]);
    // A loop is a server failure, not a hang.
    net.dns()
        .set("loop1.test", DnsRecords::new().cname("loop2.test"))
        .await
        .unwrap();
    net.dns()
        .set("loop2.test", DnsRecords::new().cname("loop1.test"))
        .await
        .unwrap();
    assert_eq!(dig_status(&a, &["loop1.test"]), "SERVFAIL");
    // A chain to a name nobody has ends in NXDOMAIN.
    net.dns()
        .set("dangling.test", DnsRecords::new().cname("gone.test"))
        .await
        .unwrap();
    assert_eq!(dig_status(&a, &["dangling.test"]), "NXDOMAIN");
}

#[netns_test(topology = records())]
async fn txt_records_are_answered_to_dig(net: Net) {
    let a = net.node("a");
    assert_eq!(
        dig(&a, &["relay.test.txt", "TXT"]),
        ["\"v=relay1\"", "\"key=abc def\""]
    );
    let answer = a
        .output("dig", ["+noall", "+answer", "relay.test.txt", "TXT"])
        .unwrap();
    assert!(answer.contains("\t30\tIN\tTXT\t"), "the TTL set: {answer}");
    // A text longer than 255 bytes goes as several strings of one record.
    let long = "x".repeat(300);
    net.dns()
        .set("long.test", DnsRecords::new().txt(&long))
        .await
        .unwrap();
    let shown = dig(&a, &["long.test", "TXT"]);
    assert_eq!(
        shown,
        [format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45))]
    );
    // No TXT asked, none given: an A query for a name with only texts is empty.
    assert!(dig(&a, &["relay.test.txt", "A"]).is_empty());
    assert_eq!(dig_status(&a, &["relay.test.txt", "A"]), "NOERROR");
}

#[netns_test(topology = records())]
fn node_addresses_have_reverse_lookups(net: Net) {
    let c = net.node("c");
    for (ip, name) in [("10.1.0.2", "a"), ("10.2.0.2", "c"), ("fd00:1::3", "b")] {
        let getent = c.output("getent", ["hosts", ip]).unwrap();
        let fields: Vec<&str> = getent.split_whitespace().collect();
        assert_eq!(fields, [ip, name], "getent hosts {ip}");
        assert_eq!(dig(&c, &["-x", ip]), [format!("{name}.")], "dig -x {ip}");
    }
    // Control: an address of no node has none.
    assert_eq!(dig_status(&c, &["-x", "10.1.0.200"]), "NXDOMAIN");
    assert!(c.output("getent", ["hosts", "10.1.0.200"]).is_err());
}

#[netns_test(topology = records())]
async fn a_networks_records_are_seen_only_on_that_network(net: Net) {
    let (a, c) = (net.node("a"), net.node("c"));
    // Declared on front: a (and the host, which holds the bridge) see it, c does not.
    assert_eq!(dig(&a, &["api.test"]), ["10.1.0.50"]);
    assert_eq!(dig(&net.host(), &["api.test"]), ["10.1.0.50"]);
    assert_eq!(dig_status(&c, &["api.test"]), "NXDOMAIN");
    assert!(resolve(&c, "api.test").is_err());
    // At run time, on back: the other way round; a network's record comes before the
    // whole network's.
    net.dns()
        .set("api.test", DnsRecords::new().a("192.0.2.1"))
        .await
        .unwrap();
    net.dns()
        .on("back")
        .set("api.test", DnsRecords::new().a("10.2.0.50"))
        .await
        .unwrap();
    assert_eq!(dig(&c, &["api.test"]), ["10.2.0.50"]);
    assert_eq!(dig(&a, &["api.test"]), ["10.1.0.50"]);
    net.dns().on("front").remove("api.test").await.unwrap();
    assert_eq!(dig(&a, &["api.test"]), ["192.0.2.1"], "the whole network's");
    assert_eq!(dig(&c, &["api.test"]), ["10.2.0.50"]);
}

#[netns_test(topology = records())]
async fn wrong_records_are_refused_naming_the_name_and_the_fix(net: Net) {
    let msg = |e: Error| e.to_string();
    let e = net
        .dns()
        .set("x.test", DnsRecords::new().a("fd00::1"))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Dns { name, network: None, .. } if name == "x.test"));
    assert_eq!(
        msg(e),
        "DNS name \"x.test\": \"fd00::1\" is not an IPv4 address (an A record)"
    );
    let e = net
        .dns()
        .set("x.test", DnsRecords::new().a("10.0.0.1").cname("y.test"))
        .await
        .unwrap_err();
    assert!(msg(e).contains("a CNAME cannot have other records"));
    let e = net
        .dns()
        .set("not a name", net.node("a").ip())
        .await
        .unwrap_err();
    assert!(msg(e).contains("is not a DNS name"));
    let e = net
        .dns()
        .on("nowhere")
        .remove("api.test")
        .await
        .unwrap_err();
    assert_eq!(
        msg(e),
        "DNS name \"api.test\" on network \"nowhere\": no node is on network \"nowhere\"; \
         the networks are: back, front"
    );
    let e = net.dns().remove("never.test").await.unwrap_err();
    assert!(msg(e).contains("it has no records to remove (those that have: b-alias.test,"));
    // Nothing was set by the refused calls.
    assert_eq!(dig_status(&net.node("a"), &["x.test"]), "NXDOMAIN");
}

#[test]
fn wrong_build_time_records_fail_the_plan_naming_each() {
    let t = Topology::new()
        .bridge_with("lan", "10.0.0.0/24", |b| {
            b.dns_record("ok.test", DnsRecords::new().a("10.0.0.300"))
        })
        .dns_record("bad name", DnsRecords::new().a("10.0.0.1"))
        .dns_record("twice.test", DnsRecords::new().a("10.0.0.1"))
        .dns_record("twice.test", DnsRecords::new().a("10.0.0.2"))
        .dns_record("empty.test", DnsRecords::new());
    let text = t.plan().unwrap_err().to_string();
    for part in [
        "DNS record \"ok.test\" of network \"lan\": \"10.0.0.300\" is not an IPv4 address",
        "DNS record \"bad name\": \"bad name\" is not a DNS name",
        "DNS record \"twice.test\" is declared more than once",
        "DNS record \"empty.test\": no records",
    ] {
        assert!(text.contains(part), "no {part:?} in:\n{text}");
    }
}

#[netns_test(topology = records())]
async fn hickory_in_a_node_sees_the_records_cnames_texts_and_reverse_lookups(net: Net) {
    let found = net
        .node("a")
        .run(async {
            let resolver = hickory_resolver::Resolver::builder_tokio()
                .expect("reading the node's /etc/resolv.conf")
                .build();
            let mut ips: Vec<IpAddr> = resolver
                .lookup_ip("cdn.test.")
                .await
                .expect("cdn.test")
                .iter()
                .collect();
            // lookup_ip asks AAAA only without an A answer (hickory's Ipv4thenIpv6).
            ips.extend(
                resolver
                    .ipv6_lookup("cdn.test.")
                    .await
                    .expect("AAAA cdn.test")
                    .iter()
                    .map(|aaaa| IpAddr::V6(aaaa.0)),
            );
            ips.sort();
            let texts: Vec<String> = resolver
                .txt_lookup("relay.test.txt.")
                .await
                .expect("TXT relay.test.txt")
                .iter()
                .map(|t| t.to_string())
                .collect();
            let names: Vec<String> = resolver
                .reverse_lookup("10.1.0.3".parse().unwrap())
                .await
                .expect("PTR 10.1.0.3")
                .iter()
                .map(|n| n.to_string())
                .collect();
            let missing = resolver.lookup_ip("other.test.").await.is_err();
            (ips, texts, names, missing)
        })
        .await;
    assert_eq!(
        found.0,
        ips(&["198.51.100.7", "2001:db8::7"]),
        "A and AAAA through 2 CNAMEs"
    );
    assert_eq!(found.1, ["v=relay1", "key=abc def"]);
    assert_eq!(found.2, ["b."]);
    assert!(found.3, "an unknown name is an error (the control)");
}
