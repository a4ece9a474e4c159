"""ctypes bindings to the few libbpf calls we need on pinned objects.

bcc compiles and loads; everything that only touches pinned maps and
programs (the CLI, a restarted daemon) goes through libbpf directly, so it
needs no compiler.
"""

import ctypes
import ctypes.util
import errno
import os
import struct

_lib = ctypes.CDLL(ctypes.util.find_library('bpf') or 'libbpf.so.1',
                   use_errno=True)

BPF_ANY = 0
BPF_NOEXIST = 1


class BpfError(OSError):
    pass


class MapBatchOpts(ctypes.Structure):
    _fields_ = [('sz', ctypes.c_size_t),
                ('elem_flags', ctypes.c_uint64),
                ('flags', ctypes.c_uint64)]


class TestRunOpts(ctypes.Structure):
    _fields_ = [('sz', ctypes.c_size_t),
                ('data_in', ctypes.c_void_p),
                ('data_out', ctypes.c_void_p),
                ('data_size_in', ctypes.c_uint32),
                ('data_size_out', ctypes.c_uint32),
                ('ctx_in', ctypes.c_void_p),
                ('ctx_out', ctypes.c_void_p),
                ('ctx_size_in', ctypes.c_uint32),
                ('ctx_size_out', ctypes.c_uint32),
                ('retval', ctypes.c_uint32),
                ('repeat', ctypes.c_int),
                ('duration', ctypes.c_uint32),
                ('flags', ctypes.c_uint32),
                ('cpu', ctypes.c_uint32),
                ('batch_size', ctypes.c_uint32)]


def _u32s(*names):
    return [(name, ctypes.c_uint32) for name in names]


class SkBuff(ctypes.Structure):
    # struct __sk_buff (uapi/linux/bpf.h), the context of a tc test run
    _fields_ = (_u32s('len', 'pkt_type', 'mark', 'queue_mapping',
                      'protocol', 'vlan_present', 'vlan_tci', 'vlan_proto',
                      'priority', 'ingress_ifindex', 'ifindex', 'tc_index')
                + [('cb', ctypes.c_uint32 * 5)]
                + _u32s('hash', 'tc_classid', 'data', 'data_end', 'napi_id',
                        'family', 'remote_ip4', 'local_ip4')
                + [('remote_ip6', ctypes.c_uint32 * 4),
                   ('local_ip6', ctypes.c_uint32 * 4)]
                + _u32s('remote_port', 'local_port', 'data_meta')
                + [('flow_keys', ctypes.c_uint64), ('tstamp', ctypes.c_uint64)]
                + _u32s('wire_len', 'gso_segs')
                + [('sk', ctypes.c_uint64), ('gso_size', ctypes.c_uint32),
                   ('tstamp_type', ctypes.c_uint8),
                   ('_pad', ctypes.c_uint8 * 3),
                   ('hwtstamp', ctypes.c_uint64)])


class MapInfo(ctypes.Structure):
    # the leading fields of struct bpf_map_info (uapi/linux/bpf.h)
    _fields_ = [('type', ctypes.c_uint32),
                ('id', ctypes.c_uint32),
                ('key_size', ctypes.c_uint32),
                ('value_size', ctypes.c_uint32),
                ('max_entries', ctypes.c_uint32),
                ('map_flags', ctypes.c_uint32),
                ('name', ctypes.c_char * 16),
                ('_rest', ctypes.c_uint8 * 64)]


RING_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_size_t)

_c = ctypes.c_void_p
for _name, _args, _res in [
        ('bpf_obj_get', [ctypes.c_char_p], ctypes.c_int),
        ('bpf_obj_pin', [ctypes.c_int, ctypes.c_char_p], ctypes.c_int),
        ('bpf_obj_get_info_by_fd', [ctypes.c_int, _c,
                                    ctypes.POINTER(ctypes.c_uint32)],
         ctypes.c_int),
        ('bpf_map_lookup_elem', [ctypes.c_int, _c, _c], ctypes.c_int),
        ('bpf_map_update_elem', [ctypes.c_int, _c, _c, ctypes.c_uint64],
         ctypes.c_int),
        ('bpf_map_delete_elem', [ctypes.c_int, _c], ctypes.c_int),
        ('bpf_map_get_next_key', [ctypes.c_int, _c, _c], ctypes.c_int),
        ('bpf_map_update_batch', [ctypes.c_int, _c, _c,
                                  ctypes.POINTER(ctypes.c_uint32), _c],
         ctypes.c_int),
        ('bpf_map_delete_batch', [ctypes.c_int, _c,
                                  ctypes.POINTER(ctypes.c_uint32), _c],
         ctypes.c_int),
        ('bpf_map_lookup_batch', [ctypes.c_int, _c, _c, _c, _c,
                                  ctypes.POINTER(ctypes.c_uint32), _c],
         ctypes.c_int),
        ('bpf_prog_test_run_opts', [ctypes.c_int, _c], ctypes.c_int),
        ('libbpf_num_possible_cpus', [], ctypes.c_int),
        ('bpf_prog_load', [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_char_p, ctypes.c_size_t, _c],
         ctypes.c_int),
        ('ring_buffer__new', [ctypes.c_int, RING_CALLBACK, _c, _c], _c),
        ('ring_buffer__poll', [_c, ctypes.c_int], ctypes.c_int),
        ('ring_buffer__free', [_c], None),
        ('bpf_link_create', [ctypes.c_int, ctypes.c_int, ctypes.c_int, _c],
         ctypes.c_int),
        ('bpf_link_update', [ctypes.c_int, ctypes.c_int, _c], ctypes.c_int),
        ('bpf_link_detach', [ctypes.c_int], ctypes.c_int)]:
    _func = getattr(_lib, _name)
    _func.argtypes = _args
    _func.restype = _res


def _check(result, what):
    if result < 0:
        code = ctypes.get_errno() or -result
        raise BpfError(code, '%s: %s' % (what, os.strerror(code)))
    return result


def obj_get(path):
    return _check(_lib.bpf_obj_get(os.fsencode(path)), 'open pin %s' % path)


def obj_pin(fd, path):
    _check(_lib.bpf_obj_pin(fd, os.fsencode(path)), 'pin %s' % path)


def possible_cpus():
    return _check(_lib.libbpf_num_possible_cpus(), 'possible CPUs')


def _insn(code, imm=0):
    # struct bpf_insn: code, dst/src registers, offset, immediate
    return struct.pack('<BBhi', code, 0, 0, imm)


def probe_helper(prog_type, helper):
    """Whether the verifier lets programs of ``prog_type`` call ``helper``.

    Loads ``call helper; r0 = 0; exit``. libbpf_probe_bpf_helper is not
    used: libbpf 1.1 (Debian 12) takes every refusal but "unknown func"
    for a yes.
    """
    insns = (_insn(0x85, helper)      # BPF_JMP | BPF_CALL
             + _insn(0xb7)            # BPF_ALU64 | BPF_MOV | BPF_K, r0 = 0
             + _insn(0x95))           # BPF_JMP | BPF_EXIT
    fd = _lib.bpf_prog_load(prog_type, b'probe', b'GPL', insns,
                            len(insns) // 8, None)
    if fd < 0:
        return False
    os.close(fd)
    return True


def map_info(fd):
    info = MapInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    _check(_lib.bpf_obj_get_info_by_fd(fd, ctypes.byref(info),
                                       ctypes.byref(size)), 'map info')
    return info


def lookup(fd, key, value):
    """Fill ``value``; return False when the key is absent."""
    if _lib.bpf_map_lookup_elem(fd, key, value):
        if ctypes.get_errno() == errno.ENOENT:
            return False
        _check(-1, 'map lookup')
    return True


def update(fd, key, value, flags=BPF_ANY):
    _check(_lib.bpf_map_update_elem(fd, key, value, flags), 'map update')


def delete(fd, key):
    """Delete ``key``; return False when it was absent."""
    if _lib.bpf_map_delete_elem(fd, key):
        if ctypes.get_errno() == errno.ENOENT:
            return False
        _check(-1, 'map delete')
    return True


def update_batch(fd, keys, values, count):
    """Write ``count`` entries from packed ``keys`` and ``values`` bytes."""
    count = ctypes.c_uint32(count)
    opts = MapBatchOpts(sz=ctypes.sizeof(MapBatchOpts))
    _check(_lib.bpf_map_update_batch(fd, keys, values, ctypes.byref(count),
                                     ctypes.byref(opts)), 'map batch update')


def delete_batch(fd, keys, count):
    count = ctypes.c_uint32(count)
    opts = MapBatchOpts(sz=ctypes.sizeof(MapBatchOpts))
    _check(_lib.bpf_map_delete_batch(fd, keys, ctypes.byref(count),
                                     ctypes.byref(opts)), 'map batch delete')


def lookup_batch(fd, key_size, value_size, chunk=8192):
    """Yield (keys, values, count): raw chunks of every entry of a map."""
    keys = ctypes.create_string_buffer(key_size * chunk)
    values = ctypes.create_string_buffer(value_size * chunk)
    opts = MapBatchOpts(sz=ctypes.sizeof(MapBatchOpts))
    # a hash map's batch token is a bucket number; the generic batch
    # (arrays, LPM tries) uses a key
    in_batch = ctypes.create_string_buffer(max(key_size, 8))
    out_batch = ctypes.create_string_buffer(max(key_size, 8))
    first = True
    while True:
        count = ctypes.c_uint32(chunk)
        result = _lib.bpf_map_lookup_batch(
            fd, None if first else in_batch, out_batch, keys, values,
            ctypes.byref(count),
            ctypes.byref(opts))
        err = ctypes.get_errno() if result else 0
        if result and err != errno.ENOENT:
            _check(-1, 'map batch lookup')
        if count.value:
            yield (keys.raw[:key_size * count.value],
                   values.raw[:value_size * count.value], count.value)
        if err == errno.ENOENT:
            return
        ctypes.memmove(in_batch, out_batch, len(out_batch))
        first = False


def test_run(prog_fd, packet, repeat=1, ctx=None):
    """BPF_PROG_TEST_RUN: return (verdict, average ns per run).

    ``ctx`` (an SkBuff) goes in and comes back as the program left it.
    """
    data = ctypes.create_string_buffer(bytes(packet), len(packet))
    opts = TestRunOpts(sz=ctypes.sizeof(TestRunOpts),
                       data_in=ctypes.cast(data, ctypes.c_void_p),
                       data_size_in=len(packet), repeat=repeat)
    if ctx is not None:
        opts.ctx_in = ctypes.cast(ctypes.byref(ctx), ctypes.c_void_p)
        opts.ctx_size_in = ctypes.sizeof(ctx)
        opts.ctx_out = opts.ctx_in
        opts.ctx_size_out = ctypes.sizeof(ctx)
    _check(_lib.bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts)),
           'test run')
    return opts.retval, opts.duration


class RingBuffer:
    """Read records from a pinned BPF ring buffer map."""

    def __init__(self, fd, on_record):
        def callback(_ctx, data, size):
            on_record(ctypes.string_at(data, size))
            return 0
        self._callback = RING_CALLBACK(callback)   # keep alive
        self._rb = _lib.ring_buffer__new(fd, self._callback, None, None)
        if not self._rb:
            _check(-1, 'open ring buffer')

    def poll(self, timeout_ms):
        return _check(_lib.ring_buffer__poll(self._rb, timeout_ms),
                      'poll ring buffer')

    def close(self):
        if self._rb:
            _lib.ring_buffer__free(self._rb)
            self._rb = None
