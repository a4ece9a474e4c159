"""The rules as the pinned maps hold them, and writing a new set as a diff.

Rules are keyed (src, dst, proto, low, high) with proto 0 for every
protocol and low = high = 0 for all ports; a rule in force has an index
(its counters) and an action (the plain int of a layout.Action).

Two places hold them (bpf/maps.h):

- a pair whose only rule is one for every protocol, the common case, is
  one entry of ``pairs``: (src, dst) -> (action, index). The classifier
  looks there first;
- every other pair's rules are rows of ``rules`` (index -> rule), compiled
  (compile.py) into ``protocols`` entries, one per (pair, protocol), and
  for a protocol with many port rules into ``policy`` trie entries.

Every change writes new entries before it deletes old ones, in an order
where each moment's maps give a packet the old or the new verdict: trie
entries before the protocols entries that send packets there, and a
pair's entry for every protocol deleted before its entries for one. A
pair moving from ``pairs`` to ``protocols`` gets its protocols entries
first, which the ``pairs`` entry hides until it is deleted; one moving the
other way gets its ``pairs`` entry first. A process killed in between
leaves a pair in both maps; the next write compiles such a pair again
whatever changed.
"""

import collections
import errno
import functools
import itertools
import operator
import typing

from magnum_iovisor.dataplane import compile as compiler
from magnum_iovisor.dataplane import libbpf


_PAIR = operator.itemgetter(0, 1)
_PROTO = operator.itemgetter(2)
_FIRST = operator.itemgetter(0)
_INDEX = operator.itemgetter(6)            # of compile.py's rule tuples
_SECOND = operator.itemgetter(1)


class MapFull(libbpf.BpfError):
    """A change that does not fit the pinned maps; nothing was written."""


class InForce(typing.NamedTuple):
    rows: dict       # {rule key: (index, action)} of the rules map
    pairs: dict      # {(src, dst): (action, index)} of the pairs map

    def installed(self):
        """{rule key: (index, action)} of every rule in force."""
        installed = dict(self.rows)
        installed.update(((src, dst, 0, 0, 0), (index, action))
                         for (src, dst), (action, index)
                         in self.pairs.items())
        return installed

    def torn(self):
        """Pairs in both maps: a write that did not finish."""
        if not self.pairs:
            return set()
        return {k[:2] for k in self.rows} & self.pairs.keys()


def read(maps):
    """The InForce of ``maps`` (name -> pinned.PinnedMap)."""
    return InForce(
        {(src, dst, proto, low, high): (index, action)
         for (index,), (src, dst, action, proto, low, high, _)
         in maps['rules'].items(plain=True)},
        dict(maps['pairs'].items(plain=True)))


def plan(maps, in_force, wanted):
    """The write that makes the maps hold ``wanted`` ({rule key: action}).

    None when they hold it already. Its ``run()`` writes all or nothing;
    ``changed`` and ``removed`` are the keys it writes and removes.
    Counters of kept rules are kept; a new rule's counters start at zero.
    """
    installed = in_force.installed()
    capacity = maps['rules'].max_entries
    if len(wanted) > capacity:
        extra = sorted(wanted)[capacity]
        raise MapFull(28, 'policy: %d rules, the maps hold %d '
                          '([dataplane] rules_max); rule %s>%s does not '
                          'fit; nothing changed'
                      % (len(wanted), capacity, extra[0], extra[1]))
    absent = (None, None)
    changed = sorted(k for k, a in wanted.items()
                     if installed.get(k, absent)[1] != a
                     ) if installed else list(wanted)
    removed = sorted(installed.keys() - wanted.keys())
    torn = in_force.torn()
    if not (changed or removed or torn):
        return None
    return _Write(maps, in_force, installed, wanted, changed, removed, torn)


class _Write:
    def __init__(self, maps, in_force, installed, wanted, changed, removed,
                 torn):
        self.maps, self.in_force, self.torn = maps, in_force, torn
        self.wanted = wanted
        self.changed, self.removed = changed, removed
        if installed:
            taken = {index for index, _ in installed.values()}
            born = [k for k in changed if k not in installed]
            free = itertools.filterfalse(taken.__contains__,
                                         range(maps['rules'].max_entries))
            index = {k: i for k, (i, _) in installed.items()}
            index.update(zip(born, free))
            self.born = [index[k] for k in born]
            # only the pairs a change touches are written again
            self.touched = ({k[:2] for k in changed}
                            | {k[:2] for k in removed} | torn)
            new = [k for k in wanted if k[:2] in self.touched]
            indexes = list(map(index.__getitem__, new))
        else:
            self.touched = None
            new = list(wanted)
            indexes = self.born = list(range(len(new)))
        # whole columns through map() and compress(): 100,000 rules in a
        # few milliseconds each, where a loop of statements takes 0.1 s
        actions = list(map(wanted.__getitem__, new))
        pair_of = list(map(_PAIR, new))
        per_pair = collections.Counter(pair_of)
        protos = map(_PROTO, new)
        if len(per_pair) == len(new):
            single = list(map(operator.not_, protos))
        else:
            single = [count == 1 and not proto for count, proto
                      in zip(map(per_pair.__getitem__, pair_of), protos)]
        self.singles = tuple(list(itertools.compress(column, single))
                             for column in (pair_of, actions, indexes))
        in_maps = list(map(operator.not_, single))
        self.compiled = list(zip(*(itertools.compress(column, in_maps)
                                   for column in (new, actions, indexes))))

    @functools.cached_property
    def single(self):
        """{pair: (action, index)} the pairs map is to hold."""
        pairs, actions, indexes = self.singles
        return dict(zip(pairs, zip(actions, indexes)))

    def _touched(self, pair):
        return self.touched is None or pair in self.touched

    def run(self):
        maps, rows, pairs = self.maps, self.in_force.rows, self.in_force.pairs
        pairs_map, rules_map = maps['pairs'], maps['rules']
        targets = (maps['protocols'], maps['policy'])   # as compile.Packed
        # compile.py's rule tuples, which also make the rows of rules
        compiled = [(*k[:2], a, *k[2:], i) for k, a, i in self.compiled]
        fresh = compiler.packed(compiled)
        if self.touched is not None:
            stale = compiler.packed([(*k[:2], a, *k[2:], i)
                                     for k, (i, a) in rows.items()
                                     if k[:2] in self.touched])
            old = [_entries(m, packed) for m, packed in zip(targets, stale)]
            changes = [_changes(o, _entries(m, packed))
                       for m, o, packed in zip(targets, old, fresh)]
        else:
            old, changes = [{}, {}], [(packed, b'') for packed in fresh]
        (protocol_writes, protocol_deletes), (trie_writes, trie_deletes) = (
            changes)
        if pairs:
            pair_writes = [(pair, value)
                           for pair, value in self.single.items()
                           if pairs.get(pair) != value]
            pair_keys = list(itertools.chain.from_iterable(
                map(_FIRST, pair_writes)))
            pair_values = list(itertools.chain.from_iterable(
                map(_SECOND, pair_writes)))
        else:
            keys, actions, indexes = self.singles
            pair_keys = list(itertools.chain.from_iterable(keys))
            pair_values = _interleaved(actions, indexes)
        pair_deletes = [pair for pair in pairs
                        if pair not in self.single and self._touched(pair)]
        row_writes = [rule for rule, (k, a, i) in zip(compiled,
                                                      self.compiled)
                      if rows.get(k) != (i, a)] if rows else compiled
        row_deletes = [i for k, (i, _) in rows.items()
                       if self._touched(k[:2])
                       and (k not in self.wanted or k[:2] in self.single)]
        try:
            counters = maps['counters']
            counters.zero_packed(counters.key.pack_fields(self.born))
            # the trie first: a protocols entry sends packets there
            maps['policy'].set_packed(*trie_writes)
            maps['protocols'].set_packed(*protocol_writes)
            rules_map.set_packed(
                rules_map.key.pack_fields(list(map(_INDEX, row_writes))),
                rules_map.value.pack_fields(list(itertools.chain.from_iterable(
                    map(_rule_def, row_writes)))))
            pairs_map.set_packed(pairs_map.key.pack_fields(pair_keys),
                                 pairs_map.value.pack_fields(pair_values))
            # only now the old entries: each moment gives old or new
            self._delete(maps['protocols'], protocol_deletes)
            self._delete(maps['policy'], trie_deletes)
            pairs_map.delete_many(pair_deletes)
            rules_map.delete_many([(i,) for i in row_deletes])
        except libbpf.BpfError as exc:
            for target, entries, (writes, _) in zip(targets, old, changes):
                _put_back(target, entries, writes[0])
            self._restore()
            if exc.errno in (errno.E2BIG, errno.ENOSPC):
                raise MapFull(exc.errno, 'policy: %s: the compiled policy '
                              'does not fit the maps ([dataplane] '
                              'rules_max, policy_entries_max); nothing '
                              'changed' % exc.strerror)
            raise

    def _delete(self, compiled_map, keys):
        if not self.torn:
            compiled_map.delete_packed(keys)
            return
        # a torn write may have deleted some already
        for key in compiled_map.key.split(keys):
            libbpf.delete(compiled_map.fd, key)

    def _restore(self):
        """Put back the rules and pairs as they were."""
        pairs_map, pairs = self.maps['pairs'], self.in_force.pairs
        for pair, _ in pairs_map.items(plain=True):
            if pair not in pairs:
                pairs_map.delete(pair)
        for pair, value in pairs.items():
            pairs_map.set(pair, value)
        rules_map, rows = self.maps['rules'], self.in_force.rows
        kept = {i for i, _ in rows.values()}
        for (index,), _ in rules_map.items(plain=True):
            if index not in kept:
                rules_map.delete((index,))
        for (src, dst, proto, low, high), (index, action) in rows.items():
            rules_map.set((index,), (src, dst, action, proto, low, high, 0))


def _entries(compiled_map, packed):
    """{packed key: packed value} of (keys, values) packed back to back."""
    keys, values = packed
    return dict(zip(compiled_map.key.split(keys),
                    compiled_map.value.split(values)))


def _changes(old, fresh):
    """((keys, values) to write, keys to delete), packed, from old to fresh.

    Keys to delete come sorted: a pair's protocols entry for every protocol
    (src, dst, 0), its lowest key, before its entries for one protocol,
    which hold its verdicts too and so give the old verdict until they go.
    """
    changed = [(k, v) for k, v in fresh.items() if old.get(k) != v]
    return ((b''.join(map(_FIRST, changed)), b''.join(map(_SECOND, changed))),
            b''.join(sorted(k for k in old if k not in fresh)))


def _put_back(compiled_map, old, written):
    """After a failed write, ``old`` in place of the packed keys ``written``.

    ``old``: {packed key: packed value} as the map held them before.
    """
    for key in compiled_map.key.split(written):
        if key not in old:
            libbpf.delete(compiled_map.fd, key)
    for key, value in old.items():
        libbpf.update(compiled_map.fd, key, value)


def _rule_def(rule):
    """A layout.RuleDef's fields from compile.py's rule tuple."""
    return (*rule[:6], 0)


def _interleaved(first, second):
    """[first[0], second[0], first[1], ...]: two columns as flat fields."""
    flat = [0] * (len(first) * 2)
    flat[0::2] = first
    flat[1::2] = second
    return flat
