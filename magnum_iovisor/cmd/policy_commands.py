"""The subcommands of ``iovisor-policy``."""

import argparse
import ipaddress
import signal
import sys
import time

from cliff import command
from cliff import lister
from cliff import show

from magnum_iovisor.dataplane.layout import DropReason
from magnum_iovisor.dataplane.layout import EndpointFlag
from magnum_iovisor import policy
from magnum_iovisor import telemetry
from magnum_iovisor.telemetry import dot
from magnum_iovisor.telemetry import matrix
from magnum_iovisor.telemetry import packet
from magnum_iovisor.telemetry import sinks
from magnum_iovisor.telemetry import trace


def group(text):
    """argparse type: a group number or reserved name, as its number."""
    try:
        return policy.parse_group(text, 'group')
    except policy.PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def protocol(text):
    """argparse type: one of policy.PROTOCOLS."""
    try:
        return policy.check_protocol(text, 'protocol')
    except policy.PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def ports(text):
    """argparse type: N or N-M, range checked (the protocol comes later)."""
    try:
        low, high = policy.parse_ports(text, 'ports')
        return policy.check_ports('tcp', (low, high), 'ports')
    except policy.PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def add_rule(parser):
    names = ', '.join('%s=%d' % item for item in policy.RESERVED.items())
    parser.add_argument('src', type=group,
                        help='source group (0..65535 or %s)' % names)
    parser.add_argument('dst', type=group, help='destination group')
    parser.add_argument('--protocol', type=protocol,
                        help='one of %s (default: every protocol)'
                             % ', '.join(policy.PROTOCOLS))
    parser.add_argument('--ports', type=ports, metavar='N[-M]',
                        help='destination port or range (tcp and udp only; '
                             'default: every port)')
    return parser


def rule_of(args, action=policy.Action.ALLOW):
    """The policy.Rule the arguments name; PolicyError when ports misfit."""
    policy.check_ports(args.protocol, args.ports, 'rule %s>%s' % (
        policy.group_name(args.src), policy.group_name(args.dst)))
    return policy.Rule(args.src, args.dst, action, args.protocol, args.ports)


def _extension(rule):
    """The protocol and ports keywords of the Dataplane facade, if any."""
    if rule.protocol is None:
        return {}
    return {'protocol': rule.protocol, 'ports': rule.ports}


def _any(value, text=str):
    return 'any' if value is None else text(value)


class Show(lister.Lister):
    """Rules with their counters, then the pairs denied for lack of one."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--matrix', action='store_true',
            help='groups by groups: each cell the verdict and packets')
        parser.add_argument(
            '--group', action='append', type=group, dest='groups',
            help='with --matrix: only these groups (repeatable; default '
                 'every group of a rule, a denied pair or an endpoint)')
        return parser

    def take_action(self, args):
        dp = self.app.dataplane
        banner = telemetry.audit_banner(*dp.audit())
        if banner:
            # above a table; on stderr where stdout must stay parsable
            out = self.app.stdout if args.formatter == 'table' \
                else self.app.stderr
            out.write(banner + '\n')
            out.flush()
        if args.matrix:
            rules, denied = dp.rules(), dp.denied()
            return matrix.matrix(rules, denied, args.groups or
                                 matrix.groups_of(rules, denied,
                                                  dp.endpoints()))
        rows = [(r.src, r.dst, _any(r.protocol),
                 _any(r.ports, policy.format_ports),
                 policy.Action(r.action).value,
                 packets, nbytes)
                for r, packets, nbytes in dp.rules()]
        rows += [(src, dst, 'any', 'any', 'no rule', packets, nbytes)
                 for src, dst, packets, nbytes in dp.denied()]
        return ('Source', 'Destination', 'Protocol', 'Ports', 'Action',
                'Packets', 'Bytes'), rows


class _SetRule(command.Command):
    action = None
    changes_policy = True

    def get_parser(self, prog_name):
        return add_rule(super().get_parser(prog_name))

    def take_action(self, args):
        rule = rule_of(args, self.action)
        self.app.dataplane.set_rule(rule.src, rule.dst, rule.action,
                                    **_extension(rule))


class Allow(_SetRule):
    """Allow group SRC to open connections to group DST."""
    action = policy.Action.ALLOW


class Deny(_SetRule):
    """Deny SRC -> DST; a deny wins over every allow it overlaps."""
    action = policy.Action.DENY


class Remove(command.Command):
    """Remove the rule SRC -> DST with exactly this protocol and ports."""
    changes_policy = True

    def get_parser(self, prog_name):
        return add_rule(super().get_parser(prog_name))

    def take_action(self, args):
        rule = rule_of(args)
        if not self.app.dataplane.remove_rule(rule.src, rule.dst,
                                              **_extension(rule)):
            raise LookupError('no rule for %s' % policy.format_rule(rule))


def add_policy_file(parser):
    parser.add_argument('file', help='policy file, or - for stdin')
    parser.add_argument('--format', choices=policy.FORMATS,
                        help='default: from the file name or content')
    return parser


def read_policy_file(args):
    """The validated policy of ``args.file``; errors name the file."""
    if args.file == '-':
        text, name = sys.stdin.read(), None
    else:
        with open(args.file) as source:
            text, name = source.read(), args.file
    try:
        return policy.parse(text, args.format, name)
    except policy.PolicyError as exc:
        raise policy.PolicyError('%s: %s' % (args.file, exc))


class Load(command.Command):
    """Replace the whole policy with a file's (all or nothing)."""
    changes_policy = True

    def get_parser(self, prog_name):
        return add_policy_file(super().get_parser(prog_name))

    def take_action(self, args):
        new = read_policy_file(args)
        upserts, removals = self.app.dataplane.replace_policy(new)
        self.app.stdout.write('%d rules in force: %d added or changed, '
                              '%d removed\n'
                              % (len(new), len(upserts), len(removals)))


def add_output_format(parser, more=()):
    parser.add_argument('--format', choices=(*policy.FORMATS, *more),
                        default='text')
    return parser


class Export(command.Command):
    """Print the policy in force, in a form that ``load`` takes back.

    ``--format dot``: a Graphviz graph with counters (not loadable).
    """

    def get_parser(self, prog_name):
        return add_output_format(super().get_parser(prog_name), ('dot',))

    def take_action(self, args):
        dp = self.app.dataplane
        if args.format == 'dot':
            text = dot.render(dp.rules(), dp.endpoints())
        else:
            text = policy.dump(dp.policy(), args.format)
        self.app.stdout.write(text.rstrip('\n') + '\n')


class Endpoints(lister.Lister):
    """Known addresses and their groups (interface 0: not local)."""

    def take_action(self, args):
        return (('Address', 'Group', 'Ifindex'),
                self.app.dataplane.endpoints())


def address(text):
    """argparse type: one IPv4 or IPv6 address, in its canonical text."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not an IPv4 or IPv6 address' % text)


def address_or_prefix(text):
    """argparse type: an address or a CIDR prefix without host bits.

    A /32 (IPv4) or /128 (IPv6) prefix is the address itself.
    """
    if '/' not in text:
        return address(text)
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(
                '%r is not an address or a CIDR prefix such as '
                '192.0.2.0/24 or fd00::/64' % text)
        raise argparse.ArgumentTypeError(
            'CIDR %s has host bits set; the prefix is %s' % (text, loose))
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _origin(flags):
    if flags & EndpointFlag.RESERVED:
        return 'reserved'
    if flags & EndpointFlag.LEARNED:
        return 'learned'
    return 'tag'


class Prefixes(lister.Lister):
    """CIDR groups (the longest prefix wins) and who wrote them."""

    def take_action(self, args):
        return (('Prefix', 'Group', 'Origin'),
                [(prefix, group, _origin(flags))
                 for prefix, group, flags in self.app.dataplane.prefixes()])


def refuse_attached(dataplane, address):
    """Attached endpoints belong to ``attach``/``detach`` (or the driver)."""
    if '/' in address:
        return
    known = dataplane.endpoint(address)
    if known is not None and known.ifindex:
        raise ValueError('%s is the endpoint attached on interface %d; '
                         'detach it instead' % (address, known.ifindex))


class Tag(command.Command):
    """Put an address or a CIDR prefix (longest prefix wins) into a group."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('address', type=address_or_prefix,
                            metavar='ADDRESS|CIDR')
        parser.add_argument('group', type=group)
        return parser

    def take_action(self, args):
        refuse_attached(self.app.dataplane, args.address)
        self.app.dataplane.tag(args.address, args.group)


class Untag(command.Command):
    """Forget a tagged address or prefix."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('address', type=address_or_prefix,
                            metavar='ADDRESS|CIDR')
        return parser

    def take_action(self, args):
        refuse_attached(self.app.dataplane, args.address)
        if not self.app.dataplane.untag(args.address):
            raise LookupError('%s is not tagged' % args.address)


def add_netns(parser):
    parser.add_argument(
        '--netns', metavar='NAME_OR_PATH',
        help='the interface is inside this network namespace (a name from '
             '"ip netns" or a path such as a Docker SandboxKey)')
    return parser


class Attach(command.Command):
    """Enforce the policy on IFACE, the interface of endpoint ADDRESS.

    A second address (e.g. the IPv6 one of a dual-stack container), given
    here or by attaching again, is added to the same endpoint.
    """

    def get_parser(self, prog_name):
        parser = add_netns(super().get_parser(prog_name))
        parser.add_argument('interface')
        parser.add_argument('addresses', type=address, nargs='+',
                            metavar='ADDRESS',
                            help='one or two addresses (IPv4, IPv6)')
        parser.add_argument('group', type=group)
        side = parser.add_mutually_exclusive_group()
        side.add_argument(
            '--host-side', dest='sandbox_side', action='store_false',
            default=None,
            help='the interface is the host end of a veth pair (default '
                 'without --netns)')
        side.add_argument(
            '--sandbox-side', dest='sandbox_side', action='store_true',
            help="the interface is the container's own (default with "
                 "--netns)")
        return parser

    def take_action(self, args):
        policy.check_endpoint_group(args.group, 'group')
        addresses = args.addresses
        if len(addresses) > 2 or len(set(addresses)) != len(addresses):
            raise ValueError('attach takes one address or two different '
                             'ones, not %s' % ' '.join(addresses))
        dp = self.app.dataplane
        added = []
        try:
            for one in addresses:
                known = dp.endpoint(one)
                dp.attach(args.interface, one, args.group, args.netns,
                          args.sandbox_side)
                if known is None:
                    added.append(one)
        except Exception:
            for one in added:    # all or nothing: the first stays out
                dp.untag(one)
            raise


class Detach(command.Command):
    """Stop enforcing on an interface and forget its endpoint."""

    def get_parser(self, prog_name):
        parser = add_netns(super().get_parser(prog_name))
        parser.add_argument('interface')
        return parser

    def take_action(self, args):
        if self.app.dataplane.detach(args.interface, args.netns) is None:
            raise LookupError('no interface named %s' % args.interface)


class Audit(command.Command):
    """Audit mode on or off, for every group or one: policy drops pass.

    While on, a packet the policy would drop (no rule, or a deny rule) from
    or to an audited group passes and is counted as would_drop; spoofed,
    malformed and other drops stay. Off enforces again at once and cuts the
    connections audit let open.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('state', choices=('on', 'off'))
        parser.add_argument('group', type=group, nargs='?',
                            help='only packets from or to this group '
                                 '(default: every group)')
        return parser

    def take_action(self, args):
        dp = self.app.dataplane
        cut = dp.set_audit(args.state == 'on', args.group)
        which = 'every group' if args.group is None else 'group %s' % (
            telemetry.group_label(args.group))
        if args.state == 'on':
            self.app.stdout.write('audit mode on for %s: policy drops '
                                  'pass and are counted as would_drop\n'
                                  % which)
        else:
            self.app.stdout.write('audit mode off for %s: enforced; %d '
                                  'connection%s audit let open cut\n'
                                  % (which, cut, '' if cut == 1 else 's'))
        all_on, groups = dp.audit()
        if all_on or groups:
            self.app.stdout.write('still in audit mode: %s\n' % (
                'every group' if all_on else ', '.join(
                    telemetry.group_label(g) for g in groups)))


class Trace(show.ShowOne):
    """What the classifier does with a packet from one end to another.

    Runs the pinned classifier on a synthetic packet (nothing is counted);
    an end is an address, a group or a reserved group name (world, host,
    nodes, unknown), which stands for an address the dataplane puts in it.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--from', dest='source', required=True,
                            metavar='ADDRESS|GROUP')
        parser.add_argument('--to', dest='destination', required=True,
                            metavar='ADDRESS|GROUP')
        parser.add_argument('--protocol',
                            choices=sorted(packet.PROTOCOLS),
                            help='default: an ICMP echo, like ping')
        parser.add_argument('--port', type=int,
                            help='destination port (tcp, udp)')
        return parser

    def take_action(self, args):
        fields = trace.trace(self.app.dataplane, args.source,
                             args.destination, args.protocol, args.port)
        return tuple(zip(*fields))


class Monitor(command.Command):
    """Print dropped packets as they happen (Ctrl-C to stop)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--count', type=int, default=0,
                            help='stop after this many drops')
        parser.add_argument('--timeout', type=float, default=0,
                            help='stop after this many seconds')
        parser.add_argument('--json', action='store_true',
                            help='one JSON object per line')
        parser.add_argument('--reason', action='append',
                            choices=[r.name.lower() for r in DropReason],
                            help='only drops for this reason (repeatable)')
        where = parser.add_mutually_exclusive_group()
        where.add_argument('--output', metavar='FILE',
                           help='append JSON lines to FILE instead of '
                                'printing (reopened after rotation)')
        where.add_argument('--journal', action='store_true',
                           help='send each drop to the systemd journal '
                                '(MESSAGE: the JSON line; IOVISOR_* fields)')
        return parser

    def sink(self, args):
        if args.output:
            return sinks.FileSink(args.output)
        if args.journal:
            return sinks.JournalSink()
        return sinks.StreamSink(self.app.stdout, args.json)

    def take_action(self, args):
        seen = [0]
        stop = [False]
        deadline = time.monotonic() + args.timeout if args.timeout else None
        sink = self.sink(args)

        def on_drop(drop):
            if args.reason and drop.reason not in args.reason:
                return
            if args.count and seen[0] >= args.count:
                return   # the rest of the batch this poll delivered
            seen[0] += 1
            sink.write(drop)

        def should_stop():
            return (stop[0] or (args.count and seen[0] >= args.count)
                    or (deadline is not None and time.monotonic() > deadline))

        signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
        try:
            self.app.dataplane.watch_drops(on_drop, should_stop)
        except KeyboardInterrupt:
            pass
        finally:
            sink.close()
