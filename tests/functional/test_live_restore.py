"""dockerd --live-restore, and endpoints Docker forgot (issue 14, item 7)."""

import os
import subprocess
import uuid

import testtools

from magnum_iovisor.dataplane import tcx
from tests.functional import dockerd
from tests.functional import plugin_daemon
from tests.functional import seed
from tests.functional import test_docker_plugin
from tests.functional import test_first_packet

POLICY = '100>0 0>100'


class LiveRestoreTest(test_docker_plugin.DockerPluginTestCase):
    mode = 'macvlan'

    @classmethod
    def setUpClass(cls):
        testtools.TestCase.setUpClass()
        cls.dockerd = dockerd.Dockerd(extra=('--live-restore',))
        cls.dockerd.setUp()
        cls.addClassCleanup(cls.dockerd.cleanUp)
        cls.image = cls.dockerd.import_busybox('mi-busybox:test')
        cls.plugin = plugin_daemon.PluginDaemon(default_mode=cls.mode)
        cls.plugin.setUp()
        cls.addClassCleanup(cls.plugin.cleanUp)

    def pid(self, name):
        return self.dockerd.docker('inspect', '-f', '{{.State.Pid}}',
                                   name).stdout.strip()

    def check_enforced(self, site, allowed, denied):
        self.assertTrue(site.ping(allowed, site.outside_address))
        before = test_first_packet.in_echos(site)
        self.assertFalse(site.ping(denied, site.outside_address))
        self.assertEqual(before, test_first_packet.in_echos(site))

    def _test_restart_keeps_containers_enforced(self, mode):
        site = self.site(mode)
        self.open_dataplane().replace_policy(seed.policy.parse_text(POLICY))
        allowed, denied = self.prefix + '-ok', self.prefix + '-no'
        site.run_container(allowed, self.image, 100)
        site.run_container(denied, self.image, 300)
        pids = (self.pid(allowed), self.pid(denied))
        self.check_enforced(site, allowed, denied)

        self.dockerd.stop()
        # containers run on while dockerd is down, still enforced
        self.assertTrue(all(os.path.exists('/proc/%s' % p) for p in pids))
        before = test_first_packet.in_echos(site)
        subprocess.run(['nsenter', '-t', pids[1], '-n', 'ping', '-c', '1',
                        '-W', '1', site.outside_address],
                       capture_output=True)
        self.assertEqual(before, test_first_packet.in_echos(site))
        self.dockerd.start()

        self.assertEqual(pids, (self.pid(allowed), self.pid(denied)))
        self.check_enforced(site, allowed, denied)
        # Docker still reaches the driver for these endpoints: rm cleans up
        endpoint = site.endpoint_id(denied)
        self.dockerd.docker('rm', '-f', denied)
        self.assertNotIn('endpoints/%s.json' % endpoint,
                         self.plugin.state_files())
        self.assertFalse(tcx.attached(self.plugin.pin_dir, endpoint))

    def test_macvlan_across_a_live_restore(self):
        self._test_restart_keeps_containers_enforced('macvlan')

    def test_veth_across_a_live_restore(self):
        self._test_restart_keeps_containers_enforced('veth')

    def test_endpoints_docker_forgot_are_reconciled_at_start(self):
        site = self.site()
        name = self.prefix + '-gone'
        address = site.run_container(name, self.image, 100)
        kept = self.prefix + '-kept'
        kept_address = site.run_container(kept, self.image, 100)
        endpoint = site.endpoint_id(name)
        self.plugin.stop()
        # Docker cannot reach the driver: Leave and DeleteEndpoint are lost
        removed = self.dockerd.docker('rm', '-f', name, check=False,
                                      timeout=300)
        self.addDetail('rm', testtools.content.text_content(
            removed.stdout + removed.stderr))
        self.assertIn('endpoints/%s.json' % endpoint,
                      self.plugin.state_files())
        self.plugin.start()
        self.addDetail('plugin', testtools.content.text_content(
            self.plugin.log_tail(30)))
        self.assertNotIn('endpoints/%s.json' % endpoint,
                         self.plugin.state_files())
        self.assertFalse(tcx.attached(self.plugin.pin_dir, endpoint))
        tagged = self.groups_by_address()
        self.assertNotIn(address, tagged)
        self.assertEqual(100, tagged.get(kept_address))
        self.assertIn('its sandbox', self.plugin.log())
        # the address can be handed out again
        again = self.prefix + '-again-' + uuid.uuid4().hex[:4]
        site.run_container(again, self.image, 100)
