"""Addresses and prefixes as the maps hold them: 16 bytes, IPv4 mapped.

IPv4 ``a.b.c.d`` is ``::ffff:a.b.c.d``, so one exact-match map and one LPM
trie serve both families; an IPv4 /n is a /(96 + n) there.
"""

import ipaddress

MAPPED_BITS = 96


def packed(address):
    """An IPv4 or IPv6 address (text) as the 16 bytes of a map key."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError('%r is not an IPv4 or IPv6 address' % (address,))
    if parsed.version == 4:
        return ipaddress.IPv6Address('::ffff:%s' % parsed).packed
    return parsed.packed


def text(raw):
    """16 map bytes as address text (IPv4 for mapped addresses)."""
    parsed = ipaddress.IPv6Address(bytes(raw))
    return str(parsed.ipv4_mapped or parsed)


def is_prefix(value):
    return '/' in str(value)


def network(value):
    """(prefixlen in the 128-bit space, 16 bytes, prefix text) of a CIDR.

    Host bits set is an error, as is anything that is not a prefix.
    """
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError('%r is not a CIDR prefix: %s' % (value, exc))
    extra = MAPPED_BITS if net.version == 4 else 0
    return (net.prefixlen + extra, packed(net.network_address),
            str(net), net.prefixlen == net.max_prefixlen)


def prefix_text(prefixlen, raw):
    parsed = ipaddress.IPv6Address(bytes(raw))
    if parsed.ipv4_mapped and prefixlen >= MAPPED_BITS:
        return '%s/%d' % (parsed.ipv4_mapped, prefixlen - MAPPED_BITS)
    return '%s/%d' % (parsed, prefixlen)
