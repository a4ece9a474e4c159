"""Compile rules into the entries of the policy LPM trie (bpf/maps.h).

The classifier makes one longest-prefix lookup on (src group, dst group,
protocol, destination port). Entries are (src, dst) [prefix 32 bits] for
rules of every protocol, + protocol [40] for protocol-only rules, + a port
block [48 + n] for port ranges (a range is cut into aligned power-of-two
blocks). Each entry holds the verdict resolved here for the packets whose
longest match it is, with the contract's precedence:

- if any deny rule matches, the packet is dropped; else if any allow rule
  matches, it passes; else no entry (default deny);
- the rule counted is the most specific matching rule of the winning
  action: a narrower port range first, then protocol-only, then any.

Rules are plain tuples here: (src, dst, action, proto, low, high, index)
with proto 0 for every protocol and low = high = 0 for all ports.
"""

import collections
import functools
import socket

from magnum_iovisor.dataplane import layout

PAIR_BITS = 32
PROTO_BITS = 40
PORT_BITS = 48
ALLOW = layout.Action.ALLOW
DENY = layout.Action.DENY


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


def _key(src, dst, proto, port, prefixlen):
    return (prefixlen, src, dst, proto, 0, socket.htons(port))


def pair_entries(src, dst, rules):
    """[(key, (action, rule))] for one (src, dst) pair's rules."""
    anyproto = [r for r in rules if not r[3]]
    entries = []
    if anyproto:
        entries.append((_key(src, dst, 0, 0, PAIR_BITS), resolve(anyproto)))
    for proto in sorted({r[3] for r in rules if r[3]}):
        level = anyproto + [r for r in rules if r[3] == proto and not r[4]]
        if level:
            entries.append((_key(src, dst, proto, 0, PROTO_BITS),
                            resolve(level)))
        ranged = [r for r in rules if r[3] == proto and r[4]]
        if not ranged:
            continue
        cuts = sorted({r[4] for r in ranged} | {r[5] + 1 for r in ranged})
        runs = []          # [low, high, verdict] merged when equal
        for low, nxt in zip(cuts, cuts[1:]):
            high = nxt - 1
            covering = [r for r in ranged if r[4] <= low and high <= r[5]]
            if not covering:
                continue
            verdict = resolve(level + covering)
            if runs and runs[-1][1] + 1 == low and runs[-1][2] == verdict:
                runs[-1][1] = high
            else:
                runs.append([low, high, verdict])
        for low, high, verdict in runs:
            for start, bits in port_blocks(low, high):
                entries.append((_key(src, dst, proto, start,
                                     PORT_BITS + 16 - bits), verdict))
    return entries


def entries(rules):
    """{pair: [(key, (action, rule))]} for every rule."""
    by_pair = collections.defaultdict(list)
    for rule in rules:
        by_pair[rule[:2]].append(rule)
    return {pair: (single(group[0]) if len(group) == 1
                   else pair_entries(pair[0], pair[1], group))
            for pair, group in by_pair.items()}


def packed(rules, key, verdict):
    """``entries(rules)`` packed the way the map takes them.

    Returns (keys, verdicts): each entry's packed back to back, in the same
    order.

    ``key`` and ``verdict`` are the policy map's pinned.Codec of each.
    Pairs with one rule, the common case, are packed without their entries
    being built as tuples first; the fields of every entry go into one
    flat list and one ``struct`` call.
    """
    keys, verdicts = [], []
    put_key, put_verdict = keys.extend, verdicts.extend
    if len({(r[0], r[1]) for r in rules}) == len(rules):
        singles = rules
    else:
        by_pair = collections.defaultdict(list)
        for rule in rules:
            by_pair[rule[0], rule[1]].append(rule)
        singles = [group[0] for group in by_pair.values() if len(group) == 1]
        for (src, dst), group in by_pair.items():
            if len(group) > 1:
                for entry, value in pair_entries(src, dst, group):
                    put_key(entry)
                    put_verdict(value)
    for src, dst, action, proto, low, high, index in singles:
        if not low:
            put_key((PROTO_BITS if proto else PAIR_BITS, src, dst, proto, 0,
                     0))
            put_verdict((action, index))
            continue
        for prefixlen, port in _port_prefixes(low, high):
            put_key((prefixlen, src, dst, proto, 0, port))
            put_verdict((action, index))
    return key.pack_fields(keys), verdict.pack_fields(verdicts)


@functools.lru_cache(maxsize=4096)
def _port_prefixes(low, high):
    """((prefixlen, port in network order)) of a range's blocks.

    Cached: policies name the same few ranges over and over.
    """
    return tuple((PORT_BITS + 16 - bits, socket.htons(start))
                 for start, bits in port_blocks(low, high))


def single(rule):
    """pair_entries of a pair that has only ``rule`` (the common case)."""
    src, dst, action, proto, low, high, index = rule
    verdict = (action, index)
    if not proto:
        return [((PAIR_BITS, src, dst, 0, 0, 0), verdict)]
    if not low:
        return [((PROTO_BITS, src, dst, proto, 0, 0), verdict)]
    return [((prefixlen, src, dst, proto, 0, port), verdict)
            for prefixlen, port in _port_prefixes(low, high)]
