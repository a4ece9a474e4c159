"""Networks and endpoints on disk, one JSON file each, written atomically.

Docker never replays CreateNetwork or CreateEndpoint after a restart of
either side, so this is the driver's only memory across restarts.
"""

import dataclasses
import ipaddress
import json
import logging
import os
import tempfile

from magnum_iovisor.plugin import quarantine

LOG = logging.getLogger(__name__)

# Written into every file. Files without it were written before it existed
# and have this layout; any other value is another layout: quarantined.
VERSION = 1


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


def _check(record, stem):
    """Raise ValueError unless ``record`` is whole and self-consistent."""
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        kind = field.type
        if (not isinstance(kind, type)
                or value is None and field.default is None):
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError('%s: %r is not of type %s'
                             % (field.name, value, kind.__name__))
    if record.id != stem:
        raise ValueError('id %r does not match the file name' % record.id)
    if not 0 <= record.group <= 65535:
        raise ValueError('group %d out of range' % record.group)
    if isinstance(record, Network):
        ipaddress.IPv4Network(record.subnet)
        ipaddress.IPv4Address(record.gateway)
    else:
        ipaddress.IPv4Interface('%s/%d' % (record.address, record.prefixlen))


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
                json.dump(dict(dataclasses.asdict(record), version=VERSION),
                          out, indent=1, sort_keys=True)
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
                record = self._read(kind, path, name[:-len('.json')])
            except (ValueError, TypeError) as exc:
                quarantine.move(self.state_dir, kind, path, str(exc))
                continue
            records[record.id] = record
        return records

    def _read(self, kind, path, stem):
        with open(path) as source:
            text = source.read()
        if not text.strip():
            raise ValueError('empty file')
        try:
            fields = json.loads(text)
        except ValueError as exc:
            raise ValueError('not JSON (truncated?): %s' % exc)
        if not isinstance(fields, dict):
            raise ValueError('not a JSON object')
        version = fields.pop('version', VERSION)
        if version != VERSION:
            raise ValueError('version %r, this driver reads version %d'
                             % (version, VERSION))
        record = self.KINDS[kind](**fields)
        _check(record, stem)
        return record

    def quarantined(self):
        """Files moved aside at load: [quarantine.Quarantined]."""
        return quarantine.listing(self.state_dir)

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
