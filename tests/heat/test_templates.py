"""Every template, environment and fragment, validated by Heat itself."""

import glob
import os

from heat.common import exception
from heatclient.common import template_utils
import yaml

from tests.heat import offline

SEED_POLICY_ENV = 'environments/seed-policy.yaml'
SLAVE_PARAMETERS = dict(
    name='extra-slave', image='ubuntu-mesos', flavor='m1.small',
    ssh_key_name='testkey', network='private', subnet='private-subnet',
    router='router1', security_group='sg', master_ips='10.0.0.3',
    routed_subnet='10.1.9.0/24',
    iovisor_registry='zookeeper://10.0.0.3:2181/magnum-iovisor',
    # joining an existing bay takes that bay's registry secret
    iovisor_registry_secret='K3y' * 8)


class TestValidTemplates(offline.HeatTestCase):

    def test_cluster_with_defaults(self):
        offline.load_stack(parameters={'ssh_key_name': 'testkey'}).validate()

    def test_cluster_of_the_seed(self):
        # Three masters make a ZooKeeper ensemble; the seed had two slaves.
        offline.load_stack(
            environments=[SEED_POLICY_ENV],
            parameters={'ssh_key_name': 'testkey', 'number_of_masters': 3,
                        'number_of_slaves': 2}).validate()

    def test_every_environment(self):
        envs = sorted(glob.glob(offline.template_path('environments/*.yaml')))
        self.assertGreater(len(envs), 0)
        for env in envs:
            offline.load_stack(
                environments=[env],
                parameters={'ssh_key_name': 'testkey',
                            'number_of_slaves': 2}).validate()

    def test_cluster_on_an_existing_network(self):
        offline.load_stack(parameters={
            'ssh_key_name': 'testkey', 'fixed_network': 'private',
            'fixed_subnet': 'private-subnet', 'fixed_router': 'router1',
        }).validate()

    def test_slave_alone(self):
        # Plain Heat can boot a single slave into an existing bay.
        offline.load_stack('slave.yaml',
                           parameters=SLAVE_PARAMETERS).validate()

    def test_master_alone(self):
        self.cloud.add('port', 'port-0')
        offline.load_stack('master.yaml', parameters=dict(
            index=0, name='m0', cluster_name='mesos', image='ubuntu-mesos',
            flavor='m1.small', ssh_key_name='testkey',
            external_network='public', ports='port-0',
            master_ips='10.0.0.3',
            iovisor_registry='zookeeper://10.0.0.3:2181/magnum-iovisor',
            iovisor_registry_secret='K3y' * 8)).validate()

    def test_every_file_is_reachable_from_the_cluster(self):
        # get_file and nested templates, as the client gathers them: no
        # fragment is missing and none is left unused.
        files, _ = template_utils.get_template_contents(
            template_file=offline.template_path('cluster.yaml'))
        used = {url[len('file://'):] for url in files}
        top = offline.TEMPLATES
        shipped = {os.path.realpath(p) for p in
                   glob.glob(os.path.join(top, '*.yaml'))
                   + glob.glob(os.path.join(top, 'fragments', '*'))}
        shipped.discard(offline.template_path('cluster.yaml'))
        self.assertEqual(shipped, used)


class TestRefusedStacks(offline.HeatTestCase):

    def cluster(self, **parameters):
        parameters.setdefault('ssh_key_name', 'testkey')
        return offline.load_stack(parameters=parameters)

    def test_policy_in_text_form_is_not_json(self):
        # Heat takes the JSON document; the text form is for Magnum labels.
        self.assertRefused(self.cluster(iovisor_policy='100>0 0>100'),
                           'iovisor_policy', 'JSON')

    def test_macvlan_is_refused_on_neutron_ports(self):
        self.assertRefused(self.cluster(iovisor_mode='macvlan'),
                           'iovisor_mode', 'macvlan')

    def test_missing_required_parameter(self):
        stack = offline.load_stack(parameters={})
        error = self.assertRaises(exception.UserParameterMissing,
                                  stack.validate)
        self.assertIn('ssh_key_name', str(error))

    def test_unknown_parameter(self):
        # What Magnum passes must be declared, or Heat refuses the stack.
        self.assertRefused(self.cluster(kube_tag='v1.0'), 'kube_tag')

    def test_unknown_image(self):
        self.assertRefused(self.cluster(slave_image='no-such-image'),
                           'no-such-image')

    def test_unknown_keypair(self):
        self.assertRefused(self.cluster(ssh_key_name='nobody'), 'nobody')

    def test_bad_mode(self):
        self.assertRefused(self.cluster(iovisor_mode='bridge'),
                           'iovisor_mode', 'bridge')

    def test_shell_in_a_heat_params_value(self):
        # Values land inside double quotes of a shell-sourced file.
        for name, value in [('iovisor_parent', 'eth0"; reboot; "'),
                            ('iovisor_registry', 'zookeeper://$(reboot)'),
                            ('cluster_name', 'a`reboot`'),
                            ('routed_subnet_prefix', '10.1.2')]:
            self.assertRefused(self.cluster(**{name: value}), name)

    def test_too_many_masters(self):
        self.assertRefused(self.cluster(number_of_masters=8),
                           'number_of_masters')

    def test_bad_property_in_a_nested_template(self):
        url = offline.file_url('slave.yaml')

        def misspell_flavor(template, files):
            slave = yaml.safe_load(files[url])
            server = slave['resources']['server']['properties']
            server['flavour'] = server.pop('flavor')
            files[url] = yaml.safe_dump(slave)

        stack = offline.load_stack(parameters={'ssh_key_name': 'testkey'},
                                   edit=misspell_flavor)
        self.assertRefused(stack, 'flavour')

    def test_missing_fragment(self):
        # Heat checks nested templates' values only at create; the member
        # stacks of test_nodes are validated strictly, like this one.
        url = offline.file_url('fragments/configure-mesos-agent.sh')

        def lose_fragment(template, files):
            del files[url]

        stack = offline.load_stack('slave.yaml', edit=lose_fragment,
                                   parameters=SLAVE_PARAMETERS)
        self.assertRefused(stack, 'configure-mesos-agent.sh')

    def test_policy_that_is_not_a_document(self):
        self.assertRefused(self.cluster(iovisor_policy='{"rules": [1, 2'),
                           'iovisor_policy')
