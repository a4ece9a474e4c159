"""What the dataplane would do with a packet from A to B, and why.

The answer comes from the pinned classifier itself (``Dataplane.trace``:
BPF_PROG_TEST_RUN with the trace mark, counting nothing), so it cannot
disagree with enforcement. A group stands for one of its known endpoints;
group 0 (outside) for an address no endpoint has.
"""

import ipaddress

from magnum_iovisor import policy
from magnum_iovisor import telemetry
from magnum_iovisor.telemetry import packet as packets

# stands for "somewhere outside": TEST-NET-1 addresses that no endpoint has
OUTSIDE_NET = ipaddress.ip_network('192.0.2.0/24')
DEFAULT_DENY = '(default deny: no rule)'


class TraceError(ValueError):
    pass


def parse_end(text):
    """An address (ip_address) or a group (int) from the command line."""
    reserved = getattr(policy, 'RESERVED', {})
    if text in reserved:
        return reserved[text]
    if text.isdigit():
        try:
            return policy.check_group(int(text), 'group')
        except policy.PolicyError as exc:
            raise TraceError(str(exc))
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TraceError('%r is neither an IP address nor a group (0..65535)'
                         % text)


def address_of(group, endpoints, role):
    """An address that the dataplane puts in ``group``."""
    known = {address for address, _, _ in endpoints}
    if group == 0:
        for address in OUTSIDE_NET.hosts():
            if str(address) not in known:
                return str(address)
    for address, member, _ in endpoints:
        if member == group:
            return address
    raise TraceError('%s group %d has no endpoint on this host; trace an '
                     'address instead' % (role, group))


def rule_text(rule):
    src, dst, protocol, ports, action = telemetry.rule_labels(rule)
    text = '%s>%s' % (src, dst)
    if protocol != 'any':
        text += ':' + protocol + ('' if ports == 'any' else '/' + ports)
    return text + (':deny' if action == 'deny' else '')


def decider(dataplane, traced):
    """The rule that decided a traced packet, as text."""
    if not traced.by_rule:
        return DEFAULT_DENY if traced.reason == 'no_rule' else \
            '(none: dropped before the policy, %s)' % traced.reason
    pair = (traced.src_group, traced.dst_group)
    rules = [r for r, _, _ in dataplane.rules() if (r.src, r.dst) == pair]
    wanted = policy.Action.ALLOW if traced.passed else policy.Action.DENY
    rules = [r for r in rules if r.action == wanted] or rules
    return ' '.join(rule_text(r) for r in rules)


def endpoint(dataplane, address):
    try:
        return dataplane.endpoint(address)
    except ValueError:   # an address family the endpoints map cannot hold
        return None


def where(dataplane, source, destination):
    dst = endpoint(dataplane, destination)
    if dst is not None and dst.ifindex:
        return 'entering %s (ifindex %d)' % (destination, dst.ifindex)
    src = endpoint(dataplane, source)
    if src is not None and src.ifindex:
        return 'leaving %s (ifindex %d)' % (source, src.ifindex)
    return 'not on this host (neither end is attached here)'


def trace(dataplane, source, destination, protocol=None, port=None):
    """[(field, value)] answering what happens from ``source`` to ``dest``.

    ``source``/``destination``: text, an address or a group.
    """
    endpoints = dataplane.endpoints()
    ends = []
    for text, role in ((source, 'source'), (destination, 'destination')):
        end = parse_end(text)
        ends.append(address_of(end, endpoints, role)
                    if isinstance(end, int) else str(end))
    src, dst = ends
    try:
        frame = packets.build(src, dst, protocol, port)
    except packets.PacketError as exc:
        raise TraceError(str(exc))
    traced = dataplane.trace(frame)
    return [('Verdict', 'allow' if traced.passed else 'deny'),
            ('Reason', traced.reason or 'allowed by a rule'),
            ('Rule', decider(dataplane, traced)),
            ('From', src),
            ('From group', telemetry.group_label(traced.src_group)),
            ('To', dst),
            ('To group', telemetry.group_label(traced.dst_group)),
            ('Protocol', protocol or ('icmp (echo)' if '.' in src
                                      else 'icmpv6 (echo)')),
            ('Port', port if port is not None else '-'),
            ('Decided', where(dataplane, src, dst))]
