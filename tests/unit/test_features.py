"""The running kernel's CONFIG_HZ, which the connection clock counts by."""

import gzip
import os
from unittest import mock

import fixtures
import testtools

from magnum_iovisor.dataplane import features

CONFIG = '''#
# Timers subsystem
#
CONFIG_NO_HZ=y
# CONFIG_HZ_100 is not set
CONFIG_HZ_250=y
# CONFIG_HZ_1000 is not set
CONFIG_HZ=250
CONFIG_SCHED_HRTICK=y
'''


class ConfigHzTest(testtools.TestCase):
    def test_the_value_of_config_hz_only(self):
        self.assertEqual(250, features.config_hz(CONFIG))
        self.assertEqual(1000, features.config_hz(
            CONFIG.replace('CONFIG_HZ=250', 'CONFIG_HZ=1000')))

    def test_none_without_it(self):
        self.assertIsNone(features.config_hz(
            CONFIG.replace('CONFIG_HZ=250\n', '')))
        self.assertIsNone(features.config_hz('# CONFIG_HZ=250\n'))


class KernelHzTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.boot = os.path.join(self.dir, 'config-{release}')
        self.proc = os.path.join(self.dir, 'config.gz')
        self.useFixture(fixtures.MockPatchObject(
            features, 'KERNEL_CONFIGS', (self.boot, self.proc)))
        features.kernel_hz.cache_clear()
        self.addCleanup(features.kernel_hz.cache_clear)

    def write(self, hz, gzipped=False):
        text = CONFIG.replace('CONFIG_HZ=250', 'CONFIG_HZ=%d' % hz)
        if gzipped:
            with gzip.open(self.proc, 'wt') as out:
                out.write(text)
        else:
            path = self.boot.format(release=os.uname().release)
            with open(path, 'w') as out:
                out.write(text)

    def test_the_running_kernels_boot_config_first(self):
        self.write(300)
        self.write(1000, gzipped=True)
        self.assertEqual(300, features.kernel_hz())

    def test_then_proc_config_gz(self):
        self.write(1000, gzipped=True)
        self.assertEqual(1000, features.kernel_hz())
        self.assertIn('-DCT_HZ=1000', self.cflags())

    def test_none_and_no_flag_when_neither_tells(self):
        with open(self.proc, 'w') as out:
            out.write('not gzip')
        self.assertIsNone(features.kernel_hz())
        self.assertFalse([f for f in self.cflags() if 'CT_HZ' in f])

    def cflags(self):
        with mock.patch.object(features, 'tc_netns_cookie',
                               return_value=True):
            return features.cflags()
