"""Find an endpoint's interface once Docker has moved it into its sandbox.

At Join the sandbox (``SandboxKey``) may not be a network namespace yet,
and Docker moves the interface in only after Join returns; both are polled
for, briefly at first, then less often.
"""

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
