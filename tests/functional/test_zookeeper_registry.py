"""The ZooKeeper backend against a real server, without a dataplane."""

import os
import threading

import fixtures
from kazoo.client import KazooClient
from kazoo import exceptions as zk_errors
from kazoo import security
import testtools
from testtools import content

from magnum_iovisor.dataplane import attach
from magnum_iovisor import policy
from magnum_iovisor import registry
from magnum_iovisor.registry import credentials as credentials_module
from magnum_iovisor.registry import zookeeper as backend
from tests.functional import cluster
from tests.functional import zookeeper

ROOT = '/magnum-iovisor'
NODES = ROOT + '/endpoints'
TIMEOUT = 10.0
BAY = credentials_module.Credentials('bay', 's3cret-of-this-bay')


def ep(address, group, host):
    return registry.Endpoint(address, group, host)


class Snapshots:
    """What a watcher has seen last."""

    def __init__(self):
        self.last = None
        self.lock = threading.Lock()

    def __call__(self, value):
        with self.lock:
            self.last = value

    def wait_for(self, expected):
        cluster.wait_for(lambda: self.last == expected, TIMEOUT)
        return self.last


class ZooKeeperRegistryTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.zk = self.useFixture(zookeeper.PrivateZooKeeper())
        self.addOnException(lambda _: self.addDetail(
            'zookeeper', content.text_content(self.zk.server.log())))

    def registry(self, host_name, start=True, credentials=BAY, root=ROOT):
        # kazoo's threads are started inside the namespace, and stay there
        with attach.in_netns(self.zk.netns):
            reg = backend.ZooKeeperRegistry(self.zk.server.hosts, root,
                                            host_name, 2.0,
                                            credentials=credentials)
            if start:
                reg.start()
        self.addCleanup(reg.close)
        return reg

    def raw_client(self, credentials=BAY):
        """A plain kazoo client: the bay's identity, or none."""
        secured = {}
        if credentials is not None:
            secured = dict(auth_data=credentials.auth_data,
                           default_acl=credentials.acl)
        client = KazooClient(hosts=self.zk.server.hosts, **secured)
        with attach.in_netns(self.zk.netns):
            client.start(timeout=TIMEOUT)
        self.addCleanup(client.close)
        self.addCleanup(client.stop)
        return client

    def test_changes_made_while_unreachable_are_flushed_on_connection(self):
        self.zk.server.stop()
        publisher = self.registry('a')
        for n in (1, 2, 3):
            publisher.publish(ep('10.1.1.%d' % n, 100, 'a'))
        publisher.withdraw('10.1.1.2')
        publisher.publish(ep('10.1.1.3', 200, 'a'))
        self.zk.server.start()
        watcher = Snapshots()
        self.registry('b').watch_endpoints(watcher)
        expected = {ep('10.1.1.1', 100, 'a'), ep('10.1.1.3', 200, 'a')}
        self.assertEqual(expected, watcher.wait_for(expected))

    def test_a_group_change_is_one_new_node(self):
        publisher = self.registry('a')
        watcher = Snapshots()
        self.registry('b').watch_endpoints(watcher)
        publisher.publish(ep('10.1.1.1', 100, 'a'))
        watcher.wait_for({ep('10.1.1.1', 100, 'a')})
        publisher.publish(ep('10.1.1.1', 300, 'a'))
        self.assertEqual({ep('10.1.1.1', 300, 'a')},
                         watcher.wait_for({ep('10.1.1.1', 300, 'a')}))

    def test_an_earlier_incarnations_nodes_are_taken_over(self):
        # a host that restarted before its old session expired
        old = self.raw_client()
        old.ensure_path(NODES)
        for name in ('10.1.1.1@100@a', '10.1.1.2@100@a', 'not-an-endpoint',
                     '10.1.2.1@100@b'):
            old.create(NODES + '/' + name, ephemeral=True)
        reg = self.registry('a')
        reg.publish(ep('10.1.1.1', 100, 'a'))

        def settled():
            names = set(old.get_children(NODES))
            owner = old.exists(NODES + '/10.1.1.1@100@a')
            return (names == {'10.1.1.1@100@a', 'not-an-endpoint',
                              '10.1.2.1@100@b'}
                    and owner is not None
                    and owner.ephemeralOwner == reg.session_id)

        self.assertTrue(cluster.wait_for(settled, TIMEOUT),
                        old.get_children(NODES))
        # the old session ending takes only its own nodes
        old.stop()
        watcher = Snapshots()
        reg.watch_endpoints(watcher)
        self.assertEqual({ep('10.1.1.1', 100, 'a')},
                         watcher.wait_for({ep('10.1.1.1', 100, 'a')}))

    def test_cluster_policy_round_trip_and_bad_documents(self):
        writer = self.registry('cli', start=False)
        writer.wait_connected(TIMEOUT)
        self.assertIsNone(writer.cluster_policy())
        watcher = Snapshots()
        reader = self.registry('a')
        reader.watch_policy(watcher)
        watcher.wait_for(None)
        seed = policy.parse_text('100>0 0>100 100<>200')
        writer.set_cluster_policy(seed)
        self.assertEqual(seed, writer.cluster_policy())
        self.assertEqual(seed, watcher.wait_for(seed))

        self.raw_client().set(ROOT + '/policy', b'{"rules": 5}')
        self.assertRaisesRegex(policy.PolicyError, 'cluster policy at '
                               '/magnum-iovisor/policy .version 1. is '
                               'invalid: policy: "rules" must be a list',
                               writer.cluster_policy)
        writer.set_cluster_policy(None)
        self.assertIsNone(watcher.wait_for(None))
        self.assertIsNone(writer.cluster_policy())

    def test_commands_do_not_wait_forever(self):
        self.zk.server.stop()
        reg = self.registry('cli', start=False)
        self.assertRaisesRegex(registry.Unavailable, 'ZooKeeper at '
                               '127.0.0.1:2181 is not reachable',
                               reg.wait_connected, 0.5)


class AccessTest(ZooKeeperRegistryTest):
    """Only the bay's identity reads or writes anything under the root."""

    def tree(self, client, path=ROOT):
        yield path
        for child in client.get_children(path):
            yield from self.tree(client, path + '/' + child)

    def test_unauthenticated_clients_can_neither_read_nor_write(self):
        publisher = self.registry('a')
        publisher.publish(ep('10.1.1.1', 100, 'a'))
        watcher = Snapshots()
        self.registry('b').watch_endpoints(watcher)
        watcher.wait_for({ep('10.1.1.1', 100, 'a')})
        publisher.set_cluster_policy(policy.parse_text('100>0'))
        bay = self.raw_client()
        nodes = list(self.tree(bay))
        self.assertIn(NODES + '/10.1.1.1@100@a', nodes)
        self.assertIn(ROOT + '/policy', nodes)
        anonymous = self.raw_client(credentials=None)
        stranger = self.raw_client(
            credentials_module.Credentials('bay', 'guessed'))
        for path in nodes:
            acl, _ = bay.get_acls(path)
            self.assertEqual(BAY.acl, acl, path)
            for client in (anonymous, stranger):
                for attempt in (lambda: client.get(path),
                                lambda: client.get_children(path),
                                lambda: client.get_acls(path),
                                lambda: client.set(path, b'forged'),
                                lambda: client.create(path + '/forged'),
                                lambda: client.set_acls(
                                    path, security.OPEN_ACL_UNSAFE)):
                    self.assertRaises(zk_errors.NoAuthError, attempt)
            # anyone may delete an empty child of "/", but the root is
            # never empty
            if path == ROOT:
                self.assertRaises(zk_errors.NotEmptyError, anonymous.delete,
                                  path)
            else:
                self.assertRaises(zk_errors.NoAuthError, anonymous.delete,
                                  path)
        self.assertEqual(nodes, list(self.tree(bay)))
        self.assertEqual(policy.parse_text('100>0'),
                         publisher.cluster_policy())

    def credentials_file(self, text, mode):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'zk')
        with open(path, 'w') as out:
            out.write(text)
        os.chmod(path, mode)
        return path

    def test_credentials_file_group_or_world_access_is_refused(self):
        for mode in (0o644, 0o640, 0o604, 0o620):
            path = self.credentials_file('bay:s3cret-of-this-bay\n', mode)
            self.assertRaisesRegex(
                registry.RegistryError, 'credentials_file %s is open to its '
                'group or others .mode %04o.; .* chmod 600' % (path, mode),
                credentials_module.read, path)
        for text in ('bay\n', ':secret\n', 'bay:\n', 'a:b\nc:d\n', ''):
            path = self.credentials_file(text, 0o600)
            self.assertRaisesRegex(
                registry.RegistryError, 'must hold (exactly one line )?'
                'USER:SECRET', credentials_module.read, path)
        path = self.credentials_file('bay:s3cret-of-this-bay\n', 0o600)
        self.assertEqual(BAY, credentials_module.read(path))
        # and what it reads works against the real server
        reg = self.registry('cli', start=False,
                            credentials=credentials_module.read(path))
        self.assertFalse(reg.wait_connected(TIMEOUT))

    def test_credentials_zookeeper_rejects_change_nothing(self):
        owner = self.registry('a')
        owner.publish(ep('10.1.1.1', 100, 'a'))
        bay = self.raw_client()
        cluster.wait_for(lambda: bay.exists(NODES), TIMEOUT)
        before = list(self.tree(bay))
        wrong = credentials_module.Credentials('bay', 'not-the-secret')
        cli = self.registry('cli', start=False, credentials=wrong)
        self.assertRaisesRegex(
            registry.RegistryError, 'refuses identity digest:bay:.* access '
            'to /magnum-iovisor: the credentials are not the ones the root '
            'was created with', cli.wait_connected, TIMEOUT)
        self.assertRaises(registry.RegistryError, cli.set_cluster_policy,
                          policy.parse_text('100>0'))
        intruder = self.registry('b', credentials=wrong)
        intruder.publish(ep('10.1.2.1', 100, 'b'))
        watcher = Snapshots()
        intruder.watch_endpoints(watcher)
        self.assertIn('the credentials are not the ones',
                      cluster.wait_for(lambda: intruder.problem, TIMEOUT))
        self.assertIsNone(watcher.last)
        self.assertEqual(before, list(self.tree(bay)))
        self.assertIsNone(owner.cluster_policy())

    def test_a_root_that_is_not_ours_or_missing(self):
        cli = self.registry('cli', start=False)
        self.assertFalse(cli.wait_connected(TIMEOUT))
        self.assertRaisesRegex(registry.RegistryError, '/magnum-iovisor '
                               'does not exist in ZooKeeper at .*: no daemon '
                               'has started', cli.require_root)
        self.assertIsNone(cli.cluster_policy())
        # today's open nodes, or another bay's
        self.raw_client(credentials=None).ensure_path(NODES)
        other = self.raw_client(credentials_module.Credentials('x', 'y'))
        other.ensure_path('/other-bay/endpoints')
        self.assertRaisesRegex(
            registry.RegistryError, "/magnum-iovisor in ZooKeeper at .* is "
            "not this bay's: its ACL is world:anyone .perms 31., not only "
            "identity digest:bay:",
            self.registry('a', start=False).wait_connected, TIMEOUT)
        self.assertRaisesRegex(
            registry.RegistryError, 'refuses identity digest:bay:.* access '
            'to /other-bay',
            self.registry('a', start=False, root='/other-bay').wait_connected,
            TIMEOUT)
        daemon = self.registry('a')
        daemon.publish(ep('10.1.1.1', 100, 'a'))
        self.assertIn("is not this bay's",
                      cluster.wait_for(lambda: daemon.problem, TIMEOUT))
        self.assertEqual([], self.raw_client(credentials=None).get_children(
            NODES))
