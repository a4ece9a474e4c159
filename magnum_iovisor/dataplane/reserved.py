"""The reserved groups the dataplane fills in itself (policy.RESERVED).

``host`` (65535): every address of the slave's own network namespace;
``nodes`` (65534): [dataplane] node_networks, the bay's masters and slaves;
``unknown`` (65533): [dataplane] container_networks, container subnets whose
addresses are no known endpoint (endpoints, exact matches, win over them);
and, whatever is configured, every subnet another host holds in the
registry (``networks()``), so that a gap in the registry (a remote
endpoint not learned yet, or withdrawn) fails closed as ``unknown``, never
as the world. Until the registry has been read (``networks()`` is None,
as at every start) the ``unknown`` entries there are stay: a restart must
not open the gap it closes. A prefix tagged by hand (no RESERVED flag)
keeps its group.
Entries written here carry EndpointFlag.RESERVED, so ``sync`` can make them
follow the host's addresses and the options; other entries are left alone.
"""

import ipaddress
import logging
import threading

from pyroute2 import IPRoute

from magnum_iovisor.dataplane import attach as tc
from magnum_iovisor.dataplane import layout

LOG = logging.getLogger(__name__)
RESERVED = layout.EndpointFlag.RESERVED


def host_addresses(netns=None):
    """Every address of a network namespace's interfaces (loopback too)."""
    with tc.in_netns(netns), IPRoute() as ipr:
        return sorted({msg.get_attr('IFA_ADDRESS') for msg in ipr.get_addr()
                       if msg.get_attr('IFA_ADDRESS')})


def wanted(conf, netns=None, networks=()):
    """{address or prefix: group} of the reserved entries."""
    def prefix(text):
        try:
            return str(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ValueError('[dataplane] %s: %s' % (text, exc))
    result = {prefix(net): layout.GROUP_UNKNOWN
              for net in [*conf.container_networks, *networks]}
    result.update((prefix(net), layout.GROUP_NODES)
                  for net in conf.node_networks)
    result.update((str(ipaddress.ip_address(address.split('%')[0])),
                   layout.GROUP_HOST) for address in host_addresses(netns))
    return result


def sync(plane, conf, netns=None, networks=()):
    """Make the reserved entries match; returns (tagged, untagged).

    ``networks``: the other hosts' subnets, None when not known yet.
    """
    target = wanted(conf, netns, networks or ())
    # not known yet: keep the unknown entries a previous run wrote
    kept = (set() if networks is not None else
            {a for a, g in plane.reserved().items()
             if g == layout.GROUP_UNKNOWN})
    current = plane.reserved()
    tagged, untagged = [], []
    for address, group in sorted(target.items()):
        if current.get(address) == group:
            continue
        known = plane.entry(address)
        if known is not None and not known.flags & RESERVED:
            continue      # an endpoint's or a hand-tagged prefix's group
        plane.tag(address, group, flags=RESERVED)
        tagged.append(address)
    for address in sorted(current.keys() - target.keys() - kept):
        plane.untag(address)
        untagged.append(address)
    return tagged, untagged


class Keeper(threading.Thread):
    """Re-runs ``sync`` every ``interval`` seconds until ``stop``.

    Host addresses come and go, e.g. a network's gateway.
    """

    def __init__(self, plane, conf, interval=10.0, networks=lambda: ()):
        super().__init__(name='reserved-groups', daemon=True)
        self.plane, self.conf, self.interval = plane, conf, interval
        self.networks = networks
        self._stop = threading.Event()

    def run(self):
        while not self._stop.wait(self.interval):
            try:
                sync(self.plane, self.conf, networks=self.networks())
            except Exception:
                LOG.exception('reserved groups: sync failed, will retry')

    def stop(self):
        self._stop.set()
