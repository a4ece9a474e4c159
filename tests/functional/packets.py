"""Ethernet frames for BPF_PROG_TEST_RUN, IPv4 and IPv6.

Checksums are 0: the classifiers do not look at them.
"""

import ipaddress
import struct

ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58


def frame(ethertype, payload=b''):
    return b'\x02' * 6 + b'\x04' * 6 + struct.pack('!H', ethertype) + payload


def tcp(sport, dport, flags=0x02):
    return struct.pack('!HHIIBBHHH', sport, dport, 0, 0, 0x50, flags, 8192,
                       0, 0)


def udp(sport, dport, payload=b'x' * 18):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload


def icmp(kind, code=0, ident=0, rest=b''):
    return struct.pack('!BBHHH', kind, code, 0, ident, 0) + rest


def l3(src, dst, proto, payload):
    """An IPv4 or IPv6 header (by the addresses) and ``payload``."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0,
                           0, 64, proto, 0, s.packed, d.packed) + payload
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload), proto, 64,
                       s.packed, d.packed) + payload


def packet(src, dst, proto, payload):
    version = ipaddress.ip_address(src).version
    return frame(ETH_P_IP if version == 4 else ETH_P_IPV6,
                 l3(src, dst, proto, payload))


def icmp_proto(address):
    return ICMP if ipaddress.ip_address(address).version == 4 else ICMPV6


def echo(src, dst, ident, reply=False):
    v6 = icmp_proto(src) == ICMPV6
    kind = (129 if reply else 128) if v6 else (0 if reply else 8)
    return packet(src, dst, icmp_proto(src), icmp(kind, ident=ident))


def unreachable(src, dst, quoted):
    """An ICMP(v6) destination unreachable from ``src``.

    It quotes the L3 packet ``quoted`` (no Ethernet header).
    """
    v6 = icmp_proto(src) == ICMPV6
    return packet(src, dst, icmp_proto(src),
                  icmp(1 if v6 else 3, 4 if v6 else 3, rest=quoted[:48]))


def arp(sender, target='10.1.0.1'):
    body = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, b'\x04' * 6,
                       ipaddress.IPv4Address(sender).packed, b'\0' * 6,
                       ipaddress.IPv4Address(target).packed)
    return frame(ETH_P_ARP, body)


def neighbour_solicitation(src, target):
    body = icmp(135) + ipaddress.IPv6Address(target).packed
    return packet(src, 'ff02::1:ff00:1', ICMPV6, body)
