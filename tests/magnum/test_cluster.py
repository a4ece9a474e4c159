"""A bay's whole life through Magnum 13.1.1's API, conductor and poller.

Both command-line clients drive the real magnum-api; magnum-conductor runs
the iovisor driver, which sends the stack to the fake Heat (heat.py); the
conductor's own periodic task reads the stack back into the bay.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time

import fixtures
from heatclient.common import template_format
import requests
import testtools
import yaml

from magnum_iovisor import policy
from tests.magnum import fixture
from tests.magnum import heat

SEED_POLICY = '100>0 0>100 100>100 100<>200'
LATEST = {'OpenStack-API-Version': 'container-infra latest'}
BIN = os.path.dirname(sys.executable)
TREE = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TEMPLATES = os.path.join(TREE, 'heat-templates')
with open(os.path.join(TEMPLATES, 'cluster.yaml')) as cluster_yaml:
    DECLARED = set(yaml.safe_load(cluster_yaml)['parameters'])
SLAVES_2 = ['10.0.1.10', '10.0.1.11']


class ClusterTestCase(testtools.TestCase):
    """A fake Heat, then Magnum's services, for each test."""

    def setUp(self):
        super().setUp()
        fake_heat = self.useFixture(heat.FakeHeat())
        self.heat = fake_heat.heat
        self.magnum = self.useFixture(fixture.MagnumServices(fake_heat.url))

    def run_cli(self, *argv, check=True):
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=120)
        if check:
            self.assertEqual(0, done.returncode,
                             '%s: %s%s' % (' '.join(argv), done.stdout,
                                           done.stderr))
        return done

    def magnum_cli(self, *args, check=True):
        """python-magnumclient 3.5's own shell: the seed's commands."""
        return self.run_cli(os.path.join(BIN, 'magnum'), '--os-token',
                            'noauth', '--os-endpoint-override',
                            self.magnum.url, *args, check=check)

    def openstack(self, *args, check=True):
        """python-openstackclient with magnumclient's plugin, no Keystone."""
        return self.run_cli(os.path.join(BIN, 'openstack'),
                            '--os-auth-type', 'none', '--os-endpoint',
                            self.magnum.url, 'coe', *args, check=check)

    def get(self, path):
        return requests.get(self.magnum.url + path, headers=LATEST,
                            timeout=30)

    def wait_for(self, name, status, past=(), timeout=90):
        """The cluster once its status is ``status`` (the poller's work).

        Statuses in ``past`` are the cluster's before the request (the API
        only casts it to the conductor).
        """
        deadline = time.monotonic() + timeout
        while True:
            shown = self.get('/clusters/' + name)
            if shown.status_code == 404:
                # the conductor has not written the cluster yet
                self.assertLess(time.monotonic(), deadline, shown.text)
                time.sleep(1)
                continue
            self.assertEqual(200, shown.status_code, shown.text)
            cluster = shown.json()
            if cluster['status'] == status:
                return cluster
            failed = (cluster['status'].endswith('_FAILED')
                      and cluster['status'] not in past)
            if failed or time.monotonic() > deadline:
                self.fail('cluster %s is %s (%s), not %s'
                          % (name, cluster['status'],
                             cluster['status_reason'], status))
            time.sleep(1)

    def wait_gone(self, name, timeout=90):
        deadline = time.monotonic() + timeout
        while self.get('/clusters/' + name).status_code != 404:
            self.assertLess(time.monotonic(), deadline,
                            'cluster %s still there' % name)
            time.sleep(1)

    def assert_stack_request(self, fields, node_count):
        """What Magnum sent Heat is the bay of heat-templates/."""
        params = fields['parameters']
        self.assertEqual(set(), set(params) - DECLARED)
        self.assertEqual(node_count, params['number_of_slaves'])
        self.assertEqual(policy.parse(SEED_POLICY),
                         policy.parse(params['iovisor_policy'], 'json'))
        self.assertEqual(DECLARED, set(fields['template']['parameters']))
        # every file sent is the project's own, and nothing is missing
        self.assertEqual(set(), heat.missing_files(fields['template'],
                                                   fields['files']))
        here = 'file://' + TEMPLATES + '/'
        for url, body in fields['files'].items():
            self.assertTrue(url.startswith(here), url)
            with open(url[len('file://'):]) as source:
                if url.endswith('.yaml'):
                    # heatclient sends nested templates as JSON, with
                    # their file references made absolute
                    self.assertEqual(template_format.parse(source.read()),
                                     json.loads(body.replace(here, '')), url)
                else:
                    self.assertEqual(source.read(), body, url)
        names = {url[len(here):] for url in fields['files']}
        for name in ('master.yaml', 'slave.yaml',
                     'fragments/configure-mesos-agent.sh',
                     'fragments/apply-iovisor-policy.sh'):
            self.assertIn(name, names)

    def assert_nothing_left(self):
        for table in ('cluster', 'nodegroup', 'x509keypair'):
            self.assertEqual([], self.magnum.rows(table), table)
        self.assertEqual({'trustees': {}, 'trusts': {}},
                         self.magnum.keystone())

    def assert_one_trust(self, cluster):
        """The bay's trustee and its trust, as Magnum keeps them."""
        [row] = self.magnum.rows('cluster', uuid=cluster['uuid'])
        keystone = self.magnum.keystone()
        self.assertEqual({row['trustee_user_id']: row['trustee_username']},
                         keystone['trustees'])
        self.assertEqual({row['trust_id']: row['trustee_user_id']},
                         keystone['trusts'])


class TestBayLife(ClusterTestCase):

    def test_seed_bay_with_magnum_shell(self):
        """baymodel-create, bay-create, bay-show, bay-update, bay-delete."""
        self.magnum_cli(
            'baymodel-create', '--name', 'mesosbaymodel',
            '--image-id', 'ubuntu-mesos', '--keypair-id', 'testkey',
            '--external-network-id', 'public',
            '--dns-nameserver', '8.8.8.8', '--flavor-id', 'm1.small',
            '--coe', 'mesos', '--docker-storage-driver', 'overlay2',
            '--labels', 'iovisor_policy=' + SEED_POLICY)
        self.magnum_cli('bay-create', '--name', 'mesosbay',
                        '--baymodel', 'mesosbaymodel', '--node-count', '2')
        bay = self.wait_for('mesosbay', 'CREATE_COMPLETE')
        [created] = self.heat.created()
        # the baymodel's label, though Magnum 13 gave the bay none
        self.assert_stack_request(created, node_count=2)
        self.assertEqual(bay['stack_id'], self.heat.find(bay['stack_id']).id)
        self.assertEqual('172.24.4.10', bay['api_address'])
        self.assertEqual(SLAVES_2, bay['node_addresses'])
        self.assertEqual(['172.24.4.10'], bay['master_addresses'])
        self.assert_one_trust(bay)
        shown = self.magnum_cli('bay-show', 'mesosbay').stdout
        self.assertIn('CREATE_COMPLETE', shown)
        self.assertIn('172.24.4.10', shown)

        # Magnum 13.1.1's bay PATCH calls cluster_update(_async) without
        # the health arguments its conductor API requires: 500 at every
        # API version. The same shell's cluster-update scales the bay.
        refused = self.magnum_cli('bay-update', 'mesosbay', 'replace',
                                  'node_count=3', check=False)
        self.assertIn('HTTP 500', refused.stderr)
        self.assertEqual([], self.heat.updates())
        self.magnum_cli('cluster-update', 'mesosbay', 'replace',
                        'node_count=3')
        bay = self.wait_for('mesosbay', 'UPDATE_COMPLETE')
        [update] = self.heat.updates()
        self.assertEqual({'number_of_slaves': 3}, update['parameters'])
        self.assertEqual(3, bay['node_count'])
        self.assertEqual(SLAVES_2 + ['10.0.1.12'], bay['node_addresses'])

        self.magnum_cli('bay-delete', 'mesosbay')
        self.wait_gone('mesosbay')
        self.assertIsNone(self.heat.find(bay['stack_id']))
        self.assert_nothing_left()

    def test_cluster_with_openstack_client(self):
        """cluster template create, cluster create/show/resize/delete."""
        self.openstack(
            'cluster', 'template', 'create', 'mesosbaymodel',
            '--coe', 'mesos', '--server-type', 'vm',
            '--image', 'ubuntu-mesos', '--keypair', 'testkey',
            '--external-network', 'public', '--dns-nameserver', '8.8.8.8',
            '--flavor', 'm1.small', '--docker-storage-driver', 'overlay2',
            '--labels', 'iovisor_policy=' + SEED_POLICY)
        self.openstack('cluster', 'create', 'mesosbay',
                       '--cluster-template', 'mesosbaymodel',
                       '--node-count', '2')
        self.wait_for('mesosbay', 'CREATE_COMPLETE')
        [created] = self.heat.created()
        self.assert_stack_request(created, node_count=2)
        shown = json.loads(self.openstack('cluster', 'show', 'mesosbay',
                                          '-f', 'json').stdout)
        self.assertEqual(('CREATE_COMPLETE', '172.24.4.10', SLAVES_2),
                         (shown['status'], shown['api_address'],
                          shown['node_addresses']))

        # scaling to no slave fails in the driver, before Heat
        self.openstack('cluster', 'update', 'mesosbay', 'replace',
                       'node_count=0')
        cluster = self.wait_for('mesosbay', 'UPDATE_FAILED')
        self.assertIn('node_count 0: a Mesos bay needs at least one slave',
                      cluster['status_reason'])
        self.assertEqual(2, cluster['node_count'])
        self.assertEqual([], self.heat.updates())

        self.openstack('cluster', 'resize', 'mesosbay', '1')
        cluster = self.wait_for('mesosbay', 'UPDATE_COMPLETE',
                                past=('UPDATE_FAILED',))
        [update] = self.heat.updates()
        self.assertEqual({'number_of_slaves': 1}, update['parameters'])
        self.assertEqual((1, SLAVES_2[:1]),
                         (cluster['node_count'], cluster['node_addresses']))

        self.openstack('cluster', 'delete', 'mesosbay')
        self.wait_gone('mesosbay')
        self.assert_nothing_left()


class TestBadInput(ClusterTestCase):
    """Refused with the reason, nothing left in Magnum's database or Heat.

    magnum-api refuses a bad label itself (400, the rule named:
    magnum_iovisor/magnum/api_validation.py), before any row, trust or
    stack, and so is node_count 0 (the cluster API 1.10 takes it for other
    COEs). A scale to 0 is refused by the driver in magnum-conductor
    (TestBayLife: UPDATE_FAILED, the stack untouched).

    One fake Heat and one set of services for the class (their start is
    most of a test's time); each test deletes what it made, and a cleanup
    deletes what a failed test left.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shared = fixtures.Fixture()
        cls.shared.setUp()
        try:
            fake_heat = cls.shared.useFixture(heat.FakeHeat())
            cls.heat = fake_heat.heat
            cls.magnum = cls.shared.useFixture(
                fixture.MagnumServices(fake_heat.url))
            created = requests.post(
                cls.magnum.url + '/clustertemplates', headers=LATEST,
                json={'name': 'mesosbaymodel', 'coe': 'mesos',
                      'server_type': 'vm', 'image_id': 'ubuntu-mesos',
                      'keypair_id': 'testkey',
                      'external_network_id': 'public',
                      'dns_nameserver': '8.8.8.8', 'flavor_id': 'm1.small',
                      'docker_storage_driver': 'overlay2',
                      'labels': {'iovisor_policy': SEED_POLICY}}, timeout=30)
            if created.status_code != 201:
                raise RuntimeError(created.text)
        except BaseException:
            cls.shared.cleanUp()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanUp()
        super().tearDownClass()

    def setUp(self):
        testtools.TestCase.setUp(self)     # not ClusterTestCase's services
        self.addCleanup(self.delete_leftovers)

    def delete_leftovers(self):
        for row in self.magnum.rows('cluster'):
            requests.delete(self.magnum.url + '/clusters/' + row['uuid'],
                            headers=LATEST, timeout=30)
            self.wait_gone(row['uuid'])

    def assert_refused_at_api(self, done, reason):
        """The CLI failed with the API's 400 ``reason``; nothing was made.

        Both clients print the error's title, which Magnum 13's
        ParsableErrorMiddleware cuts at the first '.': "0..65535" shows
        as "0" (the API's JSON detail has all of it).
        """
        self.assertNotEqual(0, done.returncode, done.stdout)
        self.assertIn(reason, done.stderr)
        self.assert_nothing_left()
        self.assertEqual({}, self.heat.stacks)
        self.assertEqual([], self.heat.requests)

    def test_bad_policy_label_names_the_rule(self):
        refused = self.openstack('cluster', 'create', 'badbay',
                                 '--cluster-template', 'mesosbaymodel',
                                 '--labels', 'iovisor_policy=100>wrld',
                                 check=False)
        self.assertIn('(HTTP 400)', refused.stderr)
        self.assertIn("did you mean 'world'?", refused.stderr)
        self.assert_refused_at_api(
            refused, "label iovisor_policy='100>wrld': rule 1 ('100>wrld'):"
                     " group 'wrld' is not an integer or a reserved name")

    def test_label_with_a_comma(self):
        # With two labels in one --labels, magnumclient splits on commas
        # (and semicolons) and refuses the piece without '='.
        refused = self.openstack(
            'cluster', 'create', 'badbay', '--cluster-template',
            'mesosbaymodel', '--labels',
            'iovisor_mode=veth,iovisor_policy=100>0,0>100', check=False)
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('labels must be a list of KEY=VALUE not 0>100',
                      refused.stderr)
        self.assertEqual([], self.magnum.rows('cluster'))
        # One label is sent whole: the comma reaches the policy parser.
        refused = self.openstack('cluster', 'create', 'badbay',
                                 '--cluster-template', 'mesosbaymodel',
                                 '--labels', 'iovisor_policy=100>0,0>100',
                                 check=False)
        self.assert_refused_at_api(
            refused, "label iovisor_policy='100>0,0>100': rule 1 "
                     "('100>0,0>100'): expected SRC>DST or SRC<>DST")

    def test_merged_labels(self):
        # merge_labels: the template's good policy and the bay's bad mode
        refused = self.openstack('cluster', 'create', 'badbay',
                                 '--cluster-template', 'mesosbaymodel',
                                 '--merge-labels',
                                 '--labels', 'iovisor_mode=bridge',
                                 check=False)
        self.assert_refused_at_api(
            refused, "label iovisor_mode='bridge': not one of ipvlan, "
                     "macvlan, veth")

    def test_bad_baymodel_and_cluster_template_refused(self):
        refused = self.magnum_cli(
            'baymodel-create', '--name', 'badmodel',
            '--image-id', 'ubuntu-mesos', '--keypair-id', 'testkey',
            '--external-network-id', 'public', '--flavor-id', 'm1.small',
            '--coe', 'mesos', '--docker-storage-driver', 'overlay2',
            '--labels', 'iovisor_policy=100>70000', check=False)
        self.assert_refused_at_api(
            refused, "label iovisor_policy='100>70000': rule 1 "
                     "('100>70000'): group 70000 out of range 0 (HTTP 400)")
        refused = self.openstack(
            'cluster', 'template', 'create', 'badmodel',
            '--image', 'ubuntu-mesos', '--keypair', 'testkey',
            '--external-network', 'public', '--flavor', 'm1.small',
            '--coe', 'mesos', '--docker-storage-driver', 'overlay2',
            '--labels', 'iovisor_policy=100>70000', check=False)
        self.assert_refused_at_api(refused, 'group 70000 out of range')
        self.assertEqual(['mesosbaymodel'], [
            row['name'] for row in self.magnum.rows('cluster_template')])

    def test_bay_api(self):
        # labels on the bay only (magnumclient 3.5's bay-create has no
        # --labels): the bay's labels are checked
        refused = requests.post(
            self.magnum.url + '/bays', headers=LATEST,
            json={'name': 'badbay', 'baymodel_id': 'mesosbaymodel',
                  'labels': {'iovisor_mode': 'bridge'}}, timeout=30)
        self.assertEqual(400, refused.status_code, refused.text)
        self.assertIn("label iovisor_mode='bridge': not one of ipvlan, "
                      "macvlan, veth", refused.json()['errors'][0]['detail'])
        self.assert_nothing_left()

    def test_bay_of_a_baymodel_with_a_bad_label(self):
        # The seed's path: the label is the baymodel's, the bay has none.
        # Such a baymodel is one written before magnum-api had the check.
        self.magnum_cli(
            'baymodel-create', '--name', 'badmodel',
            '--image-id', 'ubuntu-mesos', '--keypair-id', 'testkey',
            '--external-network-id', 'public', '--flavor-id', 'm1.small',
            '--coe', 'mesos', '--docker-storage-driver', 'overlay2')
        self.addCleanup(requests.delete,
                        self.magnum.url + '/clustertemplates/badmodel',
                        headers=LATEST, timeout=30)
        with sqlite3.connect(os.path.join(self.magnum.dir,
                                          'magnum.sqlite')) as db:
            db.execute("UPDATE cluster_template SET labels = ? "
                       "WHERE name = 'badmodel'",
                       (json.dumps({'iovisor_policy': '100>70000'}),))
        refused = self.magnum_cli('bay-create', '--name', 'badbay',
                                  '--baymodel', 'badmodel')
        # magnumclient 3.5 prints the error but exits 0
        self.assertIn('Create for bay badbay failed: ', refused.stdout)
        self.assertIn("label iovisor_policy='100>70000': rule 1 "
                      "('100>70000'): group 70000 out of range 0 (HTTP 400)",
                      refused.stdout)
        self.assert_nothing_left()
        self.assertEqual([], self.heat.requests)

    def test_unknown_mode(self):
        refused = requests.post(
            self.magnum.url + '/clusters', headers=LATEST,
            json={'name': 'badbay', 'cluster_template_id': 'mesosbaymodel',
                  'labels': {'iovisor_policy': SEED_POLICY,
                             'iovisor_mode': 'bridge'}}, timeout=30)
        self.assertEqual(400, refused.status_code, refused.text)
        self.assertIn("label iovisor_mode='bridge': not one of ipvlan, "
                      "macvlan, veth", refused.json()['errors'][0]['detail'])
        self.assert_nothing_left()

    def test_zero_nodes(self):
        # The bay API refuses 0 itself; magnumclient 3.5's bay-create
        # prints that it failed (the title of the API's error) but exits 0.
        refused = self.magnum_cli('bay-create', '--name', 'badbay',
                                  '--baymodel', 'mesosbaymodel',
                                  '--node-count', '0')
        self.assertIn('Create for bay badbay failed: Invalid input for '
                      'field/attribute node_count (HTTP 400)', refused.stdout)
        refused = requests.post(
            self.magnum.url + '/bays', headers=LATEST,
            json={'name': 'badbay', 'baymodel_id': 'mesosbaymodel',
                  'node_count': 0}, timeout=30)
        self.assertEqual(400, refused.status_code)
        self.assertIn('node_count', refused.text)
        self.assertEqual([], self.magnum.rows('cluster'))
        # the cluster API (1.10) takes 0 for other COEs; for ours
        # api_validation refuses it there
        refused = self.openstack('cluster', 'create', 'badbay',
                                 '--cluster-template', 'mesosbaymodel',
                                 '--node-count', '0', check=False)
        self.assert_refused_at_api(refused, 'node_count 0: a Mesos bay '
                                            'needs at least one slave')
