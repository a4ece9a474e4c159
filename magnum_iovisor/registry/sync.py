"""Keep a host's endpoints map equal to the cluster's accepted endpoints.

Other hosts' endpoints are written as *learned* entries (no interface, the
LEARNED flag). The registry delivers changes; the first delivery is full
(everything accepted) and is applied as a diff against the map, which so
clears what a previous run left, and only then. Entries of endpoints
attached here and addresses an operator tagged by hand are never touched
(``Dataplane.learn`` and ``forget`` check each entry), whatever is learned.
"""

import logging

LOG = logging.getLogger(__name__)


class EndpointSync:
    """A registry watcher that writes remote endpoints into a dataplane.

    After the full delivery the diff is against what this sync wrote, so a
    change costs only itself. ``lock`` serialises map changes with the
    host's own attach and detach.
    """

    def __init__(self, dataplane, host_name, lock):
        self.dataplane = dataplane
        self.host_name = host_name
        self.lock = lock
        self._learned = None     # address -> group, as in the map
        self._held = set()

    def _remote(self, endpoint):
        return endpoint is not None and endpoint.host != self.host_name

    def __call__(self, changes, full):
        if self._learned is None and not full:
            # nothing is decided before the registry has read everything
            return {}, []
        with self.lock:
            if full:
                learned = self._learned = self.dataplane.learned()
                remote = {a: e.group for a, e in changes.items()
                          if self._remote(e)}
                removals = sorted(set(learned) - set(remote))
            else:
                learned = self._learned
                remote = {a: e.group for a, e in changes.items()
                          if self._remote(e)}
                removals = sorted(a for a, e in changes.items()
                                  if not self._remote(e) and a in learned)
            upserts = {a: g for a, g in remote.items()
                       if learned.get(a) != g}
            gone = self.dataplane.forget(removals)
            held = set(self.dataplane.learn(upserts))
            for address in removals:
                learned.pop(address, None)
            learned.update((a, g) for a, g in upserts.items()
                           if a not in held)
        new_held = held - self._held
        for address in sorted(new_held):
            LOG.warning('%s is announced by another host but is local or '
                        'tagged by hand here; keeping this host\'s entry',
                        address)
        if full:
            self._held = held
        else:
            self._held = (self._held - set(changes)) | held
        if upserts or gone:
            LOG.debug('learned %d endpoints, forgot %d',
                      len(upserts) - len(held), len(gone))
        return upserts, gone
