"""The ``zookeeper`` registry: endpoints and the cluster policy in ZooKeeper.

Layout under the configured root::

    <root>/endpoints/<address>@<group>@<host>   ephemeral, one per endpoint
    <root>/policy                                the cluster policy (JSON)

Everything a watcher needs is in the node names, so one children watch on
``<root>/endpoints`` sees every change, including a group change (a new
name). Ephemeral nodes vanish when their host's session ends, which is how
a dead host's endpoints leave every other host's map.

This host's endpoints are kept as a desired set; a worker thread makes
ZooKeeper match it whenever connected, so ``publish`` never waits for the
network. On every (re)connection the worker takes stock of the nodes under
this host's name: it keeps those of its own session, removes strays
(withdrawn endpoints), makes the nodes an earlier incarnation of this host
left (a restarted daemon) its own in one transaction, so that no other host
sees them go, and re-creates what a lost session took away.
"""

import contextlib
import logging
import threading

from kazoo.client import KazooClient
from kazoo.client import KazooState
from kazoo import exceptions as zk_errors
from kazoo.recipe.watchers import ChildrenWatch
from kazoo.recipe.watchers import DataWatch

from magnum_iovisor import policy as policy_model
from magnum_iovisor import registry

LOG = logging.getLogger(__name__)

# never give up reconnecting, and never wait more than a second between tries
RETRY = dict(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0)


def node_name(endpoint):
    return '%s@%d@%s' % (endpoint.address, endpoint.group, endpoint.host)


def parse_node_name(name):
    """The Endpoint a node name stands for; ValueError names the problem."""
    parts = name.split('@', 2)
    if len(parts) != 3 or not parts[1].isdigit():
        raise ValueError('endpoint node %r is not ADDRESS@GROUP@HOST' % name)
    return registry.Endpoint(parts[0], int(parts[1]), parts[2])


def check_root(root):
    if not root.startswith('/') or root.endswith('/') or '//' in root:
        raise registry.RegistryError(
            '[registry] root %r must be an absolute ZooKeeper path without a '
            'trailing "/", e.g. /magnum-iovisor' % root)
    return root


class ZooKeeperRegistry(registry.Registry):
    def __init__(self, hosts, root, host_name, session_timeout):
        super().__init__(host_name)
        self.hosts = hosts
        self.root = check_root(root)
        self.endpoints_path = root + '/endpoints'
        self.policy_path = root + '/policy'
        self.session_timeout = session_timeout
        self._client = KazooClient(
            hosts=hosts, timeout=session_timeout,
            connection_retry=RETRY, command_retry=RETRY)
        self._state = threading.Condition()
        self._desired = {}       # address -> Endpoint, this host's
        self._confirmed = {}     # address -> Endpoint in ZooKeeper, ours
        self._connected = False
        self._kazoo_state = None
        self._stocktaking = True
        self._closing = False
        self._watching = False
        self._worker = None
        self._watchers = threading.RLock()
        self._endpoint_watchers = []
        self._policy_watchers = []
        self._snapshot = None
        self._parsed = {}        # endpoint node name -> Endpoint or None
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
            elif state == KazooState.LOST:
                self._confirmed = {}
            self._state.notify_all()
        LOG.info('ZooKeeper %s: %s', self.hosts, state)

    def wait_connected(self, timeout):
        """For commands: wait up to ``timeout`` seconds for ZooKeeper."""
        self._connecting.wait(timeout)
        if not self._client.connected:
            raise registry.Unavailable(
                'ZooKeeper at %s is not reachable (waited %.1f s)'
                % (self.hosts, timeout))

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
        with self._state:
            self._closing = True
            self._state.notify_all()
        self._client.stop()
        if self._worker is not None:
            self._worker.join(10)
        self._client.close()

    # -- this host's endpoints ------------------------------------------------

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
            self._desired.pop(address, None)
            self._state.notify_all()

    def _pending(self):
        return self._stocktaking or self._desired != self._confirmed

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
                    self._watch()
                    self._take_stock()
                    self._redeliver_policy()
                self._flush()
            except zk_errors.ConnectionClosedError:
                return
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

    def _watch(self):
        """Set up the watches once; kazoo re-arms them after reconnections."""
        self._client.ensure_path(self.endpoints_path)
        if not self._watching:
            self._watching = True
            ChildrenWatch(self._client, self.endpoints_path,
                          self._on_children)
            DataWatch(self._client, self.policy_path, self._on_policy)

    def _take_stock(self):
        session = self.session_id
        ours = {}
        asked = []
        for name in self._client.get_children(self.endpoints_path):
            try:
                endpoint = parse_node_name(name)
            except ValueError:
                continue
            if endpoint.host == self.host_name:
                path = self.endpoints_path + '/' + name
                asked.append((endpoint, path, self._client.exists_async(path)))
        replacing = []
        for endpoint, path, request in asked:
            stat = request.get()
            if stat is None:
                continue
            with self._state:
                wanted = self._desired.get(endpoint.address) == endpoint
            if not wanted:
                LOG.info('removing stray endpoint node %s', path)
                self._delete(path)
            elif stat.ephemeralOwner == session:
                ours[endpoint.address] = endpoint
            else:
                replacing.append((endpoint, self._replace_async(path, stat)))
        for endpoint, request in replacing:
            if self._replaced(request):
                ours[endpoint.address] = endpoint
        with self._state:
            self._confirmed = ours

    def _replace_async(self, path, stat):
        """Make an earlier session's node ours in one step.

        Left by this host's previous daemon (restarted before its session
        ended), the node would vanish with that session; deleting and
        creating it in one transaction means no other host ever sees the
        endpoint go.
        """
        transaction = self._client.transaction()
        transaction.delete(path, version=stat.version)
        transaction.create(path, ephemeral=True)
        return transaction.commit_async()

    @staticmethod
    def _replaced(request):
        # a failed step (the old session ended meanwhile) rolls back both;
        # the flush that follows creates the node then
        return not any(isinstance(result, Exception)
                       for result in request.get())

    def _flush(self):
        while True:
            with self._state:
                if self._closing or not self._connected:
                    return
                todo = [(self._desired.get(a), self._confirmed.get(a))
                        for a in set(self._desired) | set(self._confirmed)
                        if self._desired.get(a) != self._confirmed.get(a)]
            if not todo:
                return
            # send every request before waiting for any: one session's
            # requests are applied in order, so a burst costs one round trip
            sent = []
            for want, have in todo:
                requests = []
                if have is not None:
                    requests.append((None, self._client.delete_async(
                        self.endpoints_path + '/' + node_name(have))))
                if want is not None:
                    requests.append((want, self._client.create_async(
                        self.endpoints_path + '/' + node_name(want),
                        ephemeral=True)))
                sent.append((want, have, requests))
            for want, have, requests in sent:
                for created, request in requests:
                    try:
                        request.get()
                    except zk_errors.NoNodeError:
                        pass
                    except zk_errors.NodeExistsError:
                        self._take_over(created)
                with self._state:
                    address = (want or have).address
                    if want is None:
                        self._confirmed.pop(address, None)
                    else:
                        self._confirmed[address] = want

    def _take_over(self, endpoint):
        path = self.endpoints_path + '/' + node_name(endpoint)
        stat = self._client.exists(path)
        if stat is None:
            self._client.create(path, ephemeral=True)
        elif stat.ephemeralOwner != self.session_id:
            if not self._replaced(self._replace_async(path, stat)):
                # the old session ended meanwhile and took the node along
                self._client.create(path, ephemeral=True)

    def _delete(self, path):
        try:
            self._client.delete(path)
        except zk_errors.NoNodeError:
            pass

    # -- everyone's endpoints -------------------------------------------------

    def _on_children(self, children):
        # names are parsed once; a change costs the new names only
        known, self._parsed = self._parsed, {}
        for name in children:
            if name in known:
                self._parsed[name] = known[name]
                continue
            try:
                self._parsed[name] = parse_node_name(name)
            except ValueError as exc:
                self._parsed[name] = None
                LOG.warning('ignoring %s: %s', self.endpoints_path, exc)
        snapshot = frozenset(e for e in self._parsed.values() if e)
        with self._watchers:
            self._snapshot = snapshot
            for callback in self._endpoint_watchers:
                _call(callback, snapshot)

    def watch_endpoints(self, callback):
        with self._watchers:
            self._endpoint_watchers.append(callback)
            if self._snapshot is not None:
                _call(callback, self._snapshot)

    def endpoints(self):
        with self._watchers:
            if self._snapshot is not None:
                return self._snapshot
        try:
            children = self._client.get_children_async(
                self.endpoints_path).get(timeout=self.session_timeout)
        except zk_errors.NoNodeError:
            return frozenset()
        found = set()
        for name in children:
            with contextlib.suppress(ValueError):
                found.add(parse_node_name(name))
        return frozenset(found)

    # -- the cluster policy ---------------------------------------------------

    def _on_policy(self, data, stat):
        if data is None:
            policy = None
        else:
            try:
                policy = policy_model.parse_json(data.decode('utf-8'))
            except (policy_model.PolicyError, UnicodeDecodeError) as exc:
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
            return policy_model.parse_json(data.decode('utf-8'))
        except (policy_model.PolicyError, UnicodeDecodeError) as exc:
            raise policy_model.PolicyError(
                'the cluster policy at %s (version %d) is invalid: %s'
                % (self.policy_path, stat.version, exc))

    def set_cluster_policy(self, policy):
        timeout = self.session_timeout
        if policy is None:
            try:
                self._client.delete_async(self.policy_path).get(
                    timeout=timeout)
            except zk_errors.NoNodeError:
                pass
            return
        data = policy_model.format_json(policy).encode('utf-8')
        self._client.ensure_path_async(self.root).get(timeout=timeout)
        try:
            self._client.create_async(self.policy_path, data).get(
                timeout=timeout)
        except zk_errors.NodeExistsError:
            self._client.set_async(self.policy_path, data).get(
                timeout=timeout)


def _call(callback, value):
    # one failing watcher must not stop the others or kazoo's thread
    try:
        callback(value)
    except Exception:
        LOG.exception('registry watcher %r failed', callback)
