"""A typed view of one pinned BPF hash map."""

import ctypes
import os

from magnum_iovisor.dataplane import libbpf


class PinnedMap:
    def __init__(self, path, key_type, value_type):
        self.path = path
        self.key_type = key_type
        self.value_type = value_type
        self.fd = libbpf.obj_get(path)
        info = libbpf.map_info(self.fd)
        self.max_entries = info.max_entries
        sizes = (info.key_size, info.value_size)
        expected = (ctypes.sizeof(key_type), ctypes.sizeof(value_type))
        if sizes != expected:
            os.close(self.fd)
            raise libbpf.BpfError(
                0, 'map pinned at %s has key/value sizes %s, this version '
                   'expects %s; remove the old pins (iovisor-policy reset) '
                   'or use another pin directory' % (path, sizes, expected))

    def get(self, key):
        value = self.value_type()
        return value if libbpf.lookup(self.fd, key, value) else None

    def set(self, key, value, flags=libbpf.BPF_ANY):
        libbpf.update(self.fd, key, value, flags)

    def delete(self, key):
        return libbpf.delete(self.fd, key)

    def items(self):
        return list(libbpf.lookup_batch(self.fd, self.key_type,
                                        self.value_type))

    def set_many(self, items):
        if not items:
            return
        keys = (self.key_type * len(items))(*(k for k, _ in items))
        values = (self.value_type * len(items))(*(v for _, v in items))
        libbpf.update_batch(self.fd, keys, values)

    def delete_many(self, keys):
        if not keys:
            return
        libbpf.delete_batch(self.fd, (self.key_type * len(keys))(*keys))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
