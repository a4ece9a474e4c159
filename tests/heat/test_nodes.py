"""What a node gets: Heat renders each member of a created cluster.

The cluster stack is validated, then its shared resources are given the
data a cloud would have given them at create; Heat resolves each master
and slave member's properties from them, and each member template is
validated strictly and its cloud-config rendered by Heat's own code. The
test then does what cloud-init and the boot scripts do with it: write the
files, source heat-params with bash, read the policy file.
"""

import json
import os
import subprocess

import fixtures
import yaml

from magnum_iovisor.bootstrap import node as node_params
from magnum_iovisor import policy
from magnum_iovisor.registry import credentials
from tests.heat import offline

SEED_POLICY = '100>0 0>100 100>100 100<>200'
MASTER_IPS = ['10.0.0.3', '10.0.0.4', '10.0.0.5']
FRAGMENTS = offline.template_path('fragments')
REGISTRY_SECRET = 'Zq3' * 10 + 'x9'


class Node(object):
    """A node's root directory, filled the way cloud-init fills it."""

    def __init__(self, root, cloud_config):
        self.root = root
        header, body = cloud_config.split('\n', 1)
        assert header == '#cloud-config', header
        for item in yaml.safe_load(body)['write_files']:
            path = os.path.join(root, item['path'].lstrip('/'))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(item['content'])
            os.chmod(path, int(item['permissions'], 8))

    def path(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def read(self, path):
        with open(self.path(path)) as f:
            return f.read()

    def heat_params(self):
        """Every variable as a script that sources heat-params sees it."""
        script = 'set -eua; . "$1"; env -0'
        out = subprocess.run(
            ['bash', '-c', script, 'bash',
             os.path.join(self.root, 'etc/sysconfig/heat-params')],
            env={'PATH': os.environ['PATH']}, check=True,
            capture_output=True).stdout.decode()
        seen = dict(item.split('=', 1) for item in out.split('\0') if item)
        return {k: v for k, v in seen.items()
                if k.isupper() and k not in ('PATH', 'PWD', 'SHLVL')}


class ClusterTestCase(offline.HeatTestCase):

    def boot(self, masters=3, slaves=2, environments=(), **parameters):
        """Validate the cluster and pretend its shared resources exist."""
        parameters.setdefault('ssh_key_name', 'testkey')
        parameters.update(number_of_masters=masters, number_of_slaves=slaves)
        stack = offline.load_stack(environments=environments,
                                   parameters=parameters)
        stack.validate()
        self.cloud.add('network', 'net-id')
        self.cloud.add('subnet', 'subnet-id')
        self.cloud.add('router', 'router-id')
        self.cloud.add('port', *['port-%d' % i for i in range(masters)])
        for name in ('network', 'subnet', 'router', 'secgroup'):
            offline.pretend_created(stack, name, '%s-id' % name.replace(
                'network', 'net'))
        offline.pretend_created(stack, 'master_ports', 'ports', {
            'refs': ['port-%d' % i for i in range(masters)]})
        offline.pretend_created(stack, 'master_addresses', 'addresses', {
            'value': MASTER_IPS[:masters]})
        offline.pretend_created(stack, 'registry', 'registry', {
            'value': stack['registry'].properties['value']})
        # as OS::Heat::RandomString makes it: 32 letters and digits
        offline.pretend_created(stack, 'registry_secret', 'secret', {
            'value': REGISTRY_SECRET})
        offline.pretend_created(stack, 'registry_identity', 'identity', {
            'value': stack['registry_identity'].properties['value']})
        return stack

    def member(self, cluster, group, index):
        template = {'masters': 'master.yaml', 'slaves': 'slave.yaml'}[group]
        stack = offline.load_stack(
            template, stack_name='%s-%d' % (group, index),
            parameters=offline.member_properties(cluster, group, index))
        stack.validate()
        return stack

    def node(self, member):
        root = self.useFixture(fixtures.TempDir()).path
        return Node(root, offline.render_cloud_config(member, 'heat_params'))


class TestSlave(ClusterTestCase):

    def test_heat_params_of_the_second_slave(self):
        cluster = self.boot(environments=['environments/seed-policy.yaml'])
        params = self.node(self.member(cluster, 'slaves', 1)).heat_params()
        self.assertEqual({
            'IOVISOR_MODE': 'ipvlan',
            'IOVISOR_PARENT': 'eth0',
            'IOVISOR_REGISTRY': 'zookeeper://10.0.0.3:2181,10.0.0.4:2181,'
                                '10.0.0.5:2181/magnum-iovisor',
            'IOVISOR_REGISTRY_CREDENTIALS':
                '/etc/magnum-iovisor/zookeeper.secret',
            'IOVISOR_POLICY_FILE': '/etc/sysconfig/iovisor-policy.json',
            'ROUTED_SUBNET': '10.1.1.0/24',
            'MESOS_MASTERS': '10.0.0.3,10.0.0.4,10.0.0.5',
        }, params)

    def test_registry_secret_is_owner_only_and_kept_out_of_heat_params(self):
        cluster = self.boot()
        first, second = (self.node(self.member(cluster, 'slaves', n))
                         for n in (0, 1))
        path = first.heat_params()['IOVISOR_REGISTRY_CREDENTIALS']
        # the daemon's own reader accepts it: one line, mode 0600
        secret = credentials.read(first.path(path))
        self.assertEqual(('magnum-iovisor', REGISTRY_SECRET),
                         (secret.user, secret.secret))
        # one identity per bay: every slave has the same
        self.assertEqual(secret, credentials.read(second.path(path)))
        self.assertNotIn(secret.secret,
                         first.read('/etc/sysconfig/heat-params'))

    def test_a_given_secret_reaches_masters_and_slaves(self):
        # a registry that already holds the bay's nodes: its secret is
        # passed in (Magnum's driver, or by hand) instead of a new one
        given = 'Gv9' * 8
        cluster = self.boot(iovisor_registry_secret=given)
        for group in ('masters', 'slaves'):
            node = self.node(self.member(cluster, group, 0))
            path = node.heat_params()['IOVISOR_REGISTRY_CREDENTIALS']
            self.assertEqual(given, credentials.read(node.path(path)).secret,
                             group)

    def test_policy_file_is_the_seed_policy(self):
        cluster = self.boot(environments=['environments/seed-policy.yaml'])
        node = self.node(self.member(cluster, 'slaves', 0))
        path = node.heat_params()['IOVISOR_POLICY_FILE']
        self.assertEqual(policy.parse(SEED_POLICY),
                         policy.parse(node.read(path), 'json'))

    def test_policy_given_as_json_text(self):
        # Magnum and the openstack client pass a json parameter as text.
        document = policy.dump(policy.parse(SEED_POLICY), 'json')
        cluster = self.boot(iovisor_policy=document)
        node = self.node(self.member(cluster, 'slaves', 1))
        self.assertEqual(policy.parse(SEED_POLICY), policy.parse(
            node.read('/etc/sysconfig/iovisor-policy.json'), 'json'))

    def test_every_slave_routes_its_own_subnet(self):
        cluster = self.boot(slaves=3, routed_subnet_prefix='172.20')
        for index in range(3):
            slave = self.member(cluster, 'slaves', index)
            subnet = '172.20.%d.0/24' % index
            self.assertEqual(subnet,
                             self.node(slave).heat_params()['ROUTED_SUBNET'])
            pairs = slave['port'].properties['allowed_address_pairs']
            self.assertEqual([subnet], [p['ip_address'] for p in pairs])
            self.assertEqual('router-id', slave['route'].properties['router'])
            self.assertEqual(subnet, slave['route'].properties['routes'][0][
                'destination'])

    def test_registry_local_and_given(self):
        cluster = self.boot(environments=['environments/local-registry.yaml'])
        params = self.node(self.member(cluster, 'slaves', 0)).heat_params()
        self.assertEqual('local', params['IOVISOR_REGISTRY'])
        given = 'zookeeper://192.0.2.1:2181/elsewhere'
        cluster = self.boot(iovisor_registry=given)
        params = self.node(self.member(cluster, 'slaves', 0)).heat_params()
        self.assertEqual(given, params['IOVISOR_REGISTRY'])

    def test_mode_and_parent(self):
        cluster = self.boot(iovisor_mode='veth', iovisor_parent='ens3')
        params = self.node(self.member(cluster, 'slaves', 0)).heat_params()
        self.assertEqual(('veth', 'ens3'),
                         (params['IOVISOR_MODE'], params['IOVISOR_PARENT']))

    def test_policy_update_goes_through_a_deployment(self):
        cluster = self.boot(environments=['environments/seed-policy.yaml'])
        slave = self.member(cluster, 'slaves', 0)
        deployment = slave['policy_deployment'].properties
        self.assertEqual(['UPDATE'], deployment['actions'])
        self.assertEqual(policy.parse(SEED_POLICY), policy.parse(
            json.dumps(deployment['input_values']['iovisor_policy']), 'json'))
        # The new policy must not rebuild the slave.
        self.assertEqual('IGNORE',
                         slave['server'].properties['user_data_update_policy'])
        self.assertEqual('script', slave['policy_config'].properties['group'])

    def test_deployment_script_hands_the_policy_to_iovisor_bootstrap(self):
        # Run the deployment's script as heat-config's script hook does
        # (inputs as environment variables), with a stand-in for
        # iovisor-bootstrap that records what it was given.
        cluster = self.boot(environments=['environments/seed-policy.yaml'])
        slave = self.member(cluster, 'slaves', 0)
        bindir = self.useFixture(fixtures.TempDir()).path
        received = os.path.join(bindir, 'received')
        stand_in = os.path.join(bindir, 'iovisor-bootstrap')
        with open(stand_in, 'w') as f:
            f.write('#!/bin/sh\necho "$@" > %s.args\ncat > %s\n'
                    % (received, received))
        os.chmod(stand_in, 0o755)
        script = os.path.join(bindir, 'config')
        with open(script, 'w') as f:
            f.write(slave['policy_config'].properties['config'])
        os.chmod(script, 0o755)
        value = slave['policy_deployment'].properties['input_values'][
            'iovisor_policy']
        subprocess.run([script], check=True, env={
            'PATH': bindir + os.pathsep + os.environ['PATH'],
            'iovisor_policy': json.dumps(value)})
        with open(received + '.args') as f:
            self.assertEqual('--heat-config', f.read().strip())
        with open(received) as f:
            inputs = {i['name']: i['value'] for i in json.load(f)['inputs']}
        self.assertEqual(policy.parse(SEED_POLICY), policy.parse(
            json.dumps(inputs['iovisor_policy']), 'json'))


class TestMaster(ClusterTestCase):

    def test_heat_params_of_each_master(self):
        cluster = self.boot(masters=3, slaves=1)
        for index in range(3):
            master = self.member(cluster, 'masters', index)
            self.assertEqual({
                'MESOS_MASTER_INDEX': str(index),
                'MESOS_MASTER_IP': MASTER_IPS[index],
                'MESOS_MASTERS': ','.join(MASTER_IPS),
                'CLUSTER_NAME': 'mesos',
                'IOVISOR_REGISTRY': 'zookeeper://10.0.0.3:2181,10.0.0.4:2181,'
                                    '10.0.0.5:2181/magnum-iovisor',
                'IOVISOR_REGISTRY_CREDENTIALS':
                    '/etc/magnum-iovisor/zookeeper.secret',
                'IOVISOR_DOCKER_NETWORK': '',
                'IOVISOR_POLICY_FILE': '/etc/sysconfig/iovisor-policy.json',
            }, self.node(master).heat_params())
            self.assertEqual(
                'port-%d' % index,
                master['server'].properties['networks'][0]['port'])

    def test_master_has_the_bay_identity_and_no_container_network(self):
        cluster = self.boot(masters=1, slaves=1)
        master = self.node(self.member(cluster, 'masters', 0))
        slave = self.node(self.member(cluster, 'slaves', 0))
        params = master.heat_params()
        path = params['IOVISOR_REGISTRY_CREDENTIALS']
        # the image's own readers accept what the master gets
        self.assertEqual(credentials.read(slave.path(path)),
                         credentials.read(master.path(path)))
        settings = node_params.NodeParams.from_heat_params(params)
        self.assertEqual(('', None), (settings.docker_network,
                                      settings.routed_subnet))
        self.assertEqual(policy.parse('', 'text'), policy.parse(
            master.read(params['IOVISOR_POLICY_FILE']), 'json'))
        self.assertNotIn(credentials.read(master.path(path)).secret,
                         master.read('/etc/sysconfig/heat-params'))


class TestFragments(offline.HeatTestCase):

    def test_scripts_parse(self):
        scripts = [n for n in sorted(os.listdir(FRAGMENTS))
                   if n.endswith('.sh')]
        self.assertGreater(len(scripts), 0)
        for name in scripts:
            subprocess.run(['bash', '-n', os.path.join(FRAGMENTS, name)],
                           check=True)
