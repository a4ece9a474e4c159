"""The one Python mirror of bpf/maps.h: struct layouts and constants.

tests/functional/test_classifier.py (LayoutTest) compiles the C and checks
every struct here against the layout bcc derived from it.
"""

import ctypes
import enum

GROUP_WORLD = 0
GROUP_UNKNOWN = 65533
GROUP_NODES = 65534
GROUP_HOST = 65535
ADDR_WORDS = 4
Address = ctypes.c_uint32 * ADDR_WORDS   # network byte order, IPv4 mapped
POLICY_KEY_BITS = 64
PORT_RUNS_MAX = 8
# connection timeouts in seconds; Conn.expires counts ticks (jiffies), of
# which the classifiers count Dataplane.ct_hz() a second
CT_TCP_TIMEOUT_S = 3600
CT_OTHER_TIMEOUT_S = 60
CT_REFRESH_S = 1
EVENTS_PER_SEC = 1000
EVENTS_BURST = 100


class Action(enum.IntEnum):
    DENY = 0
    ALLOW = 1


class DropReason(enum.IntEnum):
    NO_RULE = 1
    DENY_RULE = 2
    SPOOFED_SOURCE = 3
    ETHERTYPE = 4
    MALFORMED = 5
    NOT_OURS = 6


DROP_REASONS_MAX = 8     # entries of the drops map, indexed by DropReason


class Direction(enum.IntEnum):
    FROM_ENDPOINT = 0
    TO_ENDPOINT = 1
    FROM_PARENT = 2


TRACE_MAGIC = 0x74726163   # in skb->cb[TraceCb.MAGIC]: a traced test run


class TraceCb(enum.IntEnum):
    """skb->cb words of a traced test run."""
    MAGIC = 0
    GROUPS = 1       # src group << 16 | dst group
    REASON = 2       # DropReason, 0: passes by policy
    RULE = 3         # rule index + 1, 0: no rule matched (default deny)
    AUDITED = 4      # 1: a policy drop that audit mode lets pass


class ClockCb(enum.IntEnum):
    """skb->cb words of a ct_clock test run."""
    LOW = 0          # the connection clock (jiffies), low 32 bits
    HIGH = 1         # high 32 bits
    HZ = 2           # its ticks a second


# audit mode (bpf/audit.h): audit[group], audit[AUDIT_ALL] for every group
AUDIT_ALL = 65536
AUDIT_ENTRIES = 65537
AUDIT_FLOWS_MAX = 65536


class EndpointFlag(enum.IntFlag):
    LEARNED = 1 << 0     # written by the cluster registry sync
    RESERVED = 1 << 1    # written by dataplane/reserved.py
    IN_SANDBOX = 1 << 2  # local, interface in its sandbox (bpf/parent.h)


class StateIndex(enum.IntEnum):
    GENERATION = 0
    LISTEN_UNTIL = 1


STATE_ENTRIES = 2


class EndpointKey(ctypes.Structure):
    _fields_ = [('addr', Address)]


class Endpoint(ctypes.Structure):
    _fields_ = [('group', ctypes.c_uint16),
                ('flags', ctypes.c_uint16),
                ('ifindex', ctypes.c_uint32)]


class PrefixKey(ctypes.Structure):
    _fields_ = [('prefixlen', ctypes.c_uint32),
                ('addr', Address)]


class PrefixGroup(ctypes.Structure):
    _fields_ = [('group', ctypes.c_uint16),
                ('flags', ctypes.c_uint16)]


class Verdict(ctypes.Structure):
    _fields_ = [('action', ctypes.c_uint32),
                ('rule', ctypes.c_uint32)]


class ProtocolFlag(enum.IntFlag):
    NO_REST = 1 << 0     # no rule for the ports in no run: no rule
    IN_TRIE = 1 << 1     # decided by the policy trie


class ProtocolKey(ctypes.Structure):
    _fields_ = [('src', ctypes.c_uint16),
                ('dst', ctypes.c_uint16),
                ('proto', ctypes.c_uint32)]    # 0: every protocol


class PortRun(ctypes.Structure):
    _fields_ = [('low', ctypes.c_uint16),      # host byte order
                ('high', ctypes.c_uint16),
                ('verdict', Verdict)]


class ProtocolPolicy(ctypes.Structure):
    _fields_ = [('rest', Verdict),             # ports in no run
                ('runs', ctypes.c_uint16),
                ('flags', ctypes.c_uint16),    # ProtocolFlag
                ('pad', ctypes.c_uint32),
                ('run', PortRun * PORT_RUNS_MAX)]


class PolicyKey(ctypes.Structure):
    _fields_ = [('prefixlen', ctypes.c_uint32),
                ('src', ctypes.c_uint16),
                ('dst', ctypes.c_uint16),
                ('proto', ctypes.c_uint8),
                ('pad', ctypes.c_uint8),
                ('port', ctypes.c_uint16)]     # network byte order


class RuleIndex(ctypes.Structure):
    _fields_ = [('index', ctypes.c_uint32)]


class RuleDef(ctypes.Structure):
    _fields_ = [('src', ctypes.c_uint16),
                ('dst', ctypes.c_uint16),
                ('action', ctypes.c_uint8),
                ('proto', ctypes.c_uint8),
                ('port_low', ctypes.c_uint16),
                ('port_high', ctypes.c_uint16),
                ('pad', ctypes.c_uint16)]


class Counter(ctypes.Structure):
    _fields_ = [('packets', ctypes.c_uint64),
                ('bytes', ctypes.c_uint64)]


class Pair(ctypes.Structure):
    _fields_ = [('src', ctypes.c_uint16),
                ('dst', ctypes.c_uint16)]


class Flow(ctypes.Structure):
    _fields_ = [('saddr', Address),
                ('daddr', Address),
                ('sport', ctypes.c_uint16),      # network byte order
                ('dport', ctypes.c_uint16),
                ('proto', ctypes.c_uint8),
                ('pad', ctypes.c_uint8 * 3)]


class ConnFlag(enum.IntFlag):
    OPENED_BY_HIGH = 1 << 0   # the opener sent the key reversed
    LOW_LOCAL = 1 << 1        # the key's saddr end is attached here
    HIGH_LOCAL = 1 << 2       # the key's daddr end is attached here


class Conn(ctypes.Structure):
    _fields_ = [('expires', ctypes.c_uint64),        # jiffies
                ('rule', ctypes.c_uint32),
                ('generation', ctypes.c_uint32),
                ('flags', ctypes.c_uint8),       # ConnFlag
                ('pad', ctypes.c_uint8 * 7)]


class Index(ctypes.Structure):
    _fields_ = [('index', ctypes.c_uint32)]


class Value64(ctypes.Structure):
    _fields_ = [('value', ctypes.c_uint64)]


class Value32(ctypes.Structure):
    _fields_ = [('value', ctypes.c_uint32)]


class Budget(ctypes.Structure):
    _fields_ = [('stamp', ctypes.c_uint64),
                ('tokens', ctypes.c_uint64)]


class DropEvent(ctypes.Structure):
    _fields_ = [('saddr', Address),
                ('daddr', Address),
                ('src_group', ctypes.c_uint16),
                ('dst_group', ctypes.c_uint16),
                ('ethertype', ctypes.c_uint16),
                ('reason', ctypes.c_uint8),
                ('direction', ctypes.c_uint8),
                ('ifindex', ctypes.c_uint32),
                ('len', ctypes.c_uint32),
                ('proto', ctypes.c_uint8),
                ('audited', ctypes.c_uint8),     # 1: passed by audit mode
                ('dport', ctypes.c_uint16)]


class NetnsCookie(ctypes.Structure):
    _fields_ = [('cookie', ctypes.c_uint64)]


# map name (as declared in bpf/tables.h and pinned) -> (key, value) types
MAPS = {
    'endpoints': (EndpointKey, Endpoint),
    'prefixes': (PrefixKey, PrefixGroup),
    'protocols': (ProtocolKey, ProtocolPolicy),
    'pairs': (Pair, Verdict),
    'policy': (PolicyKey, Verdict),
    'rules': (RuleIndex, RuleDef),
    'counters': (Index, Counter),
    'denied': (Pair, Counter),
    'conntrack': (Flow, Conn),
    'state': (Index, Value64),
    'event_budget': (Index, Budget),
    'events_lost': (Index, Value64),
    'drops': (Index, Counter),           # index: DropReason
    'audit': (Index, Value32),           # index: group, or AUDIT_ALL
    'would_drop': (Index, Counter),      # index: DropReason
    'audit_flows': (Flow, Value64),      # value: ktime passed by audit
    'host_netns': (Index, NetnsCookie),
    'endpoint_netns': (EndpointKey, NetnsCookie),
}
# maps holding one value per CPU
PERCPU_MAPS = {'counters', 'denied', 'event_budget', 'events_lost',
               'drops', 'would_drop'}
EVENTS_MAP = 'drop_events'
# the classifiers, attached by name (attach.py, tcx.py)
CLASSIFIERS = ('from_endpoint', 'to_endpoint', 'from_parent')
# every pinned program: the classifiers and ct_clock, which is only
# test-run (Dataplane.ct_clock)
PROGRAMS = CLASSIFIERS + ('ct_clock',)
