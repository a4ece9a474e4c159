"""Find an endpoint's interface once Docker has moved it into its sandbox.

At Join the sandbox (``SandboxKey``) may not be a network namespace yet,
and Docker moves the interface in only after Join returns. The move is
announced in this namespace (``Departures``), so a waiter looks in the
sandbox then, and otherwise only once a second: twenty waiters polling
every 10 ms took a whole core (bench/sandbox_wait.py).
"""

import errno
import logging
import os
import select
import socket
import threading
import time

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl import RTMGRP_LINK

from magnum_iovisor.dataplane import attach as tc

LOG = logging.getLogger(__name__)

FIRST_DELAY = 0.0005
LONGEST_DELAY = 0.01
# After the move: how long to look quickly for it in the sandbox.
ARRIVING = 1.0
# Without any news: how often to look anyway.
UNPROMPTED = 1.0
RECV_SIZE = 1 << 16


class SandboxTimeout(RuntimeError):
    pass


def find_link(sandbox_key, alias):
    """The name of the interface with ``alias`` in the sandbox, or None."""
    try:
        with tc.in_netns(sandbox_key), IPRoute() as ipr:
            for link in ipr.get_links():
                if link.get_attr('IFLA_IFALIAS') == alias:
                    return link.get_attr('IFLA_IFNAME')
    except tc.AttachError:
        return None  # not (yet, or no longer) a network namespace
    return None


class Departures:
    """Wakes the waiters of interfaces that leave this network namespace.

    Moving an interface into another namespace is announced here as
    RTM_DELLINK, with its alias; so is deleting it. One netlink socket,
    opened in the namespace of the thread that first calls ``expect``,
    serves every waiter. A plain socket rather than pyroute2's: its
    asynchronous core reads only while a call on the opening thread runs.
    """

    QUIET = 0.5   # how often the listener checks for close

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting = {}        # alias -> set of Events
        self._thread = None
        self._closed = False

    def expect(self, alias):
        """An Event set when ``alias`` leaves (or ``wake``); ``forget`` it."""
        event = threading.Event()
        with self._lock:
            if self._thread is None:
                listening = threading.Event()
                # a new thread starts in its creator's namespace
                self._thread = threading.Thread(
                    target=self._listen, args=(listening,),
                    name='departures', daemon=True)
                self._thread.start()
                # nothing that leaves from now on goes unseen
                listening.wait()
            self._waiting.setdefault(alias, set()).add(event)
        return event

    def forget(self, alias, event):
        with self._lock:
            events = self._waiting.get(alias, set())
            events.discard(event)
            if not events:
                self._waiting.pop(alias, None)

    def wake(self, alias):
        """Make its waiters look now, e.g. because they were cancelled."""
        with self._lock:
            events = list(self._waiting.get(alias, ()))
        for event in events:
            event.set()

    def wake_all(self):
        with self._lock:
            events = [e for each in self._waiting.values() for e in each]
        for event in events:
            event.set()

    def close(self):
        """Stop listening, and let go of the namespace's socket."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(2 * self.QUIET)

    def _listen(self, listening):
        try:
            news = socket.socket(socket.AF_NETLINK,
                                 socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 socket.NETLINK_ROUTE)
            news.bind((0, RTMGRP_LINK))
        except OSError:
            LOG.exception('no link notifications: sandbox waiters look '
                          'once a second')
            return
        finally:
            listening.set()
        marshal = MarshalRtnl()
        with news:
            while not self._closed:
                try:
                    if not select.select([news], [], [], self.QUIET)[0]:
                        continue
                    messages = marshal.parse(news.recv(RECV_SIZE))
                except OSError as exc:
                    self.wake_all()
                    if exc.errno == errno.ENOBUFS:
                        # a burst overran the socket: some news is lost,
                        # so everyone looks once
                        LOG.warning('link notifications: %s; every sandbox '
                                    'waiter looks again', exc)
                        continue
                    # anything else would fail again at once: stop
                    LOG.error('link notifications: %s; no longer listening, '
                              'sandbox waiters look once a second', exc)
                    return
                for message in messages:
                    if message.get('event') == 'RTM_DELLINK':
                        self.wake(message.get_attr('IFLA_IFALIAS'))


def wait_for_link(sandbox_key, alias, timeout, cancelled, departures=None):
    """Wait until the interface arrives; None when ``cancelled()``.

    With ``departures`` it looks in the sandbox when the interface leaves
    this namespace and once a second; without, it polls.
    """
    deadline = time.monotonic() + timeout
    woken = departures.expect(alias) if departures else None
    delay = FIRST_DELAY
    quick_until = None if woken else float('inf')
    try:
        while not cancelled():
            name = find_link(sandbox_key, alias)
            if name:
                return name
            now = time.monotonic()
            if now > deadline:
                raise SandboxTimeout('interface %s did not arrive in sandbox '
                                     '%s within %.0f s'
                                     % (alias, sandbox_key, timeout))
            if quick_until is not None and now < quick_until:
                time.sleep(delay)
                delay = min(delay * 2, LONGEST_DELAY)
            elif woken.wait(min(UNPROMPTED, max(deadline - now, 0.001))):
                woken.clear()
                quick_until = time.monotonic() + ARRIVING
                delay = FIRST_DELAY
        return None
    finally:
        if departures:
            departures.forget(alias, woken)


def _processes():
    """(pid, (st_dev, st_ino) of its network namespace) of every process."""
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                info = os.stat('/proc/%s/ns/net' % pid)
            except OSError:
                continue   # gone meanwhile, or a kernel thread
            yield pid, (info.st_dev, info.st_ino)


def _namespace(sandbox_key):
    """(st_dev, st_ino) of the namespace at ``sandbox_key``, or None."""
    try:
        info = os.stat(sandbox_key)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def live_namespaces():
    """(st_dev, st_ino) of the network namespace of every process."""
    return {ns for _, ns in _processes()}


# runc's init names itself so while it waits in the container's namespaces
# for the prestart hooks, Docker's among them, to run (runc, nsexec.c)
RUNC_INIT = 'runc:[2:INIT]'


def started(sandbox_key):
    """Whether the container of ``sandbox_key`` has started.

    That is, a process other than runc's init runs in the sandbox: until
    Docker's prestart hook has moved the interfaces in, runc's init is the
    only one there, however slow the hook.
    """
    wanted = _namespace(sandbox_key)
    if wanted is None:
        return False
    for pid, ns in _processes():
        if ns != wanted:
            continue
        try:
            with open('/proc/%s/comm' % pid) as comm:
                if comm.read().strip() != RUNC_INIT:
                    return True
        except OSError:
            continue   # gone meanwhile
    return False


def in_use(sandbox_key, live=None):
    """Whether a process still runs in the sandbox at ``sandbox_key``.

    Docker unmounts and removes a deleted sandbox's file only in a
    periodic clean-up, so the file may outlive its container; a running
    container always has a process in it (with --live-restore too).
    """
    wanted = _namespace(sandbox_key)
    if wanted is None:
        return False
    live = live_namespaces() if live is None else live
    return wanted in live
