//! The basics of `ansible.utils.ipaddr` (and `ipv4`/`ipv6`): an address or network in, a part
//! of it out (`address`, `network`, `netmask`, `prefix`, `broadcast`, `cidr`, `host`, `net`,
//! `size`, `private`, `public`, …), `False` for what is not an IP. Lists are filtered element by
//! element, as the collection does. Queries not listed here are refused with the valid ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use minijinja::value::{Rest, ValueKind, ValueOrKwargs};
use minijinja::{State, Value};

use super::{Res, bind_args, check_defined, fail, int_arg};

const QUERIES: &[&str] = &[
    "",
    "address",
    "ip",
    "host",
    "network",
    "network_id",
    "netmask",
    "hostmask",
    "wildcard",
    "prefix",
    "broadcast",
    "cidr",
    "subnet",
    "network/prefix",
    "net",
    "size",
    "private",
    "public",
    "ipv4",
    "ipv6",
    "v4",
    "v6",
    "version",
    "type",
    "bool",
];

/// An IP network as netaddr's IPNetwork: the address as given and its prefix length.
#[derive(Debug, Clone, Copy)]
struct Net {
    ip: IpAddr,
    prefix: u32,
    /// Written with a prefix (`vtype == "network"`).
    network_form: bool,
}

impl Net {
    fn bits(&self) -> u32 {
        if self.ip.is_ipv4() { 32 } else { 128 }
    }
    fn int(&self) -> u128 {
        match self.ip {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }
    fn mask(&self) -> u128 {
        let host = self.bits() - self.prefix;
        let all = if self.bits() == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }
    fn hostmask(&self) -> u128 {
        let all = if self.bits() == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !self.mask()
    }
    fn size(&self) -> u128 {
        let host = self.bits() - self.prefix;
        if host >= 128 {
            u128::MAX
        } else {
            1u128 << host
        }
    }
    fn addr(&self, n: u128) -> IpAddr {
        if self.ip.is_ipv4() {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    }
    fn network(&self) -> IpAddr {
        self.addr(self.int() & self.mask())
    }
    fn broadcast(&self) -> Option<IpAddr> {
        // netaddr: /31 and /32 (/127, /128) have none.
        (self.size() > 2).then(|| self.addr(self.int() | self.hostmask()))
    }
    fn is_network_addr(&self) -> bool {
        self.int() & self.hostmask() == 0
    }
    fn cidr(&self) -> String {
        format!("{}/{}", self.network(), self.prefix)
    }
    fn with_prefix(&self) -> String {
        format!("{}/{}", self.ip, self.prefix)
    }
}

fn parse(text: &str) -> Option<Net> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => bits,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n <= bits => n,
            Ok(_) => return None,
            Err(_) => {
                // A netmask (255.255.255.0) or a hostmask (0.0.0.255), as netaddr takes them.
                let m: Ipv4Addr = p.parse().ok()?;
                let m = u32::from(m);
                if m.leading_ones() + m.trailing_zeros() == 32 {
                    m.leading_ones()
                } else if m.leading_zeros() + m.trailing_ones() == 32 {
                    m.leading_zeros()
                } else {
                    return None;
                }
            }
        },
    };
    Some(Net {
        ip,
        prefix,
        network_form: text.contains('/'),
    })
}

/// Python's `ipaddress.ip_address(x).is_global` for the common ranges.
fn is_global(ip: IpAddr) -> bool {
    let within = |net: &str| {
        parse(net).is_some_and(|n| {
            n.ip.is_ipv4() == ip.is_ipv4() && {
                let probe = Net { ip, ..n };
                probe.int() & n.mask() == n.int() & n.mask()
            }
        })
    };
    const V4: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "255.255.255.255/32",
    ];
    const V6: &[&str] = &[
        "::1/128",
        "::/128",
        "::ffff:0:0/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
    ];
    let list = if ip.is_ipv4() { V4 } else { V6 };
    !list.iter().any(|n| within(n))
}

fn one(value: &Value, query: &str, version: Option<i64>) -> Res<Value> {
    let f = Value::from(false);
    let text = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Number if value.is_integer() => {
            // An integer is an address (IPv4 when it fits).
            let n = i128::try_from(value.clone()).unwrap_or(-1);
            match u32::try_from(n) {
                Ok(v) if version != Some(6) => Ipv4Addr::from(v).to_string(),
                _ => match u128::try_from(n) {
                    Ok(v) => Ipv6Addr::from(v).to_string(),
                    Err(_) => return Ok(f),
                },
            }
        }
        _ => return Ok(f),
    };
    let Some(v) = parse(&text) else {
        return Ok(f);
    };
    if let Some(want) = version
        && (want == 4) != v.ip.is_ipv4()
    {
        return Ok(f);
    }
    let s = |x: String| Value::from(x);
    let none = Value::from(());
    Ok(match query {
        "" => s(if v.network_form {
            v.with_prefix()
        } else {
            v.ip.to_string()
        }),
        "bool" => Value::from(true),
        "address" | "ip" => {
            if v.size() == 1 || !v.is_network_addr() || v.broadcast().is_none() || !v.ip.is_ipv4() {
                s(v.ip.to_string())
            } else {
                none
            }
        }
        "host" => {
            if v.size() == 1 || !v.is_network_addr() || v.broadcast().is_none() {
                s(v.with_prefix())
            } else {
                none
            }
        }
        "network" | "network_id" => s(v.network().to_string()),
        "netmask" => s(v.addr(v.mask()).to_string()),
        "hostmask" | "wildcard" => s(v.addr(v.hostmask()).to_string()),
        "prefix" => Value::from(v.prefix),
        "broadcast" => v.broadcast().map_or(none, |b| s(b.to_string())),
        "cidr" => s(v.with_prefix()),
        "subnet" | "network/prefix" => s(v.cidr()),
        "net" => {
            if v.size() > 1 && v.is_network_addr() {
                s(v.cidr())
            } else {
                none
            }
        }
        "size" => match u64::try_from(v.size()) {
            Ok(n) => Value::from(n),
            Err(_) => s(v.size().to_string()),
        },
        "private" => {
            if is_global(v.ip) {
                none
            } else {
                value.clone()
            }
        }
        "public" => {
            let multicast = v.ip.is_multicast();
            if is_global(v.ip) && !multicast && !v.ip.is_loopback() {
                value.clone()
            } else {
                none
            }
        }
        "ipv4" | "v4" => match v.ip {
            IpAddr::V4(_) => value.clone(),
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(f, |x| s(x.to_string())),
        },
        "ipv6" | "v6" => match v.ip {
            IpAddr::V6(_) => value.clone(),
            IpAddr::V4(a) => {
                let m = a.to_ipv6_mapped();
                s(if v.network_form {
                    format!("{m}/{}", v.prefix + 96)
                } else {
                    m.to_string()
                })
            }
        },
        "version" => Value::from(if v.ip.is_ipv4() { 4 } else { 6 }),
        "type" => s(if v.size() > 1 && v.is_network_addr() {
            "network"
        } else {
            "address"
        }
        .into()),
        other => {
            return Err(fail(
                "ipaddr",
                format!(
                    "query '{other}' is not supported by slm-wizard (supported: {})",
                    QUERIES[1..].join(", ")
                ),
            ));
        }
    })
}

fn run(
    state: &State,
    what: &str,
    value: &Value,
    args: Rest<ValueOrKwargs>,
    version: Option<i64>,
) -> Res<Value> {
    check_defined(state, value)?;
    let slots = bind_args(what, args.into_values(), &["query", "version"], 0)?;
    let query = match &slots[0] {
        None => String::new(),
        Some(q) if q.is_none() => String::new(),
        Some(q) => q
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| q.to_string()),
    };
    let version = int_arg(what, "version", slots[1].as_ref())?
        .filter(|v| *v != 0)
        .or(version);
    if matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let r = one(&item, &query, version)?;
            if r.is_true() {
                out.push(r);
            }
        }
        return Ok(Value::from(out));
    }
    if !value.is_true() {
        return Ok(Value::from(false));
    }
    one(value, &query, version)
}

pub(super) fn ipaddr(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    run(state, "ipaddr", value, args, None)
}

pub(super) fn ipv4(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    run(state, "ipv4", value, args, Some(4))
}

pub(super) fn ipv6(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    run(state, "ipv6", value, args, Some(6))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{j, r};

    #[test]
    fn ipaddr_queries() {
        let a = "'192.168.1.10/24'";
        assert_eq!(r(&format!("{a} | ipaddr('address')")), "192.168.1.10");
        assert_eq!(r(&format!("{a} | ipaddr('network')")), "192.168.1.0");
        assert_eq!(r(&format!("{a} | ipaddr('netmask')")), "255.255.255.0");
        assert_eq!(r(&format!("{a} | ipaddr('prefix')")), "24");
        assert_eq!(r(&format!("{a} | ipaddr('broadcast')")), "192.168.1.255");
        assert_eq!(r(&format!("{a} | ipaddr('host')")), "192.168.1.10/24");
        assert_eq!(r(&format!("{a} | ipaddr('subnet')")), "192.168.1.0/24");
        assert_eq!(r(&format!("{a} | ipaddr('private')")), "192.168.1.10/24");
        assert_eq!(r(&format!("{a} | ipaddr('public')")), "None");
        assert_eq!(r("'8.8.8.8' | ipaddr('public')"), "8.8.8.8");
        assert_eq!(r("'10.0.0.0/8' | ipaddr('net')"), "10.0.0.0/8");
        assert_eq!(r("'10.0.0.0/30' | ipaddr('size')"), "4");
        assert_eq!(r("'192.168.1.0/255.255.255.0' | ipaddr('prefix')"), "24");
        assert_eq!(r("'nope' | ipaddr"), "False");
        assert_eq!(r("'fe80::1/64' | ipaddr('network')"), "fe80::");
        assert_eq!(j("['10.0.0.1', 'x', '::1'] | ipv4"), r#"["10.0.0.1"]"#);
        assert_eq!(
            j("['10.0.0.1', 'x', '::1'] | ipaddr"),
            r#"["10.0.0.1", "::1"]"#
        );
    }
}
