"""The link-notification listener when its socket fails (with a fake one).

tests/functional/test_sandbox_wait.py runs the listener on a real netlink
socket; these make the failures a real socket rarely gives on demand.
"""

import errno

import fixtures
import testtools

from magnum_iovisor.plugin import sandbox


class FailingSocket:
    """Readable at once; every recv fails with ``error``."""

    def __init__(self, error, then=None):
        self.error, self.then, self.calls = error, then, 0

    def bind(self, address):
        pass

    def fileno(self):
        return -1

    def recv(self, size):
        self.calls += 1
        if self.then is not None and self.calls > 3:
            raise self.then
        raise OSError(self.error, 'injected')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class DeparturesFailureTest(testtools.TestCase):
    def listen(self, fake):
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_iovisor.plugin.sandbox.socket.socket',
            lambda *args: fake))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_iovisor.plugin.sandbox.select.select',
            lambda readers, *rest: (readers, [], [])))
        log = self.useFixture(fixtures.FakeLogger(
            name='magnum_iovisor.plugin.sandbox'))
        departures = sandbox.Departures()
        self.addCleanup(departures.close)
        event = departures.expect('magnum-iovisor:ep')
        return departures, event, log

    def test_a_persistent_error_stops_the_listener_once(self):
        fake = FailingSocket(errno.EBADF)
        departures, event, log = self.listen(fake)
        departures._thread.join(5)
        self.assertFalse(departures._thread.is_alive())
        self.assertEqual(1, fake.calls)
        self.assertTrue(event.is_set(), 'waiters were not told to look')
        self.assertEqual(1, log.output.count('no longer listening'))

    def test_overruns_are_survived_and_every_waiter_looks(self):
        fake = FailingSocket(errno.ENOBUFS, then=OSError(errno.EIO, 'gone'))
        departures, event, log = self.listen(fake)
        departures._thread.join(5)
        self.assertEqual(4, fake.calls)
        self.assertEqual(3, log.output.count('every sandbox waiter looks'))
        self.assertTrue(event.is_set())
