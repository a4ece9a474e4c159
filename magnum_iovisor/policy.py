"""The policy model: rules between groups, their formats, and diffs.

A policy is a set of directed rules ``(src group, dst group) -> action``.
Pairs without a rule are denied. Three interchangeable formats:

JSON / YAML::

    {"rules": [{"src": 100, "dst": 0}, {"src": 100, "dst": 200,
                                         "action": "deny"}]}

Text, safe inside a Magnum label (no commas, no ``=``); rules separated by
whitespace or ``;``, ``#`` starts a comment::

    100>0 0>100 100<>200 300>100:deny

``A>B`` allows A to B, ``A<>B`` allows both directions, a ``:deny`` or
``:allow`` suffix sets the action (default allow).

This module does no I/O.
"""

import enum
import json
import re
import typing

import yaml

GROUP_MIN = 0
GROUP_MAX = 65535
FORMATS = ('text', 'json', 'yaml')


class Action(str, enum.Enum):
    ALLOW = 'allow'
    DENY = 'deny'


class PolicyError(ValueError):
    """A policy document that cannot be used; names the bad item."""


class Rule(typing.NamedTuple):
    src: int
    dst: int
    action: Action = Action.ALLOW

    @property
    def pair(self):
        return (self.src, self.dst)


def check_group(value, where):
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError('%s: group %r is not an integer' % (where, value))
    if not GROUP_MIN <= value <= GROUP_MAX:
        raise PolicyError('%s: group %d out of range %d..%d'
                          % (where, value, GROUP_MIN, GROUP_MAX))
    return value


_ACTIONS = {a.value: a for a in Action}   # str Enum: members hash alike


def check_action(value, where):
    try:
        return _ACTIONS[value]
    except (KeyError, TypeError):
        raise PolicyError('%s: action %r is not one of %s'
                          % (where, value, ', '.join(a.value for a in Action)))


class Policy:
    """An immutable, validated set of rules keyed by (src, dst) pair."""

    def __init__(self, rules=()):
        self._actions = _collect([(r.src, r.dst, r.action) for r in rules],
                                 lambda i: 'rule %d' % (i + 1))

    @classmethod
    def from_actions(cls, actions):
        """From an already valid {(src, dst): Action} mapping."""
        policy = cls()
        policy._actions = dict(actions)
        return policy

    @property
    def rules(self):
        return [Rule(s, d, a) for (s, d), a in sorted(self._actions.items())]

    def action(self, src, dst):
        return self._actions.get((src, dst))

    def __len__(self):
        return len(self._actions)

    def __eq__(self, other):
        return isinstance(other, Policy) and self._actions == other._actions

    def __repr__(self):
        return 'Policy(%s)' % format_text(self)

    def diff(self, current):
        """What turns ``current`` into this policy.

        Returns ``(upserts, removals)``: rules to write (new pairs and
        changed actions) and pairs to delete.
        """
        old = current._actions
        upserts = [Rule(s, d, a) for (s, d), a in sorted(self._actions.items())
                   if old.get((s, d)) != a]
        removals = sorted(old.keys() - self._actions.keys())
        return upserts, removals


def _collect(rules, label):
    """Validate (src, dst, action) tuples into a {pair: Action} mapping.

    ``rules`` is a list; ``label(i)`` names rule ``i`` (0-based) in error
    messages, and is only called on an error.
    """
    actions = {}
    for index, (src, dst, name) in enumerate(rules):
        action = _ACTIONS.get(name) if isinstance(name, str) else None
        if (action is None or type(src) is not int or type(dst) is not int
                or not GROUP_MIN <= src <= GROUP_MAX
                or not GROUP_MIN <= dst <= GROUP_MAX):
            where = label(index)
            check_group(src, where)
            check_group(dst, where)
            check_action(name, where)
        known = actions.setdefault((src, dst), action)
        if known is not action:
            first = next(i for i, r in enumerate(rules) if r[:2] == (src, dst))
            raise PolicyError('%s: %d>%d is %s here but %s in %s'
                              % (label(index), src, dst, action.value,
                                 known.value, label(first)))
    return actions


# -- reading -----------------------------------------------------------------

_TEXT_RULE = re.compile(r'^(\d+)(<>|>)(\d+)(?::(\w+))?$')


def parse_text(text):
    tokens = [token
              for line in text.splitlines()
              for token in re.split(r'[\s;]+', line.split('#', 1)[0])
              if token]
    rules, origin = [], []
    for number, token in enumerate(tokens):
        match = _TEXT_RULE.match(token)
        if not match:
            raise PolicyError(
                'rule %d (%r): expected SRC>DST or SRC<>DST with an optional '
                ':allow or :deny' % (number + 1, token))
        src, both, dst, action = match.groups()
        src, dst, action = int(src), int(dst), action or Action.ALLOW.value
        rules.append((src, dst, action))
        origin.append(number)
        if both == '<>':
            rules.append((dst, src, action))
            origin.append(number)

    def label(index):
        number = origin[index]
        return 'rule %d (%r)' % (number + 1, tokens[number])
    return Policy.from_actions(_collect(rules, label))


def _from_document(doc):
    if isinstance(doc, dict):
        unknown = set(doc) - {'rules'}
        if unknown:
            raise PolicyError('policy: unknown key(s) %s; expected "rules"'
                              % ', '.join(sorted(map(str, unknown))))
        doc = doc.get('rules', [])
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        raise PolicyError('policy: "rules" must be a list, not %s'
                          % type(doc).__name__)
    rules = []
    for number, item in enumerate(doc, 1):
        where = 'rule %d' % number
        if not isinstance(item, dict):
            raise PolicyError('%s: expected a mapping with src and dst, '
                              'got %r' % (where, item))
        unknown = set(item) - {'src', 'dst', 'action'}
        if unknown:
            raise PolicyError('%s: unknown key(s) %s' % (
                where, ', '.join(sorted(map(str, unknown)))))
        for key in ('src', 'dst'):
            if key not in item:
                raise PolicyError('%s: missing %r' % (where, key))
        rules.append((item['src'], item['dst'],
                      item.get('action', Action.ALLOW.value)))
    return Policy.from_actions(_collect(rules,
                                        lambda i: 'rule %d' % (i + 1)))


def parse_json(text):
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PolicyError('policy: not valid JSON: %s' % exc)
    return _from_document(doc)


def parse_yaml(text):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError('policy: not valid YAML: %s' % exc)
    return _from_document(doc)


def guess_format(text, filename=None):
    if filename:
        lowered = filename.lower()
        if lowered.endswith('.json'):
            return 'json'
        if lowered.endswith(('.yaml', '.yml')):
            return 'yaml'
    stripped = text.lstrip()
    if stripped.startswith(('{', '[')):
        return 'json'
    if re.search(r'^\s*(rules\s*:|-\s)', text, re.MULTILINE):
        return 'yaml'
    return 'text'


def parse(text, fmt=None, filename=None):
    """Parse a policy document; ``fmt`` is one of FORMATS or None to guess."""
    fmt = fmt or guess_format(text, filename)
    parsers = {'text': parse_text, 'json': parse_json, 'yaml': parse_yaml}
    if fmt not in parsers:
        raise PolicyError('unknown policy format %r; use one of %s'
                          % (fmt, ', '.join(FORMATS)))
    return parsers[fmt](text)


# -- writing -----------------------------------------------------------------

def _document(policy):
    return {'rules': [{'src': r.src, 'dst': r.dst, 'action': r.action.value}
                      for r in policy.rules]}


def format_text(policy):
    """Canonical text form; symmetric pairs are written once with ``<>``."""
    tokens = []
    for rule in policy.rules:
        reverse = policy.action(rule.dst, rule.src)
        suffix = '' if rule.action == Action.ALLOW else ':' + rule.action.value
        if rule.src != rule.dst and reverse == rule.action:
            if rule.src < rule.dst:
                tokens.append('%d<>%d%s' % (rule.src, rule.dst, suffix))
            continue
        tokens.append('%d>%d%s' % (rule.src, rule.dst, suffix))
    return ' '.join(tokens)


def format_json(policy):
    return json.dumps(_document(policy), indent=2)


def format_yaml(policy):
    return yaml.safe_dump(_document(policy), default_flow_style=False,
                          sort_keys=False)


def dump(policy, fmt='text'):
    writers = {'text': format_text, 'json': format_json, 'yaml': format_yaml}
    if fmt not in writers:
        raise PolicyError('unknown policy format %r; use one of %s'
                          % (fmt, ', '.join(FORMATS)))
    return writers[fmt](policy)
