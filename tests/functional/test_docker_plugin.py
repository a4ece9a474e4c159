"""``iovisor-docker-plugin`` under a real dockerd, with real containers.

Each class starts its own dockerd (own data and exec roots) and its own
daemon on a unique socket, so the driver name is unique too.
"""

import concurrent.futures
import json
import os
import random
import subprocess
import sys
import uuid

from oslo_config import cfg
import testtools

from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
from magnum_iovisor.dataplane import tcx
from magnum_iovisor import policy
from tests.functional import dockerd
from tests.functional import plugin_daemon
from tests.functional import seed


class DockerPluginTestCase(testtools.TestCase):
    mode = 'veth'
    plugin_options = {}      # more PluginDaemon options for a test class

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dockerd = dockerd.Dockerd()
        cls.dockerd.setUp()
        cls.addClassCleanup(cls.dockerd.cleanUp)
        cls.image = cls.dockerd.import_busybox('mi-busybox:test')
        cls.plugin = plugin_daemon.PluginDaemon(default_mode=cls.mode,
                                                **cls.plugin_options)
        cls.plugin.setUp()
        cls.addClassCleanup(cls.plugin.cleanUp)

    def setUp(self):
        super().setUp()
        self.prefix = 'mi-' + uuid.uuid4().hex[:6]
        self.addOnException(self._attach_logs)

    def _attach_logs(self, exc_info):
        self.addDetailUniqueName('plugin.log', testtools.content.text_content(
            self.plugin.log_tail(80)))
        self.addDetailUniqueName('dockerd.log', testtools.content.text_content(
            self.dockerd.log_tail(40)))

    def open_dataplane(self, plugin=None):
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', (plugin or self.plugin).pin_dir,
                          'dataplane')
        dataplane = Dataplane(conf.dataplane)
        self.addCleanup(dataplane.close)
        return dataplane

    def site(self, mode=None):
        return self.useFixture(seed.SeedSite(self.dockerd, self.plugin.name,
                                             mode or self.mode))

    def load_seed_policy(self):
        self.open_dataplane().replace_policy(
            policy.parse_text(seed.SEED_POLICY))

    def assertSeedMatrix(self, site, hosts):
        expected = seed.expected_matrix()
        seen = seed.seen_matrix(site, hosts)
        self.assertEqual(expected, seen,
                         '\n' + seed.format_matrix(expected, seen))

    def groups_by_address(self):
        return {address: group for address, group, _
                in self.open_dataplane().endpoints()}

    def links(self):
        return subprocess.run(['ip', '-o', 'link'], capture_output=True,
                              text=True, check=True).stdout

    def assertNothingLeft(self, site, endpoints, addresses):
        """No link, map entry or state file of these endpoints remains."""
        links = self.links()
        for endpoint in endpoints:
            for prefix in ('iv', 'ic', 'im'):
                self.assertNotIn(' %s%s' % (prefix, endpoint[:11]), links)
        tagged = self.groups_by_address()
        for address in addresses:
            self.assertNotIn(address, tagged)
        files = set(self.plugin.state_files())
        self.assertEqual([], [e for e in endpoints
                              if 'endpoints/%s.json' % e in files])


class SeedMatrixTest(DockerPluginTestCase):
    """The seed's reachability with real containers, both tagging styles."""

    def _test_seed(self, tagging):
        site = self.site()
        self.load_seed_policy()
        hosts = seed.start_seed(site, self.image, self.prefix, tagging)
        tagged = self.groups_by_address()
        for role, group in seed.CONTAINERS.items():
            self.assertEqual(group, tagged.get(hosts[role][1]), role)
        self.assertSeedMatrix(site, hosts)

    def test_seed_matrix_expose(self):
        self._test_seed('expose')

    def test_seed_matrix_driver_opt(self):
        self._test_seed('driver-opt')


class MacvlanSeedMatrixTest(SeedMatrixTest):
    mode = 'macvlan'

    def test_programs_are_inside_the_sandbox(self):
        site = self.site()
        name = self.prefix + '-db'
        site.run_container(name, self.image, 200)
        endpoint = site.endpoint_id(name)
        pid = self.dockerd.docker('inspect', '-f', '{{.State.Pid}}',
                                  name).stdout.strip()
        status, reply = self.plugin.request(
            'NetworkDriver.EndpointOperInfo', json.dumps(
                {'NetworkID': self.network_id(site),
                 'EndpointID': endpoint}).encode())
        self.assertEqual(200, status, reply)
        self.assertEqual('macvlan', reply['Value']['mode'])
        # tcx links (dataplane/tcx.py), attached before Docker moved it
        inside = subprocess.run(
            ['nsenter', '-t', pid, '-n', 'ip', '-o', 'link', 'show', 'eth0'],
            capture_output=True, text=True, check=True).stdout.split(':')[0]
        for hook in ('egress', 'ingress'):
            self.assertEqual(int(inside), tcx.ifindex(
                self.plugin.pin_dir, endpoint, hook))

    def network_id(self, site):
        return self.dockerd.docker('network', 'inspect', '-f', '{{.Id}}',
                                   site.network).stdout.strip()


class GroupSelectionTest(DockerPluginTestCase):
    """Driver option, then --expose N/0, then the network's default."""

    def default_network(self, group):
        net = 'mi-def-' + uuid.uuid4().hex[:8]
        self.dockerd.docker('network', 'create', '-d', self.plugin.name,
                            '--subnet', str(seed.free_subnets()[0]),
                            '-o', 'iovisor.group=%d' % group, net)
        self.addCleanup(self.dockerd.docker, 'network', 'rm', net,
                        check=False)
        return net

    def run_on(self, net, suffix, *args, check=True):
        name = '%s-%s' % (self.prefix, suffix)
        self.addCleanup(self.dockerd.docker, 'rm', '-f', name, check=False)
        result = self.dockerd.docker('run', '-d', '--name', name, *args,
                                     self.image, 'sleep', '3600',
                                     check=check)
        if check:
            return self.dockerd.address(name, net)
        return result

    def test_first_match_wins(self):
        net = self.default_network(42)
        opt = 'name=%s,driver-opt=iovisor.group=%d'
        plain = self.run_on(net, 'plain', '--network', net)
        exposed = self.run_on(net, 'exposed', '--network', net,
                              '--expose', '300/0', '--expose', '80/tcp')
        opted = self.run_on(net, 'opted', '--network', opt % (net, 7))
        same = self.run_on(net, 'same', '--network', opt % (net, 9),
                           '--expose', '9/0')
        groups = self.groups_by_address()
        self.assertEqual([42, 300, 7, 9], [groups.get(a) for a in
                                           (plain, exposed, opted, same)])

    def test_two_groups_for_one_container_fail(self):
        net = self.default_network(0)
        result = self.run_on(
            net, 'clash', '--network',
            'name=%s,driver-opt=iovisor.group=100' % net, '--expose',
            '200/0', check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('conflicting groups', result.stderr)
        self.assertIn('--expose 200/0', result.stderr)

    def test_bad_network_options_are_refused(self):
        subnet = str(seed.free_subnets()[0])
        for options, message in (
                (['-o', 'iovisor.mode=tunnel'], 'iovisor.mode=tunnel'),
                (['-o', 'iovisor.mode=macvlan', '-o',
                  'iovisor.parent=mi-nonexistent0'], 'no such interface'),
                (['-o', 'iovisor.mode=macvlan'], 'needs a parent'),
                (['-o', 'iovisor.group=70000'], 'out of range'),
                (['-o', 'iovisor.gruop=1'], 'iovisor.gruop')):
            result = self.dockerd.docker(
                'network', 'create', '-d', self.plugin.name, '--subnet',
                subnet, *options, 'mi-bad-' + uuid.uuid4().hex[:8],
                check=False)
            self.assertNotEqual(0, result.returncode, options)
            self.assertIn(message, result.stderr)


class DualStackTest(DockerPluginTestCase):
    """``docker network create --ipv6``: both families, the same rules."""

    POLICY = '100>200'    # web may open connections to db, nothing else

    def dual_stack_network(self):
        net = 'mi-v6-' + uuid.uuid4().hex[:8]
        subnet6 = 'fd00:%x:%x::/64' % (
            random.getrandbits(16), random.getrandbits(16))
        self.dockerd.docker('network', 'create', '-d', self.plugin.name,
                            '--ipv6', '--subnet', str(seed.free_subnets()[0]),
                            '--subnet', subnet6, '-o',
                            'iovisor.mode=' + self.mode, net)
        self.addCleanup(self.dockerd.docker, 'network', 'rm', net,
                        check=False)
        return net

    def run_on(self, net, role, group):
        name = '%s-%s' % (self.prefix, role)
        self.addCleanup(self.dockerd.docker, 'rm', '-f', name, check=False)
        self.dockerd.docker('run', '-d', '--name', name, '--network', net,
                            '--expose', '%d/0' % group, self.image, 'sleep',
                            '3600')
        addresses = self.dockerd.docker(
            'inspect', '-f', '{{with index .NetworkSettings.Networks "%s"}}'
            '{{.IPAddress}} {{.GlobalIPv6Address}}{{end}}' % net,
            name).stdout.split()
        self.assertEqual(2, len(addresses), addresses)
        return name, addresses

    def ping(self, source, address):
        return self.dockerd.docker('exec', source, 'ping', '-c', '1', '-W',
                                   str(seed.PING_WAIT), address,
                                   check=False).returncode == 0

    def test_ipv6_is_enforced_like_ipv4(self):
        net = self.dual_stack_network()
        self.open_dataplane().replace_policy(policy.parse_text(self.POLICY))
        web, web_addresses = self.run_on(net, 'web', 100)
        db, db_addresses = self.run_on(net, 'db', 200)
        other, _ = self.run_on(net, 'other', 300)
        tagged = self.groups_by_address()
        self.assertEqual([100, 100, 200, 200],
                         [tagged.get(a) for a in web_addresses + db_addresses])
        for family in (0, 1):
            self.assertTrue(self.ping(web, db_addresses[family]))
            self.assertFalse(self.ping(db, web_addresses[family]))
            self.assertFalse(self.ping(other, db_addresses[family]))
        self.dockerd.docker('rm', '-f', web)
        tagged = self.groups_by_address()
        self.assertEqual([], [a for a in web_addresses if a in tagged])


class ConcurrencyTest(DockerPluginTestCase):
    COUNT = 20

    def test_twenty_at_once_then_nothing_left(self):
        site = self.site()
        names = ['%s-%02d' % (self.prefix, n) for n in range(self.COUNT)]
        wanted = {name: 100 + n % 4 for n, name in enumerate(names)}

        def start(item):
            n, name = item
            tagging = seed.TAGGINGS[n % 2]
            return name, site.run_container(name, self.image, wanted[name],
                                            tagging)

        with concurrent.futures.ThreadPoolExecutor(self.COUNT) as pool:
            addresses = dict(pool.map(start, enumerate(names)))
        tagged = self.groups_by_address()
        self.assertEqual(wanted, {name: tagged.get(address)
                                  for name, address in addresses.items()})
        endpoints = [site.endpoint_id(name) for name in names]
        self.assertEqual(self.COUNT, len(set(endpoints)))
        links = self.links()
        for endpoint in endpoints:
            self.assertIn(' iv%s' % endpoint[:11], links)
        self.dockerd.docker('rm', '-f', *names)
        self.assertNothingLeft(site, endpoints, addresses.values())


class RestartTest(DockerPluginTestCase):
    """The daemon killed, dockerd restarted: nothing is lost."""

    def test_kill_9_keeps_enforcing_and_cleans_up_later(self):
        site = self.site()
        self.load_seed_policy()
        hosts = seed.start_seed(site, self.image, self.prefix)
        self.plugin.kill()
        self.assertSeedMatrix(site, hosts)

        self.plugin.start()
        self.assertSeedMatrix(site, hosts)
        late = site.run_container(self.prefix + '-late', self.image, 100)
        self.assertTrue(site.ping(hosts['dns'][0], late))
        self.assertFalse(site.ping(hosts['db'][0], site.outside_address))

        old = [hosts[role][0] for role in seed.CONTAINERS]
        endpoints = [site.endpoint_id(name) for name in old]
        self.dockerd.docker('rm', '-f', *old)
        self.assertNothingLeft(site, endpoints,
                               [hosts[role][1] for role in seed.CONTAINERS])
        self.assertEqual(100, self.groups_by_address().get(late))

    def test_dockerd_restart_keeps_the_network(self):
        site = self.site()
        self.load_seed_policy()
        restart = ('--restart', 'always', '--stop-timeout', '1')
        hosts = {}
        for role, group in seed.CONTAINERS.items():
            name = '%s-%s' % (self.prefix, role)
            site.run_container(name, self.image, group, extra=restart)
            hosts[role] = (name, None)
        self.dockerd.restart()
        for role, (name, _) in hosts.items():
            hosts[role] = (name, self.dockerd.address(name, site.network))
        hosts[seed.OUTSIDE] = (None, site.outside_address)
        self.assertSeedMatrix(site, hosts)
        late = site.run_container(self.prefix + '-late', self.image, 200)
        self.assertTrue(site.ping(hosts['web'][0], late))
        self.assertFalse(site.ping(None, late))


class RawRequestTest(testtools.TestCase):
    """Whatever arrives on the socket is answered {"Err"}; serving goes on."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plugin = plugin_daemon.PluginDaemon()
        cls.plugin.setUp()
        cls.addClassCleanup(cls.plugin.cleanUp)

    def assertErr(self, method, body, *fragments, status=500):
        got, reply = self.plugin.request(method, body)
        self.assertEqual(status, got, reply)
        self.assertEqual(['Err'], list(reply))
        for fragment in fragments:
            self.assertIn(fragment, reply['Err'])
        status, reply = self.plugin.request(
            'NetworkDriver.GetCapabilities', b'null')
        self.assertEqual((200, 'local'), (status, reply['Scope']))

    def test_malformed_json(self):
        self.assertErr('NetworkDriver.CreateNetwork', b'{"NetworkID": ',
                       'not valid JSON')

    def test_missing_fields(self):
        self.assertErr('NetworkDriver.Join',
                       json.dumps({'NetworkID': 'n1',
                                   'EndpointID': 'e1'}).encode(),
                       "'SandboxKey' is a required property")
        self.assertErr('NetworkDriver.CreateNetwork',
                       json.dumps({'NetworkID': 'n1'}).encode(),
                       'IPv4Data')

    def test_unknown_endpoint(self):
        for method in ('Join', 'Leave', 'DeleteEndpoint',
                       'EndpointOperInfo'):
            body = {'NetworkID': 'n1', 'EndpointID': 'e' * 64,
                    'SandboxKey': '/nonexistent'}
            self.assertErr('NetworkDriver.' + method,
                           json.dumps(body).encode(), 'unknown endpoint')
        self.assertErr('NetworkDriver.CreateEndpoint', json.dumps(
            {'NetworkID': 'n' * 64, 'EndpointID': 'e' * 64}).encode(),
            'unknown network')

    def test_wrong_types(self):
        self.assertErr('NetworkDriver.CreateEndpoint', json.dumps(
            {'NetworkID': 'n1', 'EndpointID': 5}).encode(),
            'EndpointID', "not of type 'string'")
        self.assertErr('NetworkDriver.CreateEndpoint', json.dumps(
            {'NetworkID': 'n1', 'EndpointID': 'e1', 'Options': {
                'com.docker.network.endpoint.exposedports': [
                    {'Proto': 0, 'Port': 'a lot'}]}}).encode(), 'Port')
        self.assertErr('NetworkDriver.Leave', b'[1, 2]', 'not of type')
        self.assertErr('NetworkDriver.DeleteNetwork', json.dumps(
            {'NetworkID': '../../etc/passwd'}).encode(), 'NetworkID')

    def test_ten_megabyte_body(self):
        body = b'{"NetworkID": "' + b'x' * (10 << 20) + b'"}'
        self.assertErr('NetworkDriver.CreateNetwork', body, 'larger than')

    def test_unknown_method(self):
        # 404 tells Docker the driver does not implement the call
        self.assertErr('NetworkDriver.Teleport', b'{}', 'Not Found',
                       status=404)

    def test_live_socket_is_kept_stale_one_replaced(self):
        result = subprocess.run(
            [sys.executable, '-m', 'magnum_iovisor.cmd.docker_plugin',
             '--config-file', self.plugin.config_file],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(1, result.returncode)
        self.assertIn('another daemon serves', result.stdout + result.stderr)
        self.assertEqual(0o600, os.stat(self.plugin.socket).st_mode & 0o777)

        crashed = self.useFixture(plugin_daemon.PluginDaemon())
        crashed.kill()
        self.assertTrue(os.path.exists(crashed.socket))
        crashed.start()
        status, reply = crashed.request('Plugin.Activate', b'null')
        self.assertEqual((200, {'Implements': ['NetworkDriver']}),
                         (status, reply))
