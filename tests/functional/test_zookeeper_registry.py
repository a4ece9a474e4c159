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
HOSTS = ROOT + '/hosts'
TIMEOUT = 10.0
BAY = credentials_module.Credentials('bay', 's3cret-of-this-bay')
SUBNETS = {'a': ['10.1.1.0/24', 'fd00:1::/64'], 'b': ['10.1.2.0/24'],
           'c': ['10.1.3.0/24']}


def ep(address, group, host):
    return registry.Endpoint(address, group, host)


def nodes(host):
    return '%s/%s/endpoints' % (HOSTS, host)


class Snapshots:
    """What a watcher has been told: the accepted endpoints, once full."""

    def __init__(self):
        self.accepted = None
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, changes, full):
        with self.lock:
            self.calls.append((dict(changes), full))
            if full:
                self.accepted = {}
            for address, endpoint in changes.items():
                if endpoint is None:
                    self.accepted.pop(address, None)
                else:
                    self.accepted[address] = endpoint

    @property
    def last(self):
        with self.lock:
            if self.accepted is None:
                return None
            return frozenset(self.accepted.values())

    def wait_for(self, expected):
        cluster.wait_for(lambda: self.last == expected, TIMEOUT)
        return self.last


class RegistryTestCase(testtools.TestCase):
    server_address = '127.0.0.1'

    def setUp(self):
        super().setUp()
        self.zk = self.useFixture(zookeeper.PrivateZooKeeper(
            tls=self.server_tls(), address=self.server_address))
        self.addOnException(lambda _: self.addDetail(
            'zookeeper', content.text_content(self.zk.server.log())))

    def server_tls(self):
        return None

    def registry(self, host_name, start=True, credentials=BAY, root=ROOT,
                 instance=None, tls=None, hosts=None):
        # kazoo's threads are started inside the namespace, and stay there
        with attach.in_netns(self.zk.netns):
            reg = backend.ZooKeeperRegistry(
                hosts or self.zk.server.hosts, root, host_name, 2.0,
                credentials=credentials, tls=tls,
                instance=instance or 'instance-of-' + host_name)
            reg.set_subnets(SUBNETS.get(host_name, []))
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
            # a server just started on a loaded machine can take a while
            client.start(timeout=3 * TIMEOUT)
        self.addCleanup(client.close)
        self.addCleanup(client.stop)
        return client

    def watcher(self, host_name='w'):
        seen = Snapshots()
        self.registry(host_name).watch_endpoints(seen)
        return seen


class ZooKeeperRegistryTest(RegistryTestCase):
    def test_changes_made_while_unreachable_are_flushed_on_connection(self):
        self.zk.server.stop()
        publisher = self.registry('a')
        for n in (1, 2, 3):
            publisher.publish(ep('10.1.1.%d' % n, 100, 'a'))
        publisher.withdraw('10.1.1.2')
        publisher.publish(ep('10.1.1.3', 200, 'a'))
        publisher.publish(ep('fd00:1::3', 200, 'a'))
        self.zk.server.start()
        watcher = self.watcher('b')
        expected = {ep('10.1.1.1', 100, 'a'), ep('10.1.1.3', 200, 'a'),
                    ep('fd00:1::3', 200, 'a')}
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

    def test_a_group_change_is_one_step_for_readers(self):
        publisher = self.registry('a')
        watcher = self.watcher('b')
        publisher.publish(ep('10.1.1.1', 100, 'a'))
        watcher.wait_for({ep('10.1.1.1', 100, 'a')})
        publisher.publish(ep('10.1.1.1', 300, 'a'))
        self.assertEqual({ep('10.1.1.1', 300, 'a')},
                         watcher.wait_for({ep('10.1.1.1', 300, 'a')}))
        # never withdrawn in between
        self.assertNotIn({'10.1.1.1': None}, [c for c, _ in watcher.calls])

    def test_restart_withdraws_nothing_and_removes_strays(self):
        first = self.registry('a')
        for n in (1, 2):
            first.publish(ep('10.1.1.%d' % n, 100, 'a'))
        watcher = self.watcher('b')
        both = {ep('10.1.1.1', 100, 'a'), ep('10.1.1.2', 100, 'a')}
        watcher.wait_for(both)
        first.close()
        # the session is gone, the endpoints are not
        bay = self.raw_client()
        self.assertIsNone(bay.exists(HOSTS + '/a/live'))
        self.assertEqual(both, watcher.last)
        told = len(watcher.calls)
        again = self.registry('a')
        again.publish(ep('10.1.1.1', 100, 'a'))     # 10.1.1.2 went meanwhile
        self.assertEqual({ep('10.1.1.1', 100, 'a')},
                         watcher.wait_for({ep('10.1.1.1', 100, 'a')}))
        self.assertEqual([({'10.1.1.2': None}, False)], watcher.calls[told:])
        live = bay.exists(HOSTS + '/a/live')
        self.assertEqual(again.session_id, live.ephemeralOwner)

    def test_a_killed_runs_live_node_is_taken_over(self):
        # left by this installation's daemon killed before its session ended
        old = self.raw_client()
        old.create(HOSTS + '/a', b'{"instance": "instance-of-a"}',
                   makepath=True)
        old.create(HOSTS + '/a/subnets')
        old.create(HOSTS + '/a/endpoints')
        old.create(HOSTS + '/a/live', b'{"instance": "instance-of-a"}',
                   ephemeral=True)
        reg = self.registry('a')
        reg.publish(ep('10.1.1.1', 100, 'a'))
        self.assertTrue(cluster.wait_for(
            lambda: old.exists(HOSTS + '/a/live').ephemeralOwner
            == reg.session_id, TIMEOUT))
        old.stop()
        watcher = self.watcher('b')
        self.assertEqual({ep('10.1.1.1', 100, 'a')},
                         watcher.wait_for({ep('10.1.1.1', 100, 'a')}))
        self.assertIsNone(reg.problem)

    def test_host_name_collision_is_reported_and_changes_nothing(self):
        first = self.registry('a')
        first.publish(ep('10.1.1.1', 100, 'a'))
        watcher = self.watcher('b')
        watcher.wait_for({ep('10.1.1.1', 100, 'a')})
        bay = self.raw_client()
        before = sorted(bay.get_children(nodes('a')))
        impostor = self.registry('a', instance='another-machine')
        impostor.publish(ep('10.1.1.2', 100, 'a'))
        problem = cluster.wait_for(lambda: impostor.problem, TIMEOUT)
        self.assertIn('host name a is taken in the registry by another '
                      'installation (instance instance-of-a, this one is '
                      'another-machine): two slaves share a name', problem)
        # also while the first one is down: the name stays its own
        first.close()
        later = self.registry('a', instance='another-machine')
        self.assertIn('two slaves share a name',
                      cluster.wait_for(lambda: later.problem, TIMEOUT))
        self.assertEqual(before, sorted(bay.get_children(nodes('a'))))
        self.assertEqual({ep('10.1.1.1', 100, 'a')}, watcher.last)

    def test_claims_outside_the_subnet_and_double_claims_are_refused(self):
        log = self.useFixture(fixtures.FakeLogger(
            name='magnum_iovisor.registry'))
        a = self.registry('a')
        a.publish(ep('10.1.1.1', 100, 'a'))
        b = self.registry('b')
        b.publish(ep('10.1.2.1', 200, 'b'))
        b.publish(ep('10.1.1.7', 200, 'b'))     # in a's subnet
        b.publish(ep('10.9.9.9', 200, 'b'))     # nobody's
        b.publish(ep('fd00:1::7', 200, 'b'))    # in a's IPv6 subnet
        early = self.watcher('early')
        early.wait_for({ep('10.1.1.1', 100, 'a'), ep('10.1.2.1', 200, 'b')})
        # a later host claiming a's subnet, and announcing in it
        c = self.registry('c')
        c.set_subnets(['10.1.3.0/24', '10.1.1.0/25'])
        c.publish(ep('10.1.1.8', 300, 'c'))
        c.publish(ep('10.1.3.1', 300, 'c'))
        watcher = self.watcher('w')
        good = {ep('10.1.1.1', 100, 'a'), ep('10.1.2.1', 200, 'b'),
                ep('10.1.3.1', 300, 'c')}
        self.assertEqual(good, watcher.wait_for(good))
        expected = {
            ('endpoint', 'b', '10.1.1.7'): '10.1.1.7 (group 200) announced '
            'by host b is in 10.1.1.0/24, held by host a',
            ('endpoint', 'b', '10.9.9.9'): '10.9.9.9 (group 200) announced '
            'by host b is outside its subnets (10.1.2.0/24)',
            ('endpoint', 'b', 'fd00:1::7'): 'fd00:1::7 (group 200) announced'
            ' by host b is in fd00:1::/64, held by host a',
            ('subnet', 'c', '10.1.1.0/25'): 'subnet 10.1.1.0/25 of host c '
            'overlaps 10.1.1.0/24, held by host a',
            ('endpoint', 'c', '10.1.1.8'): '10.1.1.8 (group 300) announced '
            'by host c is in 10.1.1.0/24, held by host a'}
        reader = self.registry('r')
        cluster.wait_for(lambda: reader.problems() == expected, TIMEOUT)
        self.assertEqual(expected, reader.problems())
        book, problems = reader.survey()
        self.assertEqual(expected, problems)
        self.assertEqual(good, set(book.accepted.values()))
        # more changes: each refusal was logged once by each reader
        b.publish(ep('10.1.2.2', 200, 'b'))
        good.add(ep('10.1.2.2', 200, 'b'))
        watcher.wait_for(good)
        cluster.wait_for(lambda: ep('10.1.2.2', 200, 'b')
                         in reader.endpoints(), TIMEOUT)
        refused = [line for line in log.output.splitlines()
                   if 'refused: 10.1.1.7 (group 200)' in line]
        # readers early, w, r and the three publishers
        self.assertEqual(6, len(refused), log.output)

    def test_malformed_nodes_are_named_and_change_nothing(self):
        a = self.registry('a')
        a.publish(ep('10.1.1.1', 100, 'a'))
        watcher = self.watcher('w')
        watcher.wait_for({ep('10.1.1.1', 100, 'a')})
        bay = self.raw_client()
        for name in ('garbage', '10.1.1.300@5', '10.1.1.2@700000',
                     '10.1.1.0_33@1', '10.1.1.3@1', '10.1.1.3@2'):
            bay.create(nodes('a') + '/' + name)
        bay.create(HOSTS + '/a/subnets/not-a-subnet')
        bay.create(HOSTS + '/bad@name', makepath=True)
        reader = self.registry('r')
        cluster.wait_for(lambda: len(reader.problems()) == 7, TIMEOUT)
        problems = reader.problems()
        self.assertEqual(
            "host a: endpoint node 'garbage' is not ADDRESS@GROUP",
            problems['endpoint', 'a', 'garbage'])
        self.assertIn("host a: endpoint node '10.1.1.2@700000': endpoint "
                      "10.1.1.2: group 700000 out of range",
                      problems['endpoint', 'a', '10.1.1.2@700000'])
        self.assertEqual('host a announces 10.1.1.3 under groups 1, 2',
                         problems['endpoint', 'a', '10.1.1.3'])
        self.assertIn("subnet node 'not-a-subnet'",
                      problems['subnet', 'a', 'not-a-subnet'])
        self.assertIn("host name 'bad@name'", problems['host', 'bad@name'])
        self.assertEqual({ep('10.1.1.1', 100, 'a')}, watcher.last)
        self.assertEqual({ep('10.1.1.1', 100, 'a')}, reader.endpoints())

    def test_decommissioning_withdraws_everywhere(self):
        a = self.registry('a')
        a.publish(ep('10.1.1.1', 100, 'a'))
        watcher = self.watcher('w')
        watcher.wait_for({ep('10.1.1.1', 100, 'a')})
        cli = self.registry('cli', start=False)
        cli.wait_connected(TIMEOUT)
        self.assertRaisesRegex(registry.RegistryError, 'host a is live',
                               cli.decommission, 'a')
        self.assertRaisesRegex(registry.RegistryError, 'there is no host x',
                               cli.decommission, 'x')
        a.close()
        self.assertEqual(1, cli.decommission('a'))
        self.assertEqual(frozenset(), watcher.wait_for(frozenset()))
        self.assertIsNone(self.raw_client().exists(HOSTS + '/a'))

    def test_cluster_policy_round_trip_and_bad_documents(self):
        writer = self.registry('cli', start=False)
        writer.wait_connected(TIMEOUT)
        self.assertIsNone(writer.cluster_policy())
        watcher = Snapshots()
        reader = self.registry('a')
        reader.watch_policy(watcher.calls.append)
        cluster.wait_for(lambda: watcher.calls, TIMEOUT)
        self.assertEqual({None}, set(watcher.calls))
        seed = policy.parse_text('100>0 0>100 100<>200')
        writer.set_cluster_policy(seed)
        self.assertEqual(seed, writer.cluster_policy())
        cluster.wait_for(lambda: watcher.calls[-1:] == [seed], TIMEOUT)
        self.assertEqual(seed, watcher.calls[-1])

        self.raw_client().set(ROOT + '/policy', b'{"rules": 5}')
        self.assertRaisesRegex(policy.PolicyError, 'cluster policy at '
                               '/magnum-iovisor/policy .version 1. is '
                               'invalid: policy: "rules" must be a list',
                               writer.cluster_policy)
        writer.set_cluster_policy(None)
        cluster.wait_for(lambda: watcher.calls[-1:] == [None], TIMEOUT)
        self.assertIsNone(watcher.calls[-1])
        self.assertIsNone(writer.cluster_policy())

    def test_a_policy_of_100000_rules_in_pieces_and_the_size_limit(self):
        big = policy.parse_text(' '.join(
            '%d>%d' % (1 + n // 250, 1000 + (n * 7919) % 60000)
            for n in range(100000)))
        self.assertEqual(100000, len(big))
        writer = self.registry('cli', start=False)
        writer.wait_connected(TIMEOUT)
        seen = []
        self.registry('a').watch_policy(seen.append)
        writer.set_cluster_policy(big)
        self.assertEqual(big, writer.cluster_policy())
        cluster.wait_for(lambda: seen[-1:] == [big], 3 * TIMEOUT)
        self.assertEqual(big, seen[-1])
        bay = self.raw_client()
        chunks = bay.get_children(ROOT + '/policy-chunks')
        self.assertGreater(len(chunks), 1)
        sizes = [len(bay.get(ROOT + '/policy-chunks/' + c)[0])
                 for c in chunks]
        self.assertLessEqual(max(sizes), 256 * 1024)
        self.assertLess(len(bay.get(ROOT + '/policy')[0]), 512)
        # a smaller one replaces it: the old pieces go
        writer.set_cluster_policy(policy.parse_text('100>0'))
        self.assertEqual(['2-0'], bay.get_children(ROOT + '/policy-chunks'))
        # over the limit: refused, nothing changes
        small = self.registry('cli', start=False)
        small.policy_max_bytes = 2048
        small.wait_connected(TIMEOUT)
        self.assertRaisesRegex(
            policy.PolicyError, r'the cluster policy \(100000 rules\) is '
            r'\d+ bytes compressed, over \[registry\] policy_max_bytes = '
            '2048', small.set_cluster_policy, big)
        self.assertEqual(policy.parse_text('100>0'), writer.cluster_policy())
        self.assertEqual(['2-0'], bay.get_children(ROOT + '/policy-chunks'))

    def test_a_policy_in_the_old_layout_is_read(self):
        seed = policy.parse_text('100>0 0>100')
        self.raw_client().create(ROOT + '/policy',
                                 policy.format_json(seed).encode(),
                                 makepath=True)
        reader = self.registry('cli', start=False)
        reader.wait_connected(TIMEOUT)
        self.assertEqual(seed, reader.cluster_policy())

    def test_commands_do_not_wait_forever(self):
        self.zk.server.stop()
        reg = self.registry('cli', start=False)
        self.assertRaisesRegex(registry.Unavailable, 'ZooKeeper at '
                               '127.0.0.1:2181 is not reachable',
                               reg.wait_connected, 0.5)


class AccessTest(RegistryTestCase):
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
        found = list(self.tree(bay))
        self.assertIn(nodes('a') + '/10.1.1.1@100', found)
        self.assertIn(HOSTS + '/a/live', found)
        self.assertIn(HOSTS + '/a/subnets/10.1.1.0_24', found)
        self.assertIn(ROOT + '/policy', found)
        anonymous = self.raw_client(credentials=None)
        stranger = self.raw_client(
            credentials_module.Credentials('bay', 'guessed'))
        for path in found:
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
        self.assertEqual(found, list(self.tree(bay)))
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
        cluster.wait_for(lambda: bay.exists(nodes('a') + '/10.1.1.1@100'),
                         TIMEOUT)
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
        # (a root in the layout before hosts/ holds only endpoints and
        # policy: a daemon migrates that one, see UpgradeTest)
        self.raw_client(credentials=None).ensure_path(ROOT + '/endpoints')
        self.raw_client(credentials=None).ensure_path(ROOT + '/unknown')
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
        self.assertEqual(['endpoints', 'unknown'], sorted(self.raw_client(
            credentials=None).get_children(ROOT)))


class UpgradeTest(RegistryTestCase):
    """A bay whose ZooKeeper holds the layout of main at 5810df9."""

    def old_daemon(self, host, endpoints):
        """Nodes as today's daemon leaves them: open, ephemeral, flat."""
        client = self.raw_client(credentials=None)
        client.ensure_path(ROOT + '/endpoints')
        for address, group in endpoints:
            client.create('%s/endpoints/%s@%d@%s' % (ROOT, address, group,
                                                     host), ephemeral=True)
        return client

    def test_the_old_layout_is_migrated_and_read_on_first_start(self):
        old = self.old_daemon('b', [('10.1.2.1', 200), ('10.1.2.2', 200)])
        seed = policy.parse_text('100>0 0>100')
        old.create(ROOT + '/policy', policy.format_json(seed).encode())
        # B's forged claim into A's subnet is refused even so
        old.create(ROOT + '/endpoints/10.1.1.9@200@b', ephemeral=True)
        a = self.registry('a')
        a.publish(ep('10.1.1.1', 100, 'a'))
        watcher = self.watcher('w')
        mixed = {ep('10.1.1.1', 100, 'a'), ep('10.1.2.1', 200, 'b'),
                 ep('10.1.2.2', 200, 'b')}
        self.assertEqual(mixed, watcher.wait_for(mixed))
        self.assertEqual(seed, a.cluster_policy())
        self.assertIn('in 10.1.1.0/24, held by host a', watcher_problem(
            self, '10.1.1.9'))
        # migrated: the nodes are the bay's now
        bay = self.raw_client()
        for path in (ROOT, ROOT + '/policy', ROOT + '/endpoints',
                     ROOT + '/endpoints/10.1.2.1@200@b'):
            self.assertEqual(BAY.acl, bay.get_acls(path)[0], path)
        self.assertRaises(zk_errors.NoAuthError, old.get_children, ROOT)
        # B's old daemon stops (to be upgraded): nothing is withdrawn
        old.stop()
        self.assertEqual([], bay.get_children(ROOT + '/endpoints'))
        told = len(watcher.calls)
        # upgraded, B announces in the new layout; what it no longer has
        # goes
        b = self.registry('b')
        b.publish(ep('10.1.2.1', 200, 'b'))
        now = {ep('10.1.1.1', 100, 'a'), ep('10.1.2.1', 200, 'b')}
        self.assertEqual(now, watcher.wait_for(now))
        self.assertNotIn({'10.1.2.1': None},
                         [c for c, _ in watcher.calls[told:]])
        # a new cluster policy is written in pieces; both layouts read it
        a.set_cluster_policy(policy.parse_text('100>0'))
        self.assertEqual(policy.parse_text('100>0'), b.cluster_policy())


def watcher_problem(test, address):
    reader = test.registry('r')
    found = cluster.wait_for(
        lambda: [r for k, r in reader.problems().items() if address in r],
        TIMEOUT)
    return found[0] if found else ''
