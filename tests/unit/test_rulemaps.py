"""The order rulemaps.py writes and deletes compiled entries in."""

import struct

import testtools

from magnum_iovisor.dataplane import rulemaps


def key(src, dst, proto):
    return struct.pack('@HHI', src, dst, proto)


class ChangesTest(testtools.TestCase):
    def test_a_pair_loses_its_every_protocol_entry_first(self):
        # its tcp entry holds the tcp/22 deny and gives the old verdict
        # until it goes; left alone, the every-protocol allow would pass
        # tcp/22 for a moment
        old = {key(1, 2, 6): b'tcp', key(3, 4, 17): b'udp',
               key(1, 2, 0): b'any', key(3, 4, 0): b'any'}
        (writes, values), deletes = rulemaps._changes(old, {})
        self.assertEqual((b'', b''), (writes, values))
        order = [deletes[i:i + 8] for i in range(0, len(deletes), 8)]
        self.assertEqual(sorted(old), sorted(order))
        for src, dst, proto in ((1, 2, 6), (3, 4, 17)):
            self.assertLess(order.index(key(src, dst, 0)),
                            order.index(key(src, dst, proto)))

    def test_only_what_differs_is_written(self):
        old = {key(1, 2, 6): b'a', key(1, 2, 17): b'b'}
        fresh = {key(1, 2, 6): b'a', key(1, 2, 17): b'c', key(1, 2, 1): b'd'}
        (writes, values), deletes = rulemaps._changes(old, fresh)
        self.assertEqual(key(1, 2, 17) + key(1, 2, 1), writes)
        self.assertEqual(b'cd', values)
        self.assertEqual(b'', deletes)
