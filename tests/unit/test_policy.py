"""The policy model: formats, validation, diffs and precedence."""

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

EXTENDED_TEXT = ('9>2047:tcp/7070 9>2047:tcp/8000-8080 9>2047:udp/53 '
                 '9>2047:icmp 9>2047:tcp/22:deny 100>world 1<>2:tcp/443 '
                 '100>nodes:udp/53 host>100:tcp/8080')
EXTENDED_RULES = {
    P.Rule(9, 2047, P.Action.ALLOW, 'tcp', (7070, 7070)),
    P.Rule(9, 2047, P.Action.ALLOW, 'tcp', (8000, 8080)),
    P.Rule(9, 2047, P.Action.ALLOW, 'udp', (53, 53)),
    P.Rule(9, 2047, P.Action.ALLOW, 'icmp'),
    P.Rule(9, 2047, P.Action.DENY, 'tcp', (22, 22)),
    P.Rule(100, 0),
    P.Rule(1, 2, P.Action.ALLOW, 'tcp', (443, 443)),
    P.Rule(2, 1, P.Action.ALLOW, 'tcp', (443, 443)),
    P.Rule(100, 65534, P.Action.ALLOW, 'udp', (53, 53)),
    P.Rule(65535, 100, P.Action.ALLOW, 'tcp', (8080, 8080)),
}
EXTENDED_JSON = '''{"rules": [
  {"src": 9, "dst": 2047, "protocol": "tcp", "ports": "7070"},
  {"src": 9, "dst": 2047, "protocol": "tcp", "ports": "8000-8080"},
  {"src": 9, "dst": 2047, "protocol": "udp", "ports": 53},
  {"src": 9, "dst": 2047, "protocol": "icmp", "action": "allow"},
  {"src": 9, "dst": 2047, "protocol": "tcp", "ports": "22",
   "action": "deny"},
  {"src": 100, "dst": "world"},
  {"src": 1, "dst": 2, "protocol": "tcp", "ports": "443"},
  {"src": 2, "dst": 1, "protocol": "tcp", "ports": "443-443"},
  {"src": 100, "dst": "nodes", "protocol": "udp", "ports": "53"},
  {"src": 65535, "dst": 100, "protocol": "tcp", "ports": "8080"}]}'''
EXTENDED_YAML = '''
rules:
  - {src: 9, dst: 2047, protocol: tcp, ports: 7070}
  - {src: 9, dst: 2047, protocol: tcp, ports: 8000-8080}
  - {src: 9, dst: 2047, protocol: udp, ports: "53"}
  - {src: 9, dst: 2047, protocol: icmp}
  - {src: 9, dst: 2047, protocol: tcp, ports: 22, action: deny}
  - {src: 100, dst: 0}
  - {src: 1, dst: 2, protocol: tcp, ports: 443}
  - {src: 2, dst: 1, protocol: tcp, ports: 443}
  - {src: 100, dst: 65534, protocol: udp, ports: 53}
  - {src: host, dst: 100, protocol: tcp, ports: 8080}
'''

groups = st.one_of(
    st.integers(min_value=P.GROUP_MIN, max_value=P.GROUP_MAX),
    st.sampled_from(sorted(P.RESERVED.values())),
    st.integers(min_value=1, max_value=4))   # small: pairs and <> collide
ports = st.integers(min_value=P.PORT_MIN, max_value=P.PORT_MAX)
port_ranges = st.tuples(ports, ports).map(lambda p: tuple(sorted(p)))


@st.composite
def rules(draw):
    protocol = draw(st.sampled_from([None, *P.PROTOCOLS]))
    with_ports = protocol in P.PORT_PROTOCOLS and draw(st.booleans())
    return P.Rule(draw(groups), draw(groups),
                  draw(st.sampled_from(list(P.Action))), protocol,
                  draw(port_ranges) if with_ports else None)


policies = st.lists(rules(), max_size=40, unique_by=lambda r: r.key).map(
    P.Policy)


class SeedPolicyTest(testtools.TestCase):
    def _assert_seed(self, parsed):
        self.assertEqual(SEED_PAIRS, {r.pair for r in parsed.rules})
        self.assertEqual({P.Action.ALLOW}, {r.action for r in parsed.rules})
        self.assertEqual({None}, {r.protocol for r in parsed.rules})
        self.assertEqual({None}, {r.ports for r in parsed.rules})

    def test_text(self):
        self._assert_seed(P.parse(SEED_TEXT))

    def test_text_with_both_directions(self):
        self._assert_seed(P.parse('100>0;0>100 100>100  100<>200'))

    def test_json(self):
        self._assert_seed(P.parse(SEED_JSON))

    def test_yaml(self):
        self._assert_seed(P.parse(SEED_YAML))

    def test_reserved_name_is_the_number(self):
        self.assertEqual(P.parse(SEED_TEXT),
                         P.parse('100>world world>100 100>100 100<>200'))

    def test_canonical_text_is_label_safe(self):
        text = P.format_text(P.parse(SEED_TEXT))
        self.assertEqual('world<>100 100>100 100<>200', text)
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
        for empty in ('', '{"rules": []}', 'rules: []', '# nothing', ' ; '):
            self.assertEqual(0, len(P.parse(empty)))


class ExtendedFormsTest(testtools.TestCase):
    def test_text(self):
        self.assertEqual(EXTENDED_RULES, set(P.parse(EXTENDED_TEXT).rules))

    def test_json(self):
        self.assertEqual(EXTENDED_RULES, set(P.parse(EXTENDED_JSON).rules))

    def test_yaml(self):
        self.assertEqual(EXTENDED_RULES, set(P.parse(EXTENDED_YAML).rules))

    def test_reserved_numbers(self):
        self.assertEqual({'world': 0, 'host': 65535, 'nodes': 65534,
                          'unknown': 65533}, P.RESERVED)
        self.assertEqual({'tcp': 6, 'udp': 17, 'icmp': 1, 'icmpv6': 58},
                         P.PROTOCOLS)
        parsed = P.parse('world>host host>nodes nodes>unknown')
        self.assertEqual({(0, 65535), (65535, 65534), (65534, 65533)},
                         {r.pair for r in parsed.rules})

    def test_canonical_text(self):
        self.assertEqual(
            'world>100:tcp/80 1<>2:tcp/443 9>2047:icmp 9>2047:tcp/22:deny '
            '9>2047:tcp/8000-8080 9>2047:udp/53 100>nodes:udp/53',
            P.format_text(P.parse(
                '9>2047:udp/53 9>2047:tcp/8000-8080 0>100:tcp/80-80 '
                '2>1:tcp/443 1>2:tcp/443 9>2047:icmp:allow '
                '9>2047:tcp/22:deny 100>65534:udp/53')))

    def test_canonical_json(self):
        self.assertEqual(
            {'rules': [{'src': 'world', 'dst': 100, 'action': 'allow'},
                       {'src': 9, 'dst': 'host', 'action': 'deny',
                        'protocol': 'tcp', 'ports': '22'},
                       {'src': 9, 'dst': 'host', 'action': 'allow',
                        'protocol': 'udp', 'ports': '53-60'}]},
            P.json.loads(P.format_json(P.parse(
                '0>100 9>65535:udp/53-60 9>host:tcp/22:deny'))))

    def test_allow_suffix_and_protocol_only(self):
        parsed = P.parse('1>2:tcp:allow 1>2:udp:deny 1>2:icmpv6')
        self.assertEqual(
            [P.Rule(1, 2, P.Action.ALLOW, 'tcp'),
             P.Rule(1, 2, P.Action.DENY, 'udp'),
             P.Rule(1, 2, P.Action.ALLOW, 'icmpv6')], parsed.rules)

    def test_rule_key_and_text(self):
        rule = P.Rule(9, 65535, P.Action.DENY, 'tcp', (8000, 8080))
        self.assertEqual((9, 65535, 'tcp', (8000, 8080)), rule.key)
        self.assertEqual((9, 65535), rule.pair)
        self.assertEqual('9>host:tcp/8000-8080:deny', str(rule))
        self.assertEqual('1>2', str(P.Rule(1, 2)))

    def test_same_pair_different_ports_are_different_rules(self):
        parsed = P.parse('1>2 1>2:tcp 1>2:tcp/80 1>2:tcp/80-81:deny')
        self.assertEqual(4, len(parsed))

    def test_policy_from_rules_takes_names(self):
        self.assertEqual(P.parse('1>world:udp/53'),
                         P.Policy([P.Rule(1, 'world', 'allow', 'udp',
                                          (53, 53))]))

    def test_from_actions_takes_pairs_and_keys(self):
        self.assertEqual(
            P.parse('1>2 3>4:tcp/5:deny'),
            P.Policy.from_actions({(1, 2): P.Action.ALLOW,
                                   (3, 4, 'tcp', (5, 5)): P.Action.DENY}))


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
        self.assertRejected('{"rules": [{"src": 1, "dst": 2.5}]}',
                            'rule 1: group 2.5 is not an integer')
        self.assertRejected('{"rules": {"src": 1}}',
                            '"rules" must be a list')
        self.assertRejected('[1]', 'rule 1: expected a mapping')

    def test_missing_and_unknown_keys(self):
        self.assertRejected('{"rules": [{"src": 1}]}', "rule 1: missing 'dst'")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "prio": 3}]}',
                            'rule 1: unknown key(s) prio')
        self.assertRejected('{"rule": []}', 'unknown key(s) rule')

    def test_bad_action(self):
        self.assertRejected('1>2:pass', "rule 1 ('1>2:pass'): 'pass' is "
                            "neither a protocol (tcp, udp, icmp, icmpv6) "
                            "nor an action (allow, deny)")
        self.assertRejected('1>2:tcp/80:drop',
                            "rule 1 ('1>2:tcp/80:drop'): action 'drop' is "
                            "not one of allow, deny")
        self.assertRejected('1>2:dney', "'dney' is neither a protocol")
        self.assertRejected('1>2:dney', "did you mean 'deny'?")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"action": "drop"}]}', "rule 1: action 'drop'")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"action": ["allow"]}]}',
                            "rule 1: action ['allow']")

    def test_bad_syntax(self):
        self.assertRejected('1>2 1->2', "rule 2 ('1->2'): expected SRC>DST")
        self.assertRejected('1>2:tcp/', "rule 1 ('1>2:tcp/'): expected")
        self.assertRejected('1>2:tcp/80-', "rule 1 ('1>2:tcp/80-'): expected")
        self.assertRejected('1>2:tcp/-80', "rule 1 ('1>2:tcp/-80'): expected")
        self.assertRejected('1>2:tcp:80', "rule 1 ('1>2:tcp:80'): action")
        self.assertRejected('\u0661>2', "rule 1 ('\u0661>2'): expected")
        self.assertRejected('{"rules": [', 'not valid JSON')
        self.assertRejected('rules: [a', 'not valid YAML', 'yaml')
        self.assertRejected('1>2', 'unknown policy format', 'xml')

    def test_port_out_of_range(self):
        self.assertRejected('1>2 2>3 9>2047:tcp/0',
                            "rule 3 ('9>2047:tcp/0'): port 0 out of range "
                            "1..65535")
        self.assertRejected('9>2047:udp/53-65536',
                            "rule 1 ('9>2047:udp/53-65536'): port 65536 out "
                            "of range 1..65535")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "protocol": '
                            '"tcp", "ports": 70000}]}',
                            'rule 1: port 70000 out of range 1..65535')
        self.assertRejected('rules: [{src: 1, dst: 2, protocol: udp, '
                            'ports: "0-10"}]',
                            'rule 1: port 0 out of range 1..65535')

    def test_range_upside_down(self):
        self.assertRejected('9>2047:tcp/8080-8000',
                            "rule 1 ('9>2047:tcp/8080-8000'): port range "
                            "8080-8000 is upside down (write 8000-8080)")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "protocol": '
                            '"tcp", "ports": "9-8"}]}',
                            'rule 1: port range 9-8 is upside down')

    def test_ports_on_a_protocol_without_ports(self):
        for proto in ('icmp', 'icmpv6'):
            self.assertRejected('9>2047:%s/8' % proto,
                                "rule 1 ('9>2047:%s/8'): ports need "
                                "protocol tcp or udp; %s has none"
                                % (proto, proto))
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"ports": "80"}]}',
                            'rule 1: ports need protocol tcp or udp, and '
                            'no protocol is given')
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "protocol": '
                            '"icmp", "ports": "80"}]}',
                            'rule 1: ports need protocol tcp or udp; icmp '
                            'has none')

    def test_bad_ports_value(self):
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "protocol": '
                            '"tcp", "ports": [1, 2]}]}',
                            'rule 1: ports [1, 2] are not "N" or "N-M"')
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "protocol": '
                            '"tcp", "ports": true}]}',
                            'rule 1: ports True are not "N" or "N-M"')

    def test_bad_protocol(self):
        self.assertRejected('1>2:tpc/80',
                            "rule 1 ('1>2:tpc/80'): protocol 'tpc' is not "
                            "one of tcp, udp, icmp, icmpv6; did you mean "
                            "'tcp'?")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"protocol": "sctp"}]}',
                            "rule 1: protocol 'sctp' is not one of")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, '
                            '"protocol": 6}]}',
                            "rule 1: protocol 6 is not one of")

    def test_misspelled_reserved_name(self):
        self.assertRejected('1>2 100>wrold',
                            "rule 2 ('100>wrold'): group 'wrold' is not an "
                            "integer or a reserved name (world 0, host "
                            "65535, nodes 65534, unknown 65533); did you "
                            "mean 'world'?")
        self.assertRejected('Host>1:tcp/22', "did you mean 'host'?")
        self.assertRejected('{"rules": [{"src": "node", "dst": 2}]}',
                            "rule 1: group 'node' is not an integer or a "
                            "reserved name")
        self.assertRejected('{"rules": [{"src": "node", "dst": 2}]}',
                            "did you mean 'nodes'?")
        self.assertRejected('1>zzz', "group 'zzz' is not an integer or a "
                            "reserved name (world 0, host 65535, nodes "
                            "65534, unknown 65533)")

    def test_conflicting_rules(self):
        self.assertRejected('1>2 2>3 1>2:deny',
                            "rule 3 ('1>2:deny'): 1>2 is deny here but "
                            "allow in rule 1 ('1>2')")
        self.assertRejected('1>2:tcp/80 2>3 1<>2:tcp/80-80:deny',
                            "rule 3 ('1<>2:tcp/80-80:deny'): 1>2:tcp/80 is "
                            "deny here but allow in rule 1 ('1>2:tcp/80')")
        self.assertRejected('0>1 world>1:deny',
                            "rule 2 ('world>1:deny'): world>1 is deny here "
                            "but allow in rule 1 ('0>1')")
        self.assertRejected('{"rules": [{"src": 1, "dst": 2, "protocol": '
                            '"udp", "ports": "53"}, {"src": 1, "dst": 2, '
                            '"protocol": "udp", "ports": 53, '
                            '"action": "deny"}]}',
                            'rule 2: 1>2:udp/53 is deny here but allow in '
                            'rule 1')

    def test_conflict_in_rules_given_directly(self):
        error = self.assertRaises(P.PolicyError, P.Policy, [
            P.Rule(1, 2), P.Rule(1, 2, 'deny')])
        self.assertEqual('rule 2: 1>2 is deny here but allow in rule 1',
                         str(error))

    def test_duplicates_that_agree_are_one_rule(self):
        self.assertEqual(1, len(P.parse('1>2 1>2 1>2:allow')))
        self.assertEqual(1, len(P.parse('1>2:tcp/5 1>2:tcp/5-5')))


class DecideTest(testtools.TestCase):
    """The precedence of CONTRACT-v2.md (README "Precedence")."""

    def test_deny_on_one_port_beats_allow_on_all_ports(self):
        parsed = P.parse('9>2047 9>2047:tcp/22:deny')
        action, rule = parsed.decide(9, 2047, 'tcp', 22)
        self.assertEqual(P.Action.DENY, action)
        self.assertEqual(P.Rule(9, 2047, 'deny', 'tcp', (22, 22)), rule)
        self.assertEqual((P.Action.ALLOW, P.Rule(9, 2047)),
                         parsed.decide(9, 2047, 'tcp', 23))
        self.assertEqual((P.Action.ALLOW, P.Rule(9, 2047)),
                         parsed.decide(9, 2047, 'udp', 22))
        self.assertEqual((P.Action.ALLOW, P.Rule(9, 2047)),
                         parsed.decide(9, 2047, 'icmp'))

    def test_deny_on_everything_beats_allow_on_a_port(self):
        parsed = P.parse('9>2047:tcp/80 9>2047:deny')
        self.assertEqual((P.Action.DENY, P.Rule(9, 2047, 'deny')),
                         parsed.decide(9, 2047, 'tcp', 80))

    def test_no_rule_is_denied(self):
        parsed = P.parse('9>2047:tcp/80 2047>9')
        self.assertEqual((P.Action.DENY, None),
                         parsed.decide(9, 2047, 'tcp', 81))
        self.assertEqual((P.Action.DENY, None),
                         parsed.decide(9, 2047, 'udp', 80))
        self.assertEqual((P.Action.DENY, None),
                         parsed.decide(9, 2048, 'tcp', 80))
        self.assertEqual((P.Action.DENY, None),
                         parsed.decide(9, 2047, 'tcp', None))

    def test_most_specific_rule_of_the_winner_is_counted(self):
        parsed = P.parse('1>2 1>2:tcp 1>2:tcp/1-1000 1>2:tcp/80-90 '
                         '1>2:tcp/85')
        self.assertEqual(P.Rule(1, 2, 'allow', 'tcp', (85, 85)),
                         parsed.decide(1, 2, 'tcp', 85)[1])
        self.assertEqual(P.Rule(1, 2, 'allow', 'tcp', (80, 90)),
                         parsed.decide(1, 2, 'tcp', 86)[1])
        self.assertEqual(P.Rule(1, 2, 'allow', 'tcp', (1, 1000)),
                         parsed.decide(1, 2, 'tcp', 999)[1])
        self.assertEqual(P.Rule(1, 2, 'allow', 'tcp'),
                         parsed.decide(1, 2, 'tcp', 1001)[1])
        self.assertEqual(P.Rule(1, 2), parsed.decide(1, 2, 'udp', 85)[1])

    def test_equal_widths_lowest_range_first(self):
        parsed = P.parse('1>2:udp/10-20:deny 1>2:udp/15-25:deny')
        self.assertEqual(P.Rule(1, 2, 'deny', 'udp', (10, 20)),
                         parsed.decide(1, 2, 'udp', 17)[1])

    def test_deny_counted_even_when_a_narrower_allow_matches(self):
        parsed = P.parse('1>2:tcp/80 1>2:tcp:deny')
        self.assertEqual((P.Action.DENY, P.Rule(1, 2, 'deny', 'tcp')),
                         parsed.decide(1, 2, 'tcp', 80))

    def test_protocol_numbers_and_unnamed_protocols(self):
        parsed = P.parse('1>2:udp/53 1>3')
        self.assertEqual(P.Action.ALLOW, parsed.decide(1, 2, 17, 53)[0])
        self.assertEqual(P.Action.DENY, parsed.decide(1, 2, 6, 53)[0])
        self.assertEqual((P.Action.ALLOW, P.Rule(1, 3)),
                         parsed.decide(1, 3, 132, None))   # sctp
        self.assertEqual(P.Action.DENY, parsed.decide(1, 2, 132)[0])

    def test_direction_matters(self):
        parsed = P.parse('1>2:tcp/80')
        self.assertEqual(P.Action.ALLOW, parsed.decide(1, 2, 'tcp', 80)[0])
        self.assertEqual(P.Action.DENY, parsed.decide(2, 1, 'tcp', 80)[0])

    def test_rules_between_most_specific_first(self):
        parsed = P.parse('1>2 1>2:udp 1>2:tcp/1-9 1>2:tcp/5 1>3')
        self.assertEqual(['1>2:tcp/5', '1>2:tcp/1-9', '1>2:udp', '1>2'],
                         [str(r) for r in parsed.rules_between(1, 2)])
        self.assertEqual([], parsed.rules_between(2, 1))

    @given(policies, groups, groups, st.sampled_from([*P.PROTOCOLS, 132]),
           ports)
    def test_decide_against_brute_force(self, policy, src, dst, proto, port):
        port = port if proto in P.PORT_PROTOCOLS else None

        def matches(rule):
            return (rule.pair == (src, dst)
                    and rule.protocol in (None, proto)
                    and (rule.ports is None
                         or rule.ports[0] <= port <= rule.ports[1]))

        matching = [r for r in policy.rules if matches(r)]
        action, rule = policy.decide(src, dst, proto, port)
        if any(r.action == P.Action.DENY for r in matching):
            self.assertEqual(P.Action.DENY, action)
        elif matching:
            self.assertEqual(P.Action.ALLOW, action)
        else:
            self.assertEqual((P.Action.DENY, None), (action, rule))
            return
        same = [r for r in matching if r.action == action]
        self.assertIn(rule, same)
        self.assertEqual(min(P._specificity(r.key) for r in same),
                         P._specificity(rule.key))


class DiffTest(testtools.TestCase):
    def test_diff(self):
        old = P.parse('1>2 2>1 3>4')
        new = P.parse('1>2 2>1:deny 5>6')
        upserts, removals = new.diff(old)
        self.assertEqual([P.Rule(2, 1, P.Action.DENY), P.Rule(5, 6)],
                         upserts)
        self.assertEqual([(3, 4, None, None)], removals)

    def test_diff_keyed_by_protocol_and_ports(self):
        old = P.parse('1>2 1>2:tcp/80 1>2:udp/53')
        new = P.parse('1>2 1>2:tcp/80-81 1>2:udp/53:deny')
        upserts, removals = new.diff(old)
        self.assertEqual([P.Rule(1, 2, 'allow', 'tcp', (80, 81)),
                          P.Rule(1, 2, 'deny', 'udp', (53, 53))], upserts)
        self.assertEqual([(1, 2, 'tcp', (80, 80))], removals)

    def test_no_change_no_diff(self):
        self.assertEqual(([], []), P.parse(SEED_TEXT).diff(P.parse(SEED_YAML)))
        self.assertEqual(([], []), P.parse(EXTENDED_TEXT).diff(
            P.parse(EXTENDED_JSON)))

    @given(policies, policies)
    def test_diff_applied_gives_new(self, old, new):
        upserts, removals = new.diff(old)
        result = {r.key: r.action for r in old.rules}
        for key in removals:
            del result[key]
        result.update({r.key: r.action for r in upserts})
        self.assertEqual(new, P.Policy.from_actions(result))

    @given(policies, policies)
    def test_diff_leaves_unchanged_rules_alone(self, old, new):
        upserts, removals = new.diff(old)
        touched = {r.key for r in upserts} | set(removals)
        for rule in old.rules:
            kept = new.action(*rule.key) == rule.action
            self.assertEqual(not kept, rule.key in touched, rule)


class RoundTripTest(testtools.TestCase):
    @given(policies, st.sampled_from(P.FORMATS))
    def test_dump_then_parse(self, original, fmt):
        text = P.dump(original, fmt)
        self.assertEqual(original, P.parse(text, fmt))
        self.assertEqual(original, P.parse(text))  # the guess agrees

    @given(policies, st.sampled_from(P.FORMATS), st.sampled_from(P.FORMATS))
    def test_between_formats(self, original, first, second):
        via = P.parse(P.dump(original, first), first)
        self.assertEqual(original, via)
        self.assertEqual(P.dump(original, second), P.dump(via, second))
        self.assertEqual(original, P.parse(P.dump(via, second), second))

    @given(policies)
    def test_text_is_label_safe(self, original):
        text = P.format_text(original)
        self.assertNotIn(',', text)
        self.assertNotIn('=', text)

    @given(policies)
    def test_text_rule_by_rule(self, original):
        for rule in original.rules:
            self.assertEqual([rule], P.parse(str(rule)).rules)
