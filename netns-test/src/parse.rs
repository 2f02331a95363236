//! Text arguments every layer takes: an address or a network, as `ip` reads them.

use std::net::IpAddr;

use ipnet::IpNet;

/// `text` as a network: a CIDR (`"10.0.0.0/24"`, host bits kept) or an address (a /32 or
/// a /128). With `default` given, `"default"` is also accepted: `0.0.0.0/0`, or `::/0`
/// when `default` is `Some(true)` (IPv6). `None` when it is none of these.
pub(crate) fn net(text: &str, default: Option<bool>) -> Option<IpNet> {
    match (text, default) {
        ("default", Some(false)) => Some(IpNet::V4(Default::default())),
        ("default", Some(true)) => Some(IpNet::V6(Default::default())),
        _ => text
            .parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_addresses_and_default_parse_as_ip_does() {
        let s = |t: &str, d| net(t, d).map(|n| n.to_string());
        assert_eq!(s("192.0.2.7/24", None).as_deref(), Some("192.0.2.7/24"));
        assert_eq!(s("8.8.8.8", None).as_deref(), Some("8.8.8.8/32"));
        assert_eq!(s("fd00::1", None).as_deref(), Some("fd00::1/128"));
        assert_eq!(s("default", Some(false)).as_deref(), Some("0.0.0.0/0"));
        assert_eq!(s("default", Some(true)).as_deref(), Some("::/0"));
        assert_eq!(s("default", None), None);
        assert_eq!(s("8.8.8", Some(false)), None);
        assert_eq!(s("10.0.0.0/33", None), None);
    }
}
