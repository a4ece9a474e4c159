"""Where endpoints live across hosts, and the policy the cluster shares.

Every host publishes its own endpoints (address, group, host) and the
subnets it routes, and watches everyone's; ``claims`` decides which
announcements every reader accepts, ``sync.EndpointSync`` keeps the local
endpoints map equal to the accepted ones, and ``agent.Agent`` ties a host's
dataplane to a registry. An address is an IPv4 or IPv6 address or prefix.

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


def canonical_address(text):
    """An address or prefix in its one text form; ValueError otherwise.

    A prefix must have no host bits set ('10.0.0.1/24' is refused).
    """
    if not isinstance(text, str):
        raise ValueError('%r is not an address' % (text,))
    if '/' not in text and ':' not in text:
        # the common case, in C: 100,000 of them at every resync
        try:
            packed = socket.inet_pton(socket.AF_INET, text)
        except OSError:
            packed = None
        if packed is not None and socket.inet_ntop(socket.AF_INET,
                                                   packed) == text:
            return text
    if '/' in text:
        return str(ipaddress.ip_network(text))
    return str(ipaddress.ip_address(text))


@dataclasses.dataclass(frozen=True, order=True)
class Endpoint:
    address: str
    group: int
    host: str

    def __post_init__(self):
        try:
            canonical = canonical_address(self.address)
        except ValueError:
            raise ValueError('endpoint address %r is not an IPv4 or IPv6 '
                             'address or prefix' % (self.address,))
        object.__setattr__(self, 'address', canonical)
        policy_model.check_group(self.group, 'endpoint %s' % self.address)
        check_host_name(self.host)


def check_host_name(name):
    if not isinstance(name, str) or not name or '/' in name or '@' in name:
        raise ValueError('host name %r must be a non-empty string without '
                         '"/" or "@"' % (name,))
    return name


class Registry(abc.ABC):
    """A backend.

    Endpoint watchers are called, in order and from one thread, with
    ``(changes, full)``: ``changes`` maps addresses to the accepted
    Endpoint or None (no longer accepted); ``full`` says that ``changes``
    holds every accepted endpoint (the first call, once everything has been
    read), so anything else learned before is stale.
    """

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

    def set_subnets(self, subnets):
        """The subnets this host routes (claims); endpoints must be inside."""

    @abc.abstractmethod
    def watch_endpoints(self, callback):
        """Call ``callback(changes, full)`` once complete, then on changes."""

    @abc.abstractmethod
    def endpoints(self):
        """The cluster's accepted endpoints as last seen (a frozenset)."""

    def problems(self):
        """Refused claims and announcements: {key: reason}."""
        return {}

    def held_subnets(self):
        """The container subnets the other hosts hold (CIDR text).

        As last seen: their addresses that are no endpoint learned from
        the registry are ``unknown`` (dataplane/reserved.py), never the
        world. None until the registry has been read once.
        """
        return []

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
        from magnum_iovisor.registry import credentials
        from magnum_iovisor.registry import tls
        from magnum_iovisor.registry import zookeeper
        secret = (credentials.read(conf.credentials_file)
                  if conf.credentials_file else None)
        secure = tls.kazoo_options(conf)
        # made on first use: only once every option has been found good
        instance = zookeeper.load_instance(conf.instance_file)
        return zookeeper.ZooKeeperRegistry(
            conf.hosts, conf.root, host_name, conf.session_timeout,
            credentials=secret, tls=secure, instance=instance,
            policy_max_bytes=conf.policy_max_bytes)
    if conf.backend == 'local':
        from magnum_iovisor.registry import local
        return local.LocalRegistry(host_name)
    raise RegistryError('unknown registry backend %r; use one of %s'
                        % (conf.backend, ', '.join(BACKENDS)))
