"""Keep a host's endpoints map equal to the cluster's.

Other hosts' endpoints are written as *learned* entries (no interface, the
LEARNED flag). Every snapshot is applied as a diff, so a reconnection, a
restart or a repeated snapshot leaves neither duplicates nor stale entries.
Entries of endpoints attached here and addresses an operator tagged by hand
are never touched (``Dataplane.learn`` and ``forget`` check each entry).
"""

import logging

LOG = logging.getLogger(__name__)


def remote_groups(snapshot, host_name):
    """{address: group} of the endpoints of hosts other than this one.

    An address announced twice (a misconfigured cluster) goes to the first
    host by name, so every host picks the same one.
    """
    groups, owners = {}, {}
    for endpoint in sorted(snapshot, key=lambda e: (e.host, e.group)):
        if endpoint.host == host_name:
            continue
        if endpoint.address in owners:
            LOG.warning('%s is announced by hosts %s and %s; using %s\'s',
                        endpoint.address, owners[endpoint.address],
                        endpoint.host, owners[endpoint.address])
            continue
        groups[endpoint.address] = endpoint.group
        owners[endpoint.address] = endpoint.host
    return groups


class EndpointSync:
    """A registry watcher that writes remote endpoints into a dataplane.

    The learned entries are read from the map once, on the first snapshot
    (which so clears what a previous run left); after that the diff is
    against what this sync wrote, so a snapshot costs only its changes.
    ``lock`` serialises map changes with the host's own attach and detach.
    """

    def __init__(self, dataplane, host_name, lock):
        self.dataplane = dataplane
        self.host_name = host_name
        self.lock = lock
        self._learned = None     # address -> group, as in the map
        self._held = set()

    def __call__(self, snapshot):
        remote = remote_groups(snapshot, self.host_name)
        with self.lock:
            if self._learned is None:
                self._learned = self.dataplane.learned()
            learned = self._learned
            upserts = {a: g for a, g in remote.items() if learned.get(a) != g}
            removals = sorted(set(learned) - set(remote))
            gone = self.dataplane.forget(removals)
            held = set(self.dataplane.learn(upserts))
            for address in removals:
                del learned[address]
            learned.update((a, g) for a, g in upserts.items()
                           if a not in held)
        for address in sorted(held - self._held):
            LOG.warning('%s is announced by another host but is local or '
                        'tagged by hand here; keeping this host\'s entry',
                        address)
        self._held = held
        if upserts or gone:
            LOG.debug('learned %d endpoints, forgot %d',
                      len(upserts) - len(held), len(gone))
        return upserts, gone
