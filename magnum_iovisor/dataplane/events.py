"""Drop events from the pinned ring buffer, decoded.

The classifiers make events only while a reader keeps the state map's
LISTEN_UNTIL in the future (``keepalive``, called on every poll), so a
dataplane nobody watches spends nothing on them; a reader killed stops them
within Dataplane.listen's few seconds.
"""

import dataclasses
import errno

from magnum_iovisor.dataplane import addresses
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
    protocol: int = 0
    port: int = 0
    audited: bool = False     # policy would drop it; audit mode passed it

    @classmethod
    def decode(cls, raw):
        ev = layout.DropEvent.from_buffer_copy(raw)
        return cls(reason=layout.DropReason(ev.reason).name.lower(),
                   direction=layout.Direction(ev.direction).name.lower(),
                   source=addresses.text(bytes(ev.saddr)),
                   destination=addresses.text(bytes(ev.daddr)),
                   src_group=ev.src_group, dst_group=ev.dst_group,
                   ethertype=ev.ethertype, ifindex=ev.ifindex,
                   length=ev.len, protocol=ev.proto, port=ev.dport,
                   audited=bool(ev.audited))


def watch(fd, on_drop, should_stop, keepalive, poll_ms=200):
    """Call ``on_drop(Drop)`` for each event until ``should_stop()``.

    Polls at least once, so ``should_stop=lambda: True`` drains what is
    queued.
    """
    ring = libbpf.RingBuffer(fd, lambda raw: on_drop(Drop.decode(raw)))
    try:
        while True:
            keepalive()
            try:
                ring.poll(poll_ms)
            except libbpf.BpfError as exc:
                if exc.errno != errno.EINTR:   # a signal: ask should_stop
                    raise
            if should_stop():
                return
    finally:
        ring.close()
