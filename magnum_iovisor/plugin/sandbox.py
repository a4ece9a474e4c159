"""Find an endpoint's interface once Docker has moved it into its sandbox.

At Join the sandbox (``SandboxKey``) may not be a network namespace yet,
and Docker moves the interface in only after Join returns; both are polled
for, briefly at first, then less often.
"""

import os
import time

from pyroute2 import IPRoute

from magnum_iovisor.dataplane import attach as tc

FIRST_DELAY = 0.0005
LONGEST_DELAY = 0.01


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


def wait_for_link(sandbox_key, alias, timeout, cancelled):
    """Poll until the interface arrives; None when ``cancelled()``."""
    deadline = time.monotonic() + timeout
    delay = FIRST_DELAY
    while not cancelled():
        name = find_link(sandbox_key, alias)
        if name:
            return name
        if time.monotonic() > deadline:
            raise SandboxTimeout('interface %s did not arrive in sandbox %s '
                                 'within %.0f s' % (alias, sandbox_key,
                                                    timeout))
        time.sleep(delay)
        delay = min(delay * 2, LONGEST_DELAY)
    return None


def live_namespaces():
    """(st_dev, st_ino) of the network namespace of every process."""
    found = set()
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                info = os.stat('/proc/%s/ns/net' % pid)
            except OSError:
                continue   # gone meanwhile, or a kernel thread
            found.add((info.st_dev, info.st_ino))
    return found


def in_use(sandbox_key, live=None):
    """Whether a process still runs in the sandbox at ``sandbox_key``.

    Docker unmounts and removes a deleted sandbox's file only in a
    periodic clean-up, so the file may outlive its container; a running
    container always has a process in it (with --live-restore too).
    """
    try:
        info = os.stat(sandbox_key)
    except OSError:
        return False
    live = live_namespaces() if live is None else live
    return (info.st_dev, info.st_ino) in live
