"""Refuse PACKET_QDISC_BYPASS to sockets outside the host's namespace.

A packet socket with PACKET_QDISC_BYPASS sends with dev_direct_xmit, past
its interface's tc and tcx egress hooks: a macvlan/ipvlan container's
``from_endpoint`` never sees those frames. ``from_parent`` judges them on
the parent where the kernel lets tc programs ask a packet's namespace
(dataplane/features.py); where it does not, this guard takes the option
away instead, so that a container's raw frames go through its filters.

The guard is a cgroup setsockopt program linked to the root of the
cgroup v2 hierarchy, which covers every socket on the host. It answers
EPERM to ``setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS)`` from a socket
whose network namespace is not the initial one, and lets every other
call through untouched. Its link is pinned as ``<pin_dir>/guards/
qdisc-bypass``, so it outlives the daemon; only ``detach`` removes it.
"""

import ctypes
import os
import struct

from magnum_iovisor.dataplane import libbpf

# uapi/linux/bpf.h
BPF_PROG_TYPE_CGROUP_SOCKOPT = 25
BPF_CGROUP_SETSOCKOPT = 22
BPF_FUNC_GET_NETNS_COOKIE = 122
# uapi/linux/if_packet.h, linux/socket.h
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
# struct bpf_sockopt: sk, optval, optval_end (8 bytes each), then level
LEVEL_OFFSET = 24
OPTNAME_OFFSET = 28

_lib = libbpf._lib


class LoadOpts(ctypes.Structure):
    # the leading fields of struct bpf_prog_load_opts (bpf/bpf.h); libbpf
    # takes the rest as zero from ``sz``
    _fields_ = [('sz', ctypes.c_size_t),
                ('attempts', ctypes.c_int),
                ('expected_attach_type', ctypes.c_int)]


class Unsupported(libbpf.BpfError):
    """No cgroup v2 hierarchy, or a kernel without cgroup sockopt hooks."""


def _insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack('<BBhi', code, dst | src << 4, off, imm)


def program():
    """The guard's instructions; 0 refuses the call (EPERM), 1 passes it."""
    ldxw, jne_k, jeq_x, call, exit_ = 0x61, 0x55, 0x1d, 0x85, 0x95
    mov_k, mov_x = 0xb7, 0xbf
    return b''.join([
        _insn(ldxw, dst=2, src=1, off=LEVEL_OFFSET),
        _insn(jne_k, dst=2, off=9, imm=SOL_PACKET),          # to "pass"
        _insn(ldxw, dst=2, src=1, off=OPTNAME_OFFSET),
        _insn(jne_k, dst=2, off=7, imm=PACKET_QDISC_BYPASS),
        _insn(call, imm=BPF_FUNC_GET_NETNS_COOKIE),          # the socket's
        _insn(mov_x, dst=6, src=0),
        _insn(mov_k, dst=1, imm=0),
        _insn(call, imm=BPF_FUNC_GET_NETNS_COOKIE),          # init_net's
        _insn(jeq_x, dst=0, src=6, off=2),
        _insn(mov_k, dst=0, imm=0),
        _insn(exit_),
        _insn(mov_k, dst=0, imm=1),                          # pass
        _insn(exit_),
    ])


def load():
    """A new fd of the guard program."""
    insns = program()
    opts = LoadOpts(sz=ctypes.sizeof(LoadOpts),
                    expected_attach_type=BPF_CGROUP_SETSOCKOPT)
    fd = _lib.bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCKOPT, b'qdisc_bypass',
                            b'GPL', insns, len(insns) // 8,
                            ctypes.byref(opts))
    if fd < 0:
        code = ctypes.get_errno() or -fd
        raise Unsupported(code, 'load the PACKET_QDISC_BYPASS guard: %s'
                          % os.strerror(code))
    return fd


def cgroup_root(mountinfo='/proc/self/mountinfo'):
    """Where the cgroup v2 hierarchy is mounted."""
    with open(mountinfo) as lines:
        for line in lines:
            fields = line.split()
            # mount ID, parent, dev, root, mount point, options...,
            # "-", fs type, source, super options
            if fields[fields.index('-') + 1] == 'cgroup2':
                return fields[4]
    raise Unsupported(0, 'no cgroup v2 hierarchy is mounted: nothing can '
                         'refuse PACKET_QDISC_BYPASS to containers')


def pin_path(pin_dir):
    return os.path.join(pin_dir, 'guards', 'qdisc-bypass')


def attached(pin_dir):
    return os.path.exists(pin_path(pin_dir))


def attach(pin_dir, cgroup=None):
    """Link the guard to ``cgroup`` (the hierarchy's root); idempotent.

    An existing pin keeps its link and gets this version's program, in
    one step (BPF_LINK_UPDATE): the guard never lapses.
    """
    path = pin_path(pin_dir)
    prog = load()
    try:
        if os.path.exists(path):
            link = libbpf.obj_get(path)
            try:
                libbpf._check(_lib.bpf_link_update(link, prog, None),
                              'update the guard linked at %s' % path)
            finally:
                os.close(link)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        target = os.open(cgroup or cgroup_root(),
                         os.O_RDONLY | os.O_DIRECTORY)
        try:
            link = _lib.bpf_link_create(prog, target, BPF_CGROUP_SETSOCKOPT,
                                        None)
        finally:
            os.close(target)
        if link < 0:
            code = ctypes.get_errno() or -link
            raise Unsupported(code, 'link the PACKET_QDISC_BYPASS guard to '
                              '%s: %s' % (cgroup or 'the cgroup root',
                                          os.strerror(code)))
        try:
            libbpf.obj_pin(link, path)
        finally:
            os.close(link)
    finally:
        os.close(prog)


def detach(pin_dir):
    """Remove the guard; True when it was there."""
    path = pin_path(pin_dir)
    if not os.path.exists(path):
        return False
    link = libbpf.obj_get(path)
    try:
        _lib.bpf_link_detach(link)
    finally:
        os.close(link)
    os.unlink(path)
    return True
