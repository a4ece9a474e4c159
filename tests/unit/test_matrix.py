"""The groups-by-groups table and the Graphviz graph of a policy."""

import testtools

from magnum_iovisor import policy
from magnum_iovisor.telemetry import dot
from magnum_iovisor.telemetry import matrix

SEED = policy.parse_text('100>0 0>100 100>100 100<>200')


def seed_rules(counts=None):
    counts = counts or {}
    return [(rule, counts.get(rule.pair, 0), 0) for rule in SEED.rules]


class MatrixTest(testtools.TestCase):
    def test_seed_cells(self):
        rules = seed_rules({(100, 200): 4})
        denied = [(0, 200, 3, 300)]
        groups = matrix.groups_of(rules, denied,
                                  [('10.1.0.4', 200, 7), ('10.9.0.1', 300, 0)])
        self.assertEqual([0, 100, 200, 300], groups)
        columns, rows = matrix.matrix(rules, denied, groups)
        self.assertEqual(('src \\ dst', 'world', '100', '200', '300'),
                         columns)
        self.assertEqual([
            ('world', 'no rule', 'allow 0', 'no rule 3', 'no rule'),
            ('100', 'allow 0', 'allow 0', 'allow 4', 'no rule'),
            ('200', 'no rule', 'allow 0', 'no rule', 'no rule'),
            ('300', 'no rule', 'no rule', 'no rule', 'no rule')], rows)

    def test_deny_rules_show_as_deny(self):
        rules = [(policy.Rule(1, 2, policy.Action.DENY), 9, 0)]
        _, rows = matrix.matrix(rules, [], [1, 2])
        self.assertEqual([('1', 'no rule', 'deny 9'),
                          ('2', 'no rule', 'no rule')], rows)

    def test_port_rules_are_listed_in_precedence_order(self):
        rules = [(r, n, 0) for r, n in (
            (policy.Rule(9, 2047, policy.Action.ALLOW), 5),
            (policy.Rule(9, 2047, policy.Action.ALLOW, 'tcp', (8000, 8080)),
             3),
            (policy.Rule(9, 2047, policy.Action.DENY, 'tcp', (22, 22)), 1),
            (policy.Rule(9, 65535, policy.Action.ALLOW, 'icmp'), 2))]
        columns, rows = matrix.matrix(rules, [], [9, 2047, 65535])
        self.assertEqual(('src \\ dst', '9', '2047', 'host'), columns)
        self.assertEqual(('9', 'no rule',
                          'deny tcp/22 1, allow tcp/8000-8080 3, allow 5',
                          'allow icmp 2'), rows[0])

    def test_chosen_groups_only(self):
        columns, rows = matrix.matrix(seed_rules(), [], [200, 100])
        self.assertEqual(('src \\ dst', '200', '100'), columns)
        self.assertEqual([('200', 'no rule', 'allow 0'),
                          ('100', 'allow 0', 'allow 0')], rows)


class DotTest(testtools.TestCase):
    def test_nodes_and_edges(self):
        rules = seed_rules({(100, 200): 4})
        rules.append((policy.Rule(200, 0, policy.Action.DENY), 2, 0))
        source = dot.render(rules, [('10.1.0.2', 100, 3),
                                    ('10.1.0.3', 100, 4)])
        self.assertIn('digraph "magnum-iovisor policy" {', source)
        self.assertIn('100 [label="group 100\n2 endpoints"]', source)
        self.assertIn('200 [label="group 200"]', source)
        self.assertIn('100 -> 200 [label="4 pkts" color=darkgreen '
                      'fontcolor=darkgreen]', source)
        self.assertIn('200 -> 0 [label="deny 2 pkts" color=red3 '
                      'fontcolor=red3 style=dashed]', source)
        self.assertEqual(len(rules), source.count(' -> '))
