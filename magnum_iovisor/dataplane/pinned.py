"""A view of one pinned BPF map in plain tuples.

Keys go in and come out as plain tuples of the layout.py struct's fields,
values as named tuples; both are packed with ``struct`` so that reading or
writing 100,000 entries takes a fraction of a second. Array and struct
fields (the 16-byte addresses, a protocol's port runs) are ``bytes``. A
per-CPU map's value is a list with one row per possible CPU.
"""

import collections
import ctypes
import operator
import os
import struct

from magnum_iovisor.dataplane import libbpf

_FORMATS = {ctypes.c_uint8: 'B', ctypes.c_uint16: 'H', ctypes.c_uint32: 'I',
            ctypes.c_uint64: 'Q'}


def _format(kind):
    if issubclass(kind, (ctypes.Array, ctypes.Structure)):
        return '%ds' % ctypes.sizeof(kind)
    return _FORMATS[kind]


def flat_format(ctype, without=()):
    """A layout.py struct's format with nested structs spelled out.

    Arrays of structs too; the fields named in ``without`` left out.
    """
    out = []
    for name, kind in ctype._fields_:
        if name in without:
            continue
        if issubclass(kind, ctypes.Structure):
            out.append(flat_format(kind))
        elif issubclass(kind, ctypes.Array) and issubclass(
                kind._type_, ctypes.Structure):
            out.append(flat_format(kind._type_) * kind._length_)
        else:
            out.append(_format(kind))
    return ''.join(out)


class Codec:
    """Packs and unpacks rows of one ctypes struct from layout.py."""

    def __init__(self, ctype):
        fields = ctype._fields_
        self.struct = struct.Struct(
            '@' + ''.join(_format(kind) for _, kind in fields))
        if self.struct.size != ctypes.sizeof(ctype):
            raise TypeError('%s: struct format %s does not match its ctypes '
                            'size' % (ctype.__name__, self.struct.format))
        self.row = collections.namedtuple(ctype.__name__,
                                          [name for name, _ in fields])
        self.size = self.struct.size
        # rows of one field type pack as one counted run ('@200000I'):
        # struct compiles that far faster than the row format repeated
        kinds = set(self.struct.format.lstrip('@'))
        self._uniform = kinds.pop() if len(kinds) == 1 else None

    def pack(self, row):
        return self.struct.pack(*row)

    def pack_many(self, rows):
        pack = self.struct.pack
        return b''.join(pack(*row) for row in rows)

    def pack_fields(self, fields):
        """Rows given as one flat list of their fields, packed in one call."""
        rows, left = divmod(len(fields), len(self.row._fields))
        if left:
            raise ValueError('%d fields are not whole %s rows'
                             % (len(fields), self.row.__name__))
        if self._uniform:
            return struct.pack('@%d%s' % (len(fields), self._uniform),
                               *fields)
        # a row's size is a multiple of its alignment (checked in
        # __init__ against ctypes), so repeating the format adds no padding
        return struct.pack('@' + self.struct.format.lstrip('@') * rows,
                           *fields)

    def split(self, raw):
        """Packed rows as one bytes per row."""
        size = self.size
        return [raw[i:i + size] for i in range(0, len(raw), size)]

    def unpack(self, raw):
        return self.row._make(self.struct.unpack(raw))

    def unpack_many(self, raw, plain=False):
        rows = self.struct.iter_unpack(raw)
        return list(rows) if plain else list(map(self.row._make, rows))


class PerCpuCodec:
    """A per-CPU value: one row per possible CPU, each 8-byte aligned."""

    def __init__(self, ctype):
        self.one = Codec(ctype)
        self.row = self.one.row
        self.cpus = libbpf.possible_cpus()
        self.stride = (self.one.size + 7) // 8 * 8
        self.size = self.stride * self.cpus

    def pack(self, rows):
        pad = b'\0' * (self.stride - self.one.size)
        return b''.join(self.one.pack(row) + pad for row in rows)

    def pack_many(self, values):
        return b''.join(self.pack(rows) for rows in values)

    def unpack(self, raw):
        return [self.one.unpack(raw[i:i + self.one.size])
                for i in range(0, self.size, self.stride)]

    def unpack_many(self, raw, plain=False):
        return [self.unpack(raw[i:i + self.size])
                for i in range(0, len(raw), self.size)]


class PinnedMap:
    def __init__(self, path, key_type, value_type, percpu=False):
        self.path = path
        self.key = Codec(key_type)
        self.value = PerCpuCodec(value_type) if percpu else Codec(value_type)
        self.row = self.value.row
        self.fd = libbpf.obj_get(path)
        info = libbpf.map_info(self.fd)
        self.max_entries = info.max_entries
        sizes = (info.key_size, info.value_size)
        expected = (self.key.size, ctypes.sizeof(value_type))
        if sizes != expected:
            os.close(self.fd)
            raise libbpf.BpfError(
                0, 'map pinned at %s has key/value sizes %s, this version '
                   'expects %s: pins of another layout (an older version?); '
                   'stop every magnum-iovisor process, remove the pin '
                   'directory and restart, or use another pin directory'
                   % (path, sizes, expected))

    def get(self, key):
        value = ctypes.create_string_buffer(self.value.size)
        if libbpf.lookup(self.fd, self.key.pack(key), value):
            return self.value.unpack(value.raw)
        return None

    def zero(self, key):
        """Set ``key``'s value to all zeroes (on every CPU)."""
        libbpf.update(self.fd, self.key.pack(key),
                      bytes(self.value.size), libbpf.BPF_ANY)

    def zero_packed(self, keys):
        """Zero the values of keys packed back to back."""
        if keys:
            count = len(keys) // self.key.size
            libbpf.update_batch(self.fd, keys, bytes(self.value.size * count),
                                count)

    def set(self, key, value, flags=libbpf.BPF_ANY):
        libbpf.update(self.fd, self.key.pack(key), self.value.pack(value),
                      flags)

    def delete(self, key):
        """Return False when the key was absent."""
        return libbpf.delete(self.fd, self.key.pack(key))

    def items(self, plain=False):
        """[(key, value)] of every entry, in the map's order.

        ``plain``: values as plain tuples too (faster: no named tuples).
        """
        result = []
        for keys, values, _ in libbpf.lookup_batch(self.fd, self.key.size,
                                                   self.value.size):
            result.extend(zip(self.key.unpack_many(keys, plain=True),
                              self.value.unpack_many(values, plain)))
        return result

    def summed_columns(self):
        """A per-CPU array of u64 fields summed over CPUs, by column.

        One list per field, indexed by the array index. Summed by slicing
        the raw values as u64 words (no per-row unpacking): a scrape reads
        100,000 counters.
        """
        one = self.value.one
        fields = len(one.row._fields)
        if one.struct.format.lstrip('@') != 'Q' * fields:
            raise TypeError('summed_columns: %s is not all u64 fields'
                            % one.row.__name__)
        cpus = self.value.cpus
        step = cpus * fields
        columns = [[] for _ in range(fields)]
        for _, values, _ in libbpf.lookup_batch(self.fd, self.key.size,
                                                self.value.size):
            # an array's batches come in index order, from 0
            words = memoryview(values).cast('Q')
            for field, column in enumerate(columns):
                summed = words[field::step].tolist()
                for cpu in range(1, cpus):
                    summed = list(map(operator.add, summed,
                                      words[cpu * fields + field::step]))
                column.extend(summed)
        return columns

    def set_many(self, items):
        if items:
            keys, values = zip(*items)
            self.set_packed(self.key.pack_many(keys),
                            self.value.pack_many(values))

    def set_packed(self, keys, values):
        """Write keys and values packed back to back already."""
        if keys:
            libbpf.update_batch(self.fd, keys, values,
                                len(keys) // self.key.size)

    def delete_many(self, keys):
        self.delete_packed(self.key.pack_many(keys))

    def delete_packed(self, keys):
        if keys:
            libbpf.delete_batch(self.fd, keys, len(keys) // self.key.size)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
