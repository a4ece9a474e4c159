"""Replacing a policy is all or nothing, even when the kernel refuses."""

from magnum_iovisor.dataplane import BpfError
from magnum_iovisor import policy
from tests.functional import base


class FullMapTest(base.DataplaneTestCase):
    def open_dataplane(self):
        # pins made with room for four rules only
        self.conf.set_override('rules_max', 4, 'dataplane')
        return super().open_dataplane()

    def test_more_rules_than_the_maps_hold_changes_nothing(self):
        old = policy.parse('1>2 2>1 3>4:deny')
        self.dataplane.replace_policy(old)
        error = self.assertRaises(BpfError, self.dataplane.replace_policy,
                                  policy.parse('1>2 5>6 6>5 7>8 8>7'))
        self.assertIn('rule 8>7 does not fit', str(error))
        self.assertIn('rules_max', str(error))
        self.assertEqual(old, self.dataplane.policy())
        self.dataplane.set_rule(9, 9, 'allow', 'tcp', (1, 2))   # the 4th
        full = self.dataplane.policy()
        self.assertRaises(BpfError, self.dataplane.set_rule, 9, 9, 'deny',
                          'udp')
        self.assertEqual(full, self.dataplane.policy())

    def test_cli_reports_the_kernel_error_and_keeps_the_policy(self):
        self.cli('load', '-', stdin='1>2 2>1')
        result = self.cli('load', '-', stdin='10>11 11>12 12>13 13>14 14>15',
                          check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('rules_max', result.stderr)
        self.assertEqual('1<>2\n', self.cli('export').stdout)

    def test_counters_survive_an_unrelated_change(self):
        self.dataplane.replace_policy(policy.parse('1>2'))
        counters = self.dataplane.maps['counters']
        counters.set((self.dataplane.rule_index(policy.Rule(1, 2)),),
                     [(5, 500)] + [(0, 0)] * (counters.value.cpus - 1))
        self.dataplane.replace_policy(policy.parse('1>2 3>4'))
        self.dataplane.replace_policy(policy.parse('1>2:deny 3>4'))
        rows = {r.pair: (r.action.value, n, b)
                for r, n, b in self.dataplane.rules()}
        self.assertEqual({(1, 2): ('deny', 5, 500), (3, 4): ('allow', 0, 0)},
                         rows)


class FullPolicyMapTest(base.DataplaneTestCase):
    def open_dataplane(self):
        self.conf.set_override('policy_entries_max', 8, 'dataplane')
        return super().open_dataplane()

    def test_a_policy_map_too_small_rolls_back(self):
        # nine tcp ports of one pair are more runs than its protocols
        # entry holds: nine trie entries, more than the 8 the trie holds
        old = policy.parse('1>2 2>1 1>3:tcp/80')
        self.dataplane.replace_policy(old)
        maps = self.dataplane.maps
        before = {name: sorted(maps[name].items(plain=True))
                  for name in ('pairs', 'protocols', 'policy', 'rules')}
        self.assertEqual((2, 1, 0, 1), tuple(map(len, before.values())))
        # 2>1 would move from the pairs map into protocols and the trie
        ports = ' '.join('2>1:tcp/%d' % p for p in range(10, 28, 2))
        error = self.assertRaises(BpfError, self.dataplane.replace_policy,
                                  policy.parse('1>2 2>1 ' + ports))
        self.assertIn('policy_entries_max', str(error))
        self.assertEqual(old, self.dataplane.policy())
        self.assertEqual(before, {name: sorted(maps[name].items(plain=True))
                                  for name in before})
