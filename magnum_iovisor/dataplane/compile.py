"""Compile rules into the entries of the protocols hash (bpf/maps.h).

A pair's rules become one entry per protocol they name, keyed (src group,
dst group, protocol), and one keyed protocol 0 for its rule for every
protocol. An entry holds the verdicts resolved here, with the contract's
precedence:

- if any deny rule matches, the packet is dropped; else if any allow rule
  matches, it passes; else no verdict (default deny);
- the rule counted is the most specific matching rule of the winning
  action: a narrower port range first, then protocol-only, then any.

The port rules of a protocol resolve into disjoint runs of ports, each
with one verdict (adjacent runs of one verdict merged); every other port
gets the ``rest`` verdict of the protocol-only and every-protocol rules. A
protocol with more runs than an entry holds (layout.PORT_RUNS_MAX) is
marked IN_TRIE, and its runs go into the policy LPM trie instead: an entry
(src, dst, proto) [prefix 40 bits] for the rest and one per aligned
power-of-two block of each run [48 + n]; its longest match is the verdict.

Rules are plain tuples here: (src, dst, action, proto, low, high, index)
with proto 0 for every protocol and low = high = 0 for all ports.
"""

import collections
import ctypes
import functools
import itertools
import socket
import struct
import typing

from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import pinned

PROTO_BITS = 40
PORT_BITS = 48
ALLOW = layout.Action.ALLOW
DENY = layout.Action.DENY
RUNS_MAX = layout.PORT_RUNS_MAX
NO_REST = int(layout.ProtocolFlag.NO_REST)
IN_TRIE = int(layout.ProtocolFlag.IN_TRIE)

_PROTOCOL_KEY = pinned.Codec(layout.ProtocolKey)
_TRIE_KEY = pinned.Codec(layout.PolicyKey)
_VERDICT = pinned.Codec(layout.Verdict)
# a protocols value as flat fields (bpf/maps.h through layout.py), its
# unused runs as padding; rows repeat unpadded, as a struct's size is a
# multiple of its alignment
_PROTOCOL_HEAD = pinned.flat_format(layout.ProtocolPolicy, without=('run',))
_RUN = pinned.flat_format(layout.PortRun)
_UNUSED_RUN = '%dx' % struct.calcsize(_RUN)
if struct.calcsize('@' + _PROTOCOL_HEAD + _RUN * RUNS_MAX) != ctypes.sizeof(
        layout.ProtocolPolicy):
    raise TypeError('compile.py: the runs are not the last field of '
                    'layout.ProtocolPolicy, or are padded')


class Entry(typing.NamedTuple):
    """A protocols entry: rest verdict or None, runs, flags."""
    rest: typing.Optional[tuple]      # (action, rule), None: no rule
    runs: tuple                       # ((low, high, (action, rule)), ...)
    flags: int


class Packed(typing.NamedTuple):
    """(keys, values) of each map, packed back to back as it takes them."""
    protocols: tuple
    trie: tuple


def _specificity(rule):
    """Smaller is more specific."""
    _, _, _, proto, low, high, index = rule
    if low:
        return (0, high - low, index)
    return (1 if proto else 2, 0, index)


def resolve(rules):
    """(action, counted rule index) for packets matched by all ``rules``."""
    denies = [r for r in rules if r[2] == DENY]
    winners = denies or rules
    return (DENY if denies else ALLOW,
            min(winners, key=_specificity)[6])


def port_blocks(low, high):
    """Aligned (start, bits) blocks covering low..high exactly."""
    while low <= high:
        size = low & -low or 1 << 16
        while size > high - low + 1:
            size >>= 1
        yield low, size.bit_length() - 1
        low += size


def port_runs(level, ranged):
    """[(low, high, verdict)] of the ports that ``ranged`` rules match.

    ``level``: the protocol-only and every-protocol rules, which match
    those ports too. Disjoint, ascending, equal neighbours merged.
    """
    cuts = sorted({r[4] for r in ranged} | {r[5] + 1 for r in ranged})
    runs = []
    for low, nxt in zip(cuts, cuts[1:]):
        high = nxt - 1
        covering = [r for r in ranged if r[4] <= low and high <= r[5]]
        if not covering:
            continue
        verdict = resolve(level + covering)
        if runs and runs[-1][1] + 1 == low and runs[-1][2] == verdict:
            runs[-1] = (runs[-1][0], high, verdict)
        else:
            runs.append((low, high, verdict))
    return runs


def pair_entries(src, dst, rules):
    """({(src, dst, proto): Entry}, [(trie key, verdict)]) of a pair."""
    anyproto = [r for r in rules if not r[3]]
    entries, trie = {}, []
    if anyproto:
        entries[src, dst, 0] = Entry(resolve(anyproto), (), 0)
    for proto in sorted({r[3] for r in rules if r[3]}):
        level = anyproto + [r for r in rules if r[3] == proto and not r[4]]
        rest = resolve(level) if level else None
        runs = port_runs(level, [r for r in rules if r[3] == proto and r[4]])
        flags = 0 if rest else NO_REST
        if len(runs) > RUNS_MAX:
            flags |= IN_TRIE
            if rest:
                trie.append(((PROTO_BITS, src, dst, proto, 0, 0), rest))
            trie.extend(((prefixlen, src, dst, proto, 0, port), verdict)
                        for low, high, verdict in runs
                        for prefixlen, port in _port_prefixes(low, high))
            runs = []
        entries[src, dst, proto] = Entry(rest, tuple(runs), flags)
    return entries, trie


def entries(rules):
    """{pair: ({key: Entry}, trie entries)} for every rule."""
    by_pair = collections.defaultdict(list)
    for rule in rules:
        by_pair[rule[:2]].append(rule)
    return {pair: pair_entries(pair[0], pair[1], group)
            for pair, group in by_pair.items()}


def packed(rules):
    """``entries(rules)`` packed the way the maps take them: a Packed.

    A pair with one rule, the common case, is packed without its entry
    being built first, its fields going into flat lists and one ``struct``
    call per kind of entry.
    """
    by_pair = collections.defaultdict(list)
    for rule in rules:
        by_pair[rule[0], rule[1]].append(rule)
    if len(by_pair) == len(rules):
        singles, groups = rules, ()
    else:
        singles = [g[0] for g in by_pair.values() if len(g) == 1]
        groups = [g for g in by_pair.values() if len(g) > 1]
    rests, ported = [], []      # a rule's entry: rest only, or one run
    for rule in singles:
        (ported if rule[4] else rests).append(rule)
    keys = [f for r in itertools.chain(rests, ported) for f in r[:2] + r[3:4]]
    values = [_pack_rows(_PROTOCOL_HEAD + _UNUSED_RUN * RUNS_MAX,
                         [f for src, dst, action, proto, low, high, index
                          in rests for f in (action, index, 0, 0, 0)], 5),
              _pack_rows(_PROTOCOL_HEAD + _RUN + _UNUSED_RUN * (RUNS_MAX - 1),
                         [f for src, dst, action, proto, low, high, index
                          in ported
                          for f in (0, 0, 1, NO_REST, 0, low, high, action,
                                    index)], 9)]
    trie_keys, trie_verdicts = [], []
    for group in groups:
        found, trie = pair_entries(group[0][0], group[0][1], group)
        for key, entry in found.items():
            keys.extend(key)
            values.append(_pack_entry(entry))
        for key, verdict in trie:
            trie_keys.extend(key)
            trie_verdicts.extend(verdict)
    return Packed((_PROTOCOL_KEY.pack_fields(keys), b''.join(values)),
                  (_TRIE_KEY.pack_fields(trie_keys),
                   _VERDICT.pack_fields(trie_verdicts)))


def _pack_rows(row, fields, per_row):
    """Value rows of ``per_row`` fields each, given as one flat list."""
    return struct.pack('@' + row * (len(fields) // per_row), *fields)


def _pack_entry(entry):
    fields = [*(entry.rest or (0, 0)), len(entry.runs), entry.flags, 0]
    for low, high, verdict in entry.runs:
        fields.extend((low, high, *verdict))
    unused = RUNS_MAX - len(entry.runs)
    return struct.pack('@' + _PROTOCOL_HEAD + _RUN * len(entry.runs)
                       + _UNUSED_RUN * unused, *fields)


@functools.lru_cache(maxsize=4096)
def _port_prefixes(low, high):
    """((prefixlen, port in network order)) of a range's blocks.

    Cached: policies name the same few ranges over and over.
    """
    return tuple((PORT_BITS + 16 - bits, socket.htons(start))
                 for start, bits in port_blocks(low, high))
