"""The Magnum driver, run by real Magnum 13.1.1 code up to the Heat API call.

No database and no cloud: the cluster template, cluster and node groups are
in-memory Magnum objects, and the clients Magnum would call (Keystone,
Nova's keypair, Heat's stack create) are fakes that record what they get.
"""

import json
import os
import types

import fixtures
from magnum.api import attr_validator
from magnum.common import context
from magnum.common import exception
import magnum.conf
from magnum.drivers.common import driver as common_driver
from magnum import objects
from oslo_config import fixture as config_fixture
import testtools
import yaml

from magnum_iovisor import bootstrap
from magnum_iovisor.magnum import driver as iovisor_driver
from magnum_iovisor import policy

SEED_POLICY = '100>0 0>100 100>100 100<>200'
CONF = magnum.conf.CONF
UUIDS = ['0c7f7a4e-5d2e-4a57-9a43-6f1c1a1d1a0%d' % n for n in range(1, 5)]


def written_out(value):
    """The policy file as slave.yaml writes it.

    Heat parses a json parameter given as text, and str_replace writes the
    document as JSON (tests/heat/test_nodes.py shows Heat doing both).
    """
    if isinstance(value, str):
        value = json.loads(value)
    return json.dumps(value)


class FakeHeat(object):
    def __init__(self):
        self.created = []
        self.stacks = self

    def create(self, **fields):
        self.created.append(fields)
        return {'stack': {'id': 'stack-%d' % len(self.created)}}


class FakeClients(object):
    """OpenStackClients with only what a Heat driver asks of the cloud."""

    heat_client = FakeHeat()

    def __init__(self, context):
        pass

    def keystone(self):
        return types.SimpleNamespace(trustee_domain_id='trustee-domain')

    def url_for(self, **kwargs):
        return 'http://keystone.example/identity'

    def heat(self):
        return self.heat_client


class DriverTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        conf = self.useFixture(config_fixture.Config(CONF))
        # Magnum's own driver claims the same (vm, ubuntu, mesos).
        conf.config(group='drivers', disabled_drivers=['mesos_ubuntu_v1'])
        self.useFixture(fixtures.MonkeyPatch(
            'magnum.drivers.common.driver.Driver.definitions', None))
        FakeClients.heat_client = FakeHeat()
        self.heat = FakeClients.heat_client
        self.useFixture(fixtures.MonkeyPatch(
            'magnum.common.clients.OpenStackClients', FakeClients))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum.common.nova.get_ssh_key',
            lambda context, keypair: 'ssh-ed25519 AAAA test'))
        self.context = context.RequestContext(
            auth_token='token', project_id='project', user_id='user',
            user_name='user', is_admin=False)

    def cluster_template(self, **labels):
        return objects.ClusterTemplate(
            self.context, uuid=UUIDS[2], name='mesosbaymodel',
            coe='mesos', server_type='vm', cluster_distro='ubuntu',
            image_id='ubuntu-mesos', keypair_id='testkey',
            external_network_id='public', dns_nameserver='8.8.8.8',
            flavor_id='m1.small', master_flavor_id='m1.small',
            fixed_network=None, fixed_subnet=None, http_proxy=None,
            https_proxy=None, no_proxy=None, master_lb_enabled=False,
            floating_ip_enabled=True, labels=labels)

    def cluster(self, template):
        masters = objects.NodeGroup(
            self.context, uuid=UUIDS[0], name='default-master',
            role='master', is_default=True, node_count=1,
            image_id='ubuntu-mesos', flavor_id='m1.small',
            labels=template.labels)
        workers = objects.NodeGroup(
            self.context, uuid=UUIDS[1], name='default-worker',
            role='worker', is_default=True, node_count=2,
            image_id='ubuntu-mesos', flavor_id='m1.small',
            labels=template.labels)
        # Cluster's node group properties read the database; these do not.
        return types.SimpleNamespace(
            uuid=UUIDS[3], name='mesosbay', keypair='testkey',
            cluster_template_id=template.uuid, cluster_template=template,
            labels=template.labels, fixed_network=None, fixed_subnet=None,
            master_count=1, node_count=2, trust_id='trust',
            trustee_user_id='trustee', trustee_username='trustee',
            trustee_password='secret', create_timeout=60, stack_id=None,
            default_ng_master=masters, default_ng_worker=workers,
            nodegroups=[masters, workers])

    def create(self, **labels):
        """Run the driver's create_cluster; return what Heat was sent."""
        template = self.cluster_template(**labels)
        self.useFixture(fixtures.MonkeyPatch(
            'magnum.conductor.utils.retrieve_cluster_template',
            lambda context, cluster: template))
        cluster = self.cluster(template)
        driver = common_driver.Driver.get_driver('vm', 'ubuntu', 'mesos')
        driver.create_cluster(self.context, cluster, 60)
        self.assertEqual('stack-1', cluster.stack_id)
        return self.heat.created[-1]


class TestDriver(DriverTestCase):

    def test_get_driver_returns_ours(self):
        driver = common_driver.Driver.get_driver('vm', 'ubuntu', 'mesos')
        self.assertIsInstance(driver, iovisor_driver.Driver)

    def test_magnum_mesos_driver_is_disabled(self):
        providers = common_driver.Driver.get_drivers()[
            ('vm', 'ubuntu', 'mesos')]
        self.assertEqual('iovisor_mesos_ubuntu',
                         providers['entry_point_name'])

    def test_seed_policy_label_reaches_the_slaves(self):
        fields = self.create(iovisor_policy=SEED_POLICY)
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'iovisor-policy.json')
        with open(path, 'w') as policy_file:
            policy_file.write(
                written_out(fields['parameters']['iovisor_policy']))
        # what the slave's boot hook reads back
        self.assertEqual(policy.parse(SEED_POLICY),
                         bootstrap.read_policy(path))

    def test_full_parameter_set(self):
        fields = self.create(iovisor_policy=SEED_POLICY,
                             iovisor_mode='veth',
                             iovisor_routed_subnet_prefix='172.20',
                             iovisor_registry='local',
                             iovisor_parent='ens3')
        params = fields['parameters']
        expected = {
            'external_network': 'public', 'cluster_name': 'mesosbay',
            'ssh_key_name': 'testkey', 'dns_nameserver': '8.8.8.8',
            'number_of_masters': 1, 'number_of_slaves': 2,
            'master_image': 'ubuntu-mesos', 'slave_image': 'ubuntu-mesos',
            'master_flavor': 'm1.small', 'slave_flavor': 'm1.small',
            'iovisor_mode': 'veth', 'routed_subnet_prefix': '172.20',
            'iovisor_registry': 'local', 'iovisor_parent': 'ens3',
            'is_cluster_stack': True,
        }
        self.assertEqual(expected,
                         {k: params[k] for k in expected if k in params})

    def test_heat_gets_the_bay_templates(self):
        fields = self.create(iovisor_policy=SEED_POLICY)
        template = fields['template']
        self.assertIn('iovisor_policy', template['parameters'])
        # Heat refuses parameters a template does not declare.
        undeclared = set(fields['parameters']) - set(template['parameters'])
        self.assertEqual(set(), undeclared)
        names = {os.path.basename(url) for url in fields['files']}
        for name in ('master.yaml', 'slave.yaml', 'heat-params-slave',
                     'configure-mesos-agent.sh', 'apply-iovisor-policy.sh'):
            self.assertIn(name, names)
        slave = yaml.safe_load(next(
            body for url, body in fields['files'].items()
            if url.endswith('/slave.yaml')))
        self.assertEqual('json',
                         slave['parameters']['iovisor_policy']['type'])

    def test_without_policy_label(self):
        # Heat's default applies: no rule, every pair denied.
        fields = self.create()
        self.assertNotIn('iovisor_policy', fields['parameters'])

    def test_invalid_policy_label(self):
        # the conductor's own check, behind magnum-api's
        error = self.assertRaises(exception.InvalidParameterValue,
                                  self.create, iovisor_policy='100>70000')
        self.assertIn('iovisor_policy', str(error))
        self.assertIn('70000', str(error))
        self.assertEqual([], self.heat.created)

    def test_labels_join_magnum_api_validation(self):
        # what magnum-api runs on a cluster, bay or template create
        attr_validator.validate_labels({'iovisor_policy': SEED_POLICY,
                                        'iovisor_mode': 'veth'})
        error = self.assertRaises(exception.InvalidParameterValue,
                                  attr_validator.validate_labels,
                                  {'iovisor_policy': '100>wrld'})
        self.assertIn("label iovisor_policy='100>wrld': rule 1", str(error))
        self.assertRaises(exception.InvalidParameterValue,
                          attr_validator.validate_labels,
                          {'iovisor_mode': 'bridge'})
        self.assertEqual(400, error.code)

    def test_policy_label_with_json(self):
        # Labels carry the text form only.
        error = self.assertRaises(exception.InvalidParameterValue,
                                  self.create,
                                  iovisor_policy='{"rules": []}')
        self.assertIn('iovisor_policy', str(error))

    def test_unknown_mode(self):
        error = self.assertRaises(exception.InvalidParameterValue,
                                  self.create, iovisor_mode='bridge')
        self.assertIn("label iovisor_mode='bridge': not one of ipvlan, "
                      "macvlan, veth", str(error))
        self.assertEqual([], self.heat.created)

    def test_bay_without_labels_takes_the_baymodels(self):
        # what Magnum 13's bay API stores for `magnum bay-create`
        template = self.cluster_template(iovisor_policy='100>100')
        self.useFixture(fixtures.MonkeyPatch(
            'magnum.conductor.utils.retrieve_cluster_template',
            lambda context, cluster: template))
        cluster = self.cluster(template)
        cluster.labels = {}
        for nodegroup in cluster.nodegroups:
            nodegroup.labels = {}
        driver = common_driver.Driver.get_driver('vm', 'ubuntu', 'mesos')
        driver.create_cluster(self.context, cluster, 60)
        [fields] = self.heat.created
        self.assertEqual(policy.parse('100>100'), policy.parse(
            fields['parameters']['iovisor_policy'], 'json'))

    def test_no_slave_is_refused(self):
        template = self.cluster_template()
        cluster = self.cluster(template)
        cluster.default_ng_worker.node_count = 0
        driver = common_driver.Driver.get_driver('vm', 'ubuntu', 'mesos')
        error = self.assertRaises(exception.InvalidParameterValue,
                                  driver.create_cluster, self.context,
                                  cluster, 60)
        self.assertIn('node_count 0: a Mesos bay needs at least one slave',
                      str(error))
        self.assertEqual([], self.heat.created)

    def test_upgrade_is_refused(self):
        driver = common_driver.Driver.get_driver('vm', 'ubuntu', 'mesos')
        self.assertRaises(exception.NotSupported, driver.upgrade_cluster,
                          self.context, None, None, 1, None)

    def test_scale(self):
        definition = iovisor_driver.Driver().get_template_definition()
        self.assertEqual({'number_of_slaves': 5}, definition.get_scale_params(
            self.context, None, 5, None, nodes_to_remove=None))
