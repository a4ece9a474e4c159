"""Tiny TCP endpoints run inside test namespaces.

serve PORT             answer every connection's line with "pong" (IPv4, IPv6)
connect HOST PORT      exit 0 when the server answers within a second
udpserve PORT          echo every UDP datagram (IPv4, IPv6)
udp HOST PORT [SECS]   exit 0 on an echo, 2 on ICMP unreachable, 1 on silence
broadcast ADDR PORT    send to an IPv4 broadcast address; exit 0 on any echo
sink PORT FILE         count received bytes into FILE, 10 times a second
stream HOST PORT       send forever
frame IFACE HEX        send one raw Ethernet frame
"""

import os
import socket
import sys
import threading
import time


def serve(port):
    server = socket.create_server(('::', port), reuse_port=True,
                                  family=socket.AF_INET6, dualstack_ipv6=True)
    print('listening', flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            try:
                if conn.recv(16):
                    conn.sendall(b'pong\n')
            except OSError:
                pass


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.settimeout(1)
            conn.sendall(b'ping\n')
            return 0 if conn.recv(16).startswith(b'pong') else 1
    except OSError:
        return 1


def udpserve(port):
    server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(('::', port))
    print('listening', flush=True)
    while True:
        data, peer = server.recvfrom(2048)
        server.sendto(data, peer)


def udp(host, port, timeout=1.0):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as conn:
        conn.settimeout(timeout)
        conn.connect((host, port))
        conn.send(b'ping')
        try:
            return 0 if conn.recv(16) == b'ping' else 1
        except ConnectionRefusedError:
            return 2
        except OSError:
            return 1


def broadcast(address, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        conn.settimeout(1)
        conn.sendto(b'ping', (address, port))
        try:
            conn.recvfrom(16)
            return 0
        except OSError:
            return 1


def sink(port, path):
    server = socket.create_server(('::', port), family=socket.AF_INET6,
                                  dualstack_ipv6=True)
    print('listening', flush=True)
    conn, _ = server.accept()
    total = [0]

    def report():
        # replaced whole, never truncated in place: a reader must not see
        # an empty file and take it for nothing received
        while True:
            with open(path + '.new', 'w') as status:
                status.write(str(total[0]))
            os.replace(path + '.new', path)
            time.sleep(0.1)
    threading.Thread(target=report, daemon=True).start()
    while True:
        data = conn.recv(65536)
        if not data:
            return 0
        total[0] += len(data)


def stream(host, port):
    with socket.create_connection((host, port), timeout=2) as conn:
        conn.settimeout(None)
        block = b'x' * 1024
        while True:
            conn.sendall(block)
            time.sleep(0.001)


def frame(iface, hexdata):
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind((iface, 0))
        raw.send(bytes.fromhex(hexdata))
    return 0


if __name__ == '__main__':
    command, args = sys.argv[1], sys.argv[2:]
    if command == 'serve':
        sys.exit(serve(int(args[0])))
    if command == 'connect':
        sys.exit(connect(args[0], int(args[1])))
    if command == 'udpserve':
        sys.exit(udpserve(int(args[0])))
    if command == 'udp':
        sys.exit(udp(args[0], int(args[1]), *map(float, args[2:])))
    if command == 'broadcast':
        sys.exit(broadcast(args[0], int(args[1])))
    if command == 'sink':
        sys.exit(sink(int(args[0]), args[1]))
    if command == 'stream':
        sys.exit(stream(args[0], int(args[1])))
    if command == 'frame':
        sys.exit(frame(args[0], args[1]))
    sys.exit('unknown command %s' % command)
