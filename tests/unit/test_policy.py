"""The policy model: formats, validation and diffs."""

from hypothesis import given
from hypothesis import strategies as st
import testtools

from magnum_iovisor import policy as P

SEED_TEXT = '100>0 0>100 100>100 200>100 100>200'
SEED_PAIRS = {(100, 0), (0, 100), (100, 100), (200, 100), (100, 200)}
SEED_JSON = '''{"rules": [{"src": 100, "dst": 0}, {"src": 0, "dst": 100},
  {"src": 100, "dst": 100}, {"src": 200, "dst": 100, "action": "allow"},
  {"src": 100, "dst": 200}]}'''
SEED_YAML = '''
rules:
  - {src: 100, dst: 0}
  - {src: 0, dst: 100}
  - {src: 100, dst: 100}
  - {src: 200, dst: 100}
  - src: 100
    dst: 200
    action: allow
'''

groups = st.integers(min_value=P.GROUP_MIN, max_value=P.GROUP_MAX)
rules = st.builds(P.Rule, groups, groups, st.sampled_from(list(P.Action)))
policies = st.lists(rules, max_size=40, unique_by=lambda r: r.pair).map(
    P.Policy)


class SeedPolicyTest(testtools.TestCase):
    def _assert_seed(self, parsed):
        self.assertEqual(SEED_PAIRS, {r.pair for r in parsed.rules})
        self.assertEqual({P.Action.ALLOW}, {r.action for r in parsed.rules})

    def test_text(self):
        self._assert_seed(P.parse(SEED_TEXT))

    def test_text_with_both_directions(self):
        self._assert_seed(P.parse('100>0;0>100 100>100  100<>200'))

    def test_json(self):
        self._assert_seed(P.parse(SEED_JSON))

    def test_yaml(self):
        self._assert_seed(P.parse(SEED_YAML))

    def test_canonical_text_is_label_safe(self):
        text = P.format_text(P.parse(SEED_TEXT))
        self.assertEqual('0<>100 100>100 100<>200', text)
        self.assertNotIn(',', text)
        self.assertNotIn('=', text)

    def test_format_guessed_from_file_name(self):
        self.assertEqual('json', P.guess_format('', 'p.JSON'))
        self.assertEqual('yaml', P.guess_format('', 'p.yml'))
        self.assertEqual('text', P.guess_format('1>2', 'p.txt'))

    def test_comments_and_explicit_actions(self):
        parsed = P.parse('# web\n100>0:allow  # out\n300>100:deny\n')
        self.assertEqual(P.Action.DENY, parsed.action(300, 100))
        self.assertEqual(P.Action.ALLOW, parsed.action(100, 0))
        self.assertIsNone(parsed.action(0, 100))

    def test_empty_policy_denies_everything(self):
        for empty in ('', '{"rules": []}', 'rules: []', '# nothing'):
            self.assertEqual(0, len(P.parse(empty)))


class ValidationTest(testtools.TestCase):
    def assertRejected(self, text, message, fmt=None):
        error = self.assertRaises(P.PolicyError, P.parse, text, fmt)
        self.assertIn(message, str(error))

    def test_group_out_of_range_names_the_rule(self):
        self.assertRejected('1>2 3>4 100>70000',
                            "rule 3 ('100>70000'): group 70000 out of "
                            "range 0..65535")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2}, '
                            '{"src": -1, "dst": 2}]}',
                            'rule 2: group -1 out of range 0..65535')

    def test_wrong_types(self):
        self.assertRejected('{"rules": [{"src": "1", "dst": 2}]}',
                            "rule 1: group '1' is not an integer")
        self.assertRejected('rules: [{src: 1, dst: true}]',
                            'rule 1: group True is not an integer')
        self.assertRejected('{"rules": {"src": 1}}',
                            '"rules" must be a list')
        self.assertRejected('[1]', 'rule 1: expected a mapping')

    def test_missing_and_unknown_keys(self):
        self.assertRejected('{"rules": [{"src": 1}]}', "rule 1: missing 'dst'")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "prio": 3}]}',
                            'rule 1: unknown key(s) prio')
        self.assertRejected('{"rule": []}', 'unknown key(s) rule')

    def test_bad_action(self):
        self.assertRejected('1>2:pass', "rule 1 ('1>2:pass'): action 'pass'")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"action": "drop"}]}', "rule 1: action 'drop'")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"action": ["allow"]}]}',
                            "rule 1: action ['allow']")

    def test_bad_syntax(self):
        self.assertRejected('1>2 1->2', "rule 2 ('1->2'): expected SRC>DST")
        self.assertRejected('{"rules": [', 'not valid JSON')
        self.assertRejected('rules: [a', 'not valid YAML', 'yaml')
        self.assertRejected('1>2', 'unknown policy format', 'xml')

    def test_conflicting_rules(self):
        self.assertRejected('1>2 2>3 1>2:deny',
                            "rule 3 ('1>2:deny'): 1>2 is deny here but "
                            "allow in rule 1 ('1>2')")

    def test_duplicates_that_agree_are_one_rule(self):
        self.assertEqual(1, len(P.parse('1>2 1>2 1>2:allow')))


class DiffTest(testtools.TestCase):
    def test_diff(self):
        old = P.parse('1>2 2>1 3>4')
        new = P.parse('1>2 2>1:deny 5>6')
        upserts, removals = new.diff(old)
        self.assertEqual([P.Rule(2, 1, P.Action.DENY), P.Rule(5, 6)],
                         upserts)
        self.assertEqual([(3, 4)], removals)

    def test_no_change_no_diff(self):
        self.assertEqual(([], []), P.parse(SEED_TEXT).diff(P.parse(SEED_YAML)))

    @given(policies, policies)
    def test_diff_applied_gives_new(self, old, new):
        upserts, removals = new.diff(old)
        result = {r.pair: r.action for r in old.rules}
        for pair in removals:
            del result[pair]
        result.update({r.pair: r.action for r in upserts})
        self.assertEqual(new, P.Policy(P.Rule(s, d, a)
                                       for (s, d), a in result.items()))


class RoundTripTest(testtools.TestCase):
    @given(policies, st.sampled_from(P.FORMATS))
    def test_dump_then_parse(self, original, fmt):
        text = P.dump(original, fmt)
        self.assertEqual(original, P.parse(text, fmt))
        self.assertEqual(original, P.parse(text))  # the guess agrees

    @given(policies, st.sampled_from(P.FORMATS), st.sampled_from(P.FORMATS))
    def test_between_formats(self, original, first, second):
        via = P.parse(P.dump(original, first), first)
        self.assertEqual(P.dump(original, second), P.dump(via, second))

    @given(policies)
    def test_text_never_has_commas(self, original):
        self.assertNotIn(',', P.format_text(original))
