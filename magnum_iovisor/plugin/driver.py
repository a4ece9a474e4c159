"""The libnetwork driver: what each Docker request does.

Requests arrive validated (``schemas``). The driver owns the networks and
endpoints (kept in a ``state.Store``), creates interfaces with the network's
interface kind (``links``), and tags, attaches and forgets endpoints through
the host's ``registry.agent.Agent``, which also announces them to the
cluster and withdraws them. It never calls back into dockerd.
"""

import ipaddress
import logging
import threading
import time

from magnum_iovisor.dataplane import attach as tc
from magnum_iovisor.dataplane.libbpf import BpfError
from magnum_iovisor.dataplane import tcx
from magnum_iovisor.plugin import failures
from magnum_iovisor.plugin import links
from magnum_iovisor.plugin import quarantine
from magnum_iovisor.plugin import sandbox
from magnum_iovisor.plugin import schemas
from magnum_iovisor.plugin import state
from magnum_iovisor import policy

LOG = logging.getLogger(__name__)

MODE = 'iovisor.mode'
PARENT = 'iovisor.parent'
GROUP = 'iovisor.group'
NETWORK_OPTIONS = (MODE, PARENT, GROUP)
ENDPOINT_OPTIONS = (GROUP,)
EXPOSE_PROTO_GROUP = 0   # ``--expose N/0``: an unknown protocol parses to 0


class DriverError(RuntimeError):
    """A request the driver cannot honour; the message goes to Docker."""


def parse_group(value, where):
    if not (isinstance(value, str) and value.isdigit()):
        raise DriverError('%s: group %r is not a number 0..%d'
                          % (where, value, policy.GROUP_MAX))
    return _endpoint_group(int(value), where)


def _endpoint_group(group, where):
    try:
        return policy.check_endpoint_group(group, where)
    except policy.PolicyError as exc:
        raise DriverError(str(exc))


def _check_options(options, known, where):
    unknown = sorted(k for k in options
                     if k.startswith('iovisor.') and k not in known)
    if unknown:
        raise DriverError('%s: unknown option(s) %s; known: %s'
                          % (where, ', '.join(unknown), ', '.join(known)))


def endpoint_group(options, network):
    """The group of an endpoint; first match wins, conflicts are errors.

    1. the endpoint driver option ``iovisor.group``
    2. ``--expose N/0`` (an exposed port with protocol 0)
    3. the network's ``-o iovisor.group``, else 0
    """
    found = []
    if GROUP in options:
        found.append(('driver option %s=%s' % (GROUP, options[GROUP]),
                      parse_group(options[GROUP], 'driver option ' + GROUP)))
    for port in options.get(schemas.EXPOSED_PORTS) or []:
        if port['Proto'] == EXPOSE_PROTO_GROUP:
            where = '--expose %d/0' % port['Port']
            found.append((where, _endpoint_group(port['Port'], where)))
    if len({group for _, group in found}) > 1:
        raise DriverError('conflicting groups for one container: %s'
                          % ', '.join(where for where, _ in found))
    return found[0][1] if found else network.group


_FAMILIES = {4: (ipaddress.IPv4Network, ipaddress.IPv4Interface,
                 'IPv4Data', 'Address'),
             6: (ipaddress.IPv6Network, ipaddress.IPv6Interface,
                 'IPv6Data', 'AddressIPv6')}


def _pool(pools, family):
    """(subnet, gateway) text of a network's pool of ``family``.

    IPv4: exactly one pool. IPv6 (``--ipv6``): none or one.
    """
    network_type, interface_type, field, _ = _FAMILIES[family]
    pools = pools or []
    if family == 6 and not pools:
        return None, None
    if len(pools) != 1:
        raise DriverError('a network needs exactly one IPv%d subnet '
                          '(--subnet), got %d in %s'
                          % (family, len(pools), field))
    try:
        subnet = network_type(pools[0]['Pool'])
        gateway = interface_type(pools[0]['Gateway']).ip
    except (KeyError, ValueError) as exc:
        raise DriverError('bad IPv%d pool %s in %s: %s'
                          % (family, pools[0], field, exc))
    if gateway not in subnet:
        raise DriverError('gateway %s is outside the subnet %s'
                          % (gateway, subnet))
    return str(subnet), str(gateway)


def _endpoint_address(text, subnet, family, endpoint_id):
    """The endpoint's address of ``family`` (an ip_interface), or None."""
    _, interface_type, _, field = _FAMILIES[family]
    if not text:
        if subnet is not None:
            raise DriverError('endpoint %s has no IPv%d address (Interface.'
                              '%s) on a network with subnet %s'
                              % (endpoint_id, family, field, subnet))
        if family == 4:
            raise DriverError('endpoint %s has no IPv4 address; create the '
                              'network with --subnet' % endpoint_id)
        return None
    if subnet is None:
        raise DriverError('endpoint address %s: the network has no IPv%d '
                          'subnet (create it with --ipv6 and a subnet)'
                          % (text, family))
    try:
        address = interface_type(text)
    except ValueError as exc:
        raise DriverError('endpoint address (Interface.%s): %s is not an '
                          'IPv%d address with a prefix length (%s)'
                          % (field, text, family, exc))
    if address.ip not in ipaddress.ip_network(subnet):
        raise DriverError('address %s is outside the network subnet %s'
                          % (text, subnet))
    return address


class Driver:
    def __init__(self, agent, store, kinds=None, default_mode='veth',
                 default_parent=None, sandbox_timeout=60.0,
                 sandbox_in_use=sandbox.in_use, qdisc_bypass_guard='auto'):
        """``agent``: ``join``, ``tag`` and ``leave`` as ``Agent`` has them."""
        self.agent = agent
        self.store = store
        self.kinds = kinds or links.KINDS
        self.default_mode = default_mode
        self.default_parent = default_parent
        self.sandbox_timeout = sandbox_timeout
        self.sandbox_in_use = sandbox_in_use
        self.qdisc_bypass_guard = qdisc_bypass_guard
        # Requests run on one thread; sandbox watchers on their own.
        self.lock = threading.RLock()
        self.networks = store.networks()
        self.endpoints = store.endpoints()
        self.attached = set()     # endpoint ids whose programs are on
        self.watchers = {}        # endpoint id -> Thread
        self.departures = sandbox.Departures()
        self.joined_at = {}       # endpoint id -> monotonic time of Join
        self.tcx = True           # until the kernel says it has none
        self.forgotten = set()    # endpoint ids reconcile removed
        self.attach_failures = 0  # Joins failed for want of filters

    # -- lookups --------------------------------------------------------------

    def _network(self, network_id):
        try:
            return self.networks[network_id]
        except KeyError:
            raise DriverError('unknown network %s' % network_id)

    def _endpoint(self, request):
        endpoint = self.endpoints.get(request['EndpointID'])
        if endpoint is None or endpoint.network_id != request['NetworkID']:
            raise DriverError('unknown endpoint %s on network %s'
                              % (request['EndpointID'], request['NetworkID']))
        return endpoint

    def _kind(self, endpoint):
        return self.kinds[self.networks[endpoint.network_id].mode]

    # -- plugin and network ---------------------------------------------------

    def capabilities(self, request):
        return {'Scope': 'local', 'ConnectivityScope': 'local'}

    def create_network(self, request):
        options = (request.get('Options') or {}).get(schemas.GENERIC) or {}
        unknown = sorted(k for k in options
                         if not k.startswith('com.docker.')
                         and k not in NETWORK_OPTIONS)
        if unknown:
            raise DriverError('unknown network option(s) %s; known: %s'
                              % (', '.join(unknown),
                                 ', '.join(NETWORK_OPTIONS)))
        mode = options.get(MODE, self.default_mode)
        if mode not in self.kinds:
            raise DriverError('%s=%s: not one of %s'
                              % (MODE, mode, ', '.join(sorted(self.kinds))))
        kind = self.kinds[mode]
        parent = options.get(PARENT, self.default_parent)
        if kind.needs_parent:
            if not parent:
                raise DriverError('a %s network needs a parent interface: '
                                  '-o %s=IFACE (or [docker] default_parent)'
                                  % (mode, PARENT))
            if not links.parent_exists(parent):
                raise DriverError('%s=%s: no such interface'
                                  % (PARENT, parent))
        elif PARENT in options:
            raise DriverError('%s is for macvlan and ipvlan networks, not %s'
                              % (PARENT, mode))
        else:
            parent = None
        group = parse_group(options[GROUP], 'network option ' + GROUP) \
            if GROUP in options else 0
        subnet, gateway = _pool(request.get('IPv4Data'), 4)
        subnet6, gateway6 = _pool(request.get('IPv6Data'), 6)
        network = state.Network(id=request['NetworkID'], mode=mode,
                                subnet=subnet, gateway=gateway,
                                group=group, parent=parent,
                                subnet6=subnet6, gateway6=gateway6)
        with self.lock:
            if network.id in self.networks:
                raise DriverError('network %s exists' % network.id)
            if kind.sandbox_side:
                self._guard_parent(parent)
            self.store.save_network(network)
            self.networks[network.id] = network
        LOG.info('network %s: %s, %s, group %d%s', network.id[:12], mode,
                 ' and '.join(filter(None, (subnet, subnet6))), group,
                 ', parent %s' % parent if parent else '')
        return {}

    def delete_network(self, request):
        with self.lock:
            network = self._network(request['NetworkID'])
            for endpoint in [e for e in self.endpoints.values()
                             if e.network_id == network.id]:
                LOG.warning('endpoint %s left on deleted network %s',
                            endpoint.id[:12], network.id[:12])
                self._remove_endpoint(endpoint)
            self.store.delete_network(network.id)
            del self.networks[network.id]
            if network.parent and not any(
                    other.parent == network.parent
                    for other in self.networks.values()):
                self.agent.detach_parent(network.parent)
            # a quarantined network's containers may be macvlan/ipvlan ones
            if not any(other.parent for other in self.networks.values()) \
                    and not quarantine.names(self.store.state_dir,
                                             'networks'):
                self.agent.allow_bypass()
        LOG.info('network %s deleted', network.id[:12])
        return {}

    def _guard_parent(self, parent):
        """Judge, or refuse, what a sandbox sends past its own egress hook.

        It is judged on the parent (from_parent, bpf/parent.h) or, where
        the kernel cannot tell sandboxes there, never sent
        (dataplane/bypass.py).
        """
        judged = self.tcx and self.agent.guards_parent
        if judged:
            try:
                self.agent.attach_parent(parent)
            except tcx.Unsupported as exc:
                LOG.warning('%s: no tcx on the parent', exc)
                self.tcx = judged = False
            except (tc.AttachError, BpfError) as exc:
                raise DriverError('cannot attach the classifier to parent '
                                  '%s: %s' % (parent, exc))
        if judged and self.qdisc_bypass_guard != 'always':
            return
        try:
            self.agent.refuse_bypass()
        except BpfError as exc:
            raise DriverError('%s; a raw sender in a macvlan/ipvlan container '
                              'could send past its filters, so no such '
                              'network is served' % exc)
        if not judged:
            LOG.info('parent %s: from_parent not attached (this kernel '
                     'cannot tell a sandbox\'s packets there); '
                     'PACKET_QDISC_BYPASS is refused to containers instead',
                     parent)

    # -- endpoints ------------------------------------------------------------

    def create_endpoint(self, request):
        network = self._network(request['NetworkID'])
        options = request.get('Options') or {}
        _check_options(options, ENDPOINT_OPTIONS, 'driver option')
        group = endpoint_group(options, network)
        interface = request.get('Interface') or {}
        address = _endpoint_address(interface.get('Address'), network.subnet,
                                    4, request['EndpointID'])
        address6 = _endpoint_address(interface.get('AddressIPv6'),
                                     network.subnet6, 6,
                                     request['EndpointID'])
        host_ifname, sandbox_ifname = self.kinds[network.mode].names(
            request['EndpointID'])
        endpoint = state.Endpoint(
            id=request['EndpointID'], network_id=network.id,
            address=str(address.ip), prefixlen=address.network.prefixlen,
            group=group, host_ifname=host_ifname,
            sandbox_ifname=sandbox_ifname,
            address6=str(address6.ip) if address6 else None,
            prefixlen6=address6.network.prefixlen if address6 else None)
        with self.lock:
            if endpoint.id in self.endpoints:
                raise DriverError('endpoint %s exists' % endpoint.id)
            for stale in [e for e in self.endpoints.values()
                          if e.network_id == network.id
                          and set(e.addresses) & set(endpoint.addresses)]:
                # Docker's IPAM handed the address out again, so Docker
                # forgot that endpoint while this daemon was not listening.
                LOG.warning('endpoint %s: forgotten by Docker; removing',
                            stale.id[:12])
                self._remove_endpoint(stale)
            self.store.save_endpoint(endpoint)
            self.endpoints[endpoint.id] = endpoint
        LOG.info('endpoint %s: %s group %d', endpoint.id[:12],
                 ' '.join(endpoint.addresses), group)
        return {}

    def delete_endpoint(self, request):
        with self.lock:
            if request['EndpointID'] in self.forgotten:
                return {}
            endpoint = self._endpoint(request)
            self._remove_endpoint(endpoint)
        LOG.info('endpoint %s deleted', endpoint.id[:12])
        return {}

    def _remove_endpoint(self, endpoint):
        self._unplug(endpoint)
        self.store.delete_endpoint(endpoint.id)
        del self.endpoints[endpoint.id]

    def endpoint_info(self, request):
        endpoint = self._endpoint(request)
        return {'Value': {
            'group': endpoint.group, 'address': endpoint.address,
            'address6': endpoint.address6,
            'mode': self.networks[endpoint.network_id].mode,
            'interface': endpoint.host_ifname,
            'attached': endpoint.id in self.attached}}

    # -- join and leave -------------------------------------------------------

    def join(self, request):
        with self.lock:
            endpoint = self._endpoint(request)
            network = self.networks[endpoint.network_id]
            kind = self.kinds[network.mode]
            if endpoint.sandbox_key:
                LOG.warning('endpoint %s joins again', endpoint.id[:12])
                self._unplug(endpoint)
            # Recorded before any link exists, so a crash leaves nothing
            # that reconcile or a later Leave cannot find.
            endpoint.sandbox_key = request['SandboxKey']
            self.joined_at[endpoint.id] = time.monotonic()
            self.store.save_endpoint(endpoint)
            try:
                self._plug(kind, network, endpoint)
            except Exception:
                self._unplug(endpoint)
                raise
        response = {'InterfaceName': {'SrcName': endpoint.sandbox_ifname,
                                      'DstPrefix': 'eth'}}
        response.update(kind.join_info(network))
        return response

    def _plug(self, kind, network, endpoint):
        try:
            kind.plug(network, endpoint, self._siblings(endpoint))
        except links.LinkError as exc:
            raise DriverError(str(exc))
        if kind.sandbox_side and self.tcx:
            # On the interface before Docker moves it: the move keeps tcx
            # links, so the container never runs unfiltered
            # (dataplane/tcx.py). Failing here fails Join: no network.
            try:
                self.agent.attach_links(endpoint.sandbox_ifname,
                                        endpoint.addresses, endpoint.group,
                                        endpoint.id)
            except tcx.Unsupported as exc:
                LOG.warning('%s: this kernel has no tcx; macvlan/ipvlan '
                            'filters are attached once the interface is in '
                            'the sandbox, so a container\'s first packets '
                            'can pass unfiltered', exc)
                self.tcx = False
            except (tc.AttachError, BpfError) as exc:
                self.attach_failures += 1
                failures.record(self.store.state_dir, 'attach', endpoint.id,
                                endpoint.sandbox_ifname,
                                '%s; Join fails' % exc)
                raise DriverError('cannot attach the classifiers to %s: %s; '
                                  'the container gets no network without '
                                  'them' % (endpoint.sandbox_ifname, exc))
            else:
                self.attached.add(endpoint.id)
                self._watch(endpoint, self._bind_in_sandbox)
                return
        if kind.sandbox_side:
            # Tagged and announced now, so traffic to it is classified from
            # any interface of any host; its own filters follow once it is
            # in the sandbox.
            for address in endpoint.addresses:
                self.agent.tag(address, endpoint.group)
            self._watch(endpoint)
        else:
            self._join(endpoint.host_ifname, endpoint, sandbox_side=False)
            self.attached.add(endpoint.id)

    def _join(self, ifname, endpoint, **where):
        """Attach on ``ifname`` with every address of the endpoint."""
        for address in endpoint.addresses:
            self.agent.join(ifname, address, endpoint.group, **where)

    def _siblings(self, endpoint):
        """The other joined endpoints of its network on this host."""
        return [other for other in self.endpoints.values()
                if other.network_id == endpoint.network_id
                and other.id != endpoint.id and other.sandbox_key]

    def _unplug(self, endpoint):
        self.attached.discard(endpoint.id)
        self.joined_at.pop(endpoint.id, None)
        if self.watchers.pop(endpoint.id, None):
            self.departures.wake(links.alias(endpoint.id))
        self.agent.detach_links(endpoint.id)
        self._kind(endpoint).unplug(endpoint, self._siblings(endpoint))
        for address in endpoint.addresses:
            if not any(address in other.addresses and other.sandbox_key
                       for other in self.endpoints.values()
                       if other.id != endpoint.id):
                self.agent.leave(address)
        if endpoint.sandbox_key:
            endpoint.sandbox_key = None
            if endpoint.id in self.endpoints:
                self.store.save_endpoint(endpoint)

    def leave(self, request):
        with self.lock:
            if request['EndpointID'] in self.forgotten:
                return {}
            endpoint = self._endpoint(request)
            self._unplug(endpoint)
        return {}

    # -- sandbox-side attachment ----------------------------------------------

    def _watch(self, endpoint, target=None):
        watcher = threading.Thread(
            target=target or self._attach_in_sandbox,
            args=(endpoint.id, endpoint.sandbox_key),
            name='sandbox-%s' % endpoint.id[:12], daemon=True)
        self.watchers[endpoint.id] = watcher
        watcher.start()

    def _current(self, endpoint_id, sandbox_key):
        """The endpoint while it still waits in that sandbox, else None."""
        endpoint = self.endpoints.get(endpoint_id)
        if (endpoint is None or endpoint.sandbox_key != sandbox_key
                or self.watchers.get(endpoint_id)
                is not threading.current_thread()):
            return None
        return endpoint

    def _attach_in_sandbox(self, endpoint_id, sandbox_key):
        def cancelled():
            return self._current(endpoint_id, sandbox_key) is None

        alias = links.alias(endpoint_id)
        try:
            while True:
                ifname = sandbox.wait_for_link(
                    sandbox_key, alias, self.sandbox_timeout, cancelled,
                    self.departures)
                arrived = time.monotonic()
                with self.lock:
                    endpoint = self._current(endpoint_id, sandbox_key)
                    if ifname is None or endpoint is None:
                        return
                    try:
                        self._join(ifname, endpoint, netns=sandbox_key,
                                   sandbox_side=True)
                    except tc.AttachError:
                        # renamed under us by Docker: look it up again
                        if sandbox.find_link(sandbox_key, alias) == ifname:
                            raise
                        continue
                    self.attached.add(endpoint_id)
                    self.watchers.pop(endpoint_id, None)
                    joined = self.joined_at.pop(endpoint_id, arrived)
                    LOG.info('endpoint %s: attached on %s in %s; interface '
                             'there %.1f ms after Join, attached %.1f ms '
                             'later', endpoint_id[:12], ifname, sandbox_key,
                             (arrived - joined) * 1000,
                             (time.monotonic() - arrived) * 1000)
                    return
        except Exception as exc:
            LOG.exception('endpoint %s: cannot attach in sandbox %s; '
                          'removing its interface: no network without '
                          'filters', endpoint_id[:12], sandbox_key)
            self._give_up(endpoint_id, sandbox_key, alias, exc)

    def _give_up(self, endpoint_id, sandbox_key, alias, exc):
        """No filters (or no sandbox) came: no interface, no addresses."""
        with self.lock:
            self.attach_failures += 1
            endpoint = self._current(endpoint_id, sandbox_key)
            ifname = endpoint.sandbox_ifname if endpoint else alias
            failures.record(self.store.state_dir, 'sandbox', endpoint_id,
                            ifname, '%s; interface removed' % exc)
            if endpoint is None:
                return
            self.watchers.pop(endpoint_id, None)
            self.agent.detach_links(endpoint.id)
            # still in the host ns, or in the sandbox
            self._kind(endpoint).unplug(endpoint, self._siblings(endpoint))
            links.delete_in(sandbox_key, alias)
            for address in endpoint.addresses:
                self.agent.leave(address)

    def _bind_in_sandbox(self, endpoint_id, sandbox_key):
        """tcx endpoints: bind their addresses to the sandbox's namespace.

        The namespace exists only once Docker made it, after Join; until
        then the parent takes any local endpoint's address from a sandbox
        (bpf/parent.h). Past ``sandbox_timeout`` it warns and waits on
        (unlike the links, the binding is not what filters the container)
        until the container has started (sandbox.started) and run for a
        whole timeout without it.
        """
        def cancelled():
            return self._current(endpoint_id, sandbox_key) is None

        alias = links.alias(endpoint_id)
        try:
            ifname = self._wait_in_tcx(endpoint_id, sandbox_key, alias,
                                       cancelled)
            with self.lock:
                endpoint = self._current(endpoint_id, sandbox_key)
                if ifname is None or endpoint is None:
                    return
                self.agent.bind(endpoint.addresses, sandbox_key)
                self.watchers.pop(endpoint_id, None)
        except Exception as exc:
            # the links enforce still, but addresses that cannot be bound
            # to their sandbox get no network
            LOG.exception('endpoint %s: cannot bind its addresses to '
                          'sandbox %s', endpoint_id[:12], sandbox_key)
            self._give_up(endpoint_id, sandbox_key, alias, exc)

    def _wait_in_tcx(self, endpoint_id, sandbox_key, alias, cancelled):
        warned = occupied = False
        while True:
            try:
                return sandbox.wait_for_link(sandbox_key, alias,
                                             self.sandbox_timeout, cancelled,
                                             self.departures)
            except sandbox.SandboxTimeout as exc:
                # Docker moves the interface in before the container's
                # process starts (its prestart hook, while runc's init
                # waits in the sandbox): a started container for a whole
                # timeout means the alias was changed in the sandbox, and
                # the addresses would stay unbound.
                was, occupied = occupied, sandbox.started(sandbox_key)
                if was and occupied:
                    raise
                # Its links filter it wherever it is, so a slow Docker
                # costs no container its network; Leave ends the wait.
                if not warned:
                    LOG.warning('endpoint %s: %s; filtered by its links, '
                                'still waiting', endpoint_id[:12], exc)
                    warned = True

    def wait_attached(self, endpoint_id, timeout=None):
        """For checks and benchmarks: wait for a sandbox watcher to end."""
        watcher = self.watchers.get(endpoint_id)
        if watcher is not None:
            watcher.join(timeout)
        return endpoint_id in self.attached

    # -- start-up -------------------------------------------------------------

    def reconcile(self):
        """Bring the kernel in line with the endpoints kept on disk.

        Joined endpoints whose interface is still there get their tag and
        programs back (both usually survived in the pins) and are announced
        again, once each; those whose container went away while nobody was
        listening are unplugged, forgotten and withdrawn, and wait for
        Docker's Leave and DeleteEndpoint. Run before the agent starts, so
        that the registry sees this host's endpoints all at once.
        """
        held = quarantine.names(self.store.state_dir, 'networks')
        with self.lock:
            for parent in sorted({n.parent for n in self.networks.values()
                                  if n.parent}):
                try:
                    self._guard_parent(parent)
                except DriverError as exc:
                    LOG.error('%s', exc)
            # Unjoined first: they must not untag an address a joined
            # endpoint holds now.
            for endpoint in sorted(self.endpoints.values(),
                                   key=lambda e: e.sandbox_key is not None):
                if endpoint.network_id in held:
                    # Its network's file was quarantined: leave the
                    # endpoint's file and whatever it has in the kernel
                    # (filters stay on, so still enforced), serve neither.
                    LOG.warning('endpoint %s: its network %s is '
                                'quarantined; not served',
                                endpoint.id[:12], endpoint.network_id[:12])
                    del self.endpoints[endpoint.id]
                    continue
                if endpoint.network_id not in self.networks:
                    LOG.warning('endpoint %s: network %s is gone; removing',
                                endpoint.id[:12], endpoint.network_id[:12])
                    self.store.delete_endpoint(endpoint.id)
                    del self.endpoints[endpoint.id]
                    continue
                try:
                    self._reconcile(endpoint)
                except Exception:
                    LOG.exception('endpoint %s: cannot restore; unplugging',
                                  endpoint.id[:12])
                    self._unplug(endpoint)

    def _reconcile(self, endpoint):
        network = self.networks[endpoint.network_id]
        kind = self.kinds[network.mode]
        if not endpoint.sandbox_key:
            self._unplug(endpoint)
            return
        if not self.sandbox_in_use(endpoint.sandbox_key):
            # Docker removes a container's endpoints when it stops; its
            # Leave and DeleteEndpoint went unanswered while nobody
            # listened (Docker moved a macvlan back out when it deleted
            # the sandbox). Forget it; a late Leave or Delete is answered.
            LOG.info('endpoint %s: its sandbox %s is gone; forgetting it',
                     endpoint.id[:12], endpoint.sandbox_key)
            self._remove_endpoint(endpoint)
            self.forgotten.add(endpoint.id)
            return
        if kind.sandbox_side:
            alias = links.alias(endpoint.id)
            if (sandbox.find_link(endpoint.sandbox_key, alias)
                    or kind.plugged(endpoint)):
                for address in endpoint.addresses:
                    self.agent.tag(address, endpoint.group)
                if self.agent.linked(endpoint.id):
                    self.attached.add(endpoint.id)
                    self._watch(endpoint, self._bind_in_sandbox)
                else:
                    self._watch(endpoint)
                LOG.info('endpoint %s: restored', endpoint.id[:12])
                return
        elif kind.plugged(endpoint):
            kind.restore(network, endpoint, self._siblings(endpoint))
            self._join(endpoint.host_ifname, endpoint, sandbox_side=False)
            self.attached.add(endpoint.id)
            LOG.info('endpoint %s: restored', endpoint.id[:12])
            return
        LOG.info('endpoint %s: its container is gone', endpoint.id[:12])
        self._unplug(endpoint)
