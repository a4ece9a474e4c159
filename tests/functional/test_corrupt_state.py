"""A corrupt state file next to good ones (issue 14, item 4).

The daemon starts, serves the good networks, moves the bad file aside,
logs it once and lists it in ``iovisor-policy quarantined``.
"""

import json
import os
import subprocess
import sys

from magnum_iovisor import policy
from tests.functional import test_docker_plugin


class CorruptStateTest(test_docker_plugin.DockerPluginTestCase):
    def quarantined(self):
        out = subprocess.run(
            [sys.executable, '-m', 'magnum_iovisor.cmd.policy',
             'quarantined', '--config-file', self.plugin.config_file,
             '-f', 'json'], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def test_bad_files_are_moved_aside_and_good_networks_served(self):
        site = self.site()
        address = site.run_container(self.prefix + '-a', self.image, 100)
        state = self.plugin.state_dir
        network_file = os.path.join(state, 'networks', os.listdir(
            os.path.join(state, 'networks'))[0])
        with open(network_file) as good:
            text = good.read()
        self.plugin.stop()
        bad = {
            'networks/truncated.json': text[:len(text) // 3],
            'endpoints/empty.json': '',
            'endpoints/future.json': json.dumps(
                dict(json.loads(text), id='future', version=99)),
            'endpoints/garbage.json': '\x00\xff{{{',
        }
        for name, content in bad.items():
            with open(os.path.join(state, name), 'w') as out:
                out.write(content)
        before = self.plugin.log().count('not served')
        self.plugin.start()
        self.assertTrue(self.plugin.running())
        self.assertEqual(before + len(bad),
                         self.plugin.log().count('not served'),
                         self.plugin.log_tail())

        # the good network and its container are served
        self.assertEqual(100, self.groups_by_address().get(address))
        second = site.run_container(self.prefix + '-b', self.image, 200)
        self.assertEqual(200, self.groups_by_address().get(second))
        self.dockerd.docker('rm', '-f', self.prefix + '-a')
        self.assertNotIn(address, self.groups_by_address())

        listed = self.quarantined()
        self.assertEqual(sorted(os.path.basename(n) for n in bad),
                         sorted(row['File'] for row in listed))
        reasons = {row['File']: row['Reason'] for row in listed}
        self.assertIn('empty', reasons['empty.json'])
        self.assertIn('version 99', reasons['future.json'])
        self.assertIn('truncated', reasons['truncated.json'])
        for name in bad:
            self.assertFalse(os.path.exists(os.path.join(state, name)))

        # logged once: a restart finds nothing new
        self.plugin.stop()
        logged = self.plugin.log().count('not served')
        self.plugin.start()
        self.assertEqual(logged, self.plugin.log().count('not served'))
        self.assertEqual(len(bad), len(self.quarantined()))

    def test_bad_files_of_running_containers_open_nothing(self):
        # their filters stay, so they stay enforced: the allowed one
        # reaches the outside, the denied one does not (veth and macvlan)
        self.open_dataplane().replace_policy(
            policy.parse_text('100>0 0>100'))
        state = self.plugin.state_dir
        containers = {}
        for mode in ('veth', 'macvlan'):
            site = self.site(mode)
            for group in (100, 300):
                name = '%s-%s-%d' % (self.prefix, mode, group)
                address = site.run_container(name, self.image, group)
                containers[name] = (site, group, address,
                                    site.endpoint_id(name))
        quarantined = len(self.quarantined())   # the class's daemon
        self.plugin.stop()
        for index, (_, _, _, endpoint) in enumerate(containers.values()):
            path = os.path.join(state, 'endpoints', endpoint + '.json')
            with open(path) as good:
                text = good.read()
            with open(path, 'w') as out:     # truncated, empty, other version
                out.write([text[:len(text) // 2], '', json.dumps(
                    dict(json.loads(text), version=99)), '\x00'][index])
        self.plugin.start()
        self.assertEqual(quarantined + len(containers),
                         len(self.quarantined()))
        groups = self.groups_by_address()
        for name, (site, group, address, _) in containers.items():
            self.assertEqual(group, groups.get(address), name)
            self.assertEqual(group == 100,
                             site.ping(name, site.outside_address), name)
