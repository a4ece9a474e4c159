"""Waiting for an interface to arrive in its sandbox, on the real kernel.

The waiter runs in a namespace made here, standing for the slave; the
"sandbox" is another. With the unprompted look put an hour away, only the
kernel's notice of the move (``sandbox.Departures``) can end the wait
within the test's time.
"""

import threading
import uuid

import fixtures
import testtools

from magnum_iovisor.dataplane import attach as tc
from magnum_iovisor.plugin import sandbox
from tests.functional import topology

HOUR = 3600.0


class WaitForLinkTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_iovisor.plugin.sandbox.UNPROMPTED', HOUR))
        prefix = 'miw%s' % uuid.uuid4().hex[:5]
        self.slave = prefix + '-s'
        self.box = prefix + '-c'
        for ns in (self.slave, self.box):
            topology.run('ip', 'netns', 'add', ns)
            self.addCleanup(topology.run, 'ip', 'netns', 'del', ns,
                            check=False)
        self.ifname = prefix + 'a'
        self.alias = 'iovisor-test-%s' % prefix
        topology.nsexec(self.slave, 'ip', 'link', 'add', self.ifname,
                        'type', 'veth', 'peer', 'name', prefix + 'b')
        topology.nsexec(self.slave, 'ip', 'link', 'set', self.ifname,
                        'alias', self.alias)
        self.departures = sandbox.Departures()
        self.addCleanup(self.departures.close)
        self.cancel = threading.Event()
        self.outcome = {}
        self.waiter = threading.Thread(target=self._wait, daemon=True)

    def _wait(self):
        try:
            with tc.in_netns(self.slave):
                self.outcome['name'] = sandbox.wait_for_link(
                    '/run/netns/' + self.box, self.alias, HOUR,
                    self.cancel.is_set, self.departures)
        except Exception as exc:
            self.outcome['error'] = exc

    def start_waiting(self):
        self.waiter.start()
        # the waiter has looked once and waits for news
        for _ in range(500):
            if self.departures._waiting.get(self.alias):
                break
            self.cancel.wait(0.01)
        self.assertIn(self.alias, self.departures._waiting)

    def outcome_within(self, seconds):
        self.waiter.join(seconds)
        self.assertFalse(self.waiter.is_alive(), 'still waiting')
        self.assertNotIn('error', self.outcome)
        return self.outcome['name']

    def test_the_move_ends_the_wait(self):
        self.start_waiting()
        topology.nsexec(self.slave, 'ip', 'link', 'set', self.ifname,
                        'netns', self.box)
        self.assertEqual(self.ifname, self.outcome_within(30))
        self.assertEqual({}, self.departures._waiting)

    def test_an_interface_already_there_is_found_at_once(self):
        topology.nsexec(self.slave, 'ip', 'link', 'set', self.ifname,
                        'netns', self.box)
        self.waiter.start()
        self.assertEqual(self.ifname, self.outcome_within(30))

    def test_deleted_here_it_is_not_taken_as_arrived(self):
        self.start_waiting()
        topology.nsexec(self.slave, 'ip', 'link', 'del', self.ifname)
        # woken, it looks in the sandbox for a while, finds nothing and
        # waits on: only the cancel ends it
        self.waiter.join(1.5 * sandbox.ARRIVING)
        self.assertTrue(self.waiter.is_alive())
        self.cancel.set()
        self.departures.wake(self.alias)
        self.assertIsNone(self.outcome_within(30))

    def test_a_wake_lets_a_cancelled_waiter_go(self):
        self.start_waiting()
        self.cancel.set()
        self.departures.wake(self.alias)
        self.assertIsNone(self.outcome_within(30))
