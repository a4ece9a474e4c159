"""The classifiers built for a kernel without bpf_get_netns_cookie in tc.

Debian 12's 6.1 and bookworm-backports' 6.12 (the bay image's kernel)
refuse the helper there; this host's kernel allows it, so the variant is
compiled here by saying the probe found nothing (dataplane/features.py),
and the bay image's guest tests (tests/image) load it on the real 6.12.
"""

import os
from unittest import mock

from bcc import BPF

from magnum_iovisor.dataplane import features
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import loader
from magnum_iovisor import policy
from tests.functional import base
from tests.functional import packets as pk

TC_ACT_OK = 0
BPF_PROG_TYPE_XDP = 6
BPF_CALL = 0x85


def helpers_called(code):
    """The helper ids a program's instructions call."""
    called = set()
    for at in range(0, len(code), 8):
        insn = code[at:at + 8]
        if insn[0] == BPF_CALL and insn[1] >> 4 == 0:  # src 0: a helper
            called.add(int.from_bytes(insn[4:8], 'little', signed=True))
    return called


class KernelFeaturesTest(base.DataplaneTestCase):
    def test_the_probe_answers_for_this_kernel(self):
        # the helper is in tc programs here (Linux 6.18), not in XDP ones
        self.assertTrue(features.tc_netns_cookie())
        self.assertFalse(features.libbpf.probe_helper(
            BPF_PROG_TYPE_XDP, features.BPF_FUNC_GET_NETNS_COOKIE))

    def calls_cookie(self, allowed):
        src = loader.source_dir(None)
        with mock.patch.object(features, 'tc_netns_cookie',
                               return_value=allowed):
            flags = loader.cflags(self.conf.dataplane, src)
        bpf = BPF(src_file=os.path.join(src, loader.MAIN_SOURCE).encode(),
                  cflags=flags)
        self.addCleanup(bpf.cleanup)
        return {name: features.BPF_FUNC_GET_NETNS_COOKIE
                in helpers_called(bpf.dump_func(name.encode()))
                for name in layout.CLASSIFIERS}

    def test_only_the_variant_for_old_kernels_goes_without_the_helper(self):
        self.assertEqual({'from_endpoint': True, 'to_endpoint': False,
                          'from_parent': True}, self.calls_cookie(True))
        self.assertEqual({'from_endpoint': False, 'to_endpoint': False,
                          'from_parent': False}, self.calls_cookie(False))


class WithoutNetnsCookieTest(base.DataplaneTestCase):
    def open_dataplane(self):
        with mock.patch.object(features, 'tc_netns_cookie',
                               return_value=False):
            return super().open_dataplane()

    def test_the_endpoint_still_judges_and_the_parent_does_not(self):
        self.assertFalse(self.dataplane.guards_parent)
        self.dataplane.tag('10.1.0.3', 100, ifindex=1)
        self.dataplane.replace_policy(policy.parse('100>200:tcp/443'))
        denied = pk.packet('10.1.0.3', '192.0.2.7', pk.TCP, pk.tcp(1, 443))
        spoofed = pk.packet('10.1.0.9', '192.0.2.7', pk.UDP, pk.udp(1, 2))
        self.assertNotEqual(
            TC_ACT_OK, self.dataplane.test_run('from_endpoint', denied)[0])
        self.assertNotEqual(
            TC_ACT_OK, self.dataplane.test_run('from_endpoint', spoofed)[0])
        # attached nowhere (plugin/driver.py), and passes what it is given
        self.assertEqual(
            TC_ACT_OK, self.dataplane.test_run('from_parent', denied)[0])
