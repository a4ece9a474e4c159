"""The registry on a three-server ZooKeeper ensemble losing its leader.

Each server runs in its own namespace on the underlay; both slaves' daemons
know all three. The leader is killed while containers start on both
slaves: every Join is served, nothing announced is lost, and both slaves
learn everything once the ensemble has a new leader.
"""

import signal
import threading

from tests.functional import cluster as cluster_module
from tests.functional import test_registry

wait_for = cluster_module.wait_for
# a leader election plus a session's reconnection, generously
RECOVERY = 60.0


class EnsembleTest(test_registry.SlavesTestCase):
    ensemble = True

    def test_leader_killed_while_containers_start(self):
        leader = wait_for(self.cluster.leader, RECOVERY)
        self.assertIsNotNone(leader, 'no member of the ensemble leads')
        errors = []

        def start(slave, numbers, group):
            try:
                for n in numbers:
                    slave.add_container('c%d' % n, n, group)
            except Exception as exc:      # reported below, with the rest
                errors.append(exc)

        starts = [threading.Thread(target=start,
                                   args=(self.a, range(40, 44), 100)),
                  threading.Thread(target=start,
                                   args=(self.b, range(40, 44), 200))]
        for thread in starts:
            thread.start()
        leader.stop(signal.SIGKILL)
        for thread in starts:
            thread.join(300)
        self.assertEqual([], errors)

        new_leader = wait_for(self.cluster.leader, RECOVERY)
        self.assertIsNotNone(new_leader)
        self.assertIsNot(leader, new_leader)
        a_learns = dict(test_registry.A_LEARNS,
                        **{'10.1.2.%d' % n: 200 for n in range(40, 44)})
        b_learns = dict(test_registry.B_LEARNS,
                        **{'10.1.1.%d' % n: 100 for n in range(40, 44)})
        self.assertLearned(self.a, a_learns, timeout=RECOVERY)
        self.assertLearned(self.b, b_learns, timeout=RECOVERY)
        self.assertEqual(12, len(self.endpoint_nodes()))
        listed = self.a.policy_command('cluster', 'endpoints', '-f', 'value')
        self.assertEqual(0, listed.returncode, listed.stderr)
        self.assertEqual(12, len([line for line in listed.stdout.splitlines()
                                  if line.endswith(' ok')]))
        self.assertReach({('c40', 'web'): True, ('web', 'db'): True})

        # the killed member rejoins; propagation goes on
        leader.start_async()
        leader.wait_listening(RECOVERY)
        self.b.add_container('c50', 50, 200)
        self.assertLearned(self.a, dict(a_learns, **{'10.1.2.50': 200}),
                           timeout=RECOVERY)
