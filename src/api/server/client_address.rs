//! The client's address, as rate limits key it. Behind proxies the connection comes
//! from the last proxy, and `X-Forwarded-For` lists the hops, each proxy appending the
//! address it was called from. Only the entries appended by proxies this facade trusts
//! (`TRUSTED_PROXIES`) can be believed: the client is the right-most entry that a
//! trusted proxy added and that is not itself a trusted proxy. Whatever the client
//! wrote into the header (the left part) is never read.
//!
//! IPv6 clients are keyed by their /64, the block one subscriber usually holds.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` entries are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses `TRUSTED_PROXIES`: addresses or CIDR blocks, comma-separated.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "TRUSTED_PROXIES: {entry:?} is not an address or a CIDR block (such as 10.0.0.0/8 or fd00::/8)"
                    )
                })?;
            networks.push(network);
        }
        Ok(Self { networks })
    }

    /// Whether `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks.iter().any(|n| n.contains(&address))
    }

    /// The client behind the connection from `peer` whose requests carry the
    /// `X-Forwarded-For` values `forwarded_for` (each header's value, in order).
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.iter().rev() {
            // A trusted proxy wrote this entry; if it does not parse, the proxy is the
            // nearest client known.
            let Some(address) = parse_hop(hop) else {
                break;
            };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// An IPv4 address written in IPv6 (`::ffff:1.2.3.4`) as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The key a client address is rate limited under: the IPv4 address, or the IPv6
/// address's /64.
pub fn rate_key(address: IpAddr) -> String {
    match canonical(address) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_client_is_the_right_most_entry_a_trusted_proxy_added() {
        let ingress = proxies(&["10.0.0.0/8", "fd00::/8"]);
        for (peer, headers, client) in [
            // No proxy in front: the connection is the client, whatever the header says.
            ("203.0.113.7", vec!["198.51.100.1"], "203.0.113.7"),
            // One trusted proxy: the entry it appended.
            ("10.1.2.3", vec!["198.51.100.1"], "198.51.100.1"),
            // Whatever the client wrote to the left is not read.
            (
                "10.1.2.3",
                vec!["1.1.1.1, 2.2.2.2, 198.51.100.1"],
                "198.51.100.1",
            ),
            // Several trusted hops, over several headers.
            (
                "10.1.2.3",
                vec!["1.1.1.1, 198.51.100.1", "10.9.9.9"],
                "198.51.100.1",
            ),
            // Only trusted hops: the left-most of them.
            ("10.1.2.3", vec!["10.4.4.4"], "10.4.4.4"),
            // Ports and IPv6, and IPv4 written in IPv6.
            ("10.1.2.3", vec!["[2001:db8::7]:443"], "2001:db8::7"),
            ("::ffff:10.1.2.3", vec!["198.51.100.1:5678"], "198.51.100.1"),
            // A trusted proxy that wrote nonsense: the proxy is the nearest client.
            ("10.1.2.3", vec!["unknown"], "10.1.2.3"),
            // A trusted proxy without the header.
            ("10.1.2.3", vec![], "10.1.2.3"),
        ] {
            assert_eq!(
                ingress.client(ip(peer), headers.iter().copied()),
                ip(client),
                "{peer} {headers:?}"
            );
        }
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), ["198.51.100.1"]),
            ip("10.1.2.3"),
            "nothing trusted: the connection"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err =
            TrustedProxies::parse(&["10.0.0.0/8".to_owned(), "ingress".to_owned()]).unwrap_err();
        assert!(err.contains("\"ingress\""), "{err}");
        assert!(proxies(&["192.0.2.1", " fd00::/8 "]).contains(ip("192.0.2.1")));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            rate_key(ip("2001:db8:1:2:bbbb::9")),
            rate_key(ip("2001:db8:1:2:aaaa::1"))
        );
        assert_ne!(
            rate_key(ip("2001:db8:1:3::1")),
            rate_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(rate_key(ip("::ffff:198.51.100.1")), "198.51.100.1");
        assert_eq!(rate_key(ip("198.51.100.1")), "198.51.100.1");
    }
}
