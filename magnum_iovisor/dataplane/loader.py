"""Compile the classifiers with bcc once, and pin maps and programs.

Programs are pinned under ``<pin_dir>/programs/<digest>/`` where the digest
covers the C sources and the pin directory, so a process whose sources match
reuses what is pinned without compiling, and a changed source gets new
programs next to the old ones (which stay attached until replaced). So do
the kernel's features (features.py), which choose what is compiled. Map
sizes are not part of it: they only matter when the maps are first created.
"""

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os

from magnum_iovisor.dataplane import bpffs
from magnum_iovisor.dataplane import features
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import libbpf
from magnum_iovisor import shipped

LOG = logging.getLogger(__name__)
LOCK_DIR = '/run/lock'
MAIN_SOURCE = 'classifier.c'


def source_dir(configured=None):
    return shipped.find('bpf', MAIN_SOURCE, configured,
                        '[dataplane] bpf_dir')


def cflags(conf, src_dir):
    return ['-I%s' % src_dir,
            '-DPIN_DIR="%s"' % conf.pin_dir,
            '-DENDPOINTS_MAX=%d' % conf.endpoints_max,
            '-DPREFIXES_MAX=%d' % conf.prefixes_max,
            '-DRULES_MAX=%d' % conf.rules_max,
            '-DPOLICY_ENTRIES_MAX=%d' % conf.policy_entries_max,
            '-DCONNTRACK_MAX=%d' % conf.conntrack_max,
            '-DDENIED_MAX=%d' % conf.denied_max,
            '-DEVENTS_BYTES=%d' % conf.events_bytes] + features.cflags()


def digest(src_dir, pin_dir):
    sha = hashlib.sha256()
    for name in sorted(os.listdir(src_dir)):
        if name.endswith(('.c', '.h')):
            sha.update(name.encode())
            with open(os.path.join(src_dir, name), 'rb') as source:
                sha.update(source.read())
    sha.update(pin_dir.encode())
    sha.update(' '.join(features.cflags()).encode())
    return sha.hexdigest()[:16]


def map_pin(pin_dir, name):
    return os.path.join(pin_dir, name)


def program_dir(pin_dir, version):
    return os.path.join(pin_dir, 'programs', version)


def lock_path(pin_dir):
    return os.path.join(LOCK_DIR, 'magnum-iovisor%s.lock'
                        % pin_dir.replace('/', '_'))


@contextlib.contextmanager
def pin_lock(pin_dir):
    """Serialise compile-and-pin between processes sharing ``pin_dir``."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    with open(lock_path(pin_dir), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class OldLayout(libbpf.BpfError):
    """Pins left by a version whose map layouts differ from this one's."""


def check_layout(pin_dir):
    """Refuse, naming the map, pins whose key or value sizes are not ours.

    Nothing is migrated: an old map's entries cannot be read as new ones
    (v1's policy held (src, dst) pairs, not compiled rules).
    """
    for name, (key, value) in layout.MAPS.items():
        path = map_pin(pin_dir, name)
        if not os.path.exists(path):
            continue
        fd = libbpf.obj_get(path)
        try:
            info = libbpf.map_info(fd)
        finally:
            os.close(fd)
        found = (info.key_size, info.value_size)
        wanted = (ctypes.sizeof(key), ctypes.sizeof(value))
        if found != wanted:
            raise OldLayout(
                0, 'map %s pinned at %s has key/value sizes %s, this version '
                   'expects %s: pins of another version. %s'
                   % (name, path, found, wanted, _start_again(pin_dir)))
    # earlier versions compiled every rule into policy, then every rule
    # not in pairs; this one compiles those into protocols (bpf/tables.h
    # pins protocols, pairs, policy in that order)
    for name, before, held in (
            ('policy', 'pairs', 'compiled every rule into policy'),
            ('pairs', 'protocols', 'compiled the rules of pairs with '
                                   'several rules into policy')):
        if (os.path.exists(map_pin(pin_dir, name))
                and not os.path.exists(map_pin(pin_dir, before))):
            raise OldLayout(
                0, 'map %s pinned at %s without map %s: pins of an '
                   'earlier version, which %s. %s'
                   % (name, map_pin(pin_dir, name), before, held,
                      _start_again(pin_dir)))


def _start_again(pin_dir):
    return ('Stop every magnum-iovisor process, remove %s and start again '
            '(or use another [dataplane] pin_dir); nothing was changed'
            % pin_dir)


def _pinned(pin_dir, version):
    names = [map_pin(pin_dir, m) for m in (*layout.MAPS, layout.EVENTS_MAP)]
    names += [os.path.join(program_dir(pin_dir, version), p)
              for p in layout.PROGRAMS]
    return all(os.path.exists(n) for n in names)


def _compile_and_pin(src_dir, flags, prog_dir):
    from bcc import BPF  # only needed when nothing usable is pinned

    LOG.info('compiling %s into %s', src_dir, prog_dir)
    features.log_limits()
    bpf = BPF(src_file=os.path.join(src_dir, MAIN_SOURCE).encode(),
              cflags=flags)
    try:
        os.makedirs(prog_dir, exist_ok=True)
        for name in layout.PROGRAMS:
            func = bpf.load_func(name.encode(), BPF.SCHED_CLS)
            path = os.path.join(prog_dir, name)
            if os.path.exists(path):  # left by a process killed mid-pin
                os.unlink(path)
            libbpf.obj_pin(func.fd, path)
    finally:
        bpf.cleanup()


def ensure_loaded(conf):
    """Make sure maps and current programs are pinned; return the version.

    Returns ``(version, compiled)``; ``compiled`` is False when everything
    was already pinned.
    """
    bpffs.ensure_pin_dir(conf.pin_dir)
    check_layout(conf.pin_dir)
    src_dir = source_dir(conf.bpf_dir)
    flags = cflags(conf, src_dir)
    version = digest(src_dir, conf.pin_dir)
    if _pinned(conf.pin_dir, version):
        return version, False
    with pin_lock(conf.pin_dir):
        if _pinned(conf.pin_dir, version):
            return version, False
        _compile_and_pin(src_dir, flags, program_dir(conf.pin_dir, version))
    return version, True
