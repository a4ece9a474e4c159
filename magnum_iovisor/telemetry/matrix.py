"""The policy as a table of groups by groups: verdict and packets per cell.

A cell is the rule's action and its packet counter, ``no rule N`` for a
pair dropped by default that has been seen N times, or ``no rule``.
"""

from magnum_iovisor import telemetry

CORNER = 'src \\ dst'
NO_RULE = 'no rule'


def groups_of(rules, denied, endpoints=()):
    """Every group named by a rule, a denied pair or an endpoint."""
    found = set()
    for rule, _, _ in rules:
        found.update((rule.src, rule.dst))
    for src, dst, _, _ in denied:
        found.update((src, dst))
    found.update(group for _, group, _ in endpoints)
    return sorted(found)


def cell(rule_counts, denied_counts, src, dst):
    if (src, dst) in rule_counts:
        action, packets = rule_counts[src, dst]
        return '%s %d' % (action, packets)
    packets = denied_counts.get((src, dst))
    return '%s %d' % (NO_RULE, packets) if packets else NO_RULE


def matrix(rules, denied, groups):
    """(columns, rows) for cliff: one row per source group.

    ``rules``: [(Rule, packets, bytes)]; ``denied``: [(src, dst, packets,
    bytes)]; ``groups``: the groups to show, in order.
    """
    rule_counts = {}
    for rule, packets, _ in rules:
        key = (rule.src, rule.dst)
        # several rules of one pair (ports, protocols): deny wins, sum counts
        action, total = rule_counts.get(key, (rule.action.value, 0))
        if rule.action.value == 'deny':
            action = 'deny'
        rule_counts[key] = (action, total + packets)
    denied_counts = {(src, dst): packets for src, dst, packets, _ in denied}
    columns = (CORNER, *(telemetry.group_label(g) for g in groups))
    rows = [(telemetry.group_label(src),
             *(cell(rule_counts, denied_counts, src, dst) for dst in groups))
            for src in groups]
    return columns, rows
