"""No packet before the filters, and no way around them (issue 14, item 1).

macvlan containers on a veth parent (ipvlan does not exist on this
kernel). The outside namespace counts every ICMP echo request that reaches
it (``Icmp: InEchos`` of its /proc/net/snmp), so a single leaked packet
shows, whether or not an answer could come back.
"""

import concurrent.futures
import fcntl
import ipaddress
import json
import os
import subprocess
import sys
import time
import uuid

import fixtures
import testtools

from magnum_iovisor.dataplane import bypass as bypass_guard
from magnum_iovisor.plugin import sandbox
from tests.functional import cluster
from tests.functional import plugin_daemon
from tests.functional import seed
from tests.functional import test_docker_plugin
from tests.functional import test_metrics
from tests.functional import topology

POLICY = '100>0 0>100'       # 100 may reach the outside; 300 may not
ALLOWED, DENIED = 100, 300
STARTS, AT_ONCE = 50, 20
SANDBOX_WAIT = '2'        # [docker] sandbox_timeout, seconds
# a process that names itself as runc's init does while it waits
RUNC_INIT_STAND_IN = ('import time\n'
                      'with open("/proc/self/comm", "w") as comm:\n'
                      '    comm.write(%r)\n'
                      'time.sleep(600)\n' % sandbox.RUNC_INIT)
RAW_SENDER = os.path.join(os.path.dirname(__file__), 'raw_sender.py')
BYPASS_LOCK = '/run/lock/magnum-iovisor-tests-bypass'

FAULTY_DAEMON = '''
import sys

import testtools
from magnum_iovisor.dataplane import libbpf, tcx
real_attach = tcx.attach
def attach(pin_dir, programs, ifindex, key, *args):
    if key.startswith('parent@'):
        return real_attach(pin_dir, programs, ifindex, key, *args)
    raise libbpf.BpfError(1, 'injected attach fault')
tcx.attach = attach
from magnum_iovisor.cmd import docker_plugin
sys.exit(docker_plugin.main(sys.argv[1:]))
'''


def in_echos(site):
    lines = [line.split() for line in site.nsexec(
        'cat', '/proc/net/snmp').stdout.splitlines()
        if line.startswith('Icmp:')]
    return int(lines[1][lines[0].index('InEchos')])


class FirstPacketTest(test_docker_plugin.DockerPluginTestCase):
    mode = 'macvlan'

    def setUp(self):
        super().setUp()
        self.site_ = self.site()
        self.open_dataplane().replace_policy(seed.policy.parse_text(POLICY))

    def first_act_ping(self, name, group):
        """``docker run`` whose first instruction pings the outside."""
        self.addCleanup(self.dockerd.docker, 'rm', '-f', name, check=False)
        return self.dockerd.docker(
            'run', '--name', name, '--network', self.site_.network,
            '--expose', '%d/0' % group, self.image, 'ping', '-c', '1',
            '-W', '1', self.site_.outside_address, check=False)

    def test_first_packet_of_a_denied_container_never_passes(self):
        before = in_echos(self.site_)
        self.assertEqual(0, self.first_act_ping(self.prefix + '-ok',
                                                ALLOWED).returncode)
        self.assertEqual(before + 1, in_echos(self.site_),
                         'the allowed control ping was not counted')
        before = in_echos(self.site_)
        with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
            results = list(pool.map(
                lambda i: self.first_act_ping('%s-%d' % (self.prefix, i),
                                              DENIED), range(STARTS)))
        # ping's exit status 1: no answer; anything else: did not run
        self.assertEqual([1] * STARTS, [r.returncode for r in results],
                         [r.stderr for r in results if r.returncode != 1])
        self.assertEqual(before, in_echos(self.site_),
                         'echo requests of a denied group reached outside')

    def test_net_admin_cannot_shed_the_filters(self):
        name = self.prefix + '-admin'
        self.site_.run_container(name, self.image, DENIED,
                                 extra=('--cap-add', 'NET_ADMIN'))
        before = in_echos(self.site_)
        script = ('tc qdisc del dev eth0 clsact 2>/dev/null; '
                  'ip link set eth0 down && ip link set eth0 name sneaky0 '
                  '&& ip link set sneaky0 up && '
                  'ip route replace default via %s dev sneaky0; '
                  'ping -c 2 -W 1 %s'
                  % (self.site_.outside_address, self.site_.outside_address))
        result = self.dockerd.docker('exec', name, 'sh', '-c', script,
                                     check=False)
        self.assertIn('sneaky0', self.dockerd.docker(
            'exec', name, 'ip', 'link').stdout)
        self.assertEqual(1, result.returncode, result.stdout + result.stderr)
        self.assertEqual(before, in_echos(self.site_))
        # and the host's tc, in its namespace with every capability
        pid = self.dockerd.docker('inspect', '-f', '{{.State.Pid}}',
                                  name).stdout.strip()
        subprocess.run(['nsenter', '-t', pid, '-n', 'tc', 'qdisc', 'del',
                        'dev', 'sneaky0', 'clsact'], capture_output=True)
        self.assertEqual(1, self.dockerd.docker(
            'exec', name, 'ping', '-c', '1', '-W', '1',
            self.site_.outside_address, check=False).returncode)
        self.assertEqual(before, in_echos(self.site_))


class AttachFaultTest(test_docker_plugin.DockerPluginTestCase):
    """The daemon, with attaching made to fail: docker run fails."""
    mode = 'macvlan'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.metrics_url = 'http://127.0.0.1:%d/metrics' % (
            test_metrics.free_port())
        cls.faulty = FaultyPluginDaemon(
            default_mode='macvlan',
            metrics_listen=cls.metrics_url.split('/')[2])
        cls.faulty.setUp()
        cls.addClassCleanup(cls.faulty.cleanUp)

    def test_run_fails_and_nothing_is_left(self):
        site = self.useFixture(seed.SeedSite(self.dockerd, self.faulty.name,
                                             'macvlan'))
        name = self.prefix + '-faulty'
        self.addCleanup(self.dockerd.docker, 'rm', '-f', name, check=False)
        before = in_echos(site)
        result = self.dockerd.docker(
            'run', '--name', name, '--network', site.network, '--expose',
            '%d/0' % DENIED, self.image, 'ping', '-c', '1', '-W', '1',
            site.outside_address, check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('cannot attach the classifiers', result.stderr)
        self.assertIn('injected attach fault', result.stderr)
        self.assertEqual(before, in_echos(site))
        self.assertEqual('created', self.dockerd.docker(
            'inspect', '-f', '{{.State.Status}}', name).stdout.strip())
        self.assertIn('Join fails', self.faulty.log())
        # none left on this site's parent (other tests' sites have theirs)
        self.assertNotIn('@%s:' % site.host_if, self.links())
        # and the CLI shows it, from another process
        shown = failures_shown(self.faulty)
        self.assertEqual(1, len(shown), shown)
        self.assertEqual('attach', shown[0]['Kind'])
        self.assertIn('injected attach fault', shown[0]['Reason'])
        # and the metrics count it
        samples, _ = test_metrics.scrape(self.metrics_url)
        self.assertEqual(1, samples['iovisor_endpoint_failures_total',
                                    (('kind', 'attach'),)])
        self.assertEqual(0, samples['iovisor_endpoint_failures_total',
                                    (('kind', 'sandbox'),)])


def failures_shown(plugin):
    out = subprocess.run(
        [sys.executable, '-m', 'magnum_iovisor.cmd.policy', 'failures',
         '--config-file', plugin.config_file, '-f', 'json'],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


class SandboxNeverAppearsTest(test_docker_plugin.DockerPluginTestCase):
    """A Join whose sandbox never comes.

    Docker stands in here: the requests are Docker's, sent to the real
    daemon by the test.
    """
    mode = 'macvlan'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.slow = plugin_daemon.PluginDaemon(
            default_mode='macvlan', docker={'sandbox_timeout': SANDBOX_WAIT})
        cls.slow.setUp()
        cls.addClassCleanup(cls.slow.cleanUp)

    def join(self, sandbox_key):
        """A Join to ``sandbox_key`` whose interface Docker never moves."""
        site = self.useFixture(seed.SeedSite(self.dockerd, self.slow.name,
                                             'macvlan'))
        network = self.dockerd.docker('network', 'inspect', '-f', '{{.Id}}',
                                      site.network).stdout.strip()
        address = str(ipaddress.ip_network(site.subnet).network_address + 50)
        endpoint = uuid.uuid4().hex * 2
        ids = {'NetworkID': network, 'EndpointID': endpoint}
        self.slow.call('CreateEndpoint', dict(
            ids, Interface={'Address': address + '/24'},
            Options={'iovisor.group': str(ALLOWED)}))
        self.addCleanup(self.slow.request, 'NetworkDriver.DeleteEndpoint',
                        json.dumps(ids).encode())
        reply = self.slow.call('Join', dict(ids, SandboxKey=sandbox_key))
        self.addCleanup(self.slow.request, 'NetworkDriver.Leave',
                        json.dumps(ids).encode())
        ifname = reply['InterfaceName']['SrcName']
        plane = self.open_dataplane(self.slow)
        # enforced from Join: links on it, in the host namespace
        self.assertIn(ifname, self.links())
        self.assertTrue(plane.linked(endpoint))
        self.assertEqual(ALLOWED, plane.endpoint(address).group)
        return ids, ifname, address, plane

    def failures(self, ids):
        """This endpoint's: both tests share the daemon."""
        return [f for f in failures_shown(self.slow)
                if f['Endpoint'] == ids['EndpointID']]

    def test_a_slow_docker_leaves_it_filtered_until_leave(self):
        ids, ifname, address, plane = self.join(
            '/run/netns/mi-never-' + uuid.uuid4().hex[:8])
        self.assertTrue(cluster.wait_for(
            lambda: 'filtered by its links, still waiting' in self.slow.log(),
            float(SANDBOX_WAIT) + 10))
        self.assertIn('did not arrive in sandbox', self.slow.log())
        # a slow Docker costs the container nothing: all of it stays
        self.assertEqual([], self.failures(ids))
        self.assertIn(ifname, self.links())
        self.assertTrue(plane.linked(ids['EndpointID']))
        self.assertEqual(ALLOWED, plane.endpoint(address).group)
        # Docker's clean-up of a container that never started
        self.slow.call('Leave', ids)
        self.assertNotIn(ifname, self.links())
        self.assertFalse(plane.linked(ids['EndpointID']))
        self.assertIsNone(plane.endpoint(address))

    def tenant(self, *command):
        """A netns with ``command`` running in it; its file."""
        ns = 'mi-alias-' + uuid.uuid4().hex[:8]
        topology.run('ip', 'netns', 'add', ns)
        self.addCleanup(topology.run, 'ip', 'netns', 'del', ns, check=False)
        tenant = subprocess.Popen(['ip', 'netns', 'exec', ns, *command])
        self.addCleanup(tenant.wait)
        self.addCleanup(tenant.kill)
        return topology.netns_file(ns)

    def test_a_container_waiting_for_its_prestart_hook_keeps_it(self):
        # runc's init waits in the sandbox while a slow Docker runs the
        # hook that moves the interface in
        key = self.tenant(sys.executable, '-c', RUNC_INIT_STAND_IN)
        ids, ifname, address, plane = self.join(key)
        self.assertTrue(cluster.wait_for(
            lambda: 'filtered by its links, still waiting' in self.slow.log(),
            float(SANDBOX_WAIT) + 10))
        time.sleep(2 * float(SANDBOX_WAIT) + 2)     # two more expiries
        self.assertEqual([], self.failures(ids))
        self.assertIn(ifname, self.links())
        self.assertEqual(ALLOWED, plane.endpoint(address).group)

    def test_a_running_sandbox_without_it_loses_it(self):
        # a process in the sandbox, and no interface of ours: as if the
        # container had changed its alias there
        ids, ifname, address, plane = self.join(self.tenant('sleep', '600'))
        self.assertTrue(cluster.wait_for(
            lambda: self.failures(ids), 3 * float(SANDBOX_WAIT) + 10))
        shown = self.failures(ids)
        self.assertEqual([('sandbox', ifname)],
                         [(f['Kind'], f['Interface']) for f in shown])
        self.assertIn('did not arrive in sandbox', shown[0]['Reason'])
        # no interface, no address: nothing can use either
        self.assertNotIn(ifname, self.links())
        self.assertFalse(plane.linked(ids['EndpointID']))
        self.assertIsNone(plane.endpoint(address))


class FaultyPluginDaemon(plugin_daemon.PluginDaemon):
    def command(self):
        return [sys.executable, '-c', FAULTY_DAEMON]


class BypassLock(fixtures.Fixture):
    """Turns between tests that set PACKET_QDISC_BYPASS and that refuse it.

    Whether containers may set it is host-wide (dataplane/bypass.py):
    tests that set it (shared) and tests that have it refused (exclusive)
    take turns, across stestr's workers.
    """

    def __init__(self, exclusive):
        super().__init__()
        self.exclusive = exclusive

    def _setUp(self):
        fd = os.open(BYPASS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        self.addCleanup(os.close, fd)      # and so unlocks
        fcntl.flock(fd, fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH)


class RawSenderCase(test_docker_plugin.DockerPluginTestCase):
    """A raw sender (CAP_NET_RAW, in Docker's default set) in a container."""
    mode = 'macvlan'
    refuses_bypass = False

    def setUp(self):
        super().setUp()
        self.useFixture(BypassLock(self.refuses_bypass))
        if self.refuses_bypass:
            # before the lock goes, whatever became of the network
            self.addCleanup(bypass_guard.detach, self.plugin.pin_dir)

    def send_raw(self, site, name, bypass, source=None, refused=False):
        pid = self.dockerd.docker('inspect', '-f', '{{.State.Pid}}',
                                  name).stdout.strip()
        address = source or self.dockerd.address(name, site.network)
        outside_mac = site.nsexec('cat', '/sys/class/net/eth0/address'
                                  ).stdout.strip()
        result = subprocess.run(
            ['nsenter', '-t', pid, '-n', sys.executable, RAW_SENDER,
             'eth0', outside_mac, address, site.outside_address, '20',
             '1' if bypass else '0'], capture_output=True, text=True)
        self.assertEqual(3 if refused else 0, result.returncode,
                         result.stdout + result.stderr)
        self.addDetailUniqueName('raw', testtools.content.text_content(
            '%s bypass=%s: %s' % (name, bypass, result.stdout)))


class RawBypassTest(RawSenderCase):
    """Judged on the parent (from_parent) on this kernel."""

    def test_raw_frames_of_a_denied_container(self):
        site = self.site()
        self.open_dataplane().replace_policy(seed.policy.parse_text(POLICY))
        allowed = self.prefix + '-ok'
        site.run_container(allowed, self.image, ALLOWED)
        before = in_echos(site)
        self.send_raw(site, allowed, bypass=True)
        self.assertEqual(before + 20, in_echos(site), 'control')
        denied = self.prefix + '-no'
        site.run_container(denied, self.image, DENIED)
        for bypass in (False, True):
            before = in_echos(site)
            self.send_raw(site, denied, bypass)
            self.assertEqual(before, in_echos(site),
                             'PACKET_QDISC_BYPASS=%s' % bypass)

    def test_raw_frames_with_a_neighbours_address(self):
        # the parent knows a sandbox only by its namespace (bpf/parent.h)
        site = self.site()
        self.open_dataplane().replace_policy(seed.policy.parse_text(POLICY))
        allowed, denied = self.prefix + '-ok', self.prefix + '-no'
        site.run_container(allowed, self.image, ALLOWED)
        site.run_container(denied, self.image, DENIED)
        neighbour = self.dockerd.address(allowed, site.network)
        self.assertTrue(self.plugin_bound(neighbour))
        before = in_echos(site)
        self.send_raw(site, allowed, bypass=True, source=neighbour)
        self.assertEqual(before + 20, in_echos(site), 'control')
        for bypass in (False, True):
            before = in_echos(site)
            self.send_raw(site, denied, bypass, source=neighbour)
            self.assertEqual(before, in_echos(site),
                             'PACKET_QDISC_BYPASS=%s' % bypass)

    def plugin_bound(self, address):
        plane = self.open_dataplane()
        return cluster.wait_for(lambda: plane.bound(address) is not None, 10)


class BypassGuardTest(RawSenderCase):
    """Refused at setsockopt, whatever the kernel.

    As on kernels whose tc programs cannot ask a packet's namespace (the
    bay image's 6.12; tests/image runs it there).
    """
    refuses_bypass = True
    plugin_options = {'docker': {'qdisc_bypass_guard': 'always'}}

    def test_a_container_cannot_set_qdisc_bypass(self):
        site = self.site()
        self.assertTrue(bypass_guard.attached(self.plugin.pin_dir))
        self.open_dataplane().replace_policy(seed.policy.parse_text(POLICY))
        allowed, denied = self.prefix + '-ok', self.prefix + '-no'
        site.run_container(allowed, self.image, ALLOWED)
        site.run_container(denied, self.image, DENIED)
        before = in_echos(site)
        self.send_raw(site, allowed, bypass=False)
        self.assertEqual(before + 20, in_echos(site), 'control')
        for name in (allowed, denied):
            self.send_raw(site, name, bypass=True, refused=True)
        self.send_raw(site, denied, bypass=False)
        self.assertEqual(before + 20, in_echos(site))
