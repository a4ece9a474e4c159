"""The policy model: rules between groups, their formats, diffs, precedence.

A policy is a set of directed rules. A rule names a source group, a
destination group, optionally a protocol and destination ports, and an
action. Three interchangeable formats:

JSON / YAML::

    {"rules": [{"src": 100, "dst": "world"},
               {"src": 9, "dst": 2047, "protocol": "tcp", "ports": "7070"},
               {"src": 9, "dst": 2047, "protocol": "tcp", "ports": "22",
                "action": "deny"}]}

Text, safe inside a Magnum label (no commas, no ``=``); rules separated by
whitespace or ``;``, ``#`` starts a comment::

    100>world 9>2047:tcp/7070 9>2047:tcp/8000-8080 9>2047:udp/53
    9>2047:icmp 9>2047:tcp/22:deny 100<>200

``SRC>DST[:PROTO[/PORT[-PORT]]][:deny|:allow]``: ``<>`` means both
directions, the action defaults to allow. Groups are numbers or the names
of the reserved groups (``RESERVED``), and are written back by name.

Precedence (``Policy.decide``): a packet matched by any deny rule is
dropped, whatever allows match it too; otherwise one matched by an allow
passes; otherwise it is denied by default. The rule counted is the most
specific matching rule of the winning action: a port range (narrowest
first, then lowest first), then a protocol without ports, then a rule for
every protocol.

This module does no I/O.
"""

import difflib
import enum
import json
import operator
import re
import typing

import yaml

GROUP_MIN = 0
GROUP_MAX = 65535
PORT_MIN = 1
PORT_MAX = 65535
FORMATS = ('text', 'json', 'yaml')

PROTOCOLS = {'tcp': 6, 'udp': 17, 'icmp': 1, 'icmpv6': 58}
PORT_PROTOCOLS = frozenset(('tcp', 'udp'))
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}

RESERVED = {'world': 0, 'host': 65535, 'nodes': 65534, 'unknown': 65533}
RESERVED_NAMES = {number: name for name, number in RESERVED.items()}


class Action(str, enum.Enum):
    ALLOW = 'allow'
    DENY = 'deny'


class PolicyError(ValueError):
    """A policy document that cannot be used; names the bad item."""


class Rule(typing.NamedTuple):
    src: int
    dst: int
    action: Action = Action.ALLOW
    protocol: typing.Optional[str] = None
    ports: typing.Optional[typing.Tuple[int, int]] = None

    @property
    def pair(self):
        return (self.src, self.dst)

    @property
    def key(self):
        """The identity of a rule: two rules with one key conflict."""
        return (self.src, self.dst, self.protocol, self.ports)

    def __str__(self):
        return format_rule(self)


_ACTIONS = {a.value: a for a in Action}   # str Enum: members hash alike


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(str(word).lower(), choices, n=1,
                                      cutoff=0.6)
    return '; did you mean %r?' % close[0] if close else ''


def _reserved(name, where):
    number = RESERVED.get(name)
    if number is None:
        raise PolicyError('%s: group %r is not an integer or a reserved '
                          'name (%s)%s'
                          % (where, name, _reserved_list(),
                             _did_you_mean(name, RESERVED)))
    return number


def _reserved_list():
    return ', '.join('%s %d' % item for item in RESERVED.items())


def check_group(value, where):
    """A group given as an int or a reserved name, as its number."""
    if isinstance(value, str):
        return _reserved(value, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError('%s: group %r is not an integer' % (where, value))
    if not GROUP_MIN <= value <= GROUP_MAX:
        raise PolicyError('%s: group %d out of range %d..%d'
                          % (where, value, GROUP_MIN, GROUP_MAX))
    return value


def parse_group(text, where):
    """A group written as text (a number or a reserved name)."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return check_group(int(text), where)
    return _reserved(text, where)


def check_endpoint_group(group, where):
    """A container's group: any but the reserved ones other than world.

    ``host``, ``nodes`` and ``unknown`` stand for what is not a container;
    a container in one of them would get the rules written for it. 0
    stays, as in 2015, the group of a container nobody tagged.
    """
    group = check_group(group, where)
    if group in RESERVED_NAMES and group != RESERVED['world']:
        raise PolicyError('%s: group %d is reserved for %s; a container '
                          'takes 1..%d (or 0)'
                          % (where, group, RESERVED_NAMES[group],
                             min(n for n in RESERVED.values() if n) - 1))
    return group


def group_name(group):
    """A group as exported: the name of a reserved group, else the number."""
    return RESERVED_NAMES.get(group, group)


def check_action(value, where):
    try:
        return _ACTIONS[value]
    except (KeyError, TypeError):
        raise PolicyError('%s: action %r is not one of %s%s'
                          % (where, value, ', '.join(_ACTIONS),
                             _did_you_mean(value, _ACTIONS)))


def check_protocol(value, where):
    """None (every protocol) or one of PROTOCOLS' names."""
    if value is None or value in PROTOCOLS:
        return value
    raise PolicyError('%s: protocol %r is not one of %s%s'
                      % (where, value, ', '.join(PROTOCOLS),
                         _did_you_mean(value, PROTOCOLS)))


def _check_port(value, where):
    if not PORT_MIN <= value <= PORT_MAX:
        raise PolicyError('%s: port %d out of range %d..%d'
                          % (where, value, PORT_MIN, PORT_MAX))
    return value


def check_ports(protocol, ports, where):
    """Validate a (low, high) range for ``protocol``; None: all ports."""
    if ports is None:
        return None
    if protocol not in PORT_PROTOCOLS:
        if protocol is None:
            raise PolicyError('%s: ports need protocol tcp or udp, and no '
                              'protocol is given' % where)
        raise PolicyError('%s: ports need protocol tcp or udp; %s has none'
                          % (where, protocol))
    low, high = ports
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int):
            raise PolicyError('%s: port %r is not an integer' % (where, port))
        _check_port(port, where)
    if low > high:
        raise PolicyError('%s: port range %d-%d is upside down (write '
                          '%d-%d)' % (where, low, high, high, low))
    return (low, high)


_PORTS = re.compile(r'(\d{1,10})(?:-(\d{1,10}))?\Z', re.ASCII)


def parse_ports(text, where):
    """``"N"`` or ``"N-M"`` (an int is taken as ``"N"``) as (low, high)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return (text, text)
    match = _PORTS.match(text) if isinstance(text, str) else None
    if match is None:
        raise PolicyError('%s: ports %r are not "N" or "N-M"'
                          % (where, text))
    low, high = match.groups()
    return (int(low), int(high if high is not None else low))


def format_ports(ports):
    low, high = ports
    return str(low) if low == high else '%d-%d' % (low, high)


def _conflict(where, key, action, known, first):
    rule = format_rule(Rule(key[0], key[1], Action.ALLOW, key[2], key[3]))
    return PolicyError('%s: %s is %s here but %s in %s'
                       % (where, rule, action.value, known.value, first))


def _specificity(key):
    """Sorts the rules matching one packet, most specific first."""
    ports = key[3]
    if ports is not None:
        return (0, ports[1] - ports[0], ports[0])
    return (1 if key[2] is not None else 2, 0, 0)


def _order(key):
    """Canonical order: by pair, then protocol number, then ports."""
    protocol, ports = key[2], key[3]
    return (key[0], key[1], PROTOCOLS[protocol] if protocol else -1,
            ports or (0, 0))


_PAIR = operator.itemgetter(0, 1)


def _normal_key(key):
    return key if len(key) == 4 else (key[0], key[1], None, None)


class Policy:
    """An immutable, validated set of rules keyed by ``Rule.key``."""

    def __init__(self, rules=()):
        actions, where = {}, {}
        for number, rule in enumerate(rules, 1):
            label = 'rule %d' % number
            rule = Rule(*rule)
            src = check_group(rule.src, label)
            dst = check_group(rule.dst, label)
            action = check_action(rule.action, label)
            protocol = check_protocol(rule.protocol, label)
            ports = check_ports(protocol, rule.ports, label)
            key = (src, dst, protocol, ports)
            known = actions.setdefault(key, action)
            if known is not action:
                raise _conflict(label, key, action, known, where[key])
            where.setdefault(key, label)
        self._actions = actions
        self._pairs = None

    @classmethod
    def from_actions(cls, actions):
        """From an already valid {Rule.key: Action} mapping.

        Keys may also be (src, dst) pairs: a rule for every protocol.
        """
        policy = cls()
        policy._actions = {_normal_key(k): a for k, a in dict(actions).items()}
        return policy

    @classmethod
    def _of(cls, actions):
        policy = cls()
        policy._actions = actions
        return policy

    @property
    def rules(self):
        return [Rule(k[0], k[1], self._actions[k], k[2], k[3])
                for k in sorted(self._actions, key=_order)]

    def items(self):
        """(Rule.key, Action) of every rule, in no order.

        Faster than ``rules`` where the order does not matter.
        """
        return self._actions.items()

    def action(self, src, dst, protocol=None, ports=None):
        """The action of the rule with exactly this key, or None."""
        return self._actions.get((src, dst, protocol, ports))

    def rules_between(self, src, dst):
        """The rules from ``src`` to ``dst``, most specific first."""
        if self._pairs is None:
            pairs = {}
            for key, action in self._actions.items():
                pairs.setdefault(key[:2], []).append(
                    Rule(key[0], key[1], action, key[2], key[3]))
            for found in pairs.values():
                found.sort(key=lambda r: (_specificity(r.key), _order(r.key)))
            self._pairs = pairs
        return list(self._pairs.get((src, dst), ()))

    def decide(self, src, dst, protocol, port=None):
        """What happens to a packet: ``(action, rule or None)``.

        ``protocol`` is a name of PROTOCOLS or an IP protocol number (one
        no rule names is matched by rules for every protocol only);
        ``port`` the destination port, None for protocols without ports.
        Deny wins over allow; the rule returned is the most specific one
        of the winning action; with no rule matching, (DENY, None).
        """
        protocol = PROTOCOL_NAMES.get(protocol, protocol)
        allowed = None
        for rule in self.rules_between(src, dst):
            if rule.protocol is not None and rule.protocol != protocol:
                continue
            if rule.ports is not None and (
                    port is None
                    or not rule.ports[0] <= port <= rule.ports[1]):
                continue
            if rule.action is Action.DENY:
                return Action.DENY, rule
            if allowed is None:
                allowed = rule
        if allowed is not None:
            return Action.ALLOW, allowed
        return Action.DENY, None

    def __len__(self):
        return len(self._actions)

    def __eq__(self, other):
        return isinstance(other, Policy) and self._actions == other._actions

    def __repr__(self):
        return 'Policy(%s)' % format_text(self)

    def diff(self, current):
        """What turns ``current`` into this policy.

        Returns ``(upserts, removals)``: rules to write (new keys and
        changed actions) and the keys (``Rule.key``) to delete. Rules whose
        key and action stay are in neither, so their counters carry on.
        """
        old = current._actions
        # sorted by pair only (a C-level key: this is on the load path),
        # rules of one pair in the order the document gave them
        upserts = sorted((Rule(k[0], k[1], a, k[2], k[3])
                          for k, a in self._actions.items()
                          if old.get(k) != a), key=_PAIR)
        removals = sorted((k for k in old if k not in self._actions),
                          key=_PAIR)
        return upserts, removals


# -- reading -----------------------------------------------------------------

_TEXT_RULE = re.compile(
    r'(\w+)(<>|>)(\w+)(?::(\w+)(?:/(\d+)(?:-(\d+))?)?)?(?::(\w+))?\Z',
    re.ASCII)
_SEPARATORS = re.compile(r'[\s;]+')
# '65535<>65535:tcp/65535-65535:allow' has 34; longer is not a rule (and
# int() refuses over 4300 digits with a ValueError of its own)
_LONGEST_RULE = 64


def _tokens(text):
    if '#' in text:
        text = '\n'.join(line.split('#', 1)[0] for line in text.splitlines())
    tokens = _SEPARATORS.split(text)
    if tokens and not tokens[-1]:
        tokens.pop()
    if tokens and not tokens[0]:
        del tokens[0]
    return tokens


def _text_group(token, where):
    if token.isdigit():
        return check_group(int(token), where)
    return _reserved(token, where)


def _text_rule(token, label):
    """(src, dst, both, protocol, ports, action) of one text token."""
    if len(token) > _LONGEST_RULE:
        raise PolicyError('%s: longer than any rule (%d characters)'
                          % (label, len(token)))
    match = _TEXT_RULE.match(token)
    if match is None:
        raise PolicyError(
            '%s: expected SRC>DST or SRC<>DST, then optionally :PROTOCOL, '
            '/PORT or /LOW-HIGH and :allow or :deny' % label)
    src, both, dst, protocol, low, high, action = match.groups()
    if action is None and low is None and protocol not in PROTOCOLS:
        if protocol is not None and protocol not in _ACTIONS:
            raise PolicyError(
                '%s: %r is neither a protocol (%s) nor an action (%s)%s'
                % (label, protocol, ', '.join(PROTOCOLS), ', '.join(_ACTIONS),
                   _did_you_mean(protocol, [*PROTOCOLS, *_ACTIONS])))
        protocol, action = None, protocol
    src, dst = _text_group(src, label), _text_group(dst, label)
    action = check_action(action or 'allow', label)
    protocol = check_protocol(protocol, label)
    ports = None
    if low is not None:
        ports = check_ports(protocol, (int(low), int(high or low)), label)
    return src, dst, both == '<>', protocol, ports, action


def _suffix(tail):
    """(protocol, ports, action) of what follows a rule's first ``:``.

    None when it is not valid: ``_text_rule`` then names the error.
    """
    try:
        _, _, _, protocol, ports, action = _text_rule(
            '0>0:' + tail if tail else '0>0', None)
    except PolicyError:
        return None
    return protocol, ports, action


def parse_text(text):
    tokens = _tokens(text)
    if not ''.join(tokens).isascii():   # str.isdigit takes other digits
        for number, token in enumerate(tokens):
            _text_rule(token, _text_label(tokens, number))
    actions = {}
    put = actions.setdefault
    # Rules are read with string methods, their suffixes once per distinct
    # suffix: a regular expression per rule costs more than the rest.
    suffixes = {}
    for number, token in enumerate(tokens):
        if len(token) > _LONGEST_RULE:
            _text_rule(token, _text_label(tokens, number))   # raises
        head, _, tail = token.partition(':')
        suffix = suffixes.get(tail)
        if suffix is None:
            suffix = suffixes[tail] = _suffix(tail)
        src, gt, dst = head.partition('>')
        both = src[-1:] == '<'
        if both:
            src = src[:-1]
        src = int(src) if src.isdigit() else RESERVED.get(src)
        dst = int(dst) if dst.isdigit() else RESERVED.get(dst)
        if (suffix is None or not gt or src is None or dst is None
                or src > GROUP_MAX or dst > GROUP_MAX):
            _text_rule(token, _text_label(tokens, number))   # raises
        protocol, ports, action = suffix
        key = (src, dst, protocol, ports)
        if put(key, action) is not action:
            _text_conflict(tokens, number, key, action)
        if both:
            key = (dst, src, protocol, ports)
            if put(key, action) is not action:
                _text_conflict(tokens, number, key, action)
    return Policy._of(actions)


def _text_label(tokens, number):
    token = tokens[number]
    if len(token) > _LONGEST_RULE:
        token = token[:_LONGEST_RULE] + '...'
    return 'rule %d (%r)' % (number + 1, token)


def _text_conflict(tokens, number, key, action):
    """Raise the error for ``key`` set to ``action`` by rule ``number``."""
    for earlier in range(number + 1):
        src, dst, both, protocol, ports, known = _text_rule(
            tokens[earlier], _text_label(tokens, earlier))
        keys = {(src, dst, protocol, ports)}
        if both:
            keys.add((dst, src, protocol, ports))
        if key in keys and known is not action:
            raise _conflict(_text_label(tokens, number), key, action, known,
                            _text_label(tokens, earlier))
    raise AssertionError('no earlier rule for %r' % (key,))


_KEYS = ('src', 'dst', 'action', 'protocol', 'ports')


def _document_rule(item, where):
    if not isinstance(item, dict):
        raise PolicyError('%s: expected a mapping with src and dst, '
                          'got %r' % (where, item))
    unknown = set(item) - set(_KEYS)
    if unknown:
        raise PolicyError('%s: unknown key(s) %s; expected %s' % (
            where, ', '.join(sorted(map(str, unknown))), ', '.join(_KEYS)))
    for key in ('src', 'dst'):
        if key not in item:
            raise PolicyError('%s: missing %r' % (where, key))
    src = check_group(item['src'], where)
    dst = check_group(item['dst'], where)
    action = check_action(item.get('action', 'allow'), where)
    protocol = check_protocol(item.get('protocol'), where)
    ports = item.get('ports')
    if ports is not None:
        ports = check_ports(protocol, parse_ports(ports, where), where)
    return (src, dst, protocol, ports), action


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
    actions, first = {}, {}
    for number, item in enumerate(doc, 1):
        where = 'rule %d' % number
        key, action = _document_rule(item, where)
        known = actions.setdefault(key, action)
        if known is not action:
            raise _conflict(where, key, action, known, first[key])
        first.setdefault(key, where)
    return Policy._of(actions)


def parse_json(text):
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PolicyError('policy: not valid JSON: %s' % exc)
    return _from_document(doc)


_YAML_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, 'CSafeDumper', yaml.SafeDumper)


def parse_yaml(text):
    try:
        doc = yaml.load(text, Loader=_YAML_LOADER)
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
    rules = []
    for rule in policy.rules:
        item = {'src': group_name(rule.src), 'dst': group_name(rule.dst),
                'action': rule.action.value}
        if rule.protocol is not None:
            item['protocol'] = rule.protocol
        if rule.ports is not None:
            item['ports'] = format_ports(rule.ports)
        rules.append(item)
    return {'rules': rules}


def format_rule(rule, both=False):
    """One rule in the text form (``both``: with ``<>``)."""
    text = '%s%s%s' % (group_name(rule.src), '<>' if both else '>',
                       group_name(rule.dst))
    if rule.protocol is not None:
        text += ':' + rule.protocol
        if rule.ports is not None:
            text += '/' + format_ports(rule.ports)
    if rule.action != Action.ALLOW:
        text += ':' + Action(rule.action).value
    return text


def format_text(policy):
    """Canonical text form; symmetric rules are written once with ``<>``."""
    tokens = []
    actions = policy._actions
    for rule in policy.rules:
        reverse = actions.get((rule.dst, rule.src, rule.protocol, rule.ports))
        if rule.src != rule.dst and reverse is rule.action:
            if rule.src < rule.dst:
                tokens.append(format_rule(rule, both=True))
            continue
        tokens.append(format_rule(rule))
    return ' '.join(tokens)


def format_json(policy):
    return json.dumps(_document(policy), indent=2)


def format_yaml(policy):
    return yaml.dump(_document(policy), Dumper=_YAML_DUMPER,
                     default_flow_style=False, sort_keys=False)


def dump(policy, fmt='text'):
    writers = {'text': format_text, 'json': format_json, 'yaml': format_yaml}
    if fmt not in writers:
        raise PolicyError('unknown policy format %r; use one of %s'
                          % (fmt, ', '.join(FORMATS)))
    return writers[fmt](policy)
