"""The user_data a node's server hands Nova, as the Heat engine builds it.

tox -e bay boots VMs with exactly this (offline.render_user_data); here it
is taken apart the way cloud-init takes it apart.
"""

import email

import yaml

from magnum_iovisor import policy
from tests.heat import offline
from tests.heat import test_nodes


def parts(user_data):
    message = email.message_from_string(user_data)
    assert message.is_multipart()
    return [(part.get_content_type(), part.get_filename(),
             part.get_payload(decode=True).decode())
            for part in message.walk() if not part.is_multipart()]


class TestUserData(test_nodes.ClusterTestCase):

    def test_slave_user_data_carries_heat_params_and_boot_script(self):
        cluster = self.boot(environments=['environments/seed-policy.yaml'])
        slave = self.member(cluster, 'slaves', 1)
        found = parts(offline.render_user_data(slave))
        configs = [yaml.safe_load(body) for kind, name, body in found
                   if body.startswith('#cloud-config')]
        files = {f['path']: f for c in configs if c
                 for f in c.get('write_files', [])}
        self.assertIn('ROUTED_SUBNET="10.1.1.0/24"',
                      files['/etc/sysconfig/heat-params']['content'])
        self.assertEqual(policy.parse(test_nodes.SEED_POLICY), policy.parse(
            files['/etc/sysconfig/iovisor-policy.json']['content'], 'json'))
        scripts = [body for kind, name, body in found
                   if body.startswith('#!/bin/bash')
                   and 'iovisor-bootstrap' in body]
        self.assertEqual(1, len(scripts))
        # Heat's own parts for SOFTWARE_CONFIG servers come first.
        self.assertEqual('text/cloud-config', found[0][0])
        self.assertIn('part-handler.py', [name for kind, name, body in found])
