//! Which network addresses the server may send webhooks to. A subscriber's URL is the admin's to choose,
//! but the server's own network position is not theirs to borrow: loopback, private, link-local (where
//! cloud metadata services answer), shared (CGNAT), multicast and reserved addresses are refused unless an
//! operator allows a network explicitly, as an in-cluster receiver needs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address block, `10.0.0.0/8` or `fd00::/8`; a bare address is its own /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let base: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an address or network such as 10.0.0.0/8"))?;
        let most = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= most)
                .ok_or_else(|| format!("{text:?} has a prefix length outside 0 to {most}"))?,
        };
        Ok(Network { base, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl Network {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, canonical(address)) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is that IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared, multicast,
/// documentation, benchmarking, unspecified or otherwise reserved.
pub fn is_public(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    const NOT_PUBLIC: &[(&str, u8)] = &[
        ("0.0.0.0", 8),
        ("10.0.0.0", 8),
        ("100.64.0.0", 10),
        ("127.0.0.0", 8),
        ("169.254.0.0", 16),
        ("172.16.0.0", 12),
        ("192.0.0.0", 24),
        ("192.0.2.0", 24),
        ("192.88.99.0", 24),
        ("192.168.0.0", 16),
        ("198.18.0.0", 15),
        ("198.51.100.0", 24),
        ("203.0.113.0", 24),
        ("224.0.0.0", 4),
        ("240.0.0.0", 4),
    ];
    !NOT_PUBLIC.iter().any(|(base, prefix)| {
        base.parse::<Ipv4Addr>().is_ok_and(|base| {
            Network {
                base: IpAddr::V4(base),
                prefix: *prefix,
            }
            .contains(IpAddr::V4(address))
        })
    })
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    // Only global unicast (2000::/3) is public; within it, documentation (2001:db8::/32), ORCHID and the
    // Teredo/6to4 prefixes that embed other addresses are refused too.
    let global_unicast = first & 0xe000 == 0x2000;
    let documentation = first == 0x2001 && address.segments()[1] == 0x0db8;
    let embeds_ipv4 = first == 0x2002 || (first == 0x2001 && address.segments()[1] == 0);
    let orchid = first == 0x2001 && address.segments()[1] & 0xfff0 == 0x0010;
    global_unicast && !documentation && !embeds_ipv4 && !orchid
}

/// Where deliveries may go: the public internet, and the networks an operator allowed.
#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    pub allowed: Vec<Network>,
}

impl DestinationPolicy {
    pub fn permits(&self, address: IpAddr) -> bool {
        is_public(address) || self.allowed.iter().any(|network| network.contains(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn internal_and_reserved_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            "2002:0a00:0001::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip(internal)), "{internal}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn an_operator_allows_a_network_and_nothing_beyond_it() {
        let policy = DestinationPolicy {
            allowed: vec!["10.96.0.0/12".parse().unwrap_or(Network {
                base: IpAddr::V4(Ipv4Addr::BROADCAST),
                prefix: 32,
            })],
        };
        assert!(policy.permits(ip("10.96.0.10")));
        assert!(policy.permits(ip("10.111.255.255")));
        assert!(!policy.permits(ip("10.112.0.0")));
        assert!(!policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("1.1.1.1")));
        let loopback: Network = "127.0.0.1".parse().unwrap_or(Network {
            base: IpAddr::V4(Ipv4Addr::BROADCAST),
            prefix: 32,
        });
        assert!(loopback.contains(ip("::ffff:127.0.0.1")));
        assert!(!loopback.contains(ip("127.0.0.2")));
    }

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(
            "10.0.0.0/8".parse::<Network>().map(|n| n.to_string()),
            Ok("10.0.0.0/8".to_owned())
        );
        assert!("0.0.0.0/0".parse::<Network>().is_ok());
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "example.com",
            "10.0.0.0/",
            "10.0.0/8",
            "",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }
}
