"""The seed's baymodel through Magnum 13.1.1's real API and sqlite database."""

import json
import os
import subprocess
import sys

import requests
import testtools

from tests.magnum import fixture

SEED_POLICY = '100>0 0>100 100>100 100<>200'
OLD_API = {'OpenStack-API-Version': 'container-infra 1.1'}
SEED_BAYMODEL = {
    'name': 'mesosbaymodel', 'image_id': 'ubuntu-mesos',
    'keypair_id': 'testkey', 'external_network_id': 'public',
    'dns_nameserver': '8.8.8.8', 'flavor_id': 'm1.small', 'coe': 'mesos',
    'labels': {'iovisor_policy': SEED_POLICY}}
# python-magnumclient 3.5's shell, next to the interpreter running the tests
MAGNUM = os.path.join(os.path.dirname(sys.executable), 'magnum')


class TestBaymodel(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.magnum = self.useFixture(fixture.MagnumServices())

    def post_baymodel(self, **fields):
        return requests.post(self.magnum.url + '/baymodels',
                             json=dict(SEED_BAYMODEL, **fields),
                             headers=OLD_API, timeout=30)

    def get_baymodel(self, name):
        return requests.get(self.magnum.url + '/baymodels/' + name,
                            headers=OLD_API, timeout=30)

    def test_api_accepts_a_mesos_baymodel(self):
        created = self.post_baymodel()
        self.assertEqual(201, created.status_code, created.text)
        shown = self.get_baymodel('mesosbaymodel')
        self.assertEqual(200, shown.status_code, shown.text)
        body = shown.json()
        self.assertEqual(('mesos', 'vm', 'ubuntu'),
                         (body['coe'], body['server_type'],
                          body['cluster_distro']))
        self.assertEqual({'iovisor_policy': SEED_POLICY}, body['labels'])

    def test_baymodel_survives_an_api_restart(self):
        created = self.post_baymodel()
        self.assertEqual(201, created.status_code, created.text)
        self.magnum.restart()
        shown = self.get_baymodel('mesosbaymodel')
        self.assertEqual(200, shown.status_code, shown.text)
        self.assertEqual(created.json()['uuid'], shown.json()['uuid'])

    def test_seed_baymodel_create_command(self):
        # The seed's command; Magnum 13 refuses magnumclient 3's default
        # storage driver (devicemapper) without a docker volume size.
        shell = [MAGNUM, '--os-token', 'noauth',
                 '--os-endpoint-override', self.magnum.url]
        subprocess.run(shell + [
            'baymodel-create', '--name', 'mesosbaymodel',
            '--image-id', 'ubuntu-mesos', '--keypair-id', 'testkey',
            '--external-network-id', 'public',
            '--dns-nameserver', '8.8.8.8', '--flavor-id', 'm1.small',
            '--coe', 'mesos', '--docker-storage-driver', 'overlay2',
            '--labels', 'iovisor_policy=' + SEED_POLICY],
            check=True, capture_output=True, timeout=60)
        shown = self.get_baymodel('mesosbaymodel')
        self.assertEqual(200, shown.status_code, shown.text)
        self.assertEqual('mesos', shown.json()['coe'])
        listed = subprocess.run(shell + ['baymodel-list'], check=True,
                                capture_output=True, text=True, timeout=60)
        self.assertIn('mesosbaymodel', listed.stdout)

    def test_refused_coe(self):
        refused = self.post_baymodel(coe='nomad')
        self.assertEqual(400, refused.status_code)
        self.assertIn('nomad', json.dumps(refused.json()))

    def test_bad_label_refused_by_a_fresh_api(self):
        # The first request of a new magnum-api: no driver is imported yet
        # (a baymodel or bay POST imports none); the paste filter
        # (api_validation.filter_factory) registered the label checks.
        refused = self.post_baymodel(labels={'iovisor_policy': '100>70000'})
        self.assertEqual(400, refused.status_code, refused.text)
        self.assertEqual(
            "label iovisor_policy='100>70000': rule 1 ('100>70000'): group "
            "70000 out of range 0..65535",
            refused.json()['errors'][0]['detail'])
        self.assertEqual([], self.magnum.rows('cluster_template'))
