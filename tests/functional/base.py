"""Shared set-up for functional tests: a private pin dir and dataplane."""

import os
import shutil
import subprocess
import sys
import uuid

from oslo_config import cfg
import testtools

from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
from tests.functional import topology

SEED_POLICY = '100>0 0>100 100>100 200>100 100>200'
SEED_ENDPOINTS = (('dns', '10.1.0.2', 100), ('web', '10.1.0.3', 100),
                  ('db', '10.1.0.4', 200))
SEED_GROUPS = {'dns': 100, 'web': 100, 'db': 200, 'outside': 0}
PROBE = os.path.join(os.path.dirname(__file__), 'tcp_probe.py')


def received(path):
    """Bytes a `tcp_probe.py sink` has counted into path.

    0 before its first report; it replaces the file whole, so a read never
    sees it empty.
    """
    try:
        with open(path) as status:
            return int(status.read())
    except FileNotFoundError:
        return 0


def seed_allows(src, dst):
    """Whether a two-way exchange between two seed hosts should work."""
    pairs = {tuple(map(int, p.split('>'))) for p in SEED_POLICY.split()}
    return ((SEED_GROUPS[src], SEED_GROUPS[dst]) in pairs
            and (SEED_GROUPS[dst], SEED_GROUPS[src]) in pairs)


class DataplaneTestCase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.pin_dir = '/sys/fs/bpf/test-%s' % uuid.uuid4().hex[:8]
        self.addCleanup(shutil.rmtree, self.pin_dir, ignore_errors=True)
        self.conf = cfg.ConfigOpts()
        config.register_opts(self.conf)
        self.conf([], default_config_files=[])
        self.conf.set_override('pin_dir', self.pin_dir, 'dataplane')
        self.dataplane = self.open_dataplane()

    def open_dataplane(self):
        dataplane = Dataplane(self.conf.dataplane)
        self.addCleanup(dataplane.close)
        return dataplane

    def cli(self, *args, check=True, stdin=None):
        """Run iovisor-policy on this test's pins; return the process."""
        result = subprocess.run(
            [sys.executable, '-m', 'magnum_iovisor.cmd.policy',
             '--pin-dir', self.pin_dir] + list(args),
            input=stdin, capture_output=True, text=True, timeout=60)
        if check and result.returncode:
            self.fail('iovisor-policy %s: exit %d\n%s' % (
                ' '.join(args), result.returncode, result.stderr))
        return result


class SeedTestCase(DataplaneTestCase):
    """The walkthrough's slave: dns, web (100), db (200), outside (0)."""

    def setUp(self):
        super().setUp()
        self.net = topology.Topology()
        self.addCleanup(self.net.cleanup)
        for name, address, _ in SEED_ENDPOINTS:
            self.net.add_endpoint(name, address)
        self.net.add_outside('outside', 1)
        for name, address, group in SEED_ENDPOINTS:
            self.dataplane.attach(self.net.host_ifaces[name], address, group,
                                  netns=self.net.slave, sandbox_side=False)
        self.cli('load', '-', stdin=SEED_POLICY)
        self.servers = {name: self.net.spawn(name, sys.executable, PROBE,
                                             'serve', '7000')
                        for name in SEED_GROUPS}
        for proc in self.servers.values():
            self.assertEqual('listening', proc.stdout.readline().strip())

    def tcp(self, src, dst, port=7000):
        ns, _ = self.net.hosts[src]
        return topology.nsexec(ns, sys.executable, PROBE, 'connect',
                               self.net.hosts[dst][1], str(port),
                               check=False).returncode == 0

    def matrix(self, probe):
        return {(a, b): probe(a, b)
                for a in SEED_GROUPS for b in SEED_GROUPS if a != b}

    def expected_matrix(self):
        return self.matrix(seed_allows)
