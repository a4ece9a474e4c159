"""What the running kernel lets the classifiers do, probed once a process.

``bpf_get_netns_cookie`` is allowed in tc programs only on recent kernels
(this host's 6.18 allows it, Debian 12's 6.1 refuses it with "unknown func
bpf_get_netns_cookie#122"). Without it the classifiers are compiled with
the own-address check by ifindex alone, and ``from_parent`` (bpf/parent.h)
passes everything, so the driver does not attach it and refuses raw
senders the option that would go around the container's own filters
(plugin/driver.py, dataplane/bypass.py).
"""

import functools
import logging

from magnum_iovisor.dataplane import libbpf

LOG = logging.getLogger(__name__)

# enum bpf_prog_type, enum bpf_func_id (uapi/linux/bpf.h)
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_FUNC_GET_NETNS_COOKIE = 122


LIMITS = ('this kernel does not allow bpf_get_netns_cookie in tc programs: '
          'a macvlan/ipvlan endpoint\'s own address is checked by interface '
          'only, and containers are refused PACKET_QDISC_BYPASS instead of '
          'being judged on the parent (dataplane/bypass.py)')


@functools.lru_cache(maxsize=None)
def tc_netns_cookie():
    """Whether tc programs may ask a packet's network namespace."""
    return libbpf.probe_helper(BPF_PROG_TYPE_SCHED_CLS,
                               BPF_FUNC_GET_NETNS_COOKIE)


def cflags():
    return ['-DHAVE_TC_NETNS_COOKIE'] if tc_netns_cookie() else []


def log_limits():
    """Say once, where the classifiers are compiled, what this kernel lacks."""
    if not tc_netns_cookie():
        LOG.warning('%s', LIMITS)
