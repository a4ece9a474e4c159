"""The compiled policy entries agree with the policy model's precedence.

A longest-prefix match over compile.py's entries must give, for every
packet, the verdict and counted rule that policy.Policy.decide gives.
"""

import random
import socket

import testtools

from magnum_iovisor.dataplane import compile as compiler
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import pinned
from magnum_iovisor import policy

PROTOS = {None: 0, 'tcp': 6, 'udp': 17, 'icmp': 1}
ACTIONS = {policy.Action.ALLOW: layout.Action.ALLOW,
           policy.Action.DENY: layout.Action.DENY}


def lpm(entries, src, dst, proto, port):
    """The classifier's lookup, in Python: the longest matching entry."""
    key = (src.to_bytes(2, 'little') + dst.to_bytes(2, 'little')
           + bytes([proto, 0]) + socket.htons(port).to_bytes(2, 'little'))
    best = None
    for (length, esrc, edst, eproto, pad, eport), verdict in entries:
        entry = (esrc.to_bytes(2, 'little') + edst.to_bytes(2, 'little')
                 + bytes([eproto, pad]) + eport.to_bytes(2, 'little'))
        whole, bits = divmod(length, 8)
        if key[:whole] != entry[:whole]:
            continue
        if bits and (key[whole] ^ entry[whole]) >> (8 - bits):
            continue
        if best is None or length > best[0]:
            best = (length, verdict)
    return best[1] if best else None


def random_rules(rng, count):
    rules = {}
    for _ in range(count):
        protocol = rng.choice([None, 'tcp', 'udp', 'icmp'])
        ports = None
        if protocol in ('tcp', 'udp') and rng.random() < 0.7:
            low = rng.choice([1, 20, 22, 80, 443, 1000, 8000, 65535])
            low = min(65535, low + rng.randrange(3))
            ports = (low, min(65535, low + rng.choice([0, 0, 5, 100, 3000])))
        action = rng.choice(list(ACTIONS))
        rule = policy.Rule(1, 2, action, protocol, ports)
        rules[rule.key] = rule
    return list(rules.values())


def compiled(rules):
    plain = [(r.src, r.dst, ACTIONS[r.action], PROTOS[r.protocol],
              *(r.ports or (0, 0)), index) for index, r in enumerate(rules)]
    return [e for group in compiler.entries(plain).values() for e in group]


def specificity(rule):
    if rule.ports:
        return (0, rule.ports[1] - rule.ports[0])
    return (1 if rule.protocol else 2, 0)


def expected(rules, proto, port):
    """The contract's precedence, written out plainly."""
    matching = [i for i, r in enumerate(rules)
                if PROTOS[r.protocol] in (0, proto)
                and (r.ports is None or (proto in (6, 17)
                                         and r.ports[0] <= port
                                         <= r.ports[1]))]
    if not matching:
        return None
    denies = [i for i in matching if rules[i].action == policy.Action.DENY]
    winners = denies or matching
    best = min(winners, key=lambda i: (specificity(rules[i]), i))
    return (layout.Action.DENY if denies else layout.Action.ALLOW, best)


class CompileTest(testtools.TestCase):
    def test_blocks_cover_exactly_the_range(self):
        rng = random.Random(1)
        for _ in range(500):
            low = rng.randint(1, 65535)
            high = rng.randint(low, 65535)
            covered = []
            for start, bits in compiler.port_blocks(low, high):
                self.assertEqual(0, start % (1 << bits))
                covered.extend(range(start, start + (1 << bits)))
            self.assertEqual(list(range(low, high + 1)), covered)
        self.assertEqual([(1, 0), (2, 1), (4, 2), (8, 3), (16, 4), (32, 5),
                          (64, 6), (128, 7), (256, 8), (512, 9), (1024, 10),
                          (2048, 11), (4096, 12), (8192, 13), (16384, 14),
                          (32768, 15)], list(compiler.port_blocks(1, 65535)))

    def test_lookups_match_the_precedence(self):
        rng = random.Random(2)
        for _ in range(150):
            rules = random_rules(rng, rng.randint(1, 6))
            entries = compiled(rules)
            ports = {0, 1, 65535} | {p for r in rules if r.ports
                                     for q in r.ports
                                     for p in (q - 1, q, q + 1)}
            for proto in (6, 17, 1, 47):
                for port in sorted(p for p in ports if 0 <= p <= 65535):
                    if proto not in (6, 17):
                        port = 0
                    self.assertEqual(expected(rules, proto, port),
                                     lpm(entries, 1, 2, proto, port),
                                     (rules, proto, port))

    def test_a_deny_on_one_port_beats_an_allow_on_all(self):
        rules = [policy.Rule(1, 2), policy.Rule(1, 2, policy.Action.DENY,
                                                'tcp', (22, 22))]
        entries = compiled(rules)
        self.assertEqual((layout.Action.DENY, 1), lpm(entries, 1, 2, 6, 22))
        self.assertEqual((layout.Action.ALLOW, 0), lpm(entries, 1, 2, 6, 23))
        self.assertEqual((layout.Action.ALLOW, 0), lpm(entries, 1, 2, 17, 22))

    def test_packed_entries_are_the_entries(self):
        key = pinned.Codec(layout.PolicyKey)
        verdict = pinned.Codec(layout.Verdict)
        rng = random.Random(3)
        for round_ in range(40):
            plain = []
            # pairs with one rule (packed on their own) and with several
            for pair in range(rng.randint(1, 8)):
                for rule in random_rules(rng, rng.choice([1, 1, 2, 5])):
                    plain.append((1 + pair, 2 + round_, ACTIONS[rule.action],
                                  PROTOS[rule.protocol],
                                  *(rule.ports or (0, 0)), len(plain)))
            want = sorted((key.pack(k), verdict.pack(v))
                          for group in compiler.entries(plain).values()
                          for k, v in group)
            keys, verdicts = compiler.packed(plain, key, verdict)
            got = list(zip(key.split(keys), verdict.split(verdicts)))
            self.assertEqual(want, sorted(got), plain)
            self.assertEqual(len(got), len(dict(got)), 'a key twice')

    def test_fields_pack_as_rows(self):
        key = pinned.Codec(layout.PolicyKey)
        rows = [(32, 1, 2, 0, 0, 0), (64, 65535, 3, 6, 0, 80)]
        self.assertEqual(b''.join(map(key.pack, rows)),
                         key.pack_fields([f for row in rows for f in row]))
        self.assertRaises(ValueError, key.pack_fields, [32, 1, 2])
