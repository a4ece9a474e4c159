"""Drop events from the pinned ring buffer, decoded."""

import dataclasses
import errno
import ipaddress
import socket

from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import libbpf


@dataclasses.dataclass
class Drop:
    reason: str
    direction: str
    source: str
    destination: str
    src_group: int
    dst_group: int
    ethertype: int
    ifindex: int
    length: int

    @classmethod
    def decode(cls, raw):
        ev = layout.DropEvent.from_buffer_copy(raw)
        return cls(reason=layout.DropReason(ev.reason).name.lower(),
                   direction=layout.Direction(ev.direction).name.lower(),
                   source=address(ev.saddr),
                   destination=address(ev.daddr),
                   src_group=ev.src_group, dst_group=ev.dst_group,
                   ethertype=ev.ethertype, ifindex=ev.ifindex,
                   length=ev.len)


def address(be32):
    """A u32 holding an IPv4 address in network byte order, as text."""
    return str(ipaddress.IPv4Address(socket.ntohl(be32)))


def watch(fd, on_drop, should_stop, poll_ms=200):
    """Call ``on_drop(Drop)`` for each event until ``should_stop()``.

    Polls at least once, so ``should_stop=lambda: True`` drains what is
    queued.
    """
    ring = libbpf.RingBuffer(fd, lambda raw: on_drop(Drop.decode(raw)))
    try:
        while True:
            try:
                ring.poll(poll_ms)
            except libbpf.BpfError as exc:
                if exc.errno != errno.EINTR:   # a signal: ask should_stop
                    raise
            if should_stop():
                return
    finally:
        ring.close()
