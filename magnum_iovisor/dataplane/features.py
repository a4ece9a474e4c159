"""What the running kernel lets the classifiers do, probed once a process.

``bpf_get_netns_cookie`` is allowed in tc programs only on recent kernels
(this host's 6.18 allows it, Debian 12's 6.1 refuses it with "unknown func
bpf_get_netns_cookie#122"). Without it the classifiers are compiled with
the own-address check by ifindex alone, and ``from_parent`` (bpf/parent.h)
passes everything, so the driver does not attach it and refuses raw
senders the option that would go around the container's own filters
(plugin/driver.py, dataplane/bypass.py).

The connection table counts time in jiffies (bpf/conntrack.h), so the
classifiers need the running kernel's CONFIG_HZ: the kernel headers bcc
compiles with may be another kernel's (here Debian 12's 6.1 for 6.18).
"""

import functools
import gzip
import logging
import os
import re

from magnum_iovisor.dataplane import libbpf

LOG = logging.getLogger(__name__)

# enum bpf_prog_type, enum bpf_func_id (uapi/linux/bpf.h)
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_FUNC_GET_NETNS_COOKIE = 122


LIMITS = ('this kernel does not allow bpf_get_netns_cookie in tc programs: '
          'a macvlan/ipvlan endpoint\'s own address is checked by interface '
          'only, and containers are refused PACKET_QDISC_BYPASS instead of '
          'being judged on the parent (dataplane/bypass.py)')

KERNEL_CONFIGS = ('/boot/config-{release}', '/proc/config.gz')
NO_HZ = ('the running kernel\'s CONFIG_HZ is in neither /boot/config-%s nor '
         '/proc/config.gz: connection timeouts count ticks of the kernel '
         'headers\' CONFIG_HZ, wrong by their ratio if those are another '
         'kernel\'s')


@functools.lru_cache(maxsize=None)
def tc_netns_cookie():
    """Whether tc programs may ask a packet's network namespace."""
    return libbpf.probe_helper(BPF_PROG_TYPE_SCHED_CLS,
                               BPF_FUNC_GET_NETNS_COOKIE)


def config_hz(text):
    """CONFIG_HZ of a kernel config's text, or None."""
    found = re.search(r'^CONFIG_HZ=(\d+)$', text, re.MULTILINE)
    return int(found.group(1)) if found else None


@functools.lru_cache(maxsize=None)
def kernel_hz():
    """The running kernel's CONFIG_HZ (jiffies a second), or None."""
    for path in KERNEL_CONFIGS:
        path = path.format(release=os.uname().release)
        try:
            with (gzip.open if path.endswith('.gz') else open)(
                    path, 'rt') as config:
                hz = config_hz(config.read())
        except (OSError, EOFError):
            continue
        if hz:
            return hz
    return None


def cflags():
    flags = ['-DHAVE_TC_NETNS_COOKIE'] if tc_netns_cookie() else []
    if kernel_hz():
        flags.append('-DCT_HZ=%d' % kernel_hz())
    return flags


def log_limits():
    """Say once, where the classifiers are compiled, what this kernel lacks."""
    if not tc_netns_cookie():
        LOG.warning('%s', LIMITS)
    if not kernel_hz():
        LOG.warning(NO_HZ, os.uname().release)
