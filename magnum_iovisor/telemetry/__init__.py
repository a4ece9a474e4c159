"""What the dataplane did, and would do: metrics, matrix, events, trace.

Everything here reads (or test-runs) the kernel through the ``Dataplane``
facade only; nothing here changes the policy.
"""

from magnum_iovisor import policy


def group_label(group):
    """A group as labels and graphs show it: a reserved name or a number."""
    names = {number: name
             for name, number in getattr(policy, 'RESERVED', {}).items()}
    return names.get(group, str(group))


def rule_labels(rule):
    """(src, dst, protocol, ports, action) of a rule, as label values."""
    protocol = getattr(rule, 'protocol', None) or 'any'
    ports = getattr(rule, 'ports', None)
    if ports is None:
        ports = 'any'
    elif ports[0] == ports[1]:
        ports = str(ports[0])
    else:
        ports = '%d-%d' % tuple(ports)
    return (group_label(rule.src), group_label(rule.dst), protocol, ports,
            rule.action.value)


def audit_banner(all_on, groups):
    """The warning ``show`` prints while audit mode is on, or None."""
    if not all_on and not groups:
        return None
    which = 'ALL GROUPS' if all_on else 'group%s %s' % (
        '' if len(groups) == 1 else 's',
        ', '.join(group_label(g) for g in groups))
    line = '!' * 78
    enforce = 'iovisor-policy audit off' + ('' if all_on else ' GROUP')
    return '\n'.join((
        line,
        '!!! AUDIT MODE ON for %s: the policy is NOT enforced there.' % which,
        '!!! Packets it would drop PASS and are counted as would_drop '
        '(iovisor_would_drop_total).',
        '!!! Enforce again: %s' % enforce,
        line))
