"""tox -e bay: a bay in a box, booted from the same elements as the image.

Two slaves are VMs of the image tox -e image builds (qemu, TCG) on a
bridge in a network namespace the test owns; the master's part, ZooKeeper
(Debian's), runs in that namespace at the master's address (a third guest
under TCG would not fit CI's time). Each slave's user_data is what the
real Heat engine renders from heat-templates/ for that node
(tests/heat/offline.py), handed to cloud-init on a NoCloud seed disk:
nothing else writes heat-params. Containers are real (busybox imported
offline), on the ``iovisor`` network in the seed's mode, ipvlan on eth0.

The tests run in order on one bay: the seed's matrix across slaves, a
stack update through os-collect-config and heat-config, a bad update, a
reboot, and a slave whose user_data carries a bad policy.
"""

import json
import os
import subprocess
import sys
import threading
import time

import fixtures
import testtools

from magnum_iovisor import policy as policy_model
from tests.bay import bay
from tests.functional import dockerd
from tests.functional import zookeeper
from tests.heat import offline
from tests.heat import test_nodes

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE = os.path.join(os.environ.get('IMAGE_DIR', os.path.join(
    ROOT, '.tox', 'image', 'image')), 'slave')
SIGNAL_PORT = 8000
SLAVE_ADDRESSES = ['10.0.0.10', '10.0.0.11', '10.0.0.12']
BUSYBOX = 'mi-busybox:bay'
# name, slave, group, as in the 2015 walkthrough
CONTAINERS = [('dns', 0, 100), ('web', 0, 100), ('db', 1, 200)]
SEED_MATRIX = [  # src, dst, expected under 100>0 0>100 100>100 100<>200
    ('web', 'db', 'pass'), ('db', 'web', 'pass'), ('dns', 'db', 'pass'),
    ('dns', 'web', 'pass'), ('web', 'master', 'pass'),
    ('master', 'web', 'pass'), ('db', 'master', 'drop'),
    ('master', 'db', 'drop')]
NEW_POLICY = {'rules': [{'src': 100, 'dst': 200}, {'src': 200, 'dst': 100},
                        {'src': 100, 'dst': 100}]}
NEW_MATRIX = [  # under 100<>200 100>100: the outside is cut off
    ('web', 'db', 'pass'), ('db', 'web', 'pass'), ('dns', 'web', 'pass'),
    ('web', 'master', 'drop'), ('master', 'web', 'drop'),
    ('master', 'db', 'drop'), ('db', 'master', 'drop')]
BAD_POLICY = {'rules': [{'src': 100, 'dst': 200}, {'src': 100,
                                                   'dst': 70000}]}


def text(document):
    """A policy document in the text form iovisor-policy export prints."""
    return policy_model.format_text(policy_model.parse(json.dumps(document)))


SEED_TEXT = policy_model.format_text(policy_model.parse(
    test_nodes.SEED_POLICY))


def log(line):
    """To the console (stderr: stdout carries subunit) and the report."""
    sys.stderr.write(line + '\n')
    sys.stderr.flush()
    report = os.environ.get('BAY_REPORT')
    if report:
        with open(report, 'a') as out:
            out.write(line + '\n')


class Heat:
    """The real engine, offline, with the cloud's look-ups faked."""

    def __init__(self):
        offline.start_engine()
        self.cloud = offline.FakeCloud()

    def __enter__(self):
        self.cloud.setUp()
        return self

    def __exit__(self, *exc):
        self.cloud.cleanUp()

    def cluster(self, slaves, **parameters):
        return test_nodes.ClusterTestCase.boot(
            self, masters=1, slaves=slaves,
            environments=['environments/seed-policy.yaml'], **parameters)

    def slave(self, cluster, index, **parameters):
        props = offline.member_properties(cluster, 'slaves', index)
        props.update(parameters)
        stack = offline.load_stack('slave.yaml', parameters=props,
                                   stack_name='slaves-%d' % index)
        stack.validate()
        return stack


class BayTest(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.started = time.monotonic()
        cls.fixtures = []
        try:
            cls._make_bay()
        except Exception:
            cls._tear_down()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._tear_down()
        super().tearDownClass()

    @classmethod
    def _use(cls, fixture):
        fixture.setUp()
        cls.fixtures.append(fixture)
        return fixture

    @classmethod
    def _tear_down(cls):
        while cls.fixtures:
            try:
                cls.fixtures.pop().cleanUp()
            except Exception as exc:   # keep cleaning the rest
                log('cleanup: %s' % exc)

    @classmethod
    def _make_bay(cls):
        cls.workdir = cls._use(fixtures.TempDir()).path
        cls.net = cls._use(bay.Network())
        zk_dir = os.path.join(cls.workdir, 'zookeeper')
        os.makedirs(zk_dir)
        cls.zk = zookeeper.ZooKeeperServer(zk_dir, bay.MASTER, 2181,
                                           netns=cls.net.netns)
        cls._use(fixtures.FunctionFixture(lambda: None,
                                          lambda _: cls.zk.stop()))
        cls.zk.start(timeout=60)
        cls.signals = os.path.join(cls.workdir, 'signals')
        os.makedirs(cls.signals)
        receiver = subprocess.Popen(
            ['ip', 'netns', 'exec', cls.net.netns, sys.executable, '-m',
             'tests.bay.signals', bay.ROUTER, str(SIGNAL_PORT),
             cls.signals], cwd=ROOT)
        cls._use(fixtures.FunctionFixture(
            lambda: None, lambda _: (receiver.terminate(), receiver.wait())))
        # The master serves on its own address, the bay's untagged outside.
        master_www = os.path.join(cls.workdir, 'www')
        os.makedirs(master_www)
        httpd = subprocess.Popen(
            ['ip', 'netns', 'exec', cls.net.netns, dockerd.BUSYBOX, 'httpd',
             '-f', '-p', '%s:80' % bay.MASTER, '-h', master_www])
        cls._use(fixtures.FunctionFixture(
            lambda: None, lambda _: (httpd.terminate(), httpd.wait())))

        # One engine and one fake cloud for the whole bay: the stack
        # updates render the slaves' stacks from the same cluster.
        heat = cls.heat = Heat()
        cls._use(fixtures.FunctionFixture(heat.__enter__,
                                          lambda _: heat.__exit__()))
        cls.cluster_stack = heat.cluster(slaves=3)
        user_data = [
            offline.render_user_data(heat.slave(cls.cluster_stack, i))
            for i in range(2)]
        # The third slave's stack carries a bad policy (its test is the
        # last; it boots along with the others to save a boot).
        user_data.append(offline.render_user_data(heat.slave(
            cls.cluster_stack, 2, iovisor_policy=BAD_POLICY)))
        vms = []
        for index in range(3):
            subnet = '10.1.%d.0/24' % index
            cls.net.route(subnet, SLAVE_ADDRESSES[index])
            vms.append(cls._use(bay.VM(
                cls.net, IMAGE, 'slave-%d' % index, SLAVE_ADDRESSES[index],
                user_data[index], index,
                {'busybox.tar': dockerd.busybox_rootfs()})))
        cls.slaves, cls.bad_slave = vms[:2], vms[2]
        cls.boot_times = {}
        for vm in cls.slaves:
            cls._wait_booted(vm)
        cls.addresses = {'master': bay.MASTER}
        for name, index, group in CONTAINERS:
            vm = cls.slaves[index]
            cls.addresses[name] = cls._run_container(vm, name, group)
            if vm.name not in cls.boot_times:
                cls.boot_times[vm.name] = time.monotonic() - vm.started
        cls._wait_learned()
        for vm in cls.slaves:
            log('%s: boot until its first container is enforced: %.0f s '
                '(TCG)' % (vm.name, cls.boot_times[vm.name]))

    @classmethod
    def _wait_booted(cls, vm):
        vm.wait_agent()
        out = vm.check('cloud-init status --wait --long; '
                       'cloud-init status | grep -qx "status: done"',
                       timeout=900)
        # --wait prints a dot a second until it is done
        log('%s: cloud-init (NoCloud seed, Heat-rendered user_data): %s'
            % (vm.name, ' '.join(out.lstrip('.').split())))
        vm.check('systemctl is-active iovisor-bootstrap.service '
                 'iovisor-docker-plugin.service docker.service')
        vm.check('mkdir -p /run/bay-seed && mount -o ro LABEL=CIDATA '
                 '/run/bay-seed && docker import /run/bay-seed/busybox.tar '
                 '%s' % BUSYBOX)

    @classmethod
    def _run_container(cls, vm, name, group):
        vm.check('docker run -d --name %s --restart unless-stopped '
                 '--network iovisor --expose %d/0 %s httpd -f -p 80 -h /'
                 % (name, group, BUSYBOX))
        address = vm.check(
            "docker inspect -f '{{range .NetworkSettings.Networks}}"
            "{{.IPAddress}}{{end}}' %s" % name).strip()
        log('%s: container %s (group %d) at %s on network iovisor '
            '(ipvlan, parent eth0)' % (vm.name, name, group, address))
        return address

    @classmethod
    def _wait_learned(cls, timeout=300):
        """Each slave knows the other's containers (through ZooKeeper)."""
        deadline = time.monotonic() + timeout
        for vm in cls.slaves:
            others = [cls.addresses[name] for name, index, _ in CONTAINERS
                      if cls.slaves[index] is not vm]
            while True:
                out = vm.check('iovisor-policy endpoints -f value')
                if all(address in out for address in others):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError('%s never learned %s:\n%s'
                                         % (vm.name, others, out))
                time.sleep(2)

    # -- probes ---------------------------------------------------------------

    def where(self, name):
        for cname, index, _ in CONTAINERS:
            if cname == name:
                return self.slaves[index]
        return None

    def tcp(self, src, dst):
        address = self.addresses[dst]
        request = 'printf "GET / HTTP/1.0\\r\\n\\r\\n"'
        if src == 'master':
            done = self.net.exec(
                sys.executable, '-c', MASTER_TCP, bay.MASTER, address,
                check=False)
            return 'pass' if 'HTTP/1' in done.stdout else 'drop'
        status, out = self.where(src).run(
            'docker exec %s sh -c \'%s | nc -w 3 %s 80\''
            % (src, request, address), timeout=60)
        return 'pass' if 'HTTP/1' in out else 'drop'

    def ping(self, src, dst):
        address = self.addresses[dst]
        if src == 'master':
            done = self.net.exec('ping', '-c', '1', '-W', '2', '-I',
                                 bay.MASTER, address, check=False)
            return 'pass' if done.returncode == 0 else 'drop'
        status, _ = self.where(src).run(
            'docker exec %s ping -c 1 -W 2 %s' % (src, address), timeout=60)
        return 'pass' if status == 0 else 'drop'

    def check_matrix(self, title, matrix):
        log('%s (expected / TCP seen / ping seen):' % title)
        wrong = []
        for src, dst, expected in matrix:
            seen = (self.tcp(src, dst), self.ping(src, dst))
            log('  %-6s -> %-6s %s / %s / %s%s' % (
                src, dst, expected, seen[0], seen[1],
                '' if seen == (expected, expected) else '   MISMATCH'))
            if seen != (expected, expected):
                wrong.append((src, dst, expected, seen))
        self.assertEqual([], wrong)

    def policies(self):
        return [vm.check('iovisor-policy export').strip()
                for vm in self.slaves]

    # -- stack updates --------------------------------------------------------

    def deploy(self, vm, index, document):
        """Render the update Heat would send; os-collect-config delivers it."""
        stack = self.heat.slave(self.cluster_stack, index,
                                iovisor_policy=document)
        deployment = offline.render_deployment(
            stack, 'policy_deployment', 'UPDATE',
            'http://%s:%d/signal/%s' % (bay.ROUTER, SIGNAL_PORT, vm.name))
        metadata = json.dumps({'deployments': [deployment]})
        before = set(os.listdir(self.signals))
        vm.check("mkdir -p /var/lib/os-collect-config/local-data && "
                 "cat > /var/lib/os-collect-config/local-data/heat.json "
                 "<<'EOF'\n%s\nEOF" % metadata)
        status, out = vm.run(
            'os-collect-config --one-time --force '
            '--local-path /var/lib/os-collect-config/local-data '
            '--command os-refresh-config local 2>&1', timeout=300)
        deadline = time.monotonic() + 60
        while not set(os.listdir(self.signals)) - before:
            if time.monotonic() > deadline:
                raise AssertionError('%s answered nothing; '
                                     'os-collect-config said:\n%s'
                                     % (vm.name, out))
            time.sleep(1)
        name = sorted(set(os.listdir(self.signals)) - before)[0]
        with open(os.path.join(self.signals, name)) as answer:
            return json.load(answer)

    # -- the tests, in order --------------------------------------------------

    def test_1_seed_matrix_across_slaves(self):
        self.assertEqual([SEED_TEXT] * 2, self.policies())
        log('policy in force on both slaves: %s' % self.policies()[0])
        self.check_matrix('seed matrix across slaves', SEED_MATRIX)

    def test_2_stack_update_reaches_both_slaves(self):
        log('policy before the update: %s' % self.policies()[0])
        for index, vm in enumerate(self.slaves):
            answer = self.deploy(vm, index, NEW_POLICY)
            log('%s answered Heat: %s' % (vm.name, json.dumps(answer)))
            self.assertEqual(0, answer['deploy_status_code'])
            self.assertIn('policy in force: %s' % text(NEW_POLICY),
                          answer['deploy_stdout'])
        self.assertEqual([text(NEW_POLICY)] * 2, self.policies())
        log('policy after the update: %s' % self.policies()[0])
        self.check_matrix('matrix after the update', NEW_MATRIX)

    def test_3_bad_update_keeps_the_policy(self):
        before = self.policies()
        for index, vm in enumerate(self.slaves):
            answer = self.deploy(vm, index, BAD_POLICY)
            log('%s answered Heat: %s' % (vm.name, json.dumps(answer)))
            self.assertNotEqual(0, answer['deploy_status_code'])
            self.assertIn('rule 2', answer['deploy_stdout']
                          + answer['deploy_stderr'])
            self.assertIn('70000', answer['deploy_stdout']
                          + answer['deploy_stderr'])
        self.assertEqual(before, self.policies())
        log('bad update refused; policy stays: %s' % before[0])

    def test_4_reboot_restores_enforcement(self):
        vm = self.slaves[1]
        seen_open = []
        stop = threading.Event()

        def probe():
            # master -> db is denied by the policy in force throughout
            while not stop.is_set():
                if self.tcp('master', 'db') == 'pass':
                    seen_open.append(time.monotonic())
                time.sleep(0.5)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            started = time.monotonic()
            try:
                vm.run('systemctl reboot', timeout=30)
            except (OSError, ValueError, bay.guest_agent.AgentError):
                pass   # the agent may go down before it answers
            time.sleep(10)
            type(self)._wait_rebooted(vm)
            address = vm.check(
                "docker inspect -f '{{range .NetworkSettings.Networks}}"
                "{{.IPAddress}}{{end}}' db").strip()
            self.addresses['db'] = address
            type(self)._wait_learned()
            log('%s rebooted: db back at %s after %.0f s (Docker restart '
                'policy)' % (vm.name, address, time.monotonic() - started))
        finally:
            stop.set()
            prober.join()
        self.assertEqual([], seen_open, 'master -> db was open during the '
                         'reboot')
        self.check_matrix('matrix after the reboot of %s' % vm.name,
                          NEW_MATRIX)
        log('reboot: denied paths stayed closed throughout')

    @classmethod
    def _wait_rebooted(cls, vm, timeout=900):
        vm.wait_agent(timeout)
        deadline = time.monotonic() + timeout
        while True:
            status, out = vm.run(
                'systemctl is-active iovisor-bootstrap.service && '
                'test "$(docker inspect -f {{.State.Running}} db)" = true')
            if status == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError('%s: not back: %s' % (vm.name, out))
            time.sleep(3)

    def test_5_slave_with_a_bad_policy_fails_visibly(self):
        vm = self.bad_slave
        vm.wait_agent()
        status, out = vm.run('cloud-init status --wait --long', timeout=900)
        log('slave-2 (bad policy) cloud-init: %s'
            % ' '.join(out.lstrip('.').split()))
        self.assertIn('status: error', out)
        journal = vm.check('journalctl -b -o cat -u iovisor-bootstrap '
                           '--no-pager; tail -n 20 '
                           '/var/log/cloud-init-output.log')
        log('slave-2 journal: %s' % ' | '.join(
            line for line in journal.splitlines() if 'rule' in line))
        self.assertIn('70000', journal)
        self.assertIn('rule 2', journal)
        status, _ = vm.run('systemctl is-active iovisor-bootstrap.service')
        self.assertNotEqual(0, status)
        vm.check('mkdir -p /run/bay-seed && mount -o ro LABEL=CIDATA '
                 '/run/bay-seed && docker import /run/bay-seed/busybox.tar '
                 '%s' % BUSYBOX)
        status, out = vm.run('docker run -d --name rogue --network iovisor '
                             '--expose 300/0 %s sleep 600' % BUSYBOX)
        log('slave-2: docker run on the iovisor network: exit %d: %s'
            % (status, out.strip()))
        self.assertNotEqual(0, status)
        # the other slaves go on as before
        self.check_matrix('matrix with slave-2 failed', NEW_MATRIX)


MASTER_TCP = '''
import socket, sys
s = socket.socket()
s.settimeout(3)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], 80))
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    print(s.recv(64).decode(errors="replace"))
except OSError as exc:
    print("no:", exc)
'''
