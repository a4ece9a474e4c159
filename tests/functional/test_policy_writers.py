"""One writer of the policy at a time (issue 14, item 5).

A ``load`` from the CLI, the boot hook and a cluster-policy change (applied
by the daemon's watcher) start together, all real processes against one
pin directory and a real ZooKeeper. The cluster policy is authoritative,
so once it is stored every slave must end with it, whole: neither writer
that checked for it may overwrite it after the daemon applied it.
"""

import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from oslo_config import cfg
import testtools

from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
from magnum_iovisor.dataplane import loader
from magnum_iovisor import policy
from tests.functional import packets as pk
from tests.functional import plugin_daemon
from tests.functional import zookeeper

BASE = policy.parse_text('1>2 5>6')
CLI = policy.parse_text('1>2 10>11 12>13')        # iovisor-policy load
HEAT = policy.parse_text('1>2 20>21 22>23:deny')  # the boot hook
CLUSTER = policy.parse_text('1>2 30>31 32>33')    # cluster load
KEPT = (1, 2)
KEPT_SOURCE, KEPT_DESTINATION = '10.250.0.1', '10.250.0.2'
KEPT_PACKET = pk.packet(KEPT_SOURCE, KEPT_DESTINATION, pk.UDP,
                        pk.udp(4000, 53))
REPEAT = 50
TC_ACT_OK = 0
TEST_RUN_IFINDEX = 1     # BPF_PROG_TEST_RUN's skb->ifindex (loopback)
ROUNDS = 6
SETTLE = 10


class PolicyWritersTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.zk = self.useFixture(zookeeper.PrivateZooKeeper())
        self.plugin = self.useFixture(plugin_daemon.PluginDaemon(
            netns=self.zk.netns, registry={
                'backend': 'zookeeper', 'hosts': '127.0.0.1:2181',
                'root': '/mi-writers-' + uuid.uuid4().hex[:8],
                'host_name': 'writers', 'connect_timeout': 5}))
        self.dir = tempfile.mkdtemp(prefix='mi-writers-')
        self.addCleanup(subprocess.run, ['rm', '-rf', self.dir])
        self.files = {}
        for name, document in (('base', BASE), ('cli', CLI),
                               ('heat', HEAT), ('cluster', CLUSTER)):
            self.files[name] = os.path.join(self.dir, name)
            with open(self.files[name], 'w') as out:
                out.write(policy.format_text(document))
        self.heat_params = os.path.join(self.dir, 'heat-params')
        with open(self.heat_params, 'w') as out:
            out.write('ROUTED_SUBNET="10.1.1.0/24"\n'
                      'IOVISOR_DOCKER_NETWORK=""\n'
                      'IOVISOR_POLICY_FILE="%s"\n' % self.files['heat'])
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', self.plugin.pin_dir, 'dataplane')
        self.dataplane = Dataplane(conf.dataplane)
        self.addCleanup(self.dataplane.close)

    def command(self, module, *args):
        return ['nsenter', '--net=/run/netns/' + self.zk.netns, '--',
                sys.executable, '-m', 'magnum_iovisor.cmd.' + module,
                '--config-file', self.plugin.config_file, *args]

    def run_command(self, module, *args):
        return subprocess.run(self.command(module, *args),
                              capture_output=True, text=True, timeout=120)

    def start_round(self):
        """No cluster policy, BASE in force."""
        result = self.run_command('policy', 'cluster', 'clear')
        self.assertEqual(0, result.returncode, result.stderr)
        result = self.run_command('policy', 'load', self.files['base'])
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual(BASE, self.dataplane.policy())

    def kept_counter(self):
        return {(r.src, r.dst): (p, b)
                for r, p, b in self.dataplane.rules()}[KEPT]

    def race(self):
        """The three writers, while packets of the kept rule are counted.

        Returns (results, packets): the packets the classifier passed
        during the race (BPF_PROG_TEST_RUN, from_endpoint).
        """
        results = {}
        verdicts = []
        racing = threading.Event()
        racing.set()

        def run(name, module, *args):
            time.sleep(random.uniform(0, 0.6))
            results[name] = self.run_command(module, *args)

        def traffic():
            while racing.is_set():
                verdict, _ = self.dataplane.test_run(
                    'from_endpoint', KEPT_PACKET, REPEAT)
                verdicts.append(verdict)

        threads = [
            threading.Thread(target=run, args=(
                'cli', 'policy', 'load', self.files['cli'])),
            threading.Thread(target=run, args=(
                'boot', 'bootstrap', '--heat-params', self.heat_params)),
            threading.Thread(target=run, args=(
                'cluster', 'policy', 'cluster', 'load',
                self.files['cluster'])),
        ]
        sender = threading.Thread(target=traffic)
        sender.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        racing.clear()
        sender.join()
        # the kept rule allowed every packet, at every moment
        self.assertEqual({TC_ACT_OK}, set(verdicts))
        return results, len(verdicts) * REPEAT

    def test_the_cluster_policy_is_never_overwritten(self):
        self.dataplane.tag(KEPT_SOURCE, KEPT[0], ifindex=TEST_RUN_IFINDEX)
        self.dataplane.tag(KEPT_DESTINATION, KEPT[1])
        for round_ in range(ROUNDS):
            self.start_round()
            before = self.kept_counter()
            results, packets = self.race()
            self.assertEqual(0, results['cluster'].returncode,
                             results['cluster'].stderr)
            for name in ('cli', 'boot'):
                # either it went first, or it saw the cluster policy and
                # refused with a message that says so
                if results[name].returncode:
                    self.assertIn('cluster policy is in force',
                                  results[name].stderr, name)
            deadline = time.monotonic() + SETTLE
            while (self.dataplane.policy() != CLUSTER
                   and time.monotonic() < deadline):
                time.sleep(0.1)
            # settled, and stays so: nobody writes behind the daemon
            time.sleep(1)
            self.assertEqual(
                CLUSTER, self.dataplane.policy(),
                'round %d: %s; cli %s, boot %s\n%s' % (
                    round_, policy.format_text(self.dataplane.policy()),
                    results['cli'].returncode, results['boot'].returncode,
                    self.plugin.log_tail(20)))
            # counted exactly: not one increment lost to a writer
            self.assertGreater(packets, 0)
            self.assertEqual(
                (before[0] + packets, before[1] + packets * len(KEPT_PACKET)),
                self.kept_counter(), 'round %d' % round_)

    def test_boot_hook_with_zookeeper_unreachable_changes_nothing(self):
        result = self.run_command('policy', 'cluster', 'load',
                                  self.files['cluster'])
        self.assertEqual(0, result.returncode, result.stderr)
        deadline = time.monotonic() + SETTLE
        while (self.dataplane.policy() != CLUSTER
               and time.monotonic() < deadline):
            time.sleep(0.1)
        self.assertEqual(CLUSTER, self.dataplane.policy())
        self.zk.server.stop()
        self.addCleanup(self.zk.server.start)
        result = self.run_command('bootstrap', '--heat-params',
                                  self.heat_params)
        self.assertEqual(1, result.returncode, result.stderr)
        self.assertIn('cannot tell whether a cluster policy is in force, so '
                      'the policy in force is left as it is', result.stderr)
        self.assertEqual(CLUSTER, self.dataplane.policy())


HOLDER = '''
import sys
from magnum_iovisor.dataplane import writer
with writer.policy_writer(sys.argv[1]):
    print('holding', flush=True)
    sys.stdin.readline()
'''


BUMPER = '''
import sys
from oslo_config import cfg
from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
conf = cfg.ConfigOpts()
config.register_opts(conf)
conf([], default_config_files=[])
conf.set_override('pin_dir', sys.argv[1], 'dataplane')
with Dataplane(conf.dataplane) as plane:
    print('ready', flush=True)
    sys.stdin.readline()
    for _ in range(int(sys.argv[2])):
        plane.bump_generation()
'''
BUMPERS, BUMPS = 4, 3000


class PolicyLockTest(testtools.TestCase):
    """The lock itself: a writer in another process waits for it."""

    def open_plane(self):
        pin_dir = '/sys/fs/bpf/mi-lock-' + uuid.uuid4().hex[:8]
        self.addCleanup(subprocess.run, ['rm', '-rf', pin_dir,
                                         loader.lock_path(pin_dir)])
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', pin_dir, 'dataplane')
        plane = Dataplane(conf.dataplane)
        self.addCleanup(plane.close)
        return pin_dir, plane

    def test_no_generation_bump_is_lost(self):
        # read-modify-write under the writer lock: every bump of every
        # process moves the generation on by one
        pin_dir, plane = self.open_plane()
        before = plane.bump_generation()
        bumpers = [subprocess.Popen(
            [sys.executable, '-c', BUMPER, pin_dir, str(BUMPS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(BUMPERS)]
        for bumper in bumpers:
            self.addCleanup(bumper.kill)
        for bumper in bumpers:
            self.assertEqual('ready', bumper.stdout.readline().strip())
        for bumper in bumpers:      # all loaded, then all at once
            bumper.stdin.write('\n')
            bumper.stdin.flush()
        for _ in range(BUMPS):
            plane.bump_generation()
        self.assertEqual([0] * BUMPERS, [b.wait(120) for b in bumpers])
        self.assertEqual((before + (BUMPERS + 1) * BUMPS) & 0xffffffff,
                         plane.generation())

    def test_a_write_waits_for_another_process(self):
        pin_dir, plane = self.open_plane()
        holder = subprocess.Popen([sys.executable, '-c', HOLDER, pin_dir],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        self.assertEqual('holding', holder.stdout.readline().strip())
        done = threading.Event()

        def write():
            plane.replace_policy(CLI)
            done.set()
        thread = threading.Thread(target=write)
        thread.start()
        self.assertFalse(done.wait(2), 'wrote while another process held '
                                       'the policy lock')
        self.assertEqual(policy.Policy.from_actions([]), plane.policy())
        holder.stdin.write('\n')
        holder.stdin.flush()
        self.assertTrue(done.wait(30))
        thread.join()
        self.assertEqual(CLI, plane.policy())
        # and nested use in one process does not deadlock
        with plane.writing_policy():
            with plane.writing_policy():
                plane.replace_policy(BASE)
        self.assertEqual(BASE, plane.policy())
