"""tcx links: the classifiers on an interface before it enters a sandbox.

A macvlan or ipvlan interface is made in the host namespace and moved into
the container by Docker after Join returns; the move flushes its tc qdiscs
(clsact and its filters go), and nothing calls the driver between the move
and the container's first instruction. tcx links (``BPF_LINK_CREATE`` with
``BPF_TCX_INGRESS``/``BPF_TCX_EGRESS``, Linux >= 6.6) stay on the device
across the move, so Join attaches them synchronously, while the interface
is still in the host namespace: the container's first packet meets them.
A container cannot remove them with tc (``tc qdisc del ... clsact`` leaves
them): only the bpf syscall can, with the link's fd or pin, which needs
CAP_SYS_ADMIN/CAP_BPF and access to the host's bpffs.

Each link is pinned as ``<pin_dir>/links/<key>-egress`` / ``-ingress`` so
that no process has to hold it, and unpinned (and detached) on Leave.
"""

import ctypes
import errno
import os
import sys

from magnum_iovisor.dataplane import libbpf

# enum bpf_attach_type (uapi/linux/bpf.h, Linux 6.6); Debian 12's headers
# predate them
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47

_lib = libbpf._lib

# sandbox-side orientation: what leaves the interface the container sent
HOOKS = (('egress', 'from_endpoint', BPF_TCX_EGRESS),
         ('ingress', 'to_endpoint', BPF_TCX_INGRESS))
# a macvlan/ipvlan parent: what its containers send past their own egress
PARENT_HOOKS = (('egress', 'from_parent', BPF_TCX_EGRESS),)


class Unsupported(libbpf.BpfError):
    """This kernel has no tcx (Linux < 6.6)."""


def link_dir(pin_dir):
    return os.path.join(pin_dir, 'links')


def _pin(pin_dir, key, hook):
    # bpffs refuses names with a dot
    return os.path.join(link_dir(pin_dir), '%s-%s' % (key, hook))


def parent_key(ifname):
    return 'parent@' + ifname


def attach(pin_dir, programs, ifindex, key, hooks=HOOKS):
    """Link the classifiers to ``ifindex``; replaces links under ``key``."""
    os.makedirs(link_dir(pin_dir), exist_ok=True)
    detach(pin_dir, key)
    try:
        for hook, program, attach_type in hooks:
            fd = _lib.bpf_link_create(programs[program], ifindex,
                                      attach_type, None)
            if fd < 0:
                code = ctypes.get_errno() or -fd
                cls = Unsupported if code == errno.EINVAL else libbpf.BpfError
                raise cls(code, 'tcx %s link on ifindex %d: %s'
                          % (hook, ifindex, os.strerror(code)))
            try:
                libbpf.obj_pin(fd, _pin(pin_dir, key, hook))
            finally:
                os.close(fd)
    except BaseException:
        detach(pin_dir, key)
        raise


def detach(pin_dir, key):
    """Detach and unpin ``key``'s links; True when there were any."""
    found = False
    for hook, _, _ in HOOKS:
        path = _pin(pin_dir, key, hook)
        if not os.path.exists(path):
            continue
        fd = libbpf.obj_get(path)
        found = True
        try:
            # fails when the interface is gone (the link is defunct then)
            _lib.bpf_link_detach(fd)
        finally:
            os.close(fd)
        os.unlink(path)
    return found


def ifindex(pin_dir, key, hook='egress'):
    """The device a pinned link is on; 0 when it went with its device."""
    fd = libbpf.obj_get(_pin(pin_dir, key, hook))
    try:
        info = (ctypes.c_uint8 * 256)()
        size = ctypes.c_uint32(ctypes.sizeof(info))
        libbpf._check(_lib.bpf_obj_get_info_by_fd(fd, info,
                                                  ctypes.byref(size)),
                      'link info')
        # struct bpf_link_info: type, id, prog_id, then (8-aligned) tcx's
        # ifindex
        return int.from_bytes(bytes(info[16:20]), sys.byteorder)
    finally:
        os.close(fd)


def attached(pin_dir, key, hooks=HOOKS):
    return all(os.path.exists(_pin(pin_dir, key, hook))
               for hook, _, _ in hooks)


def keys(pin_dir):
    """Every key with a pinned link (for reconcile and leak checks)."""
    try:
        names = os.listdir(link_dir(pin_dir))
    except FileNotFoundError:
        return set()
    return {name.rsplit('-', 1)[0] for name in names}
