"""What the dataplane would do with a new connection from A to B, and why.

The answer comes from the pinned classifier itself (``Dataplane.trace``:
BPF_PROG_TEST_RUN with the trace mark, bpf/trace.h), so the groups and the
verdict are enforcement's own. An end is an address or a group; a group
stands for an address the dataplane puts in it: one of its endpoints, an
address inside one of its CIDR prefixes, or for ``world`` a TEST-NET
address nothing else claims. An address nobody knows resolves as the
classifier resolves it (a prefix's group, ``unknown`` inside the
container subnets, else ``world``).
"""

import ipaddress

from magnum_iovisor import policy
from magnum_iovisor import telemetry
from magnum_iovisor.telemetry import packet as packets

# stand for "somewhere outside" when no address of the world is given
OUTSIDE_NETS = {4: ipaddress.ip_network('192.0.2.0/24'),
                6: ipaddress.ip_network('2001:db8::/112')}
DEFAULT_DENY = '(default deny: no rule)'


class TraceError(ValueError):
    pass


def parse_end(text):
    """An address (ip_address) or a group (int) from the command line."""
    if text in policy.RESERVED:
        return policy.RESERVED[text]
    if text.isdigit():
        try:
            return policy.check_group(int(text), 'group')
        except policy.PolicyError as exc:
            raise TraceError(str(exc))
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise TraceError('%r is neither an IP address, a group (0..65535) '
                         'nor a reserved group (%s)'
                         % (text, ', '.join(policy.RESERVED)))


def candidates(group, dataplane, version):
    """Addresses of IP ``version`` the dataplane may put in ``group``."""
    endpoints = dataplane.endpoints()
    taken = {address for address, _, _ in endpoints}
    # local endpoints first: their packets are decided on this host
    for address, member, ifindex in sorted(
            endpoints, key=lambda e: not e[2]):
        if member == group and '/' not in address:
            if ipaddress.ip_address(address).version == version:
                yield address
    for prefix, member, _ in dataplane.prefixes():
        net = ipaddress.ip_network(prefix)
        if member == group and net.version == version:
            for address in (net[1], net[0]) if net.num_addresses > 1 \
                    else (net[0],):
                if str(address) not in taken:
                    yield str(address)
    if group == policy.RESERVED['world']:
        for address in OUTSIDE_NETS[version].hosts():
            if str(address) not in taken:
                yield str(address)
                break


def decider(traced):
    if traced.rule is not None:
        return policy.format_rule(traced.rule)
    if traced.reason == 'no_rule':
        return DEFAULT_DENY
    return '(none: dropped before the policy, %s)' % traced.reason


def where(dataplane, source, destination):
    dst = dataplane.endpoint(destination)
    if dst is not None and dst.ifindex:
        return 'entering %s (ifindex %d)' % (destination, dst.ifindex)
    src = dataplane.endpoint(source)
    if src is not None and src.ifindex:
        return 'leaving %s (ifindex %d)' % (source, src.ifindex)
    return 'not on this host (neither end is attached here)'


def _version(ends):
    versions = {end.version for end in ends if not isinstance(end, int)}
    if len(versions) > 1:
        raise TraceError('%s and %s are not of one IP version' % ends)
    return versions.pop() if versions else 4


def trace(dataplane, source, destination, protocol=None, port=None):
    """[(field, value)] answering what happens from ``source`` to ``dest``.

    ``source``/``destination``: text, an address or a group.
    """
    ends = (parse_end(source), parse_end(destination))
    version = _version(ends)
    frame = None
    for src in _choices(ends[0], dataplane, version, 'source'):
        for dst in _choices(ends[1], dataplane, version, 'destination'):
            try:
                frame = packets.build(src, dst, protocol, port)
            except packets.PacketError as exc:
                raise TraceError(str(exc))
            traced = dataplane.trace(frame)
            if _resolved(ends, traced):
                break
        else:
            continue
        break
    if frame is None or not _resolved(ends, traced):
        raise TraceError('no address of this host\'s maps is in %s'
                         % ' and '.join(
                             'group %s' % telemetry.group_label(e)
                             for e in ends if isinstance(e, int)))
    verdict = 'allow' if traced.reason is None else 'deny'
    if traced.audited:
        enforced = 'passes: audit mode (policy would drop it)'
    else:
        enforced = 'passes' if traced.passed else 'dropped'
    return [('Verdict', verdict),
            ('Enforced', enforced),
            ('Reason', traced.reason or 'allowed by a rule'),
            ('Rule', decider(traced)),
            ('From', src),
            ('From group', telemetry.group_label(traced.src_group)),
            ('To', dst),
            ('To group', telemetry.group_label(traced.dst_group)),
            ('Protocol', protocol or ('icmp (echo)' if version == 4
                                      else 'icmpv6 (echo)')),
            ('Port', port if port is not None else '-'),
            ('Decided', where(dataplane, src, dst))]


def _choices(end, dataplane, version, role):
    if not isinstance(end, int):
        return [str(end)]
    found = list(candidates(end, dataplane, version))
    if not found:
        raise TraceError('%s group %s has no IPv%d address in this host\'s '
                         'maps (no endpoint or prefix); trace an address '
                         'instead' % (role, telemetry.group_label(end),
                                      version))
    return found[:8]


def _resolved(ends, traced):
    """Did every group end resolve to the group asked for?"""
    return all(not isinstance(end, int) or end == got
               for end, got in zip(ends, (traced.src_group,
                                          traced.dst_group)))
