"""The subcommands of ``iovisor-policy``."""

import argparse
import signal
import sys
import time

from cliff import command
from cliff import lister
from cliff import show

from magnum_iovisor.dataplane.layout import DropReason
from magnum_iovisor import policy
from magnum_iovisor.telemetry import dot
from magnum_iovisor.telemetry import matrix
from magnum_iovisor.telemetry import packet
from magnum_iovisor.telemetry import sinks
from magnum_iovisor.telemetry import trace


def group(text):
    """argparse type: a group number, with the model's own error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            'group %r is not an integer' % text)
    try:
        return policy.check_group(value, 'group')
    except policy.PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def add_pair(parser):
    parser.add_argument('src', type=group, help='source group (0..65535)')
    parser.add_argument('dst', type=group,
                        help='destination group (0..65535)')
    return parser


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
        if args.matrix:
            rules, denied = dp.rules(), dp.denied()
            return matrix.matrix(rules, denied, args.groups or
                                 matrix.groups_of(rules, denied,
                                                  dp.endpoints()))
        rows = [(r.src, r.dst, r.action.value, packets, nbytes)
                for r, packets, nbytes in dp.rules()]
        rows += [(src, dst, 'no rule', packets, nbytes)
                 for src, dst, packets, nbytes in dp.denied()]
        return ('Source', 'Destination', 'Action', 'Packets', 'Bytes'), rows


class _SetRule(command.Command):
    action = None
    changes_policy = True

    def get_parser(self, prog_name):
        return add_pair(super().get_parser(prog_name))

    def take_action(self, args):
        self.app.dataplane.set_rule(args.src, args.dst, self.action)


class Allow(_SetRule):
    """Allow traffic from group SRC to group DST."""
    action = policy.Action.ALLOW


class Deny(_SetRule):
    """Deny traffic from group SRC to group DST, counting it as a rule."""
    action = policy.Action.DENY


class Remove(command.Command):
    """Remove the rule for SRC -> DST (the pair is then denied by default)."""
    changes_policy = True

    def get_parser(self, prog_name):
        return add_pair(super().get_parser(prog_name))

    def take_action(self, args):
        if not self.app.dataplane.remove_rule(args.src, args.dst):
            raise LookupError('no rule for %d>%d' % (args.src, args.dst))


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


def refuse_attached(dataplane, address):
    """Attached endpoints belong to ``attach``/``detach`` (or the driver)."""
    known = dataplane.endpoint(address)
    if known is not None and known.ifindex:
        raise ValueError('%s is the endpoint attached on interface %d; '
                         'detach it instead' % (address, known.ifindex))


class Tag(command.Command):
    """Put an address (e.g. a known external host) into a group."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('address')
        parser.add_argument('group', type=group)
        return parser

    def take_action(self, args):
        refuse_attached(self.app.dataplane, args.address)
        self.app.dataplane.tag(args.address, args.group)


class Untag(command.Command):
    """Forget an address; it becomes unclassified (group 0)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('address')
        return parser

    def take_action(self, args):
        refuse_attached(self.app.dataplane, args.address)
        if not self.app.dataplane.untag(args.address):
            raise LookupError('address %s is not tagged' % args.address)


def add_netns(parser):
    parser.add_argument(
        '--netns', metavar='NAME_OR_PATH',
        help='the interface is inside this network namespace (a name from '
             '"ip netns" or a path such as a Docker SandboxKey)')
    return parser


class Attach(command.Command):
    """Enforce the policy on the interface of endpoint ADDRESS in GROUP."""

    def get_parser(self, prog_name):
        parser = add_netns(super().get_parser(prog_name))
        parser.add_argument('interface')
        parser.add_argument('address')
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
        self.app.dataplane.attach(args.interface, args.address, args.group,
                                  args.netns, args.sandbox_side)


class Detach(command.Command):
    """Stop enforcing on an interface and forget its endpoint."""

    def get_parser(self, prog_name):
        parser = add_netns(super().get_parser(prog_name))
        parser.add_argument('interface')
        return parser

    def take_action(self, args):
        if self.app.dataplane.detach(args.interface, args.netns) is None:
            raise LookupError('no interface named %s' % args.interface)


class Trace(show.ShowOne):
    """What the classifier does with a packet from one end to another.

    Runs the pinned classifier on a synthetic packet (nothing is counted);
    an end is an address or a group (one of its endpoints; 0: outside).
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
