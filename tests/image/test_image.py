"""The slave image: files in the built image, then a boot in qemu.

``tox -e image`` builds ``$IMAGE_DIR/slave.raw`` first (build.sh). The
boot tests give the guest a NIC (qemu user networking, restricted: nothing
leaves it; its DHCP server answers) and a NoCloud seed disk: cloud-init
writes heat-params, the policy and ``guest-check.sh`` from its user-data,
as it would from Nova's, and runs ``guest-check.sh`` as the last script
of the user-data (cloud-init's final stage comes after multi-user.target,
so the slave's units are done); its verdict comes back on the serial
console, and cloud-init's own status once it has finished.
"""

import email.mime.multipart
import email.mime.text
import filecmp
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import testtools
import yaml

from tests.functional import dockerd
from tests.functional import zookeeper
from tests.image import nocloud

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE_DIR = os.environ.get('IMAGE_DIR', os.path.join(ROOT, '.tox', 'image',
                                                     'image'))
IMAGE = os.path.join(IMAGE_DIR, 'slave')
BOOT_TIMEOUT = 1200   # TCG on a busy 2-core machine

SEED_POLICY = {'rules': [{'src': 100, 'dst': 0}, {'src': 0, 'dst': 100},
                         {'src': 100, 'dst': 100}, {'src': 100, 'dst': 200},
                         {'src': 200, 'dst': 100}]}
# Where the guest reaches ZooKeeper: qemu forwards each connection to it to
# a socat in the network namespace of the test's ZooKeeper, on its loopback
# (tests/functional/zookeeper.py, PrivateZooKeeper). The guest reaches
# nothing else (restrict=on).
REGISTRY = '10.0.2.100:2181'
HEAT_PARAMS = {
    # The seed's mode, on the NIC cloud-init configured by DHCP.
    'IOVISOR_MODE': 'ipvlan',
    'ROUTED_SUBNET': '10.1.1.0/24',
    'IOVISOR_PARENT': 'eth0',
    # the test's own ZooKeeper (Boot: qemu's guestfwd)
    'IOVISOR_REGISTRY': 'zookeeper://%s/iovisor' % REGISTRY,
    'IOVISOR_POLICY_FILE': '/etc/sysconfig/iovisor-policy.json',
    'MESOS_MASTERS': '10.0.0.5,10.0.0.6',
}
FRAGMENTS = os.path.join(ROOT, 'heat-templates', 'fragments')
BOOT_SCRIPT = os.path.join(FRAGMENTS, 'configure-mesos-agent.sh')
DEPLOY_SCRIPT = os.path.join(FRAGMENTS, 'apply-iovisor-policy.sh')
CMDLINE = ' '.join([
    'root=LABEL=cloudimg-rootfs', 'rw', 'console=ttyS0', 'quiet',
    'net.ifnames=0',
    'loglevel=3', 'systemd.show_status=false',
    'systemd.unit=multi-user.target',
    'systemd.mask=systemd-networkd-wait-online.service',
])


def run(*cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True,
                          **kwargs)


class ElementsLintTest(testtools.TestCase):
    def test_dib_lint(self):
        done = subprocess.run(
            ['dib-lint'], cwd=ROOT, capture_output=True, text=True,
            env=dict(os.environ, ELEMENTS_DIR='elements',
                     LIB_DIR='elements'))
        self.assertEqual(0, done.returncode, done.stdout + done.stderr)


class ImageFilesTest(testtools.TestCase):
    """What the elements put into the image, read from a loop mount."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mnt = tempfile.mkdtemp(prefix='iovisor-image-%s-'
                                   % uuid.uuid4().hex[:6])
        cls.addClassCleanup(os.rmdir, cls.mnt)
        run('mount', '-o', 'loop,ro', IMAGE + '.raw', cls.mnt)
        cls.addClassCleanup(run, 'umount', '-d', cls.mnt)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def test_units_installed_and_enabled(self):
        for wants, unit in [('multi-user.target.wants',
                             'iovisor-bootstrap.service'),
                            ('multi-user.target.wants',
                             'iovisor-configure.service'),
                            ('multi-user.target.wants', 'mesos-agent.service'),
                            ('sysinit.target.wants', 'sys-fs-bpf.mount')]:
            self.assertTrue(os.path.isfile(self.path(
                'etc/systemd/system', unit)), unit)
            self.assertTrue(os.path.islink(self.path(
                'etc/systemd/system', wants, unit)), unit)

    def test_bootstrap_runs_between_daemon_and_agent(self):
        with open(self.path('etc/systemd/system/iovisor-bootstrap.service')
                  ) as unit:
            text = unit.read()
        self.assertIn('iovisor-docker-plugin.service', text)
        self.assertIn('Before=mesos-agent.service', text)
        self.assertIn('Type=oneshot', text)
        with open(self.path('etc/systemd/system/mesos-agent.service.d/'
                            'iovisor.conf')) as drop_in:
            self.assertIn('Requires=iovisor-bootstrap.service',
                          drop_in.read())

    def test_package_from_this_tree_in_a_venv_that_sees_bcc(self):
        venv = self.path('opt/magnum-iovisor/venv')
        with open(os.path.join(venv, 'pyvenv.cfg')) as cfg:
            self.assertIn('include-system-site-packages = true', cfg.read())
        self.assertTrue(filecmp.cmp(
            os.path.join(venv, 'share/magnum-iovisor/bpf/classifier.c'),
            os.path.join(ROOT, 'bpf/classifier.c'), shallow=False))
        for tool in ('iovisor-policy', 'iovisor-bootstrap'):
            self.assertEqual('/opt/magnum-iovisor/venv/bin/' + tool,
                             os.readlink(self.path('usr/local/bin', tool)))

    def test_heat_agent_runs_its_phases_with_dib_run_parts(self):
        # os-refresh-config calls dib-run-parts by name, from PATH
        for tool in ('os-collect-config', 'os-refresh-config',
                     'os-apply-config', 'dib-run-parts'):
            self.assertEqual('/opt/heat-agent/venv/bin/' + tool,
                             os.readlink(self.path('usr/local/bin', tool)))
            self.assertTrue(os.path.isfile(self.path(
                'opt/heat-agent/venv/bin', tool)), tool)

    def test_imports_bcc_and_package_in_a_chroot(self):
        done = run('chroot', self.mnt, '/opt/magnum-iovisor/venv/bin/python',
                   '-c', 'import bcc, magnum_iovisor.bootstrap; print("ok")')
        self.assertEqual('ok', done.stdout.strip())

    def test_generated_config(self):
        with open(self.path('etc/magnum-iovisor/magnum-iovisor.conf')) as f:
            text = f.read()
        self.assertIn('[dataplane]', text)
        self.assertIn('[bootstrap]', text)

    def test_headers_of_every_kernel(self):
        releases = os.listdir(self.path('lib/modules'))
        self.assertNotEqual([], releases)
        for release in releases:
            self.assertTrue(os.path.isfile(self.path(
                'usr/src/linux-headers-%s/include/generated/autoconf.h'
                % release)), release)
            self.assertEqual('/usr/src/linux-headers-%s' % release,
                             os.readlink(self.path('lib/modules', release,
                                                   'build')))

    def test_one_kernel_and_it_has_tcx(self):
        # bookworm's own 6.1 is replaced (install.d/15-kernel): tcx is
        # Linux >= 6.6 (magnum_iovisor/dataplane/tcx.py)
        releases = [r for r in os.listdir(self.path('lib/modules'))
                    if os.path.isdir(self.path('lib/modules', r, 'kernel'))]
        self.assertEqual(1, len(releases), releases)
        major, minor = releases[0].split('.')[:2]
        self.assertGreaterEqual((int(major), int(minor)), (6, 6), releases)

    def test_mesos_from_the_operator_tarball(self):
        with open(self.path('usr/local/sbin/mesos-agent')) as agent:
            self.assertIn('/run/mesos-agent.flags', agent.read())
        # its environment comes from the one heat-params reader only
        self.assertFalse(os.path.exists(self.path('usr/local/libexec/'
                                                  'mesos-agent-env')))
        with open(self.path('etc/systemd/system/mesos-agent.service')
                  ) as unit:
            self.assertIn('ExecStartPre=/usr/local/bin/iovisor-bootstrap '
                          '--mesos-agent-env /run/mesos-agent/env',
                          unit.read())


def multipart(cloud_config, *scripts):
    """user-data as Heat's MultipartMime makes it: config, then scripts."""
    message = email.mime.multipart.MIMEMultipart()
    message.attach(email.mime.text.MIMEText(cloud_config, 'cloud-config'))
    for script in scripts:
        message.attach(email.mime.text.MIMEText(script, 'x-shellscript'))
    return message.as_string()


class Boot:
    """One qemu (TCG) boot of the image with the given Heat parameters."""

    def __init__(self, workdir, heat_params, policy_text, netns):
        """``netns``: where qemu runs, with the ZooKeeper on its loopback."""
        self.workdir = workdir
        self.netns = netns
        lines = ''.join('%s="%s"\n' % item for item in heat_params.items())
        with open(os.path.join(HERE, 'guest-check.sh')) as check:
            guest_check = check.read()
        cloud_config = '#cloud-config\n' + yaml.safe_dump({'write_files': [
            {'path': '/etc/sysconfig/heat-params', 'permissions': '0644',
             'content': lines},
            {'path': '/etc/sysconfig/iovisor-policy.json',
             'permissions': '0644', 'content': policy_text},
        ]})
        with open(BOOT_SCRIPT) as script:
            # cloud-init runs the scripts in order, last stage of the boot
            # (after multi-user.target): the slave's boot script, then the
            # check, which powers the guest off once cloud-init is done.
            user_data = multipart(cloud_config, script.read(), guest_check)
        with open(DEPLOY_SCRIPT) as script:
            deploy_script = script.read()
        self.disk = nocloud.write_seed(
            os.path.join(workdir, 'seed.img'), user_data,
            nocloud.meta_data('iid-' + uuid.uuid4().hex[:8], 'slave-0'),
            {'busybox.tar': dockerd.busybox_rootfs(),
             'apply-iovisor-policy.sh': deploy_script})
        self.log = os.path.join(workdir, 'serial.log')

    def run(self):
        """Boot until the check powers the guest off; return the lines."""
        registry_ip, port = REGISTRY.split(':')
        guestfwd = 'guestfwd=tcp:%s:%s-cmd:socat - TCP:127.0.0.1:%s' % (
            registry_ip, port, port)
        subprocess.run(
            ['ip', 'netns', 'exec', self.netns,
             'qemu-system-x86_64', '-accel', 'tcg', '-m', '2048',
             '-smp', '2', '-display', 'none', '-no-reboot',
             # restrict=on: the guest reaches nothing outside it
             '-nic', 'user,model=virtio-net-pci,restrict=on,' + guestfwd,
             '-snapshot', '-kernel', IMAGE + '.vmlinuz',
             '-initrd', IMAGE + '.initrd',
             '-drive', 'file=%s.raw,format=raw,if=virtio' % IMAGE,
             '-drive', 'file=%s,format=raw,if=virtio' % self.disk,
             '-serial', 'file:' + self.log, '-append', CMDLINE],
            check=True, capture_output=True, timeout=BOOT_TIMEOUT)
        with open(self.log, errors='replace') as log:
            return [line.rstrip('\r\n') for line in log]


class GuestResult:
    def __init__(self, lines):
        self.lines = lines
        self.checks = {}
        for line in lines:
            for status in ('ok', 'FAILED'):
                prefix = 'CHECK %s: ' % status
                if line.startswith(prefix):
                    self.checks[line[len(prefix):]] = status
        self.result = next((line.split()[2] for line in lines
                            if line.startswith('GUEST-CHECK RESULT ')), None)
        self.policy = next((line[len('POLICY '):].strip() for line in lines
                            if line.startswith('POLICY ')), None)
        self.journal = '\n'.join(line[len('JOURNAL '):] for line in lines
                                 if line.startswith('JOURNAL '))
        self.cloud_init = next((line[len('CLOUD-INIT '):].strip()
                                for line in lines
                                if line.startswith('CLOUD-INIT ')), None)

    def assert_passed(self):
        """What makes tox -e image fail when the guest says so."""
        if self.result != 'passed' or 'FAILED' in self.checks.values():
            raise AssertionError('guest check did not pass:\n'
                                 + '\n'.join(self.lines[-150:]))


class GuestTest(testtools.TestCase):
    def boot(self, heat_params, policy_text):
        workdir = tempfile.mkdtemp(prefix='iovisor-boot-%s-'
                                   % uuid.uuid4().hex[:6])
        self.addCleanup(shutil.rmtree, workdir)
        registry = self.useFixture(zookeeper.PrivateZooKeeper())
        boot = Boot(workdir, heat_params, policy_text, registry.netns)
        lines = boot.run()
        self.addDetail('serial', testtools.content.text_content(
            '\n'.join(lines)))
        return GuestResult(lines)

    def test_slave_enforces_the_injected_policy_with_ipvlan(self):
        result = self.boot(HEAT_PARAMS, json.dumps(SEED_POLICY))
        result.assert_passed()
        self.assertEqual({
            'cloud-init wrote the Heat parameters from its NoCloud seed': 'ok',
            'eth0 configured by DHCP on first boot': 'ok',
            'bpffs mounted at /sys/fs/bpf': 'ok',
            'iovisor-configure.service succeeded': 'ok',
            "registry passed into the daemon's config": 'ok',
            'iovisor-docker-plugin.service active': 'ok',
            'iovisor-bootstrap.service succeeded': 'ok',
            'Docker network made by the iovisor driver': 'ok',
            "classifiers compiled against this kernel's headers": 'ok',
            'injected policy loaded': 'ok',
            'policy enforced between ipvlan namespaces': 'ok',
            'mesos agent started with flags from heat-params': 'ok',
            'real containers enforced on the ipvlan network': 'ok',
            'container filters linked at Join by tcx': 'ok',
            'no first packet of a denied container passes': 'ok',
            'NET_ADMIN in a container cannot shed its filters': 'ok',
            'a raw sender in a container is refused PACKET_QDISC_BYPASS':
                'ok',
            'docker-default AppArmor profile confines the container': 'ok',
            'heat-config script hook deploys a new policy and answers': 'ok',
        }, result.checks)
        self.assertEqual('status: done', result.cloud_init)
        self.assertEqual('world<>100 100>100 100<>200', result.policy)
        for pair in ('web -> db: pass', 'db -> outside: drop',
                     'outside -> db: drop',
                     'container (100) -> db (200): pass (expected pass)',
                     'container (300) -> db (200): drop (expected drop)',
                     'shed its qdisc: container (300) -> db (200): drop',
                     'control: container (100) -> 10.1.1.250: 1 echo request',
                     'first packets of group 300: 0 echo requests reached '
                     '10.1.1.250 in 50 starts, 20 at once; ping exit codes: '
                     '1 x50',
                     'PACKET_QDISC_BYPASS in a container (/sys/fs/cgroup/'):
            self.assertIn(pair, '\n'.join(result.lines))
        # bookworm-backports' 6.12 refuses the helper in tc programs: the
        # variant without it (magnum_iovisor/dataplane/features.py) runs
        self.assertIn('this kernel does not allow bpf_get_netns_cookie in tc '
                      'programs', '\n'.join(result.lines))

    def test_broken_policy_fails_the_guest_check(self):
        broken = {'rules': SEED_POLICY['rules'] + [{'src': 100,
                                                    'dst': 70000}]}
        result = self.boot(HEAT_PARAMS, json.dumps(broken))
        self.assertRaises(AssertionError, result.assert_passed)
        self.assertEqual('failed', result.result)
        self.assertEqual('FAILED',
                         result.checks['iovisor-bootstrap.service succeeded'])
        self.assertEqual('FAILED', result.checks['injected policy loaded'])
        self.assertEqual('ok', result.checks[
            'iovisor-docker-plugin.service active'])
        self.assertEqual('FAILED', result.checks[
            'mesos agent started with flags from heat-params'])
        # No network was made: no container runs, let alone unfiltered.
        self.assertEqual('FAILED', result.checks[
            'real containers enforced on the ipvlan network'])
        self.assertNotIn('container (300) -> db (200): pass',
                         '\n'.join(result.lines))
        # and cloud-init says so, with the slave's boot script's reason
        self.assertEqual('status: error', result.cloud_init)
        self.assertIn('iovisor-bootstrap failed', result.journal)
        self.assertIn('bad policy, nothing changed', result.journal)
        self.assertIn('rule 6: group 70000 out of range 0..65535',
                      result.journal)
        self.assertEqual('', result.policy)
