"""The ``local`` registry: one host, no service.

Nothing leaves the process: the cluster is this host, so its snapshot only
ever holds its own endpoints and there are no remote ones to learn. A
cluster policy set here lives as long as the process.
"""

import threading

from magnum_iovisor import registry


class LocalRegistry(registry.Registry):
    def __init__(self, host_name):
        super().__init__(host_name)
        self._lock = threading.RLock()
        self._endpoints = {}
        self._policy = None
        self._endpoint_watchers = []
        self._policy_watchers = []

    def publish(self, endpoint):
        if endpoint.host != self.host_name:
            raise registry.RegistryError(
                'host %s cannot publish an endpoint of host %s'
                % (self.host_name, endpoint.host))
        with self._lock:
            if self._endpoints.get(endpoint.address) != endpoint:
                self._endpoints[endpoint.address] = endpoint
                self._changed(endpoint.address)

    def withdraw(self, address):
        address = registry.canonical_address(address)
        with self._lock:
            if self._endpoints.pop(address, None) is not None:
                self._changed(address)

    def _changed(self, address):
        change = {address: self._endpoints.get(address)}
        for callback in self._endpoint_watchers:
            callback(change, False)

    def endpoints(self):
        with self._lock:
            return frozenset(self._endpoints.values())

    def watch_endpoints(self, callback):
        with self._lock:
            self._endpoint_watchers.append(callback)
            callback(dict(self._endpoints), True)

    def watch_policy(self, callback):
        with self._lock:
            self._policy_watchers.append(callback)
            callback(self._policy)

    def cluster_policy(self):
        return self._policy

    def set_cluster_policy(self, policy):
        with self._lock:
            self._policy = policy
            for callback in self._policy_watchers:
                callback(policy)
