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
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import loader
from magnum_iovisor import policy
from tests.functional import plugin_daemon
from tests.functional import zookeeper

BASE = policy.parse_text('1>2 5>6')
CLI = policy.parse_text('1>2 10>11 12>13')        # iovisor-policy load
HEAT = policy.parse_text('1>2 20>21 22>23:deny')  # the boot hook
CLUSTER = policy.parse_text('1>2 30>31 32>33')    # cluster load
KEPT = (1, 2)
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
        """No cluster policy, BASE in force, a counter on the kept rule."""
        result = self.run_command('policy', 'cluster', 'clear')
        self.assertEqual(0, result.returncode, result.stderr)
        result = self.run_command('policy', 'load', self.files['base'])
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual(BASE, self.dataplane.policy())
        policy_map = self.dataplane.maps['policy']
        with self.dataplane.writing_policy():
            policy_map.set(KEPT, policy_map.row(
                action=layout.Action.ALLOW, reserved=0, packets=4242,
                bytes=424200))

    def race(self):
        results = {}

        def run(name, module, *args):
            time.sleep(random.uniform(0, 0.6))
            results[name] = self.run_command(module, *args)

        threads = [
            threading.Thread(target=run, args=(
                'cli', 'policy', 'load', self.files['cli'])),
            threading.Thread(target=run, args=(
                'boot', 'bootstrap', '--heat-params', self.heat_params)),
            threading.Thread(target=run, args=(
                'cluster', 'policy', 'cluster', 'load',
                self.files['cluster'])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def test_the_cluster_policy_is_never_overwritten(self):
        for round_ in range(ROUNDS):
            self.start_round()
            results = self.race()
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
            counters = {(r.src, r.dst): (p, b)
                        for r, p, b in self.dataplane.rules()}
            self.assertEqual((4242, 424200), counters[KEPT])

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


class PolicyLockTest(testtools.TestCase):
    """The lock itself: a writer in another process waits for it."""

    def test_a_write_waits_for_another_process(self):
        pin_dir = '/sys/fs/bpf/mi-lock-' + uuid.uuid4().hex[:8]
        self.addCleanup(subprocess.run, ['rm', '-rf', pin_dir,
                                         loader.lock_path(pin_dir)])
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', pin_dir, 'dataplane')
        plane = Dataplane(conf.dataplane)
        self.addCleanup(plane.close)
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
