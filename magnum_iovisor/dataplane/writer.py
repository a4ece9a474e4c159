"""One writer of the policy at a time, across processes.

Every writer of the policy map (``iovisor-policy``, the boot hook, the
daemon's cluster-policy watcher) decides what to write from something it
read (the map, the registry) and then writes. Two of them interleaving can
leave neither's policy, or a host policy over the cluster's. So each holds
``policy_writer(pin_dir)`` from its decision to its last write: an
``flock`` on the pin directory itself (no extra file to clean up; bpffs
takes locks like any file system), reentrant within a process so that the
``Dataplane`` write methods, which take it too, nest inside a caller's.
"""

import contextlib
import fcntl
import functools
import os
import threading

_WRITERS = {}
_WRITERS_GUARD = threading.Lock()


class _Writer:
    def __init__(self):
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.fd = None


@contextlib.contextmanager
def policy_writer(pin_dir):
    """Hold the policy write lock of ``pin_dir`` (blocks until free)."""
    with _WRITERS_GUARD:
        writer = _WRITERS.setdefault(os.path.realpath(pin_dir), _Writer())
    with writer.thread_lock:
        if writer.depth == 0:
            fd = os.open(pin_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            writer.fd = fd
        writer.depth += 1
        try:
            yield
        finally:
            writer.depth -= 1
            if writer.depth == 0:
                os.close(writer.fd)   # closing releases the flock
                writer.fd = None


def exclusive(method):
    """For ``Dataplane`` methods that write the policy."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with policy_writer(self.pin_dir):
            return method(self, *args, **kwargs)
    return locked
