"""A host's part in the cluster: its dataplane joined to a registry.

The Docker driver daemon holds one ``Agent`` and changes its endpoints only
through it: ``join`` (attach and announce), ``tag`` (classify and announce
an endpoint whose interface is not in its sandbox yet) and ``leave``
(forget and withdraw). None of them waits for the registry's service.
With each announcement the host's routed subnets (``routed_subnets``, the
driver's networks) are claimed too: other hosts accept only endpoints
inside them. The registry's accepted endpoints are synced into the
endpoints map, and the cluster policy, when there is one, is applied
whenever the registry delivers it.
"""

import logging
import threading

from magnum_iovisor import dataplane as dataplane_module
from magnum_iovisor import registry
from magnum_iovisor.registry import sync

LOG = logging.getLogger(__name__)


class Agent:
    def __init__(self, dataplane, registry_backend, routed_subnets=None):
        """``routed_subnets()``: the subnets this host routes (CIDR text)."""
        self.dataplane = dataplane
        self.routed_subnets = routed_subnets or (lambda: ())
        self.registry = registry_backend
        self.host_name = registry_backend.host_name
        self.lock = threading.RLock()
        self.sync = sync.EndpointSync(dataplane, self.host_name, self.lock)
        self.published = {}      # address -> group, as announced
        self.cluster_policy = None

    def start(self):
        """Follow the cluster: learn its endpoints, apply its policy.

        Returns at once, whether or not the registry is reachable. What
        this host announced before (its driver's restored endpoints) goes
        out as soon as the registry is.
        """
        self.registry.watch_endpoints(self.sync)
        self.registry.watch_policy(self._apply_policy)
        self.registry.set_subnets(self.routed_subnets())
        self.registry.start()

    def close(self):
        self.registry.close()

    def _publish(self, address, group):
        # once per endpoint and group, however often the driver restores it
        if self.published.get(address) != group:
            self.registry.set_subnets(self.routed_subnets())
            self.registry.publish(registry.Endpoint(address, group,
                                                    self.host_name))
            self.published[address] = group

    def join(self, ifname, address, group, netns=None, sandbox_side=None):
        """Enforce on the endpoint's interface and announce it."""
        with self.lock:
            index = self.dataplane.attach(ifname, address, group, netns,
                                          sandbox_side)
            self._publish(address, group)
        return index

    def attach_links(self, ifname, addresses, group, key):
        """``join`` for an interface still in the host namespace (tcx)."""
        with self.lock:
            index = self.dataplane.attach_links(ifname, addresses, group,
                                                key)
            for address in addresses:
                self._publish(address, group)
        return index

    def bind(self, addresses, netns):
        with self.lock:
            return self.dataplane.bind(addresses, netns)

    def detach_links(self, key):
        with self.lock:
            return self.dataplane.detach_links(key)

    @property
    def guards_parent(self):
        return self.dataplane.guards_parent

    def attach_parent(self, ifname):
        with self.lock:
            self.dataplane.attach_parent(ifname)

    def detach_parent(self, ifname):
        with self.lock:
            return self.dataplane.detach_parent(ifname)

    def linked(self, key):
        return self.dataplane.linked(key)

    def refuse_bypass(self):
        with self.lock:
            self.dataplane.refuse_bypass()

    def allow_bypass(self):
        with self.lock:
            return self.dataplane.allow_bypass()

    def tag(self, address, group):
        """Classify and announce an endpoint ahead of its interface.

        For macvlan and ipvlan, whose programs can only be attached once
        Docker has moved the interface into its sandbox (``join`` then).
        An entry attached already (found again after a restart) is kept.
        """
        with self.lock:
            known = self.dataplane.endpoint(address)
            if not (known and known.ifindex and known.group == group):
                self.dataplane.tag(address, group)
            self._publish(address, group)

    def leave(self, address, ifname=None, netns=None):
        """Stop enforcing for ``address`` and withdraw it.

        ``ifname`` may be gone already (a deleted sandbox, an interface the
        driver removed); the address is forgotten either way.
        """
        with self.lock:
            if ifname is not None:
                self.dataplane.detach(ifname, netns)
            self.dataplane.untag(address)
            self.published.pop(address, None)
            self.registry.withdraw(address)

    def _apply_policy(self, policy):
        """The cluster policy, delivered on every change and reconnection.

        Applied each time as a diff, so a host policy changed behind the
        cluster's back (while the registry was unreachable) is put right.
        """
        if policy is None:
            if self.cluster_policy is not None:
                LOG.info('the cluster policy was removed: this host keeps '
                         'enforcing it and takes local changes again')
            self.cluster_policy = None
            return
        with self.lock:
            try:
                upserts, removals = self.dataplane.replace_policy(policy)
            except dataplane_module.BpfError as exc:
                LOG.error('cannot apply the cluster policy, keeping the one '
                          'in force: %s', exc)
                return
        if policy != self.cluster_policy:
            LOG.info('cluster policy applied: %d rules, %d added or changed, '
                     '%d removed', len(policy), len(upserts), len(removals))
        elif upserts or removals:
            LOG.warning('this host\'s policy differed from the cluster '
                        'policy: %d rules put back, %d removed',
                        len(upserts), len(removals))
        self.cluster_policy = policy
