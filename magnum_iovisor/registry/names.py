"""Node names of the ZooKeeper layout, both ways.

ZooKeeper node names cannot hold '/', so a prefix's '/' is written '_':
``192.0.2.0_24``, ``fd00::_64``. An endpoint is ``KEY@GROUP``, a subnet
claim ``KEY``. Parsing is strict: a name that does not round-trip exactly
(non-canonical address, leading zeros, stray characters) is refused with a
ValueError naming it, so every reader reads one name one way.
"""

import ipaddress

from magnum_iovisor import registry


def encode(address):
    """The node-name form of an address or prefix (canonical text)."""
    return registry.canonical_address(address).replace('/', '_')


def decode(key):
    """The address or prefix a node-name key stands for."""
    text = key.replace('_', '/')
    try:
        address = registry.canonical_address(text)
    except ValueError:
        raise ValueError('%r is not an encoded IPv4/IPv6 address or prefix'
                         % key)
    if address.replace('/', '_') != key:
        raise ValueError('%r is not in canonical form (%r)'
                         % (key, address.replace('/', '_')))
    return address


def endpoint_name(endpoint):
    return '%s@%d' % (encode(endpoint.address), endpoint.group)


def parse_endpoint_name(name, host):
    """The Endpoint of ``host`` that node ``name`` stands for."""
    key, at, group = name.partition('@')
    if not at or not group.isdigit() or str(int(group)) != group:
        raise ValueError('endpoint node %r is not ADDRESS@GROUP' % name)
    try:
        return registry.Endpoint(decode(key), int(group), host)
    except ValueError as exc:
        raise ValueError('endpoint node %r: %s' % (name, exc))


def subnet_name(subnet):
    network = ipaddress.ip_network(subnet)
    return str(network).replace('/', '_')


def parse_subnet_name(name):
    """The subnet (an ip_network) a claim node ``name`` stands for."""
    text = name.replace('_', '/')
    try:
        network = ipaddress.ip_network(text)
    except ValueError as exc:
        raise ValueError('subnet node %r: %s' % (name, exc))
    if '/' not in text or str(network) != text:
        raise ValueError('subnet node %r is not a canonical prefix' % name)
    return network
