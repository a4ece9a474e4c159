"""``iovisor-policy cluster ...``: the policy every slave of the bay shares.

A cluster policy lives in the registry (ZooKeeper); every host's agent
applies it as it changes. While one exists it is authoritative: commands
that change this host's policy are refused (see ``refuse_local_change``).
"""

import logging

from cliff import command
from cliff import lister

from magnum_iovisor.cmd import policy_commands
from magnum_iovisor import policy
from magnum_iovisor import registry


class ClusterPolicyInForce(RuntimeError):
    pass


def open_cluster(app):
    """The configured registry, connected; the caller closes it."""
    conf = app.load_config().registry
    if conf.backend != 'zookeeper':
        raise registry.RegistryError(
            "[registry] backend is %r: this host is not part of a cluster; "
            "set backend = zookeeper and hosts, or use 'iovisor-policy load' "
            "for this host's own policy" % conf.backend)
    if app.options.verbose_level <= 1:
        # connection chatter is for the daemon's log; a command says in one
        # line what went wrong
        logging.getLogger('kazoo').setLevel(logging.CRITICAL)
        logging.getLogger('magnum_iovisor.registry').setLevel(logging.WARNING)
    cluster = registry.open_registry(conf)
    try:
        cluster.wait_connected(conf.connect_timeout)
    except Exception:
        cluster.close()
        raise
    return cluster


def refuse_local_change(app):
    """Raise when a cluster policy is in force (or cannot be ruled out)."""
    if app.load_config().registry.backend != 'zookeeper':
        return
    try:
        cluster = open_cluster(app)
    except registry.Unavailable as exc:
        raise registry.Unavailable(
            '%s: cannot tell whether a cluster policy is in force, so this '
            "host's policy is left as it is; retry when ZooKeeper is back, "
            'or use a configuration whose [registry] backend is local to '
            'change this host alone' % exc)
    try:
        try:
            in_force = cluster.cluster_policy() is not None
        except policy.PolicyError:
            in_force = True
    finally:
        cluster.close()
    if in_force:
        raise ClusterPolicyInForce(
            "a cluster policy is in force and overrides this host's; change "
            "it with 'iovisor-policy cluster load', or remove it with "
            "'iovisor-policy cluster clear' to manage hosts one by one")


class ClusterLoad(command.Command):
    """Replace the cluster policy with a file's; every slave applies it."""

    def get_parser(self, prog_name):
        return policy_commands.add_policy_file(super().get_parser(prog_name))

    def take_action(self, args):
        new = policy_commands.read_policy_file(args)
        cluster = open_cluster(self.app)
        try:
            cluster.set_cluster_policy(new)
        finally:
            cluster.close()
        self.app.stdout.write('cluster policy set: %d rules; every slave '
                              'applies it\n' % len(new))


class ClusterExport(command.Command):
    """Print the cluster policy, in a form that ``cluster load`` takes."""

    def get_parser(self, prog_name):
        return policy_commands.add_output_format(
            super().get_parser(prog_name))

    def take_action(self, args):
        cluster = open_cluster(self.app)
        try:
            cluster.require_root()
            current = cluster.cluster_policy()
        finally:
            cluster.close()
        if current is None:
            raise LookupError('there is no cluster policy')
        text = policy.dump(current, args.format)
        self.app.stdout.write(text.rstrip('\n') + '\n')


class ClusterClear(command.Command):
    """Remove the cluster policy; slaves keep enforcing what they have."""

    def take_action(self, args):
        cluster = open_cluster(self.app)
        try:
            cluster.require_root()
            cluster.set_cluster_policy(None)
        finally:
            cluster.close()


class ClusterEndpoints(lister.Lister):
    """Every endpoint the hosts announce, and every refused claim and why.

    Status is ``ok`` for an endpoint every host accepts, otherwise
    ``refused: <the conflict>``; refused subnet claims and unreadable nodes
    are listed too.
    """

    def take_action(self, args):
        cluster = open_cluster(self.app)
        try:
            cluster.require_root()
            book, problems = cluster.survey()
        finally:
            cluster.close()
        rows = [(e.address, e.group, e.host, 'ok')
                for e in sorted(book.accepted.values())]
        for key, reason in sorted(problems.items()):
            kind = key[0]
            host = key[1] if len(key) > 1 else ''
            what = key[2] if len(key) > 2 else ''
            group = ''
            if kind == 'endpoint':
                endpoint = book.announcement(host, what)
                group = endpoint.group if endpoint else ''
            elif kind == 'subnet':
                what = 'subnet %s' % what
            rows.append((what, group, host, 'refused: ' + reason))
        return (('Address', 'Group', 'Host', 'Status'), rows)


class ClusterDecommission(command.Command):
    """Remove a slave from the registry: every host forgets its endpoints.

    For a slave that is gone for good. A restart needs nothing: endpoints
    outlive the daemon. Refused while the slave's daemon runs.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', help='the slave\'s [registry] host_name')
        return parser

    def take_action(self, args):
        cluster = open_cluster(self.app)
        try:
            cluster.require_root()
            count = cluster.decommission(args.host)
        finally:
            cluster.close()
        self.app.stdout.write('host %s decommissioned: %d endpoints withdrawn '
                              'from every slave\n' % (args.host, count))
