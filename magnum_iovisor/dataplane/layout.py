"""The one Python mirror of bpf/maps.h: struct layouts and constants.

tests/functional/test_layout.py compiles the C and checks every struct here
against the layout bcc derived from it.
"""

import ctypes
import enum

GROUP_UNCLASSIFIED = 0


class Action(enum.IntEnum):
    DENY = 0
    ALLOW = 1


class DropReason(enum.IntEnum):
    NO_RULE = 1
    DENY_RULE = 2
    SPOOFED_SOURCE = 3
    ETHERTYPE = 4
    MALFORMED = 5


DROP_REASONS_MAX = 8     # entries of the drops map, indexed by DropReason


class Direction(enum.IntEnum):
    FROM_ENDPOINT = 0
    TO_ENDPOINT = 1


TRACE_MAGIC = 0x74726163   # in skb->cb[TraceCb.MAGIC]: a traced test run


class TraceCb(enum.IntEnum):
    """skb->cb words of a traced test run."""
    MAGIC = 0
    GROUPS = 1       # src group << 16 | dst group
    REASON = 2       # DropReason, 0: passed
    RULE = 3         # 1: a rule decided, 0: no rule (default deny)


class EndpointFlag(enum.IntFlag):
    LEARNED = 1 << 0     # written by the cluster registry sync


class EndpointKey(ctypes.Structure):
    _fields_ = [('addr', ctypes.c_uint32)]   # network byte order


class Endpoint(ctypes.Structure):
    _fields_ = [('group', ctypes.c_uint16),
                ('flags', ctypes.c_uint16),
                ('ifindex', ctypes.c_uint32)]


class Pair(ctypes.Structure):
    _fields_ = [('src', ctypes.c_uint16),
                ('dst', ctypes.c_uint16)]


class Rule(ctypes.Structure):
    _fields_ = [('action', ctypes.c_uint32),
                ('reserved', ctypes.c_uint32),
                ('packets', ctypes.c_uint64),
                ('bytes', ctypes.c_uint64)]


class Counter(ctypes.Structure):
    _fields_ = [('packets', ctypes.c_uint64),
                ('bytes', ctypes.c_uint64)]


class DropEvent(ctypes.Structure):
    _fields_ = [('saddr', ctypes.c_uint32),
                ('daddr', ctypes.c_uint32),
                ('src_group', ctypes.c_uint16),
                ('dst_group', ctypes.c_uint16),
                ('ethertype', ctypes.c_uint16),
                ('reason', ctypes.c_uint8),
                ('direction', ctypes.c_uint8),
                ('ifindex', ctypes.c_uint32),
                ('len', ctypes.c_uint32)]


# map name (as declared in bpf/tables.h and pinned) -> (key, value) types
MAPS = {
    'endpoints': (EndpointKey, Endpoint),
    'policy': (Pair, Rule),
    'denied': (Pair, Counter),
}
# per-CPU maps: a value per possible CPU, read with PerCpuArray
PERCPU_MAPS = {
    'drops': (ctypes.c_uint32, Counter),    # index: DropReason
}
EVENTS_MAP = 'drop_events'
PROGRAMS = ('from_endpoint', 'to_endpoint')
