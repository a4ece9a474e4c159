"""Where endpoints live across hosts, and the policy the cluster shares.

Every host publishes its own endpoints (address, group, host) and watches
everyone's; ``sync.EndpointSync`` keeps the local endpoints map equal to the
cluster's, and ``agent.Agent`` ties a host's dataplane to a registry.

Backends: ``local`` (this host only, no service) and ``zookeeper`` (the
bay's ZooKeeper). ``publish`` and ``withdraw`` never block: a backend that
cannot reach its service queues the change and flushes it on reconnect.
"""

import abc
import dataclasses
import ipaddress
import socket

from magnum_iovisor import policy as policy_model

BACKENDS = ('local', 'zookeeper')


class RegistryError(RuntimeError):
    """The registry cannot do what was asked; says why."""


class Unavailable(RegistryError):
    """The registry's service cannot be reached."""


@dataclasses.dataclass(frozen=True, order=True)
class Endpoint:
    address: str
    group: int
    host: str

    def __post_init__(self):
        try:
            ipaddress.IPv4Address(self.address)
        except ValueError:
            raise ValueError('endpoint address %r is not an IPv4 address'
                             % (self.address,))
        policy_model.check_group(self.group, 'endpoint %s' % self.address)
        check_host_name(self.host)


def check_host_name(name):
    if not isinstance(name, str) or not name or '/' in name or '@' in name:
        raise ValueError('host name %r must be a non-empty string without '
                         '"/" or "@"' % (name,))
    return name


class Registry(abc.ABC):
    """A backend. Watchers get full snapshots, in order, from one thread."""

    def __init__(self, host_name):
        self.host_name = check_host_name(host_name)

    @property
    def connection_state(self):
        """connecting, connected, suspended or lost (metrics show it).

        A backend without a service is always connected.
        """
        return 'connected'

    def start(self):
        """Begin publishing and watching.

        A host's agent starts its registry; a command that only reads or
        writes the cluster policy does not.
        """

    @abc.abstractmethod
    def publish(self, endpoint):
        """Announce (or change the group of) one of this host's endpoints."""

    @abc.abstractmethod
    def withdraw(self, address):
        """Stop announcing this host's endpoint ``address``."""

    @abc.abstractmethod
    def watch_endpoints(self, callback):
        """Call ``callback(frozenset of Endpoint)`` now and on every change."""

    @abc.abstractmethod
    def endpoints(self):
        """The cluster's endpoints as last seen (a frozenset)."""

    @abc.abstractmethod
    def watch_policy(self, callback):
        """Call ``callback(Policy or None)`` now and whenever it changes.

        A backend with a service calls it again, unchanged, after every
        reconnection. None: there is no cluster policy. Invalid documents
        are never passed.
        """

    @abc.abstractmethod
    def cluster_policy(self):
        """The cluster policy (a Policy) or None."""

    @abc.abstractmethod
    def set_cluster_policy(self, policy):
        """Replace the cluster policy; None removes it."""

    def close(self):
        pass


def open_registry(conf):
    """The backend ``conf`` (the [registry] option group) names."""
    host_name = conf.host_name or socket.gethostname()
    if conf.backend == 'zookeeper':
        # kazoo is only needed by hosts that use ZooKeeper
        from magnum_iovisor.registry import zookeeper
        return zookeeper.ZooKeeperRegistry(
            conf.hosts, conf.root, host_name, conf.session_timeout)
    if conf.backend == 'local':
        from magnum_iovisor.registry import local
        return local.LocalRegistry(host_name)
    raise RegistryError('unknown registry backend %r; use one of %s'
                        % (conf.backend, ', '.join(BACKENDS)))
