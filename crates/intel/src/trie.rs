//! Longest-prefix matching of addresses against networks: a binary trie
//! per address family, one node a bit, for the networks; single addresses
//! (most indicators) sit in a hash map beside it, where they cost a slot
//! instead of a path of nodes.

use std::collections::HashMap;

/// Looked up for every value of every event: foldhash (seeded per
/// process) rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::net::IpAddr;

use ipnet::IpNet;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Node {
    children: [u32; 2],
    value: u32,
}

const EMPTY: Node = Node {
    children: [NONE, NONE],
    value: NONE,
};

/// A binary trie of prefixes of up to 128 bits.
#[derive(Clone)]
struct BitTrie {
    nodes: Vec<Node>,
}

impl BitTrie {
    fn new() -> Self {
        BitTrie { nodes: vec![EMPTY] }
    }

    /// Sets the value of the prefix of `len` bits of `key` (left-aligned).
    fn insert(&mut self, key: u128, len: u8, value: u32) {
        let mut at = 0usize;
        for i in 0..len {
            let bit = ((key >> (127 - i)) & 1) as usize;
            let next = self.nodes[at].children[bit];
            at = if next == NONE {
                self.nodes.push(EMPTY);
                let new = (self.nodes.len() - 1) as u32;
                self.nodes[at].children[bit] = new;
                new as usize
            } else {
                next as usize
            };
        }
        self.nodes[at].value = value;
    }

    /// The node the first `depth` bits of `key` lead to.
    fn node_at(&self, key: u128, depth: u8) -> Option<u32> {
        let mut at = 0u32;
        for i in 0..depth {
            let bit = ((key >> (127 - i)) & 1) as usize;
            at = self.nodes[at as usize].children[bit];
            if at == NONE {
                return None;
            }
        }
        Some(at)
    }

    /// The value of the longest prefix of `key` (of `bits` bits) set.
    fn longest(&self, key: u128, bits: u8) -> Option<u32> {
        self.longest_from(0, key, 0, bits)
    }

    /// [`BitTrie::longest`] from `node`, reached by the first `depth` bits
    /// of `key`, counting only prefixes longer than `depth` (and the
    /// node's own).
    fn longest_from(&self, node: u32, key: u128, depth: u8, bits: u8) -> Option<u32> {
        let mut at = node as usize;
        let mut found = self.nodes[at].value;
        for i in depth..bits {
            let bit = ((key >> (127 - i)) & 1) as usize;
            let next = self.nodes[at].children[bit];
            if next == NONE {
                break;
            }
            at = next as usize;
            if self.nodes[at].value != NONE {
                found = self.nodes[at].value;
            }
        }
        (found != NONE).then_some(found)
    }
}

/// The first 16 bits of an IPv4 address, looked up directly: each entry
/// holds the trie node those bits lead to and the value of the longest
/// network of at most 16 bits holding them, so a lookup walks at most 16
/// nodes instead of 32 (each a likely cache miss in a big trie).
#[derive(Clone, Copy)]
struct Slot16 {
    node: u32,
    value: u32,
    len: u8,
}

/// Networks and addresses, each with a value (an indicator's index).
#[derive(Clone)]
pub struct NetTable {
    exact: FastMap<IpAddr, u32>,
    v4: BitTrie,
    v4_first16: Vec<Slot16>,
    v6: BitTrie,
    networks: usize,
}

impl Default for NetTable {
    fn default() -> Self {
        NetTable {
            exact: FastMap::default(),
            v4: BitTrie::new(),
            v4_first16: vec![
                Slot16 {
                    node: NONE,
                    value: NONE,
                    len: 0,
                };
                1 << 16
            ],
            v6: BitTrie::new(),
            networks: 0,
        }
    }
}

fn key_of(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => ((u128::from(u32::from(a))) << 96, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl NetTable {
    /// Adds a network (a later value for the same network replaces it).
    pub fn insert(&mut self, net: IpNet, value: u32) {
        let net = net.trunc();
        if net.prefix_len() == net.max_prefix_len() {
            self.exact.insert(net.addr(), value);
            return;
        }
        let (key, _) = key_of(net.addr());
        let len = net.prefix_len();
        match net {
            IpNet::V4(_) => {
                self.v4.insert(key, len, value);
                self.index_first16(key, len, value);
            }
            IpNet::V6(_) => self.v6.insert(key, len, value),
        }
        self.networks += 1;
    }

    /// Keeps [`Slot16`] up to date after inserting an IPv4 network.
    fn index_first16(&mut self, key: u128, len: u8, value: u32) {
        let first = (key >> 112) as usize;
        if len <= 16 {
            let span = 1usize << (16 - len);
            for slot in &mut self.v4_first16[first..first + span] {
                // The longest network wins; among equals the later one.
                if len >= slot.len || slot.value == NONE {
                    slot.value = value;
                    slot.len = len;
                }
            }
        } else if self.v4_first16[first].node == NONE {
            self.v4_first16[first].node = self.v4.node_at(key, 16).unwrap_or(NONE);
        }
    }

    /// The value of the most specific network holding `addr`. An IPv4
    /// address written as IPv6 (`::ffff:a.b.c.d`) is looked up as IPv4.
    pub fn lookup(&self, addr: IpAddr) -> Option<u32> {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        if let Some(v) = self.exact.get(&addr) {
            return Some(*v);
        }
        let (key, bits) = key_of(addr);
        match addr {
            IpAddr::V4(_) => {
                let slot = self.v4_first16[(key >> 112) as usize];
                let deeper = (slot.node != NONE)
                    .then(|| self.v4.longest_from(slot.node, key, 16, bits))
                    .flatten();
                deeper.or((slot.value != NONE).then_some(slot.value))
            }
            IpAddr::V6(_) => self.v6.longest(key, bits),
        }
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.networks
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn the_most_specific_network_wins() {
        let mut t = NetTable::default();
        t.insert(net("10.0.0.0/8"), 1);
        t.insert(net("10.1.0.0/16"), 2);
        t.insert(net("10.1.2.3/32"), 3);
        t.insert(net("2001:db8::/32"), 4);
        t.insert(net("0.0.0.0/0"), 5);
        let at = |a: &str| t.lookup(a.parse().unwrap());
        assert_eq!(at("10.1.2.3"), Some(3));
        assert_eq!(at("10.1.9.9"), Some(2));
        assert_eq!(at("10.200.0.1"), Some(1));
        assert_eq!(at("192.0.2.1"), Some(5), "the default route holds all");
        assert_eq!(at("2001:db8:ffff::1"), Some(4));
        assert_eq!(at("2001:db9::1"), None);
        assert_eq!(at("::ffff:10.1.2.3"), Some(3), "IPv4-mapped");
        assert_eq!(t.len(), 5);
    }

    fn arb_v4_net() -> impl Strategy<Value = IpNet> {
        // Few distinct high bits so that networks nest and overlap.
        (0u32..8, any::<u32>(), 0u8..=32).prop_map(|(hi, lo, len)| {
            let addr = std::net::Ipv4Addr::from((hi << 29) | (lo >> 3));
            IpNet::V4(ipnet::Ipv4Net::new(addr, len).unwrap().trunc())
        })
    }

    fn arb_v6_net() -> impl Strategy<Value = IpNet> {
        (0u128..4, any::<u128>(), 0u8..=128).prop_map(|(hi, lo, len)| {
            let addr = std::net::Ipv6Addr::from((hi << 126) | (lo >> 2));
            IpNet::V6(ipnet::Ipv6Net::new(addr, len).unwrap().trunc())
        })
    }

    /// The most specific of the networks holding `addr`, the last added
    /// among equals: what the table must answer.
    fn naive(nets: &[(IpNet, u32)], addr: IpAddr) -> Option<u32> {
        nets.iter()
            .filter(|(n, _)| n.contains(&addr))
            .max_by_key(|(n, v)| (n.prefix_len(), *v))
            .map(|(_, v)| *v)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn lookups_agree_with_checking_every_network(
            nets in prop::collection::vec(prop_oneof![arb_v4_net(), arb_v6_net()], 0..40),
            probes in prop::collection::vec(prop_oneof![arb_v4_net(), arb_v6_net()], 1..40),
        ) {
            let nets: Vec<(IpNet, u32)> = nets.into_iter().zip(0u32..).collect();
            let mut t = NetTable::default();
            for (n, v) in &nets {
                t.insert(*n, *v);
            }
            for p in probes {
                // Probe network addresses and the last address of each.
                for addr in [p.network(), p.broadcast()] {
                    prop_assert_eq!(t.lookup(addr), naive(&nets, addr), "{}", addr);
                }
            }
        }
    }
}
