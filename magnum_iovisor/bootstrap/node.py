"""A slave's settings, validated from its Heat parameters."""

import dataclasses
import ipaddress
import os
import re

from magnum_iovisor.bootstrap import BootstrapError
from magnum_iovisor.bootstrap import heat_params

MODES = ('ipvlan', 'macvlan', 'veth')
DRIVER = 'iovisor'

_IFNAME = re.compile(r'^[^\s/:]{1,15}$')
_NETWORK_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_ZOOKEEPER = re.compile(r'^zookeeper://[^/\s,]+:\d+(,[^/\s,]+:\d+)*/\S*$')


def _default(name):
    return heat_params.BY_NAME[name].default


@dataclasses.dataclass(frozen=True)
class NodeParams:
    mode: str = _default('IOVISOR_MODE')
    routed_subnet: ipaddress.IPv4Network = None
    parent: str = _default('IOVISOR_PARENT')
    registry: str = _default('IOVISOR_REGISTRY')
    registry_credentials: str = _default('IOVISOR_REGISTRY_CREDENTIALS')
    policy_file: str = _default('IOVISOR_POLICY_FILE')
    docker_network: str = _default('IOVISOR_DOCKER_NETWORK')

    @classmethod
    def from_heat_params(cls, values):
        """Validate the keys this node uses; errors name the key."""
        def get(name):
            return heat_params.value(values, name)

        mode = get('IOVISOR_MODE')
        if mode not in MODES:
            raise BootstrapError('IOVISOR_MODE=%r: expected one of %s'
                                 % (mode, ', '.join(MODES)))
        parent = get('IOVISOR_PARENT')
        if not _IFNAME.match(parent):
            raise BootstrapError('IOVISOR_PARENT=%r is not an interface name'
                                 % parent)
        registry = get('IOVISOR_REGISTRY')
        if registry != 'local' and not _ZOOKEEPER.match(registry):
            raise BootstrapError(
                'IOVISOR_REGISTRY=%r: expected "local" or '
                'zookeeper://HOST:PORT[,HOST:PORT]/PATH' % registry)
        credentials = get('IOVISOR_REGISTRY_CREDENTIALS')
        if credentials and not os.path.isabs(credentials):
            raise BootstrapError('IOVISOR_REGISTRY_CREDENTIALS=%r is not an '
                                 'absolute path' % credentials)
        policy_file = get('IOVISOR_POLICY_FILE')
        if not os.path.isabs(policy_file):
            raise BootstrapError('IOVISOR_POLICY_FILE=%r is not an absolute '
                                 'path' % policy_file)
        network = get('IOVISOR_DOCKER_NETWORK')
        if network and not _NETWORK_NAME.match(network):
            raise BootstrapError('IOVISOR_DOCKER_NETWORK=%r is not a Docker '
                                 'network name' % network)
        subnet = get('ROUTED_SUBNET')
        if subnet:
            try:
                subnet = ipaddress.IPv4Network(subnet)
            except ValueError as exc:
                raise BootstrapError('ROUTED_SUBNET=%r: %s' % (subnet, exc))
        elif network:
            raise BootstrapError('ROUTED_SUBNET is missing: the Docker '
                                 'network %s needs this slave\'s container '
                                 'subnet' % network)
        return cls(mode=mode, routed_subnet=subnet or None, parent=parent,
                   registry=registry, registry_credentials=credentials,
                   policy_file=policy_file,
                   docker_network=network)
