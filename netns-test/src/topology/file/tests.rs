use super::*;
use std::time::Duration;

use crate::fault::{Conditions, Emulator, GilbertElliott, Profile};
use crate::nft::{Hook, NatMode, Policy, Proto};
use crate::topology::{DnsRecords, Nat64};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn read(text: &str) -> Result<Topology> {
    Topology::from_toml(text, "lab.toml")
}

/// The message of a file that does not read, as the user sees it.
fn error(text: &str) -> String {
    read(text)
        .expect_err("the file should not read")
        .to_string()
}

#[test]
fn a_file_declares_what_the_builder_declares() {
    let file = read(
        r#"
        route_between = [["docker0", "lan"]]

        [host]
        forwarding = true

        [[bridge]]
        name = "docker0"
        subnet = "172.17.0.0/16"
        masquerade = true
        ipv6 = "fd00:17::/64"

        [[bridge]]
        name = "lan"
        subnet = "192.168.1.0/24"
        in = "r"
        gateway = "192.168.1.254"
        scoped_names = true

        [[bridge]]
        name = "lan6"
        subnet = "fd00:6::/64"
        in = "r"
        nptv6 = "fd00:99::/64"

        [[bridge.dns_record]]
        name = "printer.lan"
        aaaa = ["fd00:6::99"]

        [[node]]
        name = "web"
        on = [
            "docker0",
            { network = "lan", ip = "192.168.1.9", name = "lan0", peer_name = "web-lan", conditions = { delay = "2ms", jitter = "500us", loss = 0.01, rate = "20mbit" }, ingress = { rate = 1000000, queue = 50 } },
        ]
        publish = ["8080:80", "5353:53/udp"]
        resolv_conf = "nameserver 192.0.2.53\n"

        [[node]]
        name = "r"
        router = true
        nat = { preset = "home", hairpin = false, ports = { first = 40000, count = 10 } }
        nat64 = "fd00:64::/96"
        routes = [{ to = "10.9.0.0/16", via = "198.51.100.2" }]
        wan_guard = false

        [node.firewall]
        forward_policy = "drop"
        rules = [{ hook = "forward", proto = "tcp", dport = 80, iif = "lan", action = "accept" }]
        snat = [{ src = "192.168.1.0/24", oif = "wan", to = "198.51.100.1", ports = "1024-65535", mode = "random" }]

        [[node]]
        name = "side"
        net_of = "web"

        [[node]]
        name = "phone"
        on = [{ network = "lan6", down = true, profile = "lte", egress = { delay = "30ms", bursty_loss = { p = 0.01, r = 0.25, loss_bad = 0.9 }, reorder = 0.1, duplicate = 0.001, corrupt = 0.0001, seed = 7, via = "relay" } }]
        iface = [{ name = "svc0", addrs = ["10.200.0.1/32", "fd00:200::1/128"] }]

        [[link]]
        a = "r"
        b = "host"
        subnet = "198.51.100.0/24"
        names = ["wan", "up"]
        ips = ["198.51.100.1", "198.51.100.2"]
        impairable = true
        profile = "satellite_geo"

        [[link]]
        a = "web"
        b = "phone"
        subnet = "fd00:77::/64"
        egress = { rate = "1.5gbit" }

        [[dns_record]]
        name = "relay.test"
        a = ["198.51.100.7"]
        aaaa = ["2001:db8::7"]
        txt = ["v=relay1"]
        ttl = 30

        [[dns_record]]
        name = "www.relay.test"
        cname = "relay.test"
        "#,
    )
    .unwrap();
    let mut nat = Nat::home();
    nat.hairpin = false;
    nat.ports = crate::nft::Ports::Sequential {
        first: 40000,
        count: 10,
    };
    let rust = Topology::new()
        .bridge_with("docker0", "172.17.0.0/16", |b| {
            b.masquerade().ipv6("fd00:17::/64")
        })
        .bridge_with("lan", "192.168.1.0/24", |b| {
            b.in_node("r").gateway("192.168.1.254").scoped_names()
        })
        .bridge_with("lan6", "fd00:6::/64", |b| {
            b.in_node("r")
                .nptv6("fd00:99::/64")
                .dns_record("printer.lan", DnsRecords::new().aaaa("fd00:6::99"))
        })
        .host(|h| h.forwarding())
        .node("web", |n| {
            n.on("docker0")
                .on_with("lan", |a| {
                    a.ip("192.168.1.9")
                        .name("lan0")
                        .peer_name("web-lan")
                        .conditions(
                            Conditions::new()
                                .delay(ms(2))
                                .jitter(Duration::from_micros(500))
                                .loss(0.01)
                                .rate(20_000_000),
                        )
                        .ingress(Conditions::new().rate(1_000_000).queue(50))
                })
                .publish(8080, 80)
                .publish_udp(5353, 53)
                .resolv_conf("nameserver 192.0.2.53\n")
        })
        .router("r", |n| {
            n.nat(nat)
                .nat64(Nat64::prefix("fd00:64::/96"))
                .route("10.9.0.0/16", "198.51.100.2")
                .no_wan_guard()
                .firewall(|r| {
                    r.snat(
                        "192.168.1.0/24",
                        Some("wan"),
                        "198.51.100.1".parse().unwrap(),
                        Some(1024..=65535),
                        NatMode::Random,
                    )
                    .policy(Hook::Forward, Policy::Drop)
                    .filter(
                        Hook::Forward,
                        Rule::new().iif("lan").proto(Proto::Tcp).dport(80).accept(),
                    )
                })
        })
        .node("side", |n| n.net_of("web"))
        .node("phone", |n| {
            n.on_with("lan6", |a| {
                let mut bursts = GilbertElliott::new(0.01, 0.25);
                bursts.loss_bad = 0.9;
                a.down().profile(Profile::lte()).egress(
                    Conditions::new()
                        .delay(ms(30))
                        .bursty_loss(bursts)
                        .reorder(0.1)
                        .duplicate(0.001)
                        .corrupt(0.0001)
                        .seed(7)
                        .via(Emulator::Relay),
                )
            })
            .iface("svc0", &["10.200.0.1/32", "fd00:200::1/128"])
        })
        .link_with("r", "host", "198.51.100.0/24", |l| {
            l.names("wan", "up")
                .ips("198.51.100.1", "198.51.100.2")
                .impairable()
                .profile(Profile::satellite_geo())
        })
        .link_with("web", "phone", "fd00:77::/64", |l| {
            l.egress(Conditions::new().rate(1_500_000_000))
        })
        .route_between("docker0", "lan")
        .dns_record(
            "relay.test",
            DnsRecords::new()
                .a("198.51.100.7")
                .aaaa("2001:db8::7")
                .txt("v=relay1")
                .ttl(30),
        )
        .dns_record("www.relay.test", DnsRecords::new().cname("relay.test"));
    assert_eq!(format!("{file:?}"), format!("{rust:?}"));
    assert_eq!(file.plan().unwrap(), rust.plan().unwrap());
}

#[test]
fn an_unknown_key_is_named_with_its_line_column_and_the_known_keys() {
    let e = error("[[node]]\nname = \"a\"\nonn = [\"lan\"]\n");
    assert!(
        e.starts_with("lab.toml:3:1: unknown field `onn`, expected one of"),
        "{e}"
    );
    assert!(e.contains("`on`"), "{e}");
}

#[test]
fn a_bad_value_is_reported_where_it_is_written() {
    let e = error("[[bridge]]\nname = \"br0\"\nsubnet = \"10.0.0/24\"\n");
    assert_eq!(
        e,
        "lab.toml:3:10: \"10.0.0/24\" is not a subnet (like 10.0.0.0/24 or fd00::/64)"
    );
    let e = error("[[node]]\nname = \"r\"\nnat = \"homme\"\n");
    assert!(
        e.starts_with("lab.toml:3:7: unknown variant `homme`, expected one of"),
        "{e}"
    );
    let e = error("[[node]]\nname = \"a\"\npublish = [\"8080-80\"]\n");
    assert!(
        e.starts_with("lab.toml:3:11: \"8080-80\" is not a published port"),
        "{e}"
    );
    let e = error("[[bridge]]\nname = \"br0\"\nsubnet = \"10.0.0.0/24\"\ngateway = true\n");
    assert!(
        e.starts_with("lab.toml:4:11: `gateway = true` says nothing"),
        "{e}"
    );
}

#[test]
fn a_node_without_a_name_and_a_named_host_are_refused() {
    let e = error("[[node]]\non = [\"lan\"]\n");
    assert_eq!(e, "lab.toml:1:1: a [[node]] needs a name: name = \"a\"");
    let e = error("[host]\nname = \"h\"\n");
    assert!(e.starts_with("lab.toml:2:8: [host] takes no name"), "{e}");
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let e = error("[[node]\nname = \"a\"\n");
    assert!(e.starts_with("lab.toml:1:"), "{e}");
}

#[test]
fn a_missing_file_is_named() {
    let e = Topology::from_file("/nonexistent/lab.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("reading the topology file /nonexistent/lab.toml: "),
        "{e}"
    );
}

#[test]
fn link_conditions_are_checked_where_they_are_written() {
    let e = error("[[node]]\nname = \"a\"\non = [{ network = \"lan\", profile = \"5g\" }]\n");
    assert!(
        e.starts_with("lab.toml:3:36: unknown variant `5g`, expected one of `lan`, `wifi`, `bad_wifi`, `lte`, `umts`, `satellite_leo`, `satellite_geo`"),
        "{e}"
    );
    let e = error(
        "[[link]]\na = \"a\"\nb = \"b\"\nsubnet = \"10.0.0.0/30\"\negress = { loss = 1.5 }\n",
    );
    assert_eq!(
        e,
        "lab.toml:5:19: 1.5 is not a probability: from 0.0 to 1.0 (0.01 is 1% of frames)"
    );
    let e = error("[[link]]\na = \"a\"\nb = \"b\"\nsubnet = \"10.0.0.0/30\"\nconditions = { reorder = 0.1 }\n");
    assert!(
        e.starts_with("lab.toml:5:14: reorder sends some frames at once"),
        "{e}"
    );
    let e = error(
        "[[link]]\na = \"a\"\nb = \"b\"\nsubnet = \"10.0.0.0/30\"\ningress = { rate = \"fast\" }\n",
    );
    assert!(
        e.starts_with("lab.toml:5:20: \"fast\" is not a rate"),
        "{e}"
    );
}

#[test]
fn dns_records_are_checked_where_they_are_written() {
    let e = error("[[dns_record]]\nname = \"relay.test\"\na = [\"fd00::1\"]\n");
    assert_eq!(
        e,
        "lab.toml:3:5: \"fd00::1\" is not an IPv4 address (an A record)"
    );
    let e = error(
        "[[dns_record]]\nname = \"relay.test\"\na = [\"10.0.0.1\"]\ncname = \"other.test\"\n",
    );
    assert!(
        e.starts_with("lab.toml:1:1: DNS record \"relay.test\": a CNAME cannot have other records"),
        "{e}"
    );
    let e = error("[[bridge]]\nname = \"lan\"\nsubnet = \"10.0.0.0/24\"\ndns_record = [{ name = \"bad name\", txt = [\"x\"] }]\n");
    assert!(
        e.starts_with("lab.toml:4:14: DNS record \"bad name\": "),
        "{e}"
    );
    let e = error("[[dns_record]]\nname = \"empty.test\"\n");
    assert!(
        e.contains("no records: give an address, a text or a CNAME"),
        "{e}"
    );
}

#[test]
fn nat_ports_and_nat64_name_their_accepted_forms() {
    let e = error("[[node]]\nname = \"r\"\nnat = { preset = \"home\", ports = \"sequential\" }\n");
    assert_eq!(
        e,
        "lab.toml:3:34: \"sequential\" is not a NAT port choice: \"preserve\", \"random\", or { first = 40000, count = 100 } (sequential)"
    );
    let e =
        error("[[node]]\nname = \"r\"\nnat = { preset = \"home\", ports = { first = 40000 } }\n");
    assert!(e.starts_with("lab.toml:3:34: missing field `count`"), "{e}");
    let e = error("[[node]]\nname = \"r\"\nnat64 = \"fd00:64::/64\"\n");
    assert!(
        e.starts_with("lab.toml:3:9: NAT64 prefix fd00:64::/64 is a /64"),
        "{e}"
    );
}

#[test]
fn an_own_interface_needs_addresses_with_their_prefix_length() {
    let e =
        error("[[node]]\nname = \"a\"\niface = [{ name = \"svc0\", addrs = [\"10.200.0.1\"] }]\n");
    assert!(
        e.starts_with("lab.toml:3:35: \"10.200.0.1\" is not an address with its prefix length"),
        "{e}"
    );
}
