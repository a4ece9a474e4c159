"""Interface kinds: how an endpoint's interface is made and removed.

Each kind creates, in the host's network namespace, the interface Docker
then moves into the container (Join's ``SrcName``), and says where the
classifiers go: on the host end of a veth pair, or on the container's own
interface inside its sandbox (macvlan, ipvlan), where they can only be
attached after Docker moved it, as a move flushes tc.
"""

import errno
import logging
import os
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from magnum_iovisor.dataplane import attach as tc

LOG = logging.getLogger(__name__)
ALIAS_PREFIX = 'magnum-iovisor:'
SCOPE_LINK = 253
IPVLAN_MODE_L3 = 1
ROUTE_CONNECTED = 1   # libnetwork types.CONNECTED: no next hop
SYSCTL = '/proc/sys/net/ipv%d/%s/%s/%s'
IFA_F_NODAD = 0x02
NTF_PROXY = 0x08


class LinkError(RuntimeError):
    pass


def alias(endpoint_id):
    """Survives the move into the sandbox, unlike the name or the index."""
    return ALIAS_PREFIX + endpoint_id[:48]


def _index(ipr, ifname):
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def _delete(ipr, ifname):
    index = _index(ipr, ifname)
    if index is None:
        return False
    try:
        ipr.link('del', index=index)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise
    return True


def _sysctl(section, ifname, key, value, family=4):
    with open(SYSCTL % (family, section, ifname, key), 'w') as knob:
        knob.write(value)


def _forward_ipv6(ifname):
    """Let IPv6 packets arriving on ``ifname`` be routed, as IPv4's are.

    IPv6 has no per-interface forwarding before Linux 6.17's
    force_forwarding; without it the host must forward IPv6 globally,
    which is the operator's choice (it stops router advertisements being
    taken on every interface), not the driver's.
    """
    _sysctl('conf', ifname, 'accept_ra', '0', 6)
    _sysctl('conf', ifname, 'forwarding', '1', 6)   # answers as a router
    if os.path.exists(SYSCTL % (6, 'conf', ifname, 'force_forwarding')):
        _sysctl('conf', ifname, 'force_forwarding', '1', 6)
        return
    with open(SYSCTL % (6, 'conf', 'all', 'forwarding')) as knob:
        if knob.read().strip() != '1':
            raise LinkError('IPv6 on a veth network needs a kernel with '
                            'net.ipv6.conf.*.force_forwarding (6.17+) or '
                            'net.ipv6.conf.all.forwarding=1')


def _proxy_ndp(ipr, ifname, address, command='add'):
    """Answer neighbour solicitations for ``address`` on ``ifname``."""
    index = _index(ipr, ifname)
    if index is None:
        return
    try:
        ipr.neigh(command, dst=address, ifindex=index, flags=NTF_PROXY,
                  family=socket.AF_INET6)
    except NetlinkError as exc:
        if exc.code not in (errno.EEXIST, errno.ENOENT):
            raise


class Veth:
    """Routed veth pair; policy on the host end; works on every kernel.

    The host end holds the gateway address (/32) and a /32 route to the
    container, and answers ARP for the rest of the subnet (proxy ARP), so
    containers on one host reach each other through the host's routing.
    IPv6 the same way: the gateway as a /128, a /128 route, and since
    Linux has proxy NDP only for single addresses, each host end answers
    neighbour solicitations for the other endpoints of its network here.
    """

    kind = 'veth'
    sandbox_side = False
    needs_parent = False

    def names(self, endpoint_id):
        return 'iv' + endpoint_id[:11], 'ic' + endpoint_id[:11]

    def plug(self, network, endpoint, siblings=()):
        host, sandbox = endpoint.host_ifname, endpoint.sandbox_ifname
        with IPRoute() as ipr:
            _delete(ipr, host)  # a Join cut short left it; start over
            _delete(ipr, sandbox)
            try:
                ipr.link('add', ifname=host, kind='veth', peer=sandbox)
            except NetlinkError as exc:
                raise LinkError('cannot create veth pair %s/%s: %s'
                                % (host, sandbox, exc))
            self._route(ipr, network, endpoint, siblings)

    def restore(self, network, endpoint, siblings=()):
        """After a restart: make sure the host end still routes."""
        with IPRoute() as ipr:
            self._route(ipr, network, endpoint, siblings)

    def _route(self, ipr, network, endpoint, siblings):
        if endpoint.address6:
            self._prepare6(endpoint.host_ifname)
        self._route4(ipr, network, endpoint)
        if endpoint.address6:
            self._route6(ipr, network, endpoint, siblings)

    def _prepare6(self, ifname):
        """IPv6 settings of the host end, before its link is up.

        No duplicate address detection: it would hold the host end's
        link-local address (and so its neighbour answers) back for a second
        after the container starts.
        """
        _sysctl('conf', ifname, 'disable_ipv6', '0', 6)
        _sysctl('conf', ifname, 'accept_dad', '0', 6)
        _forward_ipv6(ifname)
        _sysctl('conf', ifname, 'proxy_ndp', '1', 6)
        _sysctl('neigh', ifname, 'proxy_delay', '0', 6)

    def _route6(self, ipr, network, endpoint, siblings):
        index = _index(ipr, endpoint.host_ifname)
        try:   # no DAD: every host end of the network holds the gateway
            ipr.addr('add', index=index, address=network.gateway6,
                     prefixlen=128, flags=IFA_F_NODAD,
                     family=socket.AF_INET6)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        ipr.route('replace', dst=endpoint.address6, dst_len=128, oif=index,
                  family=socket.AF_INET6)
        for other in siblings:
            if other.address6:
                _proxy_ndp(ipr, endpoint.host_ifname, other.address6)
                _proxy_ndp(ipr, other.host_ifname, endpoint.address6)

    def _route4(self, ipr, network, endpoint):
        index = _index(ipr, endpoint.host_ifname)
        if index is None:
            raise LinkError('host interface %s is gone'
                            % endpoint.host_ifname)
        _sysctl('conf', endpoint.host_ifname, 'proxy_arp', '1')
        _sysctl('neigh', endpoint.host_ifname, 'proxy_delay', '0')
        _sysctl('conf', endpoint.host_ifname, 'forwarding', '1')
        ipr.link('set', index=index, state='up')
        try:
            ipr.addr('add', index=index, address=network.gateway,
                     prefixlen=32)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        ipr.route('replace', dst=endpoint.address, dst_len=32, oif=index,
                  scope=SCOPE_LINK)

    def plugged(self, endpoint):
        with IPRoute() as ipr:
            return _index(ipr, endpoint.host_ifname) is not None

    def unplug(self, endpoint, siblings=()):
        with IPRoute() as ipr:
            _delete(ipr, endpoint.host_ifname)   # and its proxy entries
            _delete(ipr, endpoint.sandbox_ifname)
            if endpoint.address6:
                for other in siblings:
                    _proxy_ndp(ipr, other.host_ifname, endpoint.address6,
                               'del')

    def join_info(self, network):
        return _gateways(network)


def _gateways(network):
    info = {'Gateway': network.gateway}
    if network.gateway6:
        info['GatewayIPv6'] = network.gateway6
    return info


class Macvlan:
    """A macvlan slave of the network's parent, bridge mode."""

    kind = 'macvlan'
    sandbox_side = True
    needs_parent = True

    def names(self, endpoint_id):
        name = 'im' + endpoint_id[:11]
        return name, name

    def _add(self, ipr, name, parent_index):
        ipr.link('add', ifname=name, kind='macvlan', link=parent_index,
                 macvlan_mode='bridge')

    def plug(self, network, endpoint, siblings=()):
        """Create the interface, marked so it can be found in the sandbox.

        Docker gives it both addresses of a dual-stack endpoint; neighbour
        discovery between siblings works as ARP does, on the parent.
        """
        name = endpoint.sandbox_ifname
        with IPRoute() as ipr:
            _delete(ipr, name)
            parent = _index(ipr, network.parent)
            if parent is None:
                raise LinkError('parent interface %s of network %s does not '
                                'exist' % (network.parent, network.id[:12]))
            try:
                self._add(ipr, name, parent)
            except NetlinkError as exc:
                raise LinkError('cannot create %s %s on %s: %s'
                                % (self.kind, name, network.parent, exc))
            ipr.link('set', index=_index(ipr, name),
                     ifalias=alias(endpoint.id))

    def plugged(self, endpoint):
        with IPRoute() as ipr:
            return _index(ipr, endpoint.sandbox_ifname) is not None

    def unplug(self, endpoint, siblings=()):
        # Docker moves it back out of a sandbox that still exists on Leave;
        # a sandbox that is gone took the interface with it.
        with IPRoute() as ipr:
            _delete(ipr, endpoint.sandbox_ifname)

    def join_info(self, network):
        return _gateways(network)


class Ipvlan(Macvlan):
    """An ipvlan L3 slave, the 2015 demo's choice.

    No ARP: the default route goes straight out of the interface.
    """

    kind = 'ipvlan'

    def names(self, endpoint_id):
        name = 'ip' + endpoint_id[:11]
        return name, name

    def _add(self, ipr, name, parent_index):
        ipr.link('add', ifname=name, kind='ipvlan', link=parent_index,
                 ipvlan_mode=IPVLAN_MODE_L3)

    def join_info(self, network):
        # A connected default route is not a gateway to libnetwork, which
        # would then also join the sandbox to docker_gwbridge and fail to
        # set that gateway over this route ("file exists"); Docker's own
        # ipvlan L3 driver disables the gateway service the same way.
        routes = [{'Destination': '0.0.0.0/0', 'RouteType': ROUTE_CONNECTED}]
        if network.subnet6:
            routes.append({'Destination': '::/0',
                           'RouteType': ROUTE_CONNECTED})
        return {'StaticRoutes': routes, 'DisableGatewayService': True}


KINDS = {kind.kind: kind for kind in (Veth(), Macvlan(), Ipvlan())}


def delete_in(netns, alias_name):
    """Delete the interface marked ``alias_name`` in ``netns``, if any."""
    try:
        with tc.in_netns(netns), IPRoute() as ipr:
            for link in ipr.get_links():
                if link.get_attr('IFLA_IFALIAS') == alias_name:
                    ipr.link('del', index=link['index'])
                    return True
    except (tc.AttachError, NetlinkError):
        pass
    return False


def parent_exists(ifname):
    # netlink, not /sys/class/net: sysfs shows the network namespace that
    # mounted it, which need not be the daemon's
    with IPRoute() as ipr:
        return _index(ipr, ifname) is not None
