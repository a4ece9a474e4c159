"""The policy as a Graphviz graph: groups are nodes, rules are edges.

Allow rules are solid green edges, deny rules dashed red ones, both
labelled with their packet counters; a group's node says how many
endpoints this host knows in it.
"""

import graphviz

from magnum_iovisor import telemetry

STYLES = {'allow': {'color': 'darkgreen', 'fontcolor': 'darkgreen'},
          'deny': {'color': 'red3', 'fontcolor': 'red3', 'style': 'dashed'}}


def edge_label(rule, packets):
    parts = [] if rule.action.value == 'allow' else ['deny']
    protocol = getattr(rule, 'protocol', None)
    if protocol:
        ports = telemetry.rule_labels(rule)[3]
        parts.append(protocol if ports == 'any' else
                     '%s/%s' % (protocol, ports))
    if packets is not None:
        parts.append('%d pkts' % packets)
    return ' '.join(parts)


def render(rules, endpoints=(), name='magnum-iovisor policy'):
    """DOT source of ``rules`` [(Rule, packets or None, ...)].

    ``endpoints``: [(address, group, ifindex)], counted per group.
    """
    graph = graphviz.Digraph(name=name, graph_attr={'rankdir': 'LR'},
                             node_attr={'shape': 'box', 'style': 'rounded'})
    per_group = {}
    for _, group, _ in endpoints:
        per_group[group] = per_group.get(group, 0) + 1
    groups = sorted({g for rule, *_ in rules for g in (rule.src, rule.dst)}
                    | set(per_group))
    for group in groups:
        label = 'group %s' % telemetry.group_label(group)
        if group in per_group:
            label += '\n%d endpoint%s' % (per_group[group],
                                          '' if per_group[group] == 1
                                          else 's')
        graph.node(str(group), label)
    for rule, packets, *_ in rules:
        graph.edge(str(rule.src), str(rule.dst),
                   label=edge_label(rule, packets),
                   **STYLES[rule.action.value])
    return graph.source
