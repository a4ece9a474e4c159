"""Pins of the previous map layout are refused clearly, never mis-read."""

import os
import subprocess
import tempfile

from bcc import BPF

from magnum_iovisor.dataplane import Dataplane
from magnum_iovisor.dataplane import loader
from tests.functional import base

V1_COMMIT = '5810df9'        # main before dataplane v2
V1_FILES = ('classifier.c', 'maps.h', 'parse.h', 'tables.h')


class UpgradeTest(base.DataplaneTestCase):
    def open_dataplane(self):
        return None          # the test makes the old pins first

    def v1_pins(self):
        src = tempfile.mkdtemp()
        for name in V1_FILES:
            with open(os.path.join(src, name), 'wb') as out:
                out.write(subprocess.run(
                    ['git', 'show', '%s:bpf/%s' % (V1_COMMIT, name)],
                    check=True, capture_output=True).stdout)
        os.makedirs(self.pin_dir)
        bpf = BPF(src_file=os.path.join(src, 'classifier.c').encode(),
                  cflags=['-I%s' % src, '-DPIN_DIR="%s"' % self.pin_dir,
                          '-DENDPOINTS_MAX=16', '-DRULES_MAX=16',
                          '-DDENIED_MAX=16', '-DEVENTS_BYTES=4096'])
        bpf.load_func(b'from_endpoint', BPF.SCHED_CLS)
        bpf.cleanup()

    def test_old_pins_are_refused_naming_the_map(self):
        self.v1_pins()
        before = sorted(os.listdir(self.pin_dir))
        error = self.assertRaises(loader.OldLayout, Dataplane,
                                  self.conf.dataplane)
        self.assertIn('map endpoints pinned at %s/endpoints'
                      % self.pin_dir, str(error))
        self.assertIn('remove %s' % self.pin_dir, str(error))
        self.assertEqual(before, sorted(os.listdir(self.pin_dir)))

    def refused_without(self, missing):
        """The error of opening this version's pins less map ``missing``."""
        Dataplane(self.conf.dataplane).close()
        os.unlink(os.path.join(self.pin_dir, missing))
        before = sorted(os.listdir(self.pin_dir))
        error = self.assertRaises(loader.OldLayout, Dataplane,
                                  self.conf.dataplane)
        self.assertIn('remove %s' % self.pin_dir, str(error))
        self.assertEqual(before, sorted(os.listdir(self.pin_dir)))
        return str(error)

    def test_pins_of_a_policy_without_pairs_are_refused(self):
        # the layout before pairs: every rule compiled into policy
        self.assertIn('map policy pinned at %s/policy without map pairs'
                      % self.pin_dir, self.refused_without('pairs'))

    def test_pins_of_pairs_without_protocols_are_refused(self):
        # the layout before protocols: pairs with several rules compiled
        # into policy, which this version would not look up
        self.assertIn('map pairs pinned at %s/pairs without map protocols'
                      % self.pin_dir, self.refused_without('protocols'))
