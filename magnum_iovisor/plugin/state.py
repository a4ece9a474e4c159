"""Networks and endpoints on disk, one JSON file each, written atomically.

Docker never replays CreateNetwork or CreateEndpoint after a restart of
either side, so this is the driver's only memory across restarts.
"""

import dataclasses
import json
import logging
import os
import tempfile

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Network:
    id: str
    mode: str
    subnet: str            # e.g. 10.77.0.0/24, this host's routed subnet
    gateway: str           # e.g. 10.77.0.1
    group: int = 0         # default group of its endpoints
    parent: str = None     # macvlan/ipvlan parent interface
    subnet6: str = None    # e.g. fd00:77::/64 (docker network create --ipv6)
    gateway6: str = None   # e.g. fd00:77::1


@dataclasses.dataclass
class Endpoint:
    id: str
    network_id: str
    address: str           # IPv4, no prefix length
    prefixlen: int
    group: int
    host_ifname: str       # veth: host end; macvlan/ipvlan: name at creation
    sandbox_ifname: str    # the interface handed to Docker for the sandbox
    sandbox_key: str = None  # set from Join until Leave
    address6: str = None   # IPv6 of a dual-stack endpoint, no prefix length
    prefixlen6: int = None

    @property
    def addresses(self):
        """The endpoint's addresses, IPv4 first."""
        return [self.address] + ([self.address6] if self.address6 else [])


class StateError(RuntimeError):
    pass


class Store:
    """``<state_dir>/networks/<id>.json`` and ``endpoints/<id>.json``."""

    KINDS = {'networks': Network, 'endpoints': Endpoint}

    def __init__(self, state_dir):
        self.state_dir = state_dir
        for kind in self.KINDS:
            os.makedirs(os.path.join(state_dir, kind), mode=0o700,
                        exist_ok=True)

    def _path(self, kind, ident):
        return os.path.join(self.state_dir, kind, ident + '.json')

    def _save(self, kind, record):
        directory = os.path.join(self.state_dir, kind)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'w') as out:
                json.dump(dataclasses.asdict(record), out, indent=1,
                          sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._path(kind, record.id))
        except BaseException:
            os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _load_all(self, kind):
        records = {}
        directory = os.path.join(self.state_dir, kind)
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if name.startswith('.'):
                os.unlink(path)  # a write cut short by a crash
                continue
            if not name.endswith('.json'):
                continue
            try:
                with open(path) as source:
                    record = self.KINDS[kind](**json.load(source))
            except (ValueError, TypeError) as exc:
                raise StateError('%s: unreadable state file: %s'
                                 % (path, exc))
            records[record.id] = record
        return records

    def _delete(self, kind, ident):
        try:
            os.unlink(self._path(kind, ident))
        except FileNotFoundError:
            pass

    def networks(self):
        return self._load_all('networks')

    def endpoints(self):
        return self._load_all('endpoints')

    def save_network(self, network):
        self._save('networks', network)

    def save_endpoint(self, endpoint):
        self._save('endpoints', endpoint)

    def delete_network(self, ident):
        self._delete('networks', ident)

    def delete_endpoint(self, ident):
        self._delete('endpoints', ident)
