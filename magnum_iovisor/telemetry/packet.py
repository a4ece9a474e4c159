"""Synthetic frames for traces: Ethernet, IPv4 or IPv6, TCP/UDP/ICMP.

Only what a classifier reads has to be right, but every header is complete
(lengths, IPv4 checksum) so that a stricter classifier sees a real packet.
A TCP packet is a SYN (the first packet of a connection), an ICMP one an
echo request, like ``ping``.
"""

import ipaddress
import struct

ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
PROTOCOLS = {'tcp': 6, 'udp': 17, 'icmp': 1, 'icmpv6': 58}
SOURCE_PORT = 40000
TCP_SYN = 0x02
ICMP_ECHO, ICMPV6_ECHO = 8, 128
SOURCE_MAC, DESTINATION_MAC = b'\x02\x00\x00\x00\x00\x01', \
    b'\x02\x00\x00\x00\x00\x02'


class PacketError(ValueError):
    pass


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def transport(protocol, port, payload=b'magnum-iovisor trace'):
    if protocol == 'tcp':
        return struct.pack('!HHIIBBHHH', SOURCE_PORT, port, 0, 0, 5 << 4,
                           TCP_SYN, 64240, 0, 0)
    if protocol == 'udp':
        return struct.pack('!HHHH', SOURCE_PORT, port, 8 + len(payload),
                           0) + payload
    kind = ICMP_ECHO if protocol == 'icmp' else ICMPV6_ECHO
    return struct.pack('!BBHHH', kind, 0, 0, 1, 1) + payload


def build(source, destination, protocol=None, port=None):
    """A frame from ``source`` to ``destination`` (IPv4 or IPv6 text).

    ``protocol`` defaults to an ICMP (ICMPv6) echo; ``port`` (1..65535) is
    needed by, and only allowed with, tcp and udp.
    """
    try:
        src = ipaddress.ip_address(source)
        dst = ipaddress.ip_address(destination)
    except ValueError as exc:
        raise PacketError(str(exc))
    if src.version != dst.version:
        raise PacketError('%s and %s are not of one IP version'
                          % (source, destination))
    if protocol is None:
        protocol = 'icmp' if src.version == 4 else 'icmpv6'
    if protocol not in PROTOCOLS:
        raise PacketError('protocol %r is not one of %s'
                          % (protocol, ', '.join(PROTOCOLS)))
    if (protocol == 'icmp') != (src.version == 4) and protocol in (
            'icmp', 'icmpv6'):
        raise PacketError('%s does not go over IPv%d' % (protocol,
                                                         src.version))
    if protocol in ('tcp', 'udp'):
        if port is None or not 1 <= port <= 65535:
            raise PacketError('%s needs a port 1..65535 (got %s)'
                              % (protocol, port))
    elif port is not None:
        raise PacketError('%s has no ports' % protocol)
    body = transport(protocol, port)
    number = PROTOCOLS[protocol]
    if src.version == 4:
        header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), 0,
                             0x4000, 64, number, 0, src.packed, dst.packed)
        header = header[:10] + struct.pack('!H', checksum(header)) \
            + header[12:]
        ethertype = ETH_P_IP
    else:
        header = struct.pack('!IHBB16s16s', 6 << 28, len(body), number, 64,
                             src.packed, dst.packed)
        ethertype = ETH_P_IPV6
    return (DESTINATION_MAC + SOURCE_MAC + struct.pack('!H', ethertype)
            + header + body)
