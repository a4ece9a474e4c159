"""The ZooKeeper backend against a real server, without a dataplane."""

import threading

from kazoo.client import KazooClient
import testtools
from testtools import content

from magnum_iovisor.dataplane import attach
from magnum_iovisor import policy
from magnum_iovisor import registry
from magnum_iovisor.registry import zookeeper as backend
from tests.functional import cluster
from tests.functional import zookeeper

ROOT = '/magnum-iovisor'
NODES = ROOT + '/endpoints'
TIMEOUT = 10.0


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

    def registry(self, host_name, start=True):
        # kazoo's threads are started inside the namespace, and stay there
        with attach.in_netns(self.zk.netns):
            reg = backend.ZooKeeperRegistry(self.zk.server.hosts, ROOT,
                                            host_name, 2.0)
            if start:
                reg.start()
        self.addCleanup(reg.close)
        return reg

    def raw_client(self):
        client = KazooClient(hosts=self.zk.server.hosts)
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

    def test_connection_state_follows_the_server(self):
        self.zk.server.stop()
        reg = self.registry('a')
        self.assertEqual('connecting', reg.connection_state)
        self.zk.server.start()
        self.assertTrue(cluster.wait_for(
            lambda: reg.connection_state == 'connected', TIMEOUT))
        self.zk.server.stop()
        # 2 s session: suspended at once, lost once the session expired
        self.assertTrue(cluster.wait_for(
            lambda: reg.connection_state == 'suspended', TIMEOUT))
        self.zk.server.start()
        self.assertTrue(cluster.wait_for(
            lambda: reg.connection_state == 'connected', TIMEOUT))

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
