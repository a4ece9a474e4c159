"""iovisor-bootstrap: Heat parameters in, policy and Docker network out."""

import contextlib
import io
import ipaddress
import json
import os
import socket
import textwrap

import fixtures
import testtools

from magnum_iovisor import bootstrap
from magnum_iovisor.bootstrap import boot
from magnum_iovisor.bootstrap import deployment
from magnum_iovisor.bootstrap import docker_network
from magnum_iovisor.bootstrap import heat_params
from magnum_iovisor.bootstrap import mesos_agent
from magnum_iovisor.bootstrap import node
from magnum_iovisor.bootstrap import registry_config
from magnum_iovisor.cmd import bootstrap as cmd
from magnum_iovisor import policy as policy_model

SEED = '100>0 0>100 100>100 100<>200'


class FakeDataplane:
    """Holds a policy like the pinned map does; records what was written."""

    def __init__(self, policy=None):
        self.current = policy or policy_model.Policy()
        self.writes = []

    def replace_policy(self, new):
        upserts, removals = new.diff(self.current)
        self.writes.append((upserts, removals))
        self.current = new
        return upserts, removals

    def close(self):
        pass


class FakeDocker:
    def __init__(self, networks=None):
        self.networks = dict(networks or {})
        self.created = []

    def inspect_network(self, name):
        return self.networks.get(name)

    def create_network(self, name, driver, subnet, options):
        self.created.append((name, driver, subnet, options))
        self.networks[name] = {'Driver': driver,
                               'IPAM': {'Config': [{'Subnet': subnet}]},
                               'Options': dict(options)}


class Node:
    """The cmd's node, with fakes in place of the kernel and dockerd."""

    def __init__(self, dataplane, docker):
        self.dataplane = dataplane
        self.docker = docker
        self.cluster_policy = False
        self.holding = False
        self.checked_under_lock = None

    def cluster_policy_in_force(self):
        self.checked_under_lock = self.holding
        return self.cluster_policy

    @contextlib.contextmanager
    def writing_policy(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False

    def factory(self, conf):
        self.conf = conf
        return self

    def close(self):
        pass


class BootstrapTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.policy_file = self.write('iovisor-policy.json', json.dumps(
            {'rules': [{'src': 100, 'dst': 0}, {'src': 0, 'dst': 100},
                       {'src': 100, 'dst': 100}, {'src': 100, 'dst': 200},
                       {'src': 200, 'dst': 100}]}))

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as out:
            out.write(text)
        return path

    def heat_params(self, **values):
        lines = ['%s="%s"' % item for item in values.items()]
        return self.write('heat-params', '\n'.join(lines) + '\n')

    def params(self, **values):
        values.setdefault('ROUTED_SUBNET', '10.1.1.0/24')
        values.setdefault('IOVISOR_POLICY_FILE', self.policy_file)
        return node.NodeParams.from_heat_params(
            heat_params.read(self.heat_params(**values)))


class HeatParamsTest(BootstrapTest):
    def test_every_documented_key(self):
        params = self.params(
            IOVISOR_MODE='macvlan', ROUTED_SUBNET='10.1.7.0/24',
            IOVISOR_PARENT='ens3', IOVISOR_REGISTRY=(
                'zookeeper://10.0.0.5:2181,10.0.0.6:2181/iovisor'),
            IOVISOR_REGISTRY_CREDENTIALS='/etc/magnum-iovisor/zk.secret',
            IOVISOR_POLICY_FILE='/etc/sysconfig/p.yaml',
            IOVISOR_DOCKER_NETWORK='tenant-a')
        self.assertEqual(node.NodeParams(
            mode='macvlan',
            routed_subnet=ipaddress.IPv4Network('10.1.7.0/24'),
            parent='ens3',
            registry='zookeeper://10.0.0.5:2181,10.0.0.6:2181/iovisor',
            registry_credentials='/etc/magnum-iovisor/zk.secret',
            policy_file='/etc/sysconfig/p.yaml',
            docker_network='tenant-a'), params)

    def test_defaults(self):
        params = node.NodeParams.from_heat_params(
            {'ROUTED_SUBNET': '10.1.1.0/24'})
        self.assertEqual(('ipvlan', 'eth0', 'local',
                          '/etc/sysconfig/iovisor-policy.json', 'iovisor'),
                         (params.mode, params.parent, params.registry,
                          params.policy_file, params.docker_network))

    def test_magnum_style_file_is_parsed_not_sourced(self):
        path = self.write('heat-params', textwrap.dedent('''\
            # written by cloud-init
            ROUTED_SUBNET="10.1.1.0/24"
            MESOS_MASTERS_IPS="10.0.0.5 10.0.0.6"
            IOVISOR_PARENT='eth1'
            EVIL="$(touch %s/owned)"
            ''' % self.dir))
        values = heat_params.read(path)
        self.assertEqual('10.0.0.5 10.0.0.6', values['MESOS_MASTERS_IPS'])
        self.assertEqual('eth1', values['IOVISOR_PARENT'])
        self.assertEqual('$(touch %s/owned)' % self.dir, values['EVIL'])
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'owned')))

    def test_missing_file(self):
        path = os.path.join(self.dir, 'nope')
        error = self.assertRaises(bootstrap.BootstrapError,
                                  heat_params.read, path)
        self.assertIn(path, str(error))
        self.assertIn('No such file', str(error))

    def test_line_that_is_not_an_assignment(self):
        path = self.write('heat-params', 'ROUTED_SUBNET="10.1.1.0/24"\n'
                                         'export\n')
        error = self.assertRaises(bootstrap.BootstrapError,
                                  heat_params.read, path)
        self.assertIn("'export' is not a KEY=\"value\" assignment",
                      str(error))

    def test_unbalanced_quote(self):
        path = self.write('heat-params', 'IOVISOR_MODE="ipvlan\n')
        error = self.assertRaises(bootstrap.BootstrapError,
                                  heat_params.read, path)
        self.assertIn('not shell KEY="value" lines', str(error))

    def assertRejected(self, fragment, **values):
        error = self.assertRaises(bootstrap.BootstrapError, self.params,
                                  **values)
        self.assertIn(fragment, str(error))

    def test_malformed_values_name_their_key(self):
        self.assertRejected("IOVISOR_MODE='l2'", IOVISOR_MODE='l2')
        self.assertRejected("ROUTED_SUBNET='10.1.1.1/24'",
                            ROUTED_SUBNET='10.1.1.1/24')
        self.assertRejected("ROUTED_SUBNET='10.1.300.0/24'",
                            ROUTED_SUBNET='10.1.300.0/24')
        self.assertRejected("IOVISOR_PARENT='eth0 eth1'",
                            IOVISOR_PARENT='eth0 eth1')
        self.assertRejected("IOVISOR_REGISTRY='zookeeper://zk/x'",
                            IOVISOR_REGISTRY='zookeeper://zk/x')
        self.assertRejected("IOVISOR_POLICY_FILE='policy.json'",
                            IOVISOR_POLICY_FILE='policy.json')
        self.assertRejected("IOVISOR_DOCKER_NETWORK='-x'",
                            IOVISOR_DOCKER_NETWORK='-x')

    def test_subnet_needed_for_a_network(self):
        self.assertRejected('ROUTED_SUBNET is missing', ROUTED_SUBNET='')
        params = self.params(ROUTED_SUBNET='', IOVISOR_DOCKER_NETWORK='')
        self.assertIsNone(params.routed_subnet)


class BootTest(BootstrapTest):
    def test_veth_network_has_no_parent(self):
        docker = FakeDocker()
        docker_network.ensure_network(docker, self.params(
            ROUTED_SUBNET='10.1.1.0/24', IOVISOR_MODE='veth'))
        self.assertEqual({'iovisor.mode': 'veth'}, docker.created[0][3])

    def test_boot_loads_policy_and_creates_network(self):
        dataplane, docker = FakeDataplane(), FakeDocker()
        boot.boot(self.params(IOVISOR_MODE='ipvlan'), dataplane, docker)
        self.assertEqual(policy_model.parse(SEED), dataplane.current)
        self.assertEqual([('iovisor', 'iovisor', '10.1.1.0/24',
                           {'iovisor.mode': 'ipvlan',
                            'iovisor.parent': 'eth0'})], docker.created)

    def test_rerun_with_same_parameters_changes_nothing(self):
        dataplane, docker = FakeDataplane(), FakeDocker()
        params = self.params()
        boot.boot(params, dataplane, docker)
        boot.boot(params, dataplane, docker)
        self.assertEqual(([], []), dataplane.writes[-1])
        self.assertEqual(1, len(docker.created))

    def test_rerun_with_changed_policy_applies_only_the_diff(self):
        dataplane, docker = FakeDataplane(), FakeDocker()
        boot.boot(self.params(), dataplane, docker)
        self.write('iovisor-policy.json', json.dumps({'rules': [
            {'src': 100, 'dst': 0}, {'src': 0, 'dst': 100},
            {'src': 100, 'dst': 100}, {'src': 100, 'dst': 200},
            {'src': 200, 'dst': 100, 'action': 'deny'},
            {'src': 300, 'dst': 100}]}))
        boot.boot(self.params(), dataplane, docker)
        upserts, removals = dataplane.writes[-1]
        self.assertEqual([policy_model.Rule(200, 100, 'deny'),
                          policy_model.Rule(300, 100)], upserts)
        self.assertEqual([], removals)
        self.write('iovisor-policy.json', json.dumps({'rules': [
            {'src': 100, 'dst': 0}, {'src': 0, 'dst': 100}]}))
        boot.boot(self.params(), dataplane, docker)
        self.assertEqual(([], [(100, 100, None, None), (100, 200, None, None),
                               (200, 100, None, None),
                               (300, 100, None, None)]),
                         dataplane.writes[-1])

    def test_bad_policy_changes_nothing(self):
        dataplane = FakeDataplane(policy_model.parse(SEED))
        docker = FakeDocker()
        self.write('iovisor-policy.json',
                   '{"rules": [{"src": 100, "dst": 70000}]}')
        error = self.assertRaises(policy_model.PolicyError, boot.boot,
                                  self.params(), dataplane, docker)
        self.assertIn(self.policy_file, str(error))
        self.assertIn('70000 out of range', str(error))
        self.assertEqual([], dataplane.writes)
        self.assertEqual(policy_model.parse(SEED), dataplane.current)
        self.assertEqual([], docker.created)

    def test_missing_policy_file(self):
        os.unlink(self.policy_file)
        error = self.assertRaises(bootstrap.BootstrapError, boot.boot,
                                  self.params(), FakeDataplane(),
                                  FakeDocker())
        self.assertIn('cannot read the policy %s' % self.policy_file,
                      str(error))

    def test_policy_in_any_format(self):
        dataplane = FakeDataplane()
        path = self.write('policy.yaml', 'rules:\n  - {src: 1, dst: 2}\n')
        boot.boot(self.params(IOVISOR_POLICY_FILE=path,
                              IOVISOR_DOCKER_NETWORK=''),
                  dataplane, None)
        self.assertEqual(policy_model.parse('1>2'), dataplane.current)

    def test_existing_network_with_other_settings_is_an_error(self):
        docker = FakeDocker()
        boot.boot(self.params(), FakeDataplane(), docker)
        error = self.assertRaises(bootstrap.BootstrapError, boot.boot,
                                  self.params(IOVISOR_MODE='macvlan'),
                                  FakeDataplane(), docker)
        self.assertIn('Docker network iovisor exists', str(error))
        self.assertIn('docker network rm iovisor', str(error))
        self.assertEqual(1, len(docker.created))

    def test_no_network_when_name_is_empty(self):
        docker = FakeDocker()
        boot.boot(self.params(IOVISOR_DOCKER_NETWORK=''),
                  FakeDataplane(), docker)
        self.assertEqual([], docker.created)

    def test_registry_goes_into_the_daemon_config(self):
        path = os.path.join(self.dir, 'conf.d', 'heat-params.conf')
        registry_config.write_registry_config(self.params(
            IOVISOR_REGISTRY='zookeeper://10.0.0.5:2181/iovisor'), path)
        with open(path) as conf:
            self.assertIn('[registry]\nbackend = zookeeper\n'
                          'hosts = 10.0.0.5:2181\nroot = /iovisor\n',
                          conf.read())

    def test_registry_credentials_file_goes_into_the_daemon_config(self):
        path = os.path.join(self.dir, 'conf.d', 'heat-params.conf')
        registry_config.write_registry_config(self.params(
            IOVISOR_REGISTRY='zookeeper://10.0.0.5:2181/iovisor',
            IOVISOR_REGISTRY_CREDENTIALS='/etc/magnum-iovisor/zk.secret'),
            path)
        with open(path) as conf:
            self.assertIn('root = /iovisor\ncredentials_file = '
                          '/etc/magnum-iovisor/zk.secret\n', conf.read())
        self.assertRaisesRegex(
            bootstrap.BootstrapError, "IOVISOR_REGISTRY_CREDENTIALS='zk' is "
            'not an absolute path', self.params,
            IOVISOR_REGISTRY_CREDENTIALS='zk')

    def test_local_registry_goes_into_the_daemon_config(self):
        path = os.path.join(self.dir, 'conf.d', 'heat-params.conf')
        registry_config.write_registry_config(self.params(
            IOVISOR_REGISTRY='local'), path)
        with open(path) as conf:
            self.assertIn('[registry]\nbackend = local\n', conf.read())


class DockerCliTest(BootstrapTest):
    """The real DockerCli against a stand-in ``docker`` executable."""

    def fake_docker(self, inspect_output, inspect_status):
        log = os.path.join(self.dir, 'docker.log')
        path = self.write('docker', textwrap.dedent('''\
            #!/bin/sh
            echo "$@" >> %s
            if [ "$2" = inspect ]; then
                echo '%s'
                [ %d = 0 ] || echo "Error: No such network: $3" >&2
                exit %d
            fi
            ''' % (log, inspect_output, inspect_status, inspect_status)))
        os.chmod(path, 0o755)
        return docker_network.DockerCli(path), log

    def test_creates_missing_network(self):
        docker, log = self.fake_docker('[]', 1)
        self.assertEqual('created', docker_network.ensure_network(
            docker, self.params(IOVISOR_PARENT='ens3')))
        with open(log) as calls:
            self.assertEqual(
                ['network inspect iovisor',
                 'network create -d iovisor --subnet 10.1.1.0/24 '
                 '-o iovisor.mode=ipvlan -o iovisor.parent=ens3 iovisor'],
                calls.read().splitlines())

    def test_leaves_same_network_alone(self):
        docker, log = self.fake_docker(json.dumps([{
            'Name': 'iovisor', 'Driver': 'iovisor',
            'IPAM': {'Driver': 'default',
                     'Config': [{'Subnet': '10.1.1.0/24'}]},
            'Options': {'iovisor.mode': 'ipvlan',
                        'iovisor.parent': 'eth0'}}]), 0)
        self.assertEqual('present',
                         docker_network.ensure_network(docker, self.params()))
        with open(log) as calls:
            self.assertEqual(['network inspect iovisor'],
                             calls.read().splitlines())

    def test_docker_missing(self):
        docker = docker_network.DockerCli(os.path.join(self.dir, 'no-docker'))
        error = self.assertRaises(bootstrap.BootstrapError,
                                  docker_network.ensure_network, docker,
                                  self.params())
        self.assertIn('docker network inspect iovisor', str(error))


class SoftwareDeploymentTest(BootstrapTest):
    def deployment(self, value):
        return {'id': 'd1', 'group': 'script',
                'inputs': [{'name': 'deploy_server_id', 'value': 's1'},
                           {'name': 'iovisor_policy', 'value': value}],
                'config': ''}

    def test_json_object_input(self):
        policy = deployment.policy_from_deployment(self.deployment(
            {'rules': [{'src': 1, 'dst': 2, 'action': 'deny'}]}))
        self.assertEqual(policy_model.parse('1>2:deny'), policy)

    def test_text_input_and_list_of_deployments(self):
        policy = deployment.policy_from_deployment(
            [self.deployment('1>2'), {'inputs': []},
             self.deployment('3<>4')])
        self.assertEqual(policy_model.parse('3<>4'), policy)

    def test_missing_input(self):
        error = self.assertRaises(bootstrap.BootstrapError,
                                  deployment.policy_from_deployment,
                                  {'inputs': []})
        self.assertIn('no input named iovisor_policy', str(error))

    def test_bad_policy_input(self):
        error = self.assertRaises(policy_model.PolicyError,
                                  deployment.policy_from_deployment,
                                  self.deployment('1>2 3>x'))
        self.assertIn('heat-config input iovisor_policy: rule 2', str(error))


class CommandTest(BootstrapTest):
    def setUp(self):
        super().setUp()
        self.stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.dataplane = FakeDataplane()
        self.docker = FakeDocker()
        self.node = Node(self.dataplane, self.docker)

    def run_cmd(self, *argv, stdin=''):
        out = io.StringIO()
        status = cmd.run(['--config-file', self.write('empty.conf', ''),
                          '--heat-params', self.heat_params(
                              ROUTED_SUBNET='10.1.1.0/24',
                              IOVISOR_POLICY_FILE=self.policy_file,
                              IOVISOR_REGISTRY='zookeeper://zk:2181/x'),
                          *argv],
                         node_factory=self.node.factory,
                         stdin=io.StringIO(stdin), stdout=out)
        return status, out.getvalue()

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def test_boot(self):
        self.assertEqual((0, ''), self.run_cmd())
        self.assertEqual(policy_model.parse(SEED), self.dataplane.current)
        self.assertEqual('iovisor', self.docker.created[0][0])

    def test_a_cluster_policy_wins_at_boot(self):
        self.dataplane.current = policy_model.parse('1>2')
        self.node.cluster_policy = True
        self.assertEqual((0, ''), self.run_cmd())
        self.assertEqual(policy_model.parse('1>2'), self.dataplane.current)
        self.assertEqual('iovisor', self.docker.created[0][0])

    def test_a_cluster_policy_refuses_a_deployment(self):
        self.dataplane.current = policy_model.parse('1>2')
        self.node.cluster_policy = True
        status, out = self.run_cmd('--heat-config', stdin=json.dumps({
            'inputs': [{'name': 'iovisor_policy', 'value': '7>8'}]}))
        self.assertEqual(1, status)
        self.assertIn('a cluster policy is in force',
                      json.loads(out)['deploy_stderr'])
        self.assertEqual(policy_model.parse('1>2'), self.dataplane.current)

    def test_no_cluster_without_zookeeper(self):
        conf = cmd.load_config(cmd.parse_args(
            ['--config-file', self.write('local.conf',
                                         '[registry]\nbackend = local\n')]))
        self.assertFalse(cmd.Node(conf).cluster_policy_in_force())

    def test_unreachable_zookeeper_is_no_answer(self):
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        conf = cmd.load_config(cmd.parse_args(
            ['--config-file', self.write('zk.conf', (
                '[registry]\nbackend = zookeeper\nhosts = 127.0.0.1:%d\n'
                'connect_timeout = 0.5\n' % port))]))
        self.assertRaisesRegex(
            bootstrap.BootstrapError, 'cannot tell whether a cluster policy '
            'is in force, so the policy in force is left as it is',
            cmd.Node(conf).cluster_policy_in_force)

    def test_the_cluster_check_and_the_write_are_under_one_lock(self):
        self.assertEqual((0, ''), self.run_cmd())
        self.assertTrue(self.node.checked_under_lock)
        self.assertFalse(self.node.holding)

    def test_bad_policy_fails_with_a_clear_message(self):
        self.dataplane.current = policy_model.parse('1>2')
        self.write('iovisor-policy.json', '{"rules": [{"src": 1}]}')
        self.assertEqual((1, ''), self.run_cmd())
        self.assertIn("bad policy, nothing changed (the previous policy, or "
                      "default deny, stays): %s: rule 1: missing 'dst'"
                      % self.policy_file, self.log())
        self.assertEqual(policy_model.parse('1>2'), self.dataplane.current)

    def test_missing_heat_params_fails(self):
        status = cmd.run(['--config-file', self.write('empty.conf', ''),
                          '--heat-params', os.path.join(self.dir, 'none')],
                         node_factory=self.node.factory)
        self.assertEqual(1, status)
        self.assertIn('cannot read Heat parameters', self.log())

    def test_write_config(self):
        drop_in = os.path.join(self.dir, 'd', 'heat-params.conf')
        self.write('empty.conf', '[bootstrap]\nconfig_drop_in = %s\n'
                   % drop_in)
        status = cmd.run(['--config-file', os.path.join(self.dir,
                                                        'empty.conf'),
                          '--heat-params', self.heat_params(
                              ROUTED_SUBNET='10.1.1.0/24',
                              IOVISOR_REGISTRY='zookeeper://zk:2181/x'),
                          '--write-config'], node_factory=self.node.factory)
        self.assertEqual(0, status)
        with open(drop_in) as conf:
            self.assertIn('hosts = zk:2181\nroot = /x\n', conf.read())
        self.assertEqual([], self.dataplane.writes)

    def test_software_deployment_from_stdin(self):
        self.dataplane.current = policy_model.parse(SEED)
        status, out = self.run_cmd('--heat-config', stdin=json.dumps({
            'inputs': [{'name': 'iovisor_policy', 'value': '100<>0 7>8'}]}))
        self.assertEqual(0, status)
        answer = json.loads(out)
        self.assertEqual(0, answer['deploy_status_code'])
        self.assertIn('1 written, 3 removed', answer['deploy_stdout'])
        self.assertEqual(policy_model.parse('100<>0 7>8'),
                         self.dataplane.current)
        with open(self.policy_file) as kept:
            self.assertEqual(policy_model.parse('100<>0 7>8'),
                             policy_model.parse(kept.read()))
        self.assertEqual([], self.docker.created)

    def test_software_deployment_from_file_with_bad_policy(self):
        self.dataplane.current = policy_model.parse(SEED)
        path = self.write('deployment.json', json.dumps({
            'inputs': [{'name': 'iovisor_policy', 'value': '100>x'}]}))
        status, out = self.run_cmd('--heat-config', path)
        self.assertEqual(1, status)
        answer = json.loads(out)
        self.assertEqual(1, answer['deploy_status_code'])
        self.assertIn("rule 1 ('100>x')", answer['deploy_stderr'])
        self.assertIn('the policy in force is unchanged', self.log())
        self.assertEqual(policy_model.parse(SEED), self.dataplane.current)
        with open(self.policy_file) as kept:
            self.assertEqual(policy_model.parse(SEED),
                             policy_model.parse(kept.read()))

    def test_software_deployment_not_json(self):
        status, out = self.run_cmd('--heat-config', stdin='{oops')
        self.assertEqual(1, status)
        self.assertIn('not JSON', json.loads(out)['deploy_stderr'])


class MesosAgentEnvTest(BootstrapTest):
    def test_agent_env_from_the_templates_keys(self):
        env = mesos_agent.agent_env({'MESOS_MASTERS': '10.0.0.5,10.0.0.6:2182',
                                     'IOVISOR_DOCKER_NETWORK': 'tenant-a'})
        self.assertEqual('zk://10.0.0.5:2181,10.0.0.6:2182/mesos',
                         env['MESOS_MASTER'])
        self.assertEqual('docker,mesos', env['MESOS_CONTAINERIZERS'])
        self.assertEqual('docker_network:tenant-a', env['MESOS_ATTRIBUTES'])
        self.assertEqual('5mins', env['MESOS_EXECUTOR_REGISTRATION_TIMEOUT'])

    def test_masters_missing_names_the_key(self):
        error = self.assertRaises(bootstrap.BootstrapError,
                                  mesos_agent.agent_env,
                                  {'MESOS_MASTERS_IPS': '10.0.0.5'})
        self.assertIn('MESOS_MASTERS is missing', str(error))

    def test_command_writes_the_environment_file(self):
        out = os.path.join(self.dir, 'run', 'env')
        status = cmd.run(['--config-file', self.write('empty.conf', ''),
                          '--heat-params', self.heat_params(
                              MESOS_MASTERS='10.0.0.5',
                              MESOS_AGENT_ATTRIBUTES='rack:a'),
                          '--mesos-agent-env', out],
                         node_factory=Node(None, None).factory)
        self.assertEqual(0, status)
        with open(out) as env:
            lines = env.read().splitlines()
        self.assertIn('MESOS_MASTER=zk://10.0.0.5:2181/mesos', lines)
        self.assertIn("MESOS_ATTRIBUTES='rack:a;docker_network:iovisor'",
                      lines)


class KeyTableTest(testtools.TestCase):
    def test_defaults_come_from_the_table(self):
        self.assertEqual('ipvlan', heat_params.value({}, 'IOVISOR_MODE'))
        self.assertEqual('macvlan', heat_params.value(
            {'IOVISOR_MODE': ' macvlan '}, 'IOVISOR_MODE'))
        self.assertRaises(bootstrap.BootstrapError, heat_params.value, {},
                          'MESOS_MASTERS')

    def test_roles(self):
        self.assertIn('ROUTED_SUBNET', heat_params.keys('slave'))
        self.assertNotIn('ROUTED_SUBNET', heat_params.keys('master'))
        self.assertIn('MESOS_MASTERS', heat_params.keys('master'))
        self.assertNotIn('IOVISOR_DOCKER_NETWORK',
                         heat_params.keys('slave', written=True))
