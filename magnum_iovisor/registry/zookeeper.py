"""The ``zookeeper`` registry: hosts, endpoints and the cluster policy.

Layout (version 2) under the configured root::

    <root>/hosts/<host>                        {"instance": ID}: whose name
    <root>/hosts/<host>/live                   ephemeral: its daemon runs
    <root>/hosts/<host>/subnets/<subnet>       a routed subnet it claims
    <root>/hosts/<host>/endpoints/<key>@<group>   one per endpoint
    <root>/policy                              the cluster policy's header
    <root>/policy-chunks/<generation>-<n>      its pieces (policy_store.py)

Keys are addresses or prefixes with '/' written '_' (``names.py``). Every
node but ``live`` is persistent: a restart, a session expiry or a dead host
withdraws nothing; ``decommission`` removes a host's subtree (see
``iovisor-policy cluster decommission``).

Readers watch ``<root>/hosts`` and, per host, its ``subnets`` and
``endpoints``: one endpoint changing makes each reader list that host's
endpoints, never everyone's, and costs it that change against the host's
claims (``claims.ClaimBook``). The first delivery to watchers waits until
every host has been read, so a starting reader never forgets what it
learned before because it has not heard of it yet.

This host's endpoints and subnets are kept as desired sets; a worker thread
makes ZooKeeper match them whenever connected, so ``publish`` never waits
for the network. On every (re)connection the worker takes stock: it checks
the root and that the host name is this installation's (``instance``; a
name held by another one is a collision, reported, and nothing is written),
marks the host live, removes strays and creates what is missing.
"""

from concurrent import futures
import contextlib
import json
import logging
import os
import threading
import uuid

from kazoo.client import KazooClient
from kazoo.client import KazooState
from kazoo import exceptions as zk_errors
from kazoo.recipe.watchers import ChildrenWatch
from kazoo.recipe.watchers import DataWatch
from kazoo import security as zk_security

from magnum_iovisor import policy as policy_model
from magnum_iovisor import registry
from magnum_iovisor.registry import claims
from magnum_iovisor.registry import names
from magnum_iovisor.registry import policy_store

LOG = logging.getLogger(__name__)

# never give up reconnecting, and never wait more than a second between tries
RETRY = dict(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0)
DEFAULT_POLICY_MAX = 8 * 1024 * 1024
# threads reading new hosts' subtrees at once (at start: every host)
READERS = 16
# what the layout before hosts/ (main at 5810df9) kept under the root
LEGACY_CHILDREN = {'endpoints', 'policy'}


def check_root(root):
    if not root.startswith('/') or root.endswith('/') or '//' in root:
        raise registry.RegistryError(
            '[registry] root %r must be an absolute ZooKeeper path without a '
            'trailing "/", e.g. /magnum-iovisor' % root)
    return root


def load_instance(path):
    """This installation's identity, made on first use."""
    try:
        with open(path) as found:
            instance = found.read().strip()
        if instance:
            return instance
    except FileNotFoundError:
        pass
    instance = uuid.uuid4().hex
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as made:
        made.write(instance + '\n')
    return instance


class _ConnectionLog(logging.LoggerAdapter):
    """kazoo's log, remembering why its last connection attempt failed.

    kazoo retries for ever and only logs the reason (a certificate refused,
    nothing listening); ``wait_connected`` names it.
    """

    def __init__(self):
        super().__init__(logging.getLogger('kazoo.client'), {})
        self.last_error = None

    def log(self, level, msg, *args, **kwargs):
        text = str(msg)
        if level >= logging.WARNING and text.startswith('Connection dropped'):
            # formatted as logging formats a record
            self.last_error = text % args if args else text
        super().log(level, msg, *args, **kwargs)


class ZooKeeperRegistry(registry.Registry):
    def __init__(self, hosts, root, host_name, session_timeout,
                 credentials=None, tls=None, instance=None,
                 policy_max_bytes=DEFAULT_POLICY_MAX, follow=True):
        """A registry under ``root`` of the ZooKeeper at ``hosts``.

        ``credentials``: a ``credentials.Credentials`` or None (open
        nodes); ``tls``: None, or kazoo's TLS arguments (``tls.py``);
        ``instance``: this installation's identity (``load_instance``),
        by default one for this process only. ``follow=False``: publish
        only, never watch others (bench/registry_scale.py's simulated
        hosts).
        """
        super().__init__(host_name)
        self.hosts = hosts
        self.root = check_root(root)
        self.hosts_path = root + '/hosts'
        self.host_path = self.hosts_path + '/' + host_name
        self.policy_path = root + '/policy'
        self.chunks_path = root + '/policy-chunks'
        self.legacy_path = root + '/endpoints'
        self.policy_max_bytes = policy_max_bytes
        self.session_timeout = session_timeout
        self.credentials = credentials
        self.instance = instance or uuid.uuid4().hex
        secured = {}
        if credentials is not None:
            secured = dict(auth_data=credentials.auth_data,
                           default_acl=credentials.acl)
        else:
            LOG.warning('[registry] credentials_file is not set: the nodes '
                        'under %s are open to every ZooKeeper client', root)
        if tls is not None:
            secured.update(tls, use_ssl=True)
        self._log = _ConnectionLog()
        self._client = KazooClient(
            hosts=hosts, timeout=session_timeout, logger=self._log,
            connection_retry=RETRY, command_retry=RETRY, **secured)
        self._problem = None
        self._state = threading.Condition()
        self._desired = {}       # address -> Endpoint, this host's
        self._confirmed = {}     # address -> Endpoint in ZooKeeper, ours
        self._subnets = set()    # subnet names this host claims
        self._claimed = set()    # subnet names in ZooKeeper
        self._connected = False
        self._kazoo_state = None
        self._stocktaking = True
        self._closing = False
        self._watching = not follow
        self._worker = None
        self._watchers = threading.RLock()
        self._endpoint_watchers = []
        self._policy_watchers = []
        self._book = claims.ClaimBook()
        self._readers = {}       # host -> HostReader
        self._complete = False
        self._reported = {}      # problem key -> reason, as logged
        self._malformed = {}     # key -> reason: unreadable nodes
        self._policy = None
        self._policy_known = False
        self._client.add_listener(self._on_state)
        self._connecting = self._client.start_async()

    # -- connection -----------------------------------------------------------

    def _on_state(self, state):
        # called from kazoo's connection thread: record and wake, never block
        with self._state:
            self._connected = state == KazooState.CONNECTED
            self._kazoo_state = state
            if state == KazooState.CONNECTED:
                self._stocktaking = True
                self._log.last_error = None
            elif state == KazooState.LOST:
                self._confirmed = {}
            self._state.notify_all()
        LOG.info('ZooKeeper %s: %s', self.hosts, state)

    def wait_connected(self, timeout):
        """For commands: wait up to ``timeout`` seconds for ZooKeeper.

        Then the root is checked: when it exists it must be the bay's
        (RegistryError otherwise). Returns whether it exists.
        """
        self._connecting.wait(timeout)
        if not self._client.connected:
            last = self._log.last_error
            raise registry.Unavailable(
                'ZooKeeper at %s is not reachable (waited %.1f s)%s'
                % (self.hosts, timeout, '; last attempt: ' + last
                   if last else ''))
        return self.check_root(create=False)

    def require_root(self):
        """For commands that read: RegistryError when there is no root."""
        if not self.check_root(create=False):
            raise registry.RegistryError(
                '%s does not exist in ZooKeeper at %s: no daemon has started '
                'with this [registry] root yet; check root and hosts'
                % (self.root, self.hosts))

    def check_root(self, create):
        """Whether the root exists (made, with ``create``), and is ours.

        Ours: its ACL is exactly the bay's identity with all rights (with
        credentials), and ZooKeeper lets us read it.
        """
        try:
            acl, _ = self._client.get_acls(self.root)
        except zk_errors.NoNodeError:
            if not create:
                return False
            try:
                self._client.ensure_path(self.root)
            except zk_errors.NoAuthError:
                raise registry.RegistryError(
                    'ZooKeeper at %s refuses to create %s as %s: a parent '
                    "node's ACL does not let this identity create children"
                    % (self.hosts, self.root, self._who()))
            acl, _ = self._client.get_acls(self.root)
        except zk_errors.NoAuthError:
            raise registry.RegistryError(
                'ZooKeeper at %s refuses %s access to %s: %s'
                % (self.hosts, self._who(), self.root,
                   'the credentials are not the ones the root was created '
                   'with' if self.credentials else
                   'the root is protected; set [registry] credentials_file'))
        if self.credentials is not None and list(acl) != list(
                self.credentials.acl):
            if create and self._migrate(acl):
                return True
            raise registry.RegistryError(
                '%s in ZooKeeper at %s is not this bay\'s: its ACL is %s, '
                'not only %s with all rights; pick another [registry] root, '
                'or fix its ACL' % (self.root, self.hosts,
                                    describe_acl(acl), self._who()))
        return True

    def _migrate(self, acl):
        """Make a root in the layout before this one the bay's, once.

        That layout had open nodes: ``<root>/endpoints`` (ephemeral
        ``ADDRESS@GROUP@HOST`` nodes) and ``<root>/policy``. Only a root
        holding nothing else, open to everyone, is taken over: its nodes
        get the bay's ACL; the old endpoints are read (``_on_legacy``) as
        long as their sessions last, the old policy document as it is.
        """
        if list(acl) != list(zk_security.OPEN_ACL_UNSAFE):
            return False
        children = set(self._client.get_children(self.root))
        if not children <= LEGACY_CHILDREN:
            return False
        ours = self.credentials.acl
        for child in sorted(children):
            path = self.root + '/' + child
            for name in _children(self._client, path):
                with contextlib.suppress(zk_errors.NoNodeError):
                    self._client.set_acls(path + '/' + name, ours)
            self._client.set_acls(path, ours)
        self._client.set_acls(self.root, ours)
        LOG.warning('%s was in the layout before hosts/ and open to every '
                    'client: migrated (its nodes are the bay\'s now; the old '
                    'endpoints are read until their sessions end)', self.root)
        return True

    def _who(self):
        if self.credentials is None:
            return 'an unauthenticated client'
        return 'identity %s' % self.credentials.identity

    @property
    def problem(self):
        """Why this host neither announces nor learns, or None."""
        return self._problem

    @property
    def connection_state(self):
        # kazoo: SUSPENDED keeps the session, LOST means it expired
        if self._kazoo_state is None:
            return 'connecting'
        return str(self._kazoo_state).lower()

    @property
    def session_id(self):
        client_id = self._client.client_id
        return client_id[0] if client_id else None

    def start(self):
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._run, name='registry-zookeeper', daemon=True)
            self._worker.start()

    def close(self):
        """End the session: ``live`` goes, the endpoints stay."""
        with self._state:
            self._closing = True
            self._state.notify_all()
        self._client.stop()
        if self._worker is not None:
            self._worker.join(10)
        self._client.close()

    # -- this host's endpoints and subnets --------------------------------

    def publish(self, endpoint):
        if endpoint.host != self.host_name:
            raise registry.RegistryError(
                'host %s cannot publish an endpoint of host %s'
                % (self.host_name, endpoint.host))
        with self._state:
            self._desired[endpoint.address] = endpoint
            self._state.notify_all()

    def withdraw(self, address):
        with self._state:
            self._desired.pop(registry.canonical_address(address), None)
            self._state.notify_all()

    def set_subnets(self, subnets):
        wanted = {names.subnet_name(s) for s in subnets}
        with self._state:
            self._subnets = wanted
            self._state.notify_all()

    def _pending(self):
        return (self._stocktaking or self._desired != self._confirmed
                or self._subnets != self._claimed)

    def _run(self):
        while True:
            with self._state:
                while not self._closing and not (self._connected
                                                 and self._pending()):
                    self._state.wait()
                if self._closing:
                    return
                stocktaking, self._stocktaking = self._stocktaking, False
            try:
                if stocktaking:
                    self._take_stock()
                    self._watch()
                    self._redeliver_policy()
                self._flush()
            except zk_errors.ConnectionClosedError:
                return
            except registry.RegistryError as exc:
                # a root that is not ours, credentials refused, a host name
                # collision: nothing is written; said once, checked again
                if str(exc) != self._problem:
                    LOG.error('ZooKeeper registry: %s; this host does not '
                              'announce its endpoints until that is fixed '
                              '(checking every 5 s)', exc)
                self._problem = str(exc)
                with self._state:
                    self._stocktaking |= stocktaking
                    self._state.wait(5.0)
            except (zk_errors.ConnectionLoss, zk_errors.SessionExpiredError,
                    zk_errors.OperationTimeoutError) as exc:
                # the state listener wakes the worker again on reconnection
                LOG.warning('ZooKeeper %s: %s; will retry on reconnection',
                            self.hosts, type(exc).__name__)
                with self._state:
                    self._stocktaking |= stocktaking
            except Exception:
                LOG.exception('ZooKeeper %s: cannot update this host\'s '
                              'endpoints; retrying in a second', self.hosts)
                with self._state:
                    self._stocktaking |= stocktaking
                    self._state.wait(1.0)

    def _take_stock(self):
        self.check_root(create=True)
        client = self._client
        client.ensure_path(self.hosts_path)
        mine = json.dumps({'instance': self.instance}).encode()
        # one step, so that a reader never sees the host without them
        transaction = client.transaction()
        transaction.create(self.host_path, mine)
        transaction.create(self.host_path + '/subnets')
        transaction.create(self.host_path + '/endpoints')
        if any(isinstance(r, Exception) for r in transaction.commit()):
            data, _ = client.get(self.host_path)
            owner = _instance_of(data)
            if owner != self.instance:
                raise registry.RegistryError(
                    'host name %s is taken in the registry by another '
                    'installation (instance %s, this one is %s): two slaves '
                    'share a name; give this one another [registry] '
                    'host_name, or decommission the old one first'
                    % (self.host_name, owner, self.instance))
        self._mark_live(mine)
        self._problem = None
        claimed = set()
        for name in client.get_children(self.host_path + '/subnets'):
            with self._state:
                wanted = name in self._subnets
            if wanted:
                claimed.add(name)
            else:
                self._delete(self.host_path + '/subnets/' + name)
        ours = {}
        for name in client.get_children(self.host_path + '/endpoints'):
            try:
                endpoint = names.parse_endpoint_name(name, self.host_name)
            except ValueError:
                endpoint = None
            with self._state:
                wanted = (endpoint is not None and self._desired.get(
                    endpoint.address) == endpoint)
            if wanted:
                ours[endpoint.address] = endpoint
            else:
                LOG.info('removing stray endpoint node %s of this host', name)
                self._delete(self.host_path + '/endpoints/' + name)
        with self._state:
            self._claimed = claimed
            self._confirmed = ours

    def _mark_live(self, mine):
        """This session is the host's live one.

        A node left by this installation's previous daemon (killed before
        its session ended) is replaced in one step.
        """
        path = self.host_path + '/live'
        try:
            self._client.create(path, mine, ephemeral=True)
            return
        except zk_errors.NodeExistsError:
            pass
        data, stat = self._client.get(path)
        if stat.ephemeralOwner == self.session_id:
            return
        if _instance_of(data) != self.instance:
            raise registry.RegistryError(
                'host name %s is live in the registry as another '
                'installation (instance %s): two slaves share a name'
                % (self.host_name, _instance_of(data)))
        transaction = self._client.transaction()
        transaction.delete(path, version=stat.version)
        transaction.create(path, mine, ephemeral=True)
        if any(isinstance(r, Exception) for r in transaction.commit()):
            # the old session ended meanwhile and took its node along
            self._client.create(path, mine, ephemeral=True)

    def _flush(self):
        while True:
            with self._state:
                if self._closing or not self._connected:
                    return
                claim = self._subnets - self._claimed
                todo = [(self._desired.get(a), self._confirmed.get(a))
                        for a in set(self._desired) | set(self._confirmed)
                        if self._desired.get(a) != self._confirmed.get(a)]
                release = self._claimed - self._subnets
            if not (claim or todo or release):
                return
            subnets = self.host_path + '/subnets/'
            # claims before the endpoints inside them, releases after
            for name, request in [(n, self._client.create_async(subnets + n))
                                  for n in sorted(claim)]:
                try:
                    request.get()
                except zk_errors.NodeExistsError:
                    pass
                with self._state:
                    self._claimed.add(name)
            self._flush_endpoints(todo)
            for name in sorted(release):
                self._delete(subnets + name)
                with self._state:
                    self._claimed.discard(name)

    def _flush_endpoints(self, todo):
        # send every request before waiting for any: one session's requests
        # are applied in order, so a burst costs one round trip
        base = self.host_path + '/endpoints/'
        sent = []
        for want, have in todo:
            if want is not None and have is not None:
                # a group change: readers see one name replace the other
                transaction = self._client.transaction()
                transaction.delete(base + names.endpoint_name(have))
                transaction.create(base + names.endpoint_name(want))
                request = transaction.commit_async()
            elif want is not None:
                request = self._client.create_async(
                    base + names.endpoint_name(want))
            else:
                request = self._client.delete_async(
                    base + names.endpoint_name(have))
            sent.append((want, have, request))
        for want, have, request in sent:
            try:
                results = request.get()
            except (zk_errors.NoNodeError, zk_errors.NodeExistsError):
                results = None
            if isinstance(results, list) and any(
                    isinstance(r, Exception) for r in results):
                # the old name was gone already: make the new one
                try:
                    self._client.create(base + names.endpoint_name(want))
                except zk_errors.NodeExistsError:
                    pass
            with self._state:
                address = (want or have).address
                if want is None:
                    self._confirmed.pop(address, None)
                else:
                    self._confirmed[address] = want

    def _delete(self, path):
        try:
            self._client.delete(path)
        except zk_errors.NoNodeError:
            pass

    def decommission(self, host_name):
        """Remove a host's subtree: every host forgets its endpoints.

        Refused while its daemon runs (``live``). Returns how many
        endpoints it announced.
        """
        registry.check_host_name(host_name)
        path = self.hosts_path + '/' + host_name
        if self._client.exists(path) is None:
            raise registry.RegistryError('there is no host %s in %s'
                                         % (host_name, self.hosts_path))
        if self._client.exists(path + '/live') is not None:
            raise registry.RegistryError(
                'host %s is live: its daemon runs (or was killed less than '
                'its session timeout ago); stop it first' % host_name)
        count = 0
        with_endpoints = path + '/endpoints'
        if self._client.exists(with_endpoints) is not None:
            count = len(self._client.get_children(with_endpoints))
        self._client.delete(path, recursive=True)
        return count

    # -- everyone's endpoints ---------------------------------------------

    def _watch(self):
        """Set up the watches once; kazoo re-arms them after reconnections.

        kazoo calls a new watch's function before returning, so when this
        returns every host known now has been read: the first delivery.
        """
        if self._watching:
            return
        self._watching = True
        DataWatch(self._client, self.policy_path, self._on_policy)
        ChildrenWatch(self._client, self.hosts_path, self._on_hosts)
        if self._client.exists(self.legacy_path) is not None:
            ChildrenWatch(self._client, self.legacy_path, self._on_legacy)
        with self._watchers:
            self._complete = True
            full = dict(self._book.accepted)
            for callback in self._endpoint_watchers:
                _call(callback, full, True)
            self._report()

    def _on_hosts(self, children):
        with self._watchers:
            for name in sorted(set(self._readers) - set(children)):
                LOG.info('host %s was decommissioned', name)
                reader = self._readers.pop(name)
                if reader is not None:
                    reader.stop()
                self._deliver(self._book.forget_host(name))
            new = []
            for name in sorted(set(children) - set(self._readers)):
                try:
                    registry.check_host_name(name)
                except ValueError as exc:
                    self._note(('host', name), 'ignoring %s/%s: %s'
                               % (self.hosts_path, name, exc))
                    continue
                self._readers[name] = None     # being read
                new.append(name)
        # each reader's first reads are synchronous: made from a few
        # threads, they share the one connection, pipelined
        with futures.ThreadPoolExecutor(max_workers=READERS) as pool:
            made = list(pool.map(lambda name: HostReader(self, name), new))
        with self._watchers:
            for reader in made:
                if self._readers.get(reader.host, False) is None:
                    self._readers[reader.host] = reader
                else:
                    reader.stop()      # decommissioned meanwhile
            self._report()

    def _on_legacy(self, children):
        """Endpoints of hosts still running the layout before hosts/.

        A host's nodes all going at once is its old session ending (a
        restart, an upgrade): they are kept, as a restart withdraws nothing
        in this layout, until the host announces itself under hosts/.
        """
        found = {}
        for name in children:
            parts = name.split('@', 2)
            try:
                if len(parts) != 3 or not parts[1].isdigit():
                    raise ValueError('not ADDRESS@GROUP@HOST')
                endpoint = registry.Endpoint(parts[0], int(parts[1]),
                                             parts[2])
            except ValueError as exc:
                self._malformed['legacy', name] = (
                    'ignoring %s/%s: %s' % (self.legacy_path, name, exc))
                continue
            found.setdefault(endpoint.host, {})[endpoint.address] = endpoint
        with self._watchers:
            for host, endpoints in found.items():
                if host not in self._readers:
                    self._deliver(self._book.set_endpoints(host, endpoints,
                                                           legacy=True))
            self._report()

    def _deliver(self, changes):
        if changes and self._complete:
            for callback in self._endpoint_watchers:
                _call(callback, changes, False)

    def _note(self, key, reason):
        self._malformed[key] = reason

    def _report(self):
        """Log each refusal once, when it first appears."""
        current = dict(self._book.problems())
        current.update(self._malformed)
        for key in sorted(set(current) - set(self._reported)):
            LOG.warning('registry: refused: %s', current[key])
        for key in sorted(set(self._reported) - set(current)):
            LOG.info('registry: no longer refused: %s', self._reported[key])
        self._reported = current

    def problems(self):
        with self._watchers:
            return dict(self._reported)

    def watch_endpoints(self, callback):
        with self._watchers:
            self._endpoint_watchers.append(callback)
            if self._complete:
                _call(callback, dict(self._book.accepted), True)

    def held_subnets(self):
        with self._watchers:
            if not self._complete:
                return None       # not read yet
        return [str(s) for s in self._book.every_held(but=self.host_name)]

    def endpoints(self):
        with self._watchers:
            if self._complete:
                return frozenset(self._book.accepted.values())
        return frozenset(self.survey()[0].accepted.values())

    def survey(self):
        """Read every host once (for commands): (ClaimBook, problems)."""
        book = claims.ClaimBook()
        malformed = {}
        try:
            hosts = self._client.get_children(self.hosts_path)
        except zk_errors.NoNodeError:
            hosts = []
        for host in sorted(hosts):
            try:
                registry.check_host_name(host)
            except ValueError as exc:
                malformed['host', host] = str(exc)
                continue
            base = self.hosts_path + '/' + host
            subnets = {}
            for name in _children(self._client, base + '/subnets'):
                stat = self._client.exists(base + '/subnets/' + name)
                try:
                    subnet = names.parse_subnet_name(name)
                except ValueError as exc:
                    malformed['subnet', host, name] = 'host %s: %s' % (
                        host, exc)
                    continue
                if stat is not None:
                    subnets[subnet] = (stat.czxid, host)
            book.set_subnets(host, subnets)
            endpoints, bad = parse_endpoints(
                _children(self._client, base + '/endpoints'), host)
            malformed.update(bad)
            book.set_endpoints(host, endpoints)
        problems = dict(book.problems())
        problems.update(malformed)
        return book, problems

    # -- the cluster policy ---------------------------------------------------

    def _on_policy(self, data, stat):
        if data is None:
            policy = None
        else:
            try:
                policy = self._read_policy(data)
            except (policy_model.PolicyError, zk_errors.NoNodeError) as exc:
                LOG.error('ignoring the cluster policy at %s (version %d): '
                          '%s; keeping the last good one', self.policy_path,
                          stat.version, exc)
                return
        with self._watchers:
            if self._policy_known and policy == self._policy:
                return
            self._policy, self._policy_known = policy, True
            for callback in self._policy_watchers:
                _call(callback, policy)

    def _read_policy(self, data):
        header = policy_store.parse_header(data)
        if header is None:
            # the layout before chunks: the document itself
            return policy_model.parse_json(data.decode('utf-8'))
        paths = ['%s/%s' % (self.chunks_path, policy_store.chunk_name(
            header['generation'], i)) for i in range(header['chunks'])]
        requests = [self._client.get_async(path) for path in paths]
        try:
            chunks = [request.get(timeout=self.session_timeout)[0]
                      for request in requests]
        except zk_errors.NoNodeError:
            raise policy_model.PolicyError(
                'policy generation %d: a chunk is missing (replaced '
                'meanwhile?)' % header['generation'])
        return policy_store.decode(header, chunks, self.policy_max_bytes)

    def _redeliver_policy(self):
        # after a (re)connection even an unchanged policy goes out again,
        # so that a host whose own policy was changed meanwhile is put right
        with self._watchers:
            if self._policy_known:
                for callback in self._policy_watchers:
                    _call(callback, self._policy)

    def watch_policy(self, callback):
        with self._watchers:
            self._policy_watchers.append(callback)
            if self._policy_known:
                _call(callback, self._policy)

    def cluster_policy(self):
        try:
            data, stat = self._client.get_async(self.policy_path).get(
                timeout=self.session_timeout)
        except zk_errors.NoNodeError:
            return None
        try:
            return self._read_policy(data)
        except (policy_model.PolicyError, UnicodeDecodeError) as exc:
            raise policy_model.PolicyError(
                'the cluster policy at %s (version %d) is invalid: %s'
                % (self.policy_path, stat.version, exc))

    def set_cluster_policy(self, policy):
        """Replace the cluster policy (None removes it).

        RegistryError when another writer changed it meanwhile: nothing of
        this write is left in force.
        """
        client = self._client
        if policy is None:
            try:
                client.delete(self.policy_path)
            except zk_errors.NoNodeError:
                pass
            self._remove_chunks(keep=None)
            return
        header, chunks = policy_store.encode(policy, self.policy_max_bytes)
        self.check_root(create=True)
        try:
            data, stat = client.get(self.policy_path)
        except zk_errors.NoNodeError:
            data, stat = None, None
        previous = None
        if data is not None:
            with contextlib.suppress(policy_model.PolicyError):
                previous = policy_store.parse_header(data)
        generation = (previous['generation'] + 1) if previous else 1
        header['generation'] = generation
        client.ensure_path(self.chunks_path)
        requests = [client.create_async('%s/%s' % (
            self.chunks_path, policy_store.chunk_name(generation, i)), chunk)
            for i, chunk in enumerate(chunks)]
        for request in requests:
            try:
                request.get(timeout=self.session_timeout)
            except zk_errors.NodeExistsError:
                raise registry.RegistryError(
                    'another writer is replacing the cluster policy '
                    '(generation %d); retry' % generation)
        encoded = json.dumps(header, sort_keys=True).encode('utf-8')
        try:
            if stat is None:
                client.create(self.policy_path, encoded)
            else:
                client.set(self.policy_path, encoded, version=stat.version)
        except (zk_errors.NodeExistsError, zk_errors.BadVersionError):
            self._remove_chunks(only=generation)
            raise registry.RegistryError(
                'the cluster policy was changed by another writer while '
                'this one was written; nothing was changed, retry')
        self._remove_chunks(keep=generation)

    def _remove_chunks(self, keep=None, only=None):
        for name in _children(self._client, self.chunks_path):
            generation = policy_store.generation_of(name)
            if (only is not None and generation != only) or (
                    only is None and generation == keep):
                continue
            self._delete(self.chunks_path + '/' + name)


class HostReader:
    """One host's subnets and endpoints, watched, fed into the ClaimBook."""

    def __init__(self, registry_, host):
        self.registry = registry_
        self.host = host
        self.stopped = False
        self._orders = {}        # subnet name -> (czxid, host)
        self._names = {}         # endpoint node name -> Endpoint or None
        base = registry_.hosts_path + '/' + host
        self.subnets_path = base + '/subnets'
        self.endpoints_path = base + '/endpoints'
        client = registry_._client
        # a host's node and both directories are made in one transaction
        # (``_take_stock``); a reader never makes anything in a host's tree
        ChildrenWatch(client, self.subnets_path, self._on_subnets)
        ChildrenWatch(client, self.endpoints_path, self._on_endpoints)

    def stop(self):
        self.stopped = True

    def _on_subnets(self, children):
        if self.stopped:
            return False
        reg = self.registry
        orders = {}
        for name in children:
            if name not in self._orders:
                stat = reg._client.exists(self.subnets_path + '/' + name)
                self._orders[name] = stat and (stat.czxid, self.host)
            orders[name] = self._orders[name]
        self._orders = orders
        claimed = {}
        with reg._watchers:
            for key in [k for k in reg._malformed
                        if k[:2] == ('subnet', self.host)]:
                del reg._malformed[key]
            for name, order in orders.items():
                try:
                    subnet = names.parse_subnet_name(name)
                except ValueError as exc:
                    reg._note(('subnet', self.host, name),
                              'host %s: %s' % (self.host, exc))
                    continue
                if order is not None:
                    claimed[subnet] = order
            reg._deliver(reg._book.set_subnets(self.host, claimed))
            reg._report()

    def _on_endpoints(self, children):
        if self.stopped:
            return False
        known, self._names = self._names, {}
        for name in children:
            if name in known:
                self._names[name] = known[name]
                continue
            try:
                self._names[name] = names.parse_endpoint_name(name, self.host)
            except ValueError as exc:
                self._names[name] = exc
        reg = self.registry
        endpoints, bad = parse_endpoints(children, self.host, self._names)
        with reg._watchers:
            for key in [k for k in reg._malformed
                        if k[:2] == ('endpoint', self.host)]:
                del reg._malformed[key]
            reg._malformed.update(bad)
            reg._deliver(reg._book.set_endpoints(self.host, endpoints))
            reg._report()


def parse_endpoints(children, host, parsed=None):
    """({address: Endpoint}, {key: reason}) of a host's endpoint nodes.

    A malformed name, or one address under two groups, is refused.
    """
    endpoints, bad, seen = {}, {}, {}
    for name in children:
        endpoint = parsed.get(name) if parsed is not None else None
        if endpoint is None:
            try:
                endpoint = names.parse_endpoint_name(name, host)
            except ValueError as exc:
                endpoint = exc
        if isinstance(endpoint, Exception):
            bad['endpoint', host, name] = 'host %s: %s' % (host, endpoint)
            continue
        seen.setdefault(endpoint.address, []).append(endpoint)
    for address, found in seen.items():
        if len(found) == 1:
            endpoints[address] = found[0]
        else:
            bad['endpoint', host, address] = (
                'host %s announces %s under groups %s' % (
                    host, address, ', '.join(str(e.group) for e in found)))
    return endpoints, bad


def _children(client, path):
    try:
        return client.get_children(path)
    except zk_errors.NoNodeError:
        return []


def _instance_of(data):
    try:
        return json.loads(data.decode('utf-8'))['instance']
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def describe_acl(acl):
    return ', '.join('%s:%s (perms %d)' % (entry.id.scheme, entry.id.id,
                                           entry.perms)
                     for entry in acl) or 'empty'


def _call(callback, *value):
    # one failing watcher must not stop the others or kazoo's thread
    try:
        callback(*value)
    except Exception:
        LOG.exception('registry watcher %r failed', callback)
