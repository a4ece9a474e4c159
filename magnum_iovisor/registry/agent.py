"""A host's part in the cluster: its dataplane joined to a registry.

The Docker driver daemon holds one ``Agent``: ``join`` and ``leave`` attach
an endpoint and announce it (never waiting for the registry's service), the
registry's snapshots are synced into the endpoints map, and the cluster
policy, when there is one, is applied as it changes.
"""

import logging
import threading

from magnum_iovisor import dataplane as dataplane_module
from magnum_iovisor import registry
from magnum_iovisor.registry import sync

LOG = logging.getLogger(__name__)


class Agent:
    def __init__(self, dataplane, registry_backend):
        self.dataplane = dataplane
        self.registry = registry_backend
        self.host_name = registry_backend.host_name
        self.lock = threading.RLock()
        self.sync = sync.EndpointSync(dataplane, self.host_name, self.lock)
        self.cluster_policy = None

    def start(self):
        """Announce what is attached here, then follow the cluster.

        Returns at once, whether or not the registry is reachable.
        """
        with self.lock:
            for address, group, ifindex in self.dataplane.endpoints():
                if ifindex:
                    self._publish(address, group)
        self.registry.watch_endpoints(self.sync)
        self.registry.watch_policy(self._apply_policy)
        self.registry.start()

    def close(self):
        self.registry.close()

    def _publish(self, address, group):
        self.registry.publish(registry.Endpoint(address, group,
                                                self.host_name))

    def join(self, ifname, address, group, netns=None, sandbox_side=None):
        """Enforce on the endpoint's interface and announce it."""
        with self.lock:
            index = self.dataplane.attach(ifname, address, group, netns,
                                          sandbox_side)
            self._publish(address, group)
        return index

    def leave(self, address, ifname=None, netns=None):
        """Stop enforcing for ``address`` and withdraw it.

        ``ifname`` may be gone already (a deleted sandbox); the address is
        forgotten either way.
        """
        with self.lock:
            if ifname is not None:
                self.dataplane.detach(ifname, netns)
            for known, _, ifindex in self.dataplane.endpoints():
                if known == address and ifindex:
                    self.dataplane.untag(address)
            self.registry.withdraw(address)

    def _apply_policy(self, policy):
        self.cluster_policy = policy
        if policy is None:
            LOG.info('no cluster policy: this host\'s own policy applies')
            return
        with self.lock:
            try:
                upserts, removals = self.dataplane.replace_policy(policy)
            except dataplane_module.BpfError as exc:
                LOG.error('cannot apply the cluster policy, keeping the one '
                          'in force: %s', exc)
                return
        LOG.info('cluster policy applied: %d rules, %d added or changed, '
                 '%d removed', len(policy), len(upserts), len(removals))
