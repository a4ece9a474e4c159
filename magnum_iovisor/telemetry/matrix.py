"""The policy as a table of groups by groups: verdict and packets per cell.

A cell is the rule's action and its packet counter (``allow 4``), each
rule of the pair for a pair with protocol or port rules (``deny tcp/22 1,
allow 9``, deny first, then narrower before wider, as they take
precedence), ``no rule N`` for a pair dropped by default that has been
seen N times, or ``no rule``.
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


def _what(rule):
    labels = telemetry.rule_labels(rule)     # (.., protocol, ports, action)
    if labels[2] == 'any':
        return ''
    return ' ' + (labels[2] if labels[3] == 'any'
                  else '%s/%s' % labels[2:4])


def _precedence(item):
    rule, _ = item
    ports = getattr(rule, 'ports', None)
    width = ports[1] - ports[0] if ports else 1 << 16
    return (rule.action.value != 'deny', width,
            getattr(rule, 'protocol', None) is None)


def cell(rule_counts, denied_counts, src, dst):
    found = rule_counts.get((src, dst))
    if found:
        return ', '.join('%s%s %d' % (rule.action.value, _what(rule), n)
                         for rule, n in sorted(found, key=_precedence))
    packets = denied_counts.get((src, dst))
    return '%s %d' % (NO_RULE, packets) if packets else NO_RULE


def matrix(rules, denied, groups):
    """(columns, rows) for cliff: one row per source group.

    ``rules``: [(Rule, packets, bytes)]; ``denied``: [(src, dst, packets,
    bytes)]; ``groups``: the groups to show, in order.
    """
    rule_counts = {}
    for rule, packets, _ in rules:
        rule_counts.setdefault((rule.src, rule.dst), []).append(
            (rule, packets))
    denied_counts = {(src, dst): packets for src, dst, packets, _ in denied}
    columns = (CORNER, *(telemetry.group_label(g) for g in groups))
    rows = [(telemetry.group_label(src),
             *(cell(rule_counts, denied_counts, src, dst) for dst in groups))
            for src in groups]
    return columns, rows
