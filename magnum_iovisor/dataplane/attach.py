"""Attach the classifiers to an interface with tc (clsact, direct action).

An interface is either the host end of a veth pair (the container is on the
other side: what enters the host end left the container) or the container's
own interface inside its network namespace (ipvlan, macvlan).
"""

import contextlib
import ctypes
import errno
import os
import socket
import struct

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

INGRESS = 'ffff:fff2'
EGRESS = 'ffff:fff3'
FILTER_PRIO = 1
FILTER_HANDLE = 1
CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = '/run/netns'
SO_NETNS_COOKIE = 71   # asm-generic/socket.h, Linux >= 5.14

_libc = ctypes.CDLL(None, use_errno=True)


class AttachError(RuntimeError):
    pass


def netns_path(netns):
    """A named namespace (``ip netns add NAME``) or a path (SandboxKey)."""
    if netns is None or os.sep in netns:
        return netns
    return os.path.join(NETNS_RUN_DIR, netns)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise AttachError('setns: %s' % os.strerror(code))


@contextlib.contextmanager
def in_netns(netns):
    """Run the block with this thread in another network namespace."""
    path = netns_path(netns)
    if path is None:
        yield
        return
    try:
        target = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise AttachError('network namespace %s: %s' % (path, exc.strerror))
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def netns_cookie(netns=None):
    """The kernel's cookie of a network namespace (this thread's: None)."""
    with in_netns(netns), socket.socket(socket.AF_INET,
                                        socket.SOCK_DGRAM) as probe:
        raw = probe.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
    return struct.unpack('=Q', raw)[0]


def hooks(sandbox_side):
    """(hook for from_endpoint, hook for to_endpoint)."""
    return (EGRESS, INGRESS) if sandbox_side else (INGRESS, EGRESS)


def _ifindex(ipr, ifname):
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise AttachError('no interface named %s' % ifname)
    return found[0]


def ifindex(ifname, netns=None):
    with in_netns(netns), IPRoute() as ipr:
        return _ifindex(ipr, ifname)


def attach(ifname, programs, netns=None, sandbox_side=None):
    """Attach ``programs`` {name: fd}; idempotent. Returns the ifindex.

    ``sandbox_side`` defaults to True when ``netns`` is given.
    """
    if sandbox_side is None:
        sandbox_side = netns is not None
    from_hook, to_hook = hooks(sandbox_side)
    with in_netns(netns), IPRoute() as ipr:
        index = _ifindex(ipr, ifname)
        try:
            ipr.tc('add', 'clsact', index)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise AttachError('%s: cannot add clsact qdisc: %s'
                                  % (ifname, exc))
        for name, hook in (('from_endpoint', from_hook),
                           ('to_endpoint', to_hook)):
            ipr.tc('replace-filter', 'bpf', index, FILTER_HANDLE,
                   fd=programs[name], name='magnum-iovisor:' + name,
                   parent=hook, prio=FILTER_PRIO, classid=1,
                   direct_action=True)
    return index


def detach(ifname, netns=None):
    """Remove our filters; missing filters or interface are not errors.

    Returns the ifindex, or None when the interface is gone.
    """
    with in_netns(netns), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=ifname)
        if not found:
            return None
        for hook in (INGRESS, EGRESS):
            try:
                ipr.tc('del-filter', 'bpf', found[0], FILTER_HANDLE,
                       parent=hook, prio=FILTER_PRIO)
            except NetlinkError as exc:
                if exc.code not in (errno.ENOENT, errno.EINVAL):
                    raise AttachError('%s: cannot remove filter: %s'
                                      % (ifname, exc))
        return found[0]


def attached_filters(ifname, netns=None):
    """Names of our filters on ``ifname``, by hook, for checks and status."""
    result = {}
    with in_netns(netns), IPRoute() as ipr:
        index = _ifindex(ipr, ifname)
        for hook in (INGRESS, EGRESS):
            for msg in ipr.get_filters(index, parent=hook):
                name = msg.get_nested('TCA_OPTIONS', 'TCA_BPF_NAME')
                if name:
                    result.setdefault(hook, []).append(name)
    return result
