"""The compiled policy entries agree with the policy model's precedence.

The classifier's lookup over compile.py's entries (its protocols entry,
the port's run, or for IN_TRIE the longest-prefix match of the trie) must
give, for every packet, the verdict and counted rule that the contract
gives.
"""

import ctypes
import random
import socket
import struct

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


def decide(compiled, src, dst, proto, port):
    """bpf/classifier.c decide() past the pairs map, in Python."""
    found, trie = compiled
    entry = found.get((src, dst, proto))
    if entry is None:
        entry = found.get((src, dst, 0))
        return entry.rest if entry else None
    if entry.flags & compiler.IN_TRIE:
        return lpm(trie, src, dst, proto, port)
    for low, high, verdict in entry.runs:     # bpf/policy.h port_verdict
        if port < low:
            break
        if port <= high:
            return verdict
    return None if entry.flags & compiler.NO_REST else entry.rest


MIXED = (None, 'tcp', 'udp', 'icmp')
LOWS = (1, 20, 22, 80, 443, 1000, 8000, 65535)


def random_rules(rng, count, protocols=MIXED, lows=LOWS):
    rules = {}
    for _ in range(count):
        protocol = rng.choice(protocols)
        ports = None
        if protocol in ('tcp', 'udp') and rng.random() < 0.7:
            low = rng.choice(lows)
            low = min(65535, low + rng.randrange(3))
            ports = (low, min(65535, low + rng.choice([0, 0, 5, 100, 3000])))
        action = rng.choice(list(ACTIONS))
        rule = policy.Rule(1, 2, action, protocol, ports)
        rules[rule.key] = rule
    return list(rules.values())


def plain(rules, src=1, dst=2, first=0):
    return [(src, dst, ACTIONS[r.action], PROTOS[r.protocol],
             *(r.ports or (0, 0)), first + index)
            for index, r in enumerate(rules)]


def compiled(rules):
    return compiler.entries(plain(rules))[1, 2]


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
        in_trie = in_runs = 0
        for _ in range(300):
            # many port rules of one protocol, now and then: more runs
            # than an entry holds
            rules = (random_rules(rng, rng.randint(1, 16)) if rng.random()
                     < 0.7 else random_rules(rng, rng.randint(12, 24),
                                             ('tcp', 'tcp', 'tcp', None),
                                             range(1, 4000, 97)))
            entries = compiled(rules)
            flags = [e.flags for e in entries[0].values()]
            in_trie += any(f & compiler.IN_TRIE for f in flags)
            in_runs += any(not f & compiler.IN_TRIE for f in flags)
            ports = {0, 1, 65535} | {p for r in rules if r.ports
                                     for q in r.ports
                                     for p in (q - 1, q, q + 1)}
            for proto in (6, 17, 1, 47):
                for port in sorted(p for p in ports if 0 <= p <= 65535):
                    if proto not in (6, 17):
                        port = 0
                    self.assertEqual(expected(rules, proto, port),
                                     decide(entries, 1, 2, proto, port),
                                     (rules, proto, port))
        # both ways the classifier decides were checked, many times
        self.assertGreater(in_trie, 20)
        self.assertGreater(in_runs, 200)

    def test_runs_are_disjoint_and_ascending(self):
        # port_verdict stops at the first run above the port
        rng = random.Random(4)
        for _ in range(300):
            for entry in compiled(random_rules(rng, rng.randint(1, 8)))[
                    0].values():
                for (low, high, _), after in zip(
                        entry.runs, entry.runs[1:] + ((65536,) * 3,)):
                    self.assertLessEqual(low, high, entry)
                    self.assertLess(high, after[0], entry)

    def test_a_protocol_with_more_runs_than_an_entry_holds_is_in_trie(self):
        ports = [policy.Rule(1, 2, policy.Action.ALLOW, 'tcp', (p, p))
                 for p in range(10, 12 + 2 * compiler.RUNS_MAX, 2)]
        found, trie = compiled(ports)
        self.assertEqual({(1, 2, 6): compiler.Entry(
            None, (), compiler.NO_REST | compiler.IN_TRIE)}, found)
        self.assertEqual(compiler.RUNS_MAX + 1, len(trie))
        found, trie = compiled(ports[1:])        # one run fewer: it fits
        self.assertEqual(compiler.RUNS_MAX, len(found[1, 2, 6].runs))
        self.assertEqual([], trie)

    def test_a_deny_on_one_port_beats_an_allow_on_all(self):
        rules = [policy.Rule(1, 2), policy.Rule(1, 2, policy.Action.DENY,
                                                'tcp', (22, 22))]
        entries = compiled(rules)
        self.assertEqual((layout.Action.DENY, 1),
                         decide(entries, 1, 2, 6, 22))
        self.assertEqual((layout.Action.ALLOW, 0),
                         decide(entries, 1, 2, 6, 23))
        self.assertEqual((layout.Action.ALLOW, 0),
                         decide(entries, 1, 2, 17, 22))
        self.assertIsNone(decide(entries, 2, 1, 6, 23))

    def test_packed_entries_are_the_entries(self):
        key, value = (pinned.Codec(layout.ProtocolKey),
                      pinned.Codec(layout.ProtocolPolicy))
        trie_key = pinned.Codec(layout.PolicyKey)
        verdict = pinned.Codec(layout.Verdict)
        rng = random.Random(3)
        for round_ in range(40):
            rules = []
            # pairs with one rule (packed on their own) and with several
            for pair in range(rng.randint(1, 8)):
                rules += plain(random_rules(rng, rng.choice([1, 1, 2, 5, 14])),
                               1 + pair, 2 + round_, len(rules))
            want = ([], [])
            for found, trie in compiler.entries(rules).values():
                want[0].extend((key.pack(k), bytes(as_struct(e)))
                               for k, e in found.items())
                want[1].extend((trie_key.pack(k), verdict.pack(v))
                               for k, v in trie)
            got = compiler.packed(rules)
            for codecs, expect, (keys, values) in zip(
                    ((key, value), (trie_key, verdict)), want, got):
                pairs = list(zip(codecs[0].split(keys),
                                 codecs[1].split(values)))
                self.assertEqual(sorted(expect), sorted(pairs), rules)
                self.assertEqual(len(pairs), len(dict(pairs)), 'a key twice')

    def test_fields_pack_as_rows(self):
        for ctype, rows in ((layout.PolicyKey, [(32, 1, 2, 0, 0, 0),
                                                (64, 65535, 3, 6, 0, 80)]),
                            (layout.Pair, [(1, 2), (65535, 0)])):
            codec = pinned.Codec(ctype)
            self.assertEqual(b''.join(map(codec.pack, rows)),
                             codec.pack_fields([f for row in rows
                                                for f in row]))
            self.assertRaises(ValueError, codec.pack_fields, [32, 1, 2])


class FlatFormatTest(testtools.TestCase):
    def test_nested_structs_are_spelled_out_in_place(self):
        self.assertEqual('II' + 'HHI' + 'HHII' * layout.PORT_RUNS_MAX,
                         pinned.flat_format(layout.ProtocolPolicy))
        self.assertEqual('IIHHI', pinned.flat_format(
            layout.ProtocolPolicy, without=('run',)))
        # arrays of scalars stay bytes, as the codecs read them
        self.assertEqual('16s16sHHB3s', pinned.flat_format(layout.Flow))
        for ctype in (layout.ProtocolPolicy, layout.Flow, layout.PolicyKey):
            self.assertEqual(ctypes.sizeof(ctype), struct.calcsize(
                '@' + pinned.flat_format(ctype)), ctype)


def as_struct(entry):
    """An Entry as the C struct, built through ctypes (not compile.py)."""
    value = layout.ProtocolPolicy()
    value.rest.action, value.rest.rule = entry.rest or (0, 0)
    value.runs, value.flags = len(entry.runs), entry.flags
    for run, (low, high, (action, rule)) in zip(value.run, entry.runs):
        run.low, run.high = low, high
        run.verdict.action, run.verdict.rule = action, rule
    return value
