"""Two slaves sharing endpoints and a policy through a real ZooKeeper.

Each slave runs its own dockerd and ``iovisor-docker-plugin``; containers
are real. The seed scenario split across hosts: ``web`` (100) and
``cache`` (200) on slave A, ``db`` (200) and ``dns`` (100) on slave B, an
untagged ``outside`` host behind A; the seed's policy is the cluster
policy.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import testtools
from testtools import content

from magnum_iovisor import policy
from tests.functional import base
from tests.functional import cluster as cluster_module

wait_for = cluster_module.wait_for

SEED_POLICY = '100>0 0>100 100>100 100<>200'
SESSION_TIMEOUT = 2.0
# generous bounds for polling; nothing here measures speed
PROPAGATION = 10.0
KEEPER = 10.0          # dataplane/reserved.py Keeper interval
LONG_SESSION_TIMEOUT = 4 * PROPAGATION
EXPIRY = SESSION_TIMEOUT + 20.0
A_LEARNS = {'10.1.2.20': 200, '10.1.2.30': 100}     # db, dns
B_LEARNS = {'10.1.1.10': 100, '10.1.1.20': 200}     # web, cache
MACVLAN_SUBNET = '10.1.3.0/24'                      # slave B's second


class SlavesTestCase(testtools.TestCase):
    session_timeout = SESSION_TIMEOUT
    ensemble = False

    def setUp(self):
        super().setUp()
        self.cluster = self.useFixture(cluster_module.Cluster(
            session_timeout=self.session_timeout, ensemble=self.ensemble))
        self.a = self.cluster.slaves['a']
        self.b = self.cluster.slaves['b']
        self.addOnException(self._attach_logs)
        self.start_seed()

    def start_seed(self):
        loaded = self.a.policy_command('cluster', 'load', '-',
                                       stdin=SEED_POLICY)
        self.assertEqual(0, loaded.returncode, loaded.stderr)
        self.seed = policy.parse_text(SEED_POLICY)
        self.a.add_container('web', 10, 100)
        self.a.add_container('cache', 20, 200)
        self.b.add_container('db', 20, 200)
        self.b.add_container('dns', 30, 100)
        self.a.topo.add_outside('outside', 1)
        self.assertLearned(self.a, A_LEARNS)
        self.assertLearned(self.b, B_LEARNS)

    def local_config(self, slave):
        """The slave's configuration with ``[registry] backend = local``."""
        with open(slave.config_file) as conf:
            text = conf.read()
        path = slave.config_file + '.local'
        with open(path, 'w') as conf:
            conf.write(text.replace('backend = zookeeper', 'backend = local'))
        return path

    def _attach_logs(self, exc_info):
        for name, slave in self.cluster.slaves.items():
            self.addDetail('daemon-%s' % name, content.text_content(
                slave.log()))
            self.addDetail('dockerd-%s' % name, content.text_content(
                slave.dockerd.log_tail(40)))
        for n, server in enumerate(self.cluster.servers):
            self.addDetail('zookeeper%d' % n, content.text_content(
                server.log()))

    def assertLearned(self, slave, expected, timeout=PROPAGATION):
        """The slave's learned entries become exactly ``expected``."""
        wait_for(lambda: slave.learned() == expected, timeout)
        self.assertEqual(expected, slave.learned())

    def assertReach(self, expected):
        seen = {pair: self.cluster.ping(*pair) for pair in expected}
        self.assertEqual(expected, seen)

    def seed_matrix(self):
        return {('web', 'db'): True,        # 100 -> 200, A to B
                ('db', 'web'): True,        # 200 -> 100, B to A
                ('dns', 'cache'): True,     # 100 -> 200, B to A
                ('web', 'dns'): True,       # 100 -> 100
                ('db', 'cache'): False,     # 200 -> 200: no rule
                ('outside', 'db'): False,   # 0 -> 200 on B
                ('outside', 'cache'): False,
                ('outside', 'dns'): True,   # routed to B, 0 -> 100
                ('web', 'outside'): True}

    def endpoint_nodes(self):
        """{'<key>@<group>@<host>'} under <root>/hosts/*/endpoints."""
        path = cluster_module.ZK_ROOT + '/hosts'
        with self.cluster.zookeeper_client() as client:
            return {'%s@%s' % (name, host)
                    for host in client.get_children(path)
                    for name in client.get_children(
                        '%s/%s/endpoints' % (path, host))}

    def live_owner(self, slave):
        """The session of the slave's live node, or None."""
        path = '%s/hosts/%s/live' % (cluster_module.ZK_ROOT, slave.host_name)
        with self.cluster.zookeeper_client() as client:
            stat = client.exists(path)
        return stat and stat.ephemeralOwner

    def watch_learned(self, slave, expected):
        """Record every moment ``slave`` learned anything else."""
        gaps = []
        watching = threading.Event()
        watching.set()

        def watch():
            while watching.is_set():
                learned = slave.learned()
                if learned != expected:
                    gaps.append(learned)
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()

        def stop():
            watching.clear()
            watcher.join()
            return gaps
        self.addCleanup(stop)
        return stop


class TwoSlavesTest(SlavesTestCase):
    # -- the seed scenario across hosts ---------------------------------------

    def test_seed_matrix_holds_across_slaves(self):
        self.assertReach(self.seed_matrix())
        seed = self.a.dataplane.policy()
        self.assertEqual(5, len(seed))
        self.assertEqual(seed, self.b.dataplane.policy())
        # the remote endpoints are learned entries, next to the local ones
        # (and the slave's own addresses, which its daemon tags as host)
        endpoints = self.a.dataplane.endpoints()
        self.assertEqual(
            sorted([('10.1.1.10', 100), ('10.1.1.20', 200)]
                   + list(A_LEARNS.items())),
            [(address, group) for address, group, _ in endpoints
             if group not in (policy.RESERVED['host'],
                              policy.RESERVED['unknown'])])
        # B's subnet is unknown on A once A's keeper ran (RegistryGapTest)
        self.assertLessEqual(
            {address for address, group, _ in endpoints
             if group == policy.RESERVED['unknown']}, {'10.1.2.0/24'})
        self.assertIn(('192.168.77.1', policy.RESERVED['host']),
                      [(address, group) for address, group, _ in endpoints])
        listed = self.b.policy_command('cluster', 'endpoints', '-f', 'value')
        self.assertEqual(['10.1.1.10 100 slave-a ok',
                          '10.1.1.20 200 slave-a ok',
                          '10.1.2.20 200 slave-b ok',
                          '10.1.2.30 100 slave-b ok'],
                         listed.stdout.splitlines(), listed.stderr)

    def test_forged_claims_are_refused_everywhere_and_shown(self):
        # written by hand as slave-b: an address in A's subnet, and one in
        # no subnet of B's
        base = cluster_module.ZK_ROOT + '/hosts/slave-b/endpoints/'
        with self.cluster.zookeeper_client() as client:
            client.create(base + '10.1.1.30@100')
            client.create(base + '10.7.0.1@100')
            client.create(base + '10.1.2.40@200')    # a good one, to sync
        self.assertLearned(self.a, dict(A_LEARNS, **{'10.1.2.40': 200}))
        self.assertEqual(B_LEARNS, self.b.learned())
        listed = self.a.policy_command('cluster', 'endpoints', '-f', 'value')
        lines = listed.stdout.splitlines()
        self.assertIn('10.1.1.30 100 slave-b refused: 10.1.1.30 (group 100) '
                      'announced by host slave-b is in 10.1.1.0/24, held by '
                      'host slave-a', lines)
        self.assertIn('10.7.0.1 100 slave-b refused: 10.7.0.1 (group 100) '
                      'announced by host slave-b is outside its subnets '
                      '(10.1.2.0/24)', lines)
        for slave in (self.a, self.b):
            self.assertEqual(1, slave.log().count('refused: 10.1.1.30'))
        # web (10.1.1.10 on A) is still A's own
        self.assertReach({('web', 'db'): True})

    def test_removed_container_leaves_the_other_slave(self):
        self.b.remove_container('db')
        self.assertLearned(self.a, {'10.1.2.30': 100})
        self.assertEqual({'10.1.1.10@100@slave-a', '10.1.1.20@200@slave-a',
                          '10.1.2.30@100@slave-b'}, self.endpoint_nodes())

    def test_macvlan_container_is_announced_and_withdrawn(self):
        # attached inside its sandbox; announced from Join on
        network = self.b.add_macvlan_network(MACVLAN_SUBNET, peer=self.a)
        self.b.add_container('db2', 20, 200, network, MACVLAN_SUBNET)
        with_db2 = dict(A_LEARNS, **{'10.1.3.20': 200})
        self.assertLearned(self.a, with_db2)
        self.assertReach({('web', 'db2'): True, ('db2', 'web'): True,
                          ('outside', 'db2'): False, ('db2', 'cache'): False,
                          ('db2', 'dns'): True})
        self.b.remove_container('db2')
        self.assertLearned(self.a, A_LEARNS)

    # -- hosts and ZooKeeper failing ------------------------------------------

    def test_killed_daemon_endpoints_stay_until_decommissioned(self):
        gaps = self.watch_learned(self.a, A_LEARNS)
        self.b.kill_daemon()
        wait_for(lambda: self.live_owner(self.b) is None, EXPIRY)
        self.assertIsNone(self.live_owner(self.b))
        # a dead host is not a departed one: A keeps B's endpoints
        self.assertEqual([], gaps())
        refused = self.a.policy_command('cluster', 'decommission', 'slave-a')
        self.assertIn('host slave-a is live', refused.stderr)
        gone = self.a.policy_command('cluster', 'decommission', 'slave-b')
        self.assertEqual(0, gone.returncode, gone.stderr)
        self.assertIn('host slave-b decommissioned: 2 endpoints', gone.stdout)
        self.assertLearned(self.a, {})
        # B keeps enforcing what it knew without its daemon
        self.assertEqual(B_LEARNS, self.b.learned())
        self.assertReach({('dns', 'db'): True, ('outside', 'db'): False})
        # restarted, it announces B's live endpoints again, once each
        self.b.start_daemon()
        self.assertLearned(self.a, A_LEARNS)
        self.assertLearned(self.b, B_LEARNS)
        self.assertEqual(4, len(self.endpoint_nodes()))
        self.assertReach(self.seed_matrix())

    def test_zookeeper_outage_keeps_enforcing_and_resyncs(self):
        web_ns, db_address = self.cluster.host('web')[0], '10.1.2.20'
        pings = 30
        flow = subprocess.Popen(
            cluster_module.in_netns_cmd(web_ns, 'ping', '-q', '-c',
                                        str(pings), '-i', '0.2', '-W', '1',
                                        db_address),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(_stop, flow)
        time.sleep(1)
        self.cluster.zookeeper.stop(signal.SIGKILL)
        refused = self.a.policy_command('allow', '200', '200')
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('cannot tell whether a cluster policy is in force',
                      refused.stderr)
        # a configuration without the cluster changes A alone, on purpose
        by_hand = self.a.policy_command(
            'allow', '200', '200', config_file=self.local_config(self.a))
        self.assertEqual(0, by_hand.returncode, by_hand.stderr)

        # B's daemon restarted meanwhile starts without ZooKeeper, and a
        # container started on B is served and works locally
        self.b.kill_daemon()
        self.b.start_daemon()
        self.b.add_container('web2', 40, 100)
        self.assertReach({('web2', 'db'): True, ('outside', 'db'): False,
                          ('dns', 'cache'): True})
        # past the session timeout, both keep what they knew; A has not
        # heard of web2, so web2 (group 0 there) cannot reach A's cache
        time.sleep(SESSION_TIMEOUT + 1)
        self.assertEqual(A_LEARNS, self.a.learned())
        self.assertEqual(B_LEARNS, self.b.learned())
        self.assertReach({('web2', 'cache'): False})
        out, _ = flow.communicate(timeout=60)
        self.assertIn('%d packets transmitted, %d received' % (pings, pings),
                      out)

        self.cluster.zookeeper.start()
        self.assertLearned(self.a, dict(A_LEARNS, **{'10.1.2.40': 100}),
                           timeout=EXPIRY)
        # the cluster policy is A's again: the change by hand is gone
        wait_for(lambda: self.a.dataplane.policy() == self.seed,
                 PROPAGATION)
        self.assertEqual(self.seed, self.a.dataplane.policy())
        self.assertLearned(self.b, B_LEARNS)
        self.assertReach({('web2', 'cache'): True})
        self.assertReach(self.seed_matrix())
        wait_for(lambda: len(self.endpoint_nodes()) == 5, PROPAGATION)
        self.assertEqual(5, len(self.endpoint_nodes()))

    def test_expired_session_withdraws_nothing(self):
        before = self.endpoint_nodes()
        old_session = self.live_owner(self.b)
        gaps = self.watch_learned(self.a, A_LEARNS)
        # a pause longer than the session timeout: ZooKeeper ends the
        # session, and the daemon hears so when it runs again
        self.b.freeze_daemon(SESSION_TIMEOUT + 2)
        self.assertTrue(wait_for(
            lambda: self.live_owner(self.b) not in (None, old_session),
            EXPIRY))
        self.assertEqual([], gaps())
        self.assertEqual(before, self.endpoint_nodes())
        self.assertLearned(self.b, B_LEARNS)
        self.assertReach(self.seed_matrix())

    # -- the cluster policy ---------------------------------------------------

    def test_cluster_policy_changes_every_slave(self):
        tighter = '100>0 0>100 100>100'
        loaded = self.b.policy_command('cluster', 'load', '-', stdin=tighter)
        self.assertEqual(0, loaded.returncode, loaded.stderr)
        for slave in (self.a, self.b):
            wait_for(lambda: len(slave.dataplane.policy()) == 3, PROPAGATION)
            self.assertEqual(policy.parse_text(tighter),
                             slave.dataplane.policy())
        self.assertReach({('web', 'db'): False, ('web', 'dns'): True})

    def test_bad_cluster_policy_is_refused_and_ignored(self):
        seed = self.a.dataplane.policy()
        bad = self.a.policy_command('cluster', 'load', '-',
                                    stdin='100>0 100>70000')
        self.assertNotEqual(0, bad.returncode)
        self.assertIn("rule 2 ('100>70000'): group 70000 out of range",
                      bad.stderr)
        exported = self.a.policy_command('cluster', 'export')
        self.assertEqual('world<>100 100>100 100<>200',
                         exported.stdout.strip())

        # written behind the command's back: logged, last good one kept
        with self.cluster.zookeeper_client() as client:
            client.set(cluster_module.ZK_ROOT + '/policy',
                       b'{"rules": [{"src": 100}]}')
        for slave in (self.a, self.b):
            wait_for(lambda: 'ignoring the cluster policy' in slave.log(),
                     PROPAGATION)
            self.assertIn("rule 1: missing 'dst'", slave.log())
            self.assertEqual(seed, slave.dataplane.policy())
        self.assertReach(self.seed_matrix())

    def test_local_changes_refused_while_a_cluster_policy_is_in_force(self):
        seed = self.a.dataplane.policy()
        refused = self.a.policy_command('allow', '200', '200')
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('a cluster policy is in force', refused.stderr)
        self.assertEqual(seed, self.a.dataplane.policy())

        cleared = self.a.policy_command('cluster', 'clear')
        self.assertEqual(0, cleared.returncode, cleared.stderr)
        # the slaves keep enforcing it, and now take local changes
        allowed = self.a.policy_command('allow', '200', '200')
        self.assertEqual(0, allowed.returncode, allowed.stderr)
        self.assertEqual(policy.Action.ALLOW,
                         self.a.dataplane.policy().action(200, 200))
        self.assertEqual(seed, self.b.dataplane.policy())


class DaemonRestartTest(SlavesTestCase):
    """A restart is not a departure: the other slave never forgets."""

    session_timeout = LONG_SESSION_TIMEOUT

    def test_killed_and_restarted_daemon_withdraws_nothing(self):
        old_owner = self.live_owner(self.b)
        gaps = self.watch_learned(self.a, A_LEARNS)
        self.b.kill_daemon()
        self.b.start_daemon()
        self.assertTrue(wait_for(
            lambda: self.live_owner(self.b) not in (None, old_owner),
            PROPAGATION))
        self.assertEqual(4, len(self.endpoint_nodes()))
        self.assertEqual([], gaps())
        self.assertReach(self.seed_matrix())
        self.assertNotIn('removing stray', self.b.log())

    def test_stopped_and_restarted_daemon_withdraws_nothing(self):
        gaps = self.watch_learned(self.a, A_LEARNS)
        self.b.plugin.stop()
        self.assertEqual(0, self.b.plugin.process.returncode,
                         self.b.log())
        self.assertIn('stopping', self.b.log())
        # its session closed at once; its endpoints stay
        self.assertIsNone(self.live_owner(self.b))
        time.sleep(1)
        self.assertEqual(B_LEARNS, self.b.learned())
        self.assertReach({('dns', 'db'): True, ('outside', 'db'): False,
                          ('web', 'db'): True})
        self.b.start_daemon()
        wait_for(lambda: self.live_owner(self.b) is not None, PROPAGATION)
        self.assertEqual([], gaps())
        self.assertReach(self.seed_matrix())


class RegistryGapTest(SlavesTestCase):
    """A gap in the registry is ``unknown``, never the world (issue 14).

    Item 3: every subnet another slave holds is in that reserved group.
    """

    session_timeout = LONG_SESSION_TIMEOUT

    def unknown(self, slave):
        return {p for p, g, _ in slave.dataplane.prefixes()
                if g == policy.RESERVED['unknown']}

    def test_the_other_slaves_subnets_stay_unknown_across_restarts(self):
        b_subnet, a_subnet = '10.1.2.0/24', '10.1.1.0/24'
        self.assertTrue(wait_for(lambda: b_subnet in self.unknown(self.a),
                                 KEEPER + PROPAGATION))
        self.assertTrue(wait_for(lambda: a_subnet in self.unknown(self.b),
                                 KEEPER + PROPAGATION))
        # its own subnet: its endpoints are local, learned from nobody
        self.assertNotIn(a_subnet, self.unknown(self.a))
        gaps = []
        watching = threading.Event()
        watching.set()

        def watch():
            while watching.is_set():
                if b_subnet not in self.unknown(self.a):
                    gaps.append(time.monotonic())
                time.sleep(0.01)
        watcher = threading.Thread(target=watch)
        watcher.start()
        self.addCleanup(watcher.join)
        self.addCleanup(watching.clear)
        learned_a = self.watch_learned(self.a, A_LEARNS)
        learned_b = self.watch_learned(self.b, B_LEARNS)
        received, sink = self.start_stream()
        # A's own restart (it starts before it has read the registry) and
        # a keeper round after it; then B's (SIGTERM, as systemctl does)
        self.a.plugin.stop()
        self.a.start_daemon()
        time.sleep(KEEPER + 2)
        at_b = received()
        self.b.plugin.stop()
        self.b.start_daemon()
        time.sleep(2)
        watching.clear()
        watcher.join()
        self.assertEqual([], gaps)
        self.assertEqual([], learned_a())
        self.assertEqual([], learned_b())
        self.assertGreater(received(), at_b, 'the stream stopped')
        self.assertIsNone(sink.poll(), 'the stream was cut')
        self.assertReach(self.seed_matrix())

    def start_stream(self):
        """A TCP stream web (on A) -> db (on B): (bytes db got, sink)."""
        status = tempfile.NamedTemporaryFile(delete=False)
        self.addCleanup(os.unlink, status.name)
        (web_ns, _), (db_ns, db_address) = (self.cluster.host('web'),
                                            self.cluster.host('db'))
        sink = subprocess.Popen(cluster_module.in_netns_cmd(
            db_ns, sys.executable, base.PROBE, 'sink', '7100', status.name),
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(_stop, sink)
        self.assertEqual('listening', sink.stdout.readline().strip())
        stream = subprocess.Popen(cluster_module.in_netns_cmd(
            web_ns, sys.executable, base.PROBE, 'stream', db_address,
            '7100'), stdout=subprocess.DEVNULL)
        self.addCleanup(_stop, stream)

        def received():
            with open(status.name) as counted:
                return int(counted.read() or 0)
        self.assertTrue(wait_for(received, PROPAGATION))
        return received, sink

    def test_a_zookeeper_that_answers_slowly_opens_nothing(self):
        gaps_a = self.watch_learned(self.a, A_LEARNS)
        gaps_b = self.watch_learned(self.b, B_LEARNS)
        server = self.cluster.zookeeper.proc
        server.send_signal(signal.SIGSTOP)   # connections open, no answer
        self.addCleanup(server.send_signal, signal.SIGCONT)
        try:
            started = time.monotonic()
            refused = self.a.policy_command('allow', '200', '200')
            self.assertLess(time.monotonic() - started, 120)
            self.assertNotEqual(0, refused.returncode)
            self.assertIn('cannot tell whether a cluster policy is in force',
                          refused.stderr)
            self.assertReach(self.seed_matrix())
            time.sleep(LONG_SESSION_TIMEOUT + 1)
        finally:
            server.send_signal(signal.SIGCONT)
        self.assertEqual(self.seed, self.a.dataplane.policy())
        self.assertEqual(self.seed, self.b.dataplane.policy())
        self.assertReach(self.seed_matrix())
        self.assertEqual([], gaps_a())
        self.assertEqual([], gaps_b())


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
