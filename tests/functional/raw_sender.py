"""Send ICMP echo requests as raw Ethernet frames from an interface.

    raw_sender.py IFACE DST_MAC SRC_IP DST_IP COUNT BYPASS

BYPASS 1 sets PACKET_QDISC_BYPASS: the kernel sends with dev_direct_xmit,
past the interface's qdisc and tc/tcx egress hooks. Run inside the
container's network namespace (nsenter), with only what CAP_NET_RAW gives.
Exits 3, having sent nothing, when setting the option is refused
(magnum_iovisor/dataplane/bypass.py).
"""

import socket
import struct
import sys

from magnum_iovisor.telemetry.packet import checksum

SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
ETH_P_IP = 0x0800


def frame(src_mac, dst_mac, src_ip, dst_ip, seq):
    icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'x' * 32
    icmp = icmp[:2] + struct.pack('!H', checksum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), seq, 0, 64,
                     1, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack('!H', ETH_P_IP) + ip + icmp


def main(iface, dst_mac, src_ip, dst_ip, count, bypass):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    if bypass == '1':
        try:
            sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        except PermissionError as exc:
            print('PACKET_QDISC_BYPASS refused: %s' % exc)
            sys.exit(3)
    sock.bind((iface, 0))
    src_mac = sock.getsockname()[4]
    refused = 0
    for seq in range(int(count)):
        try:
            sock.send(frame(src_mac, bytes.fromhex(dst_mac.replace(':', '')),
                            src_ip, dst_ip, seq))
        except OSError:   # ENOBUFS: dropped on the way (tc, tcx, driver)
            refused += 1
    print('sent %s refused %d' % (count, refused))


if __name__ == '__main__':
    main(*sys.argv[1:])
