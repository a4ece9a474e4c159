"""A bay in a box: a private network namespace, its bridge, and VMs on it.

The namespace stands in for the cloud's tenant network and router: a
bridge ``br0`` holds the router's address (``ROUTER``), the master's
(``MASTER``, where ZooKeeper runs: the master is not a VM here) and one
tap per VM; each slave's container subnet is routed to it, as the bay's
``OS::Neutron::ExtraRouteSet`` does. Nothing leaves the namespace.
"""

import os
import subprocess
import time
import uuid

import fixtures

from tests.bay import guest_agent
from tests.image import nocloud

ROUTER = '10.0.0.1'
MASTER = '10.0.0.3'
PREFIX = 24
BOOT_TIMEOUT = 1800   # TCG; a busy shared machine needs this much


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Network(fixtures.Fixture):
    def _setUp(self):
        self.netns = 'bay-' + uuid.uuid4().hex[:8]
        sh('ip', 'netns', 'add', self.netns)
        self.addCleanup(sh, 'ip', 'netns', 'del', self.netns, check=False)
        self.ip('link', 'set', 'lo', 'up')
        self.ip('link', 'add', 'br0', 'type', 'bridge')
        for address in (ROUTER, MASTER):
            self.ip('addr', 'add', '%s/%d' % (address, PREFIX), 'dev', 'br0')
        self.ip('link', 'set', 'br0', 'up')
        self.exec('sysctl', '-qw', 'net.ipv4.ip_forward=1')

    def ip(self, *args):
        return sh('ip', '-n', self.netns, *args)

    def exec(self, *cmd, check=True):
        return sh('ip', 'netns', 'exec', self.netns, *cmd, check=check)

    def tap(self, name):
        self.ip('tuntap', 'add', name, 'mode', 'tap')
        self.ip('link', 'set', name, 'master', 'br0', 'up')
        return name

    def route(self, subnet, via):
        self.ip('route', 'replace', subnet, 'via', via)


class VM(fixtures.Fixture):
    """One node: the image booted in qemu (TCG) with a NoCloud seed."""

    def __init__(self, network, image, name, address, user_data, index,
                 extra_files=None):
        self.network = network
        self.image = image
        self.name = name
        self.address = address
        self.user_data = user_data
        self.index = index
        self.extra_files = extra_files or {}

    def _setUp(self):
        self.workdir = self.useFixture(fixtures.TempDir()).path
        network_config = (
            'version: 2\nethernets:\n  eth0:\n'
            '    match: {macaddress: "%s"}\n    set-name: eth0\n'
            '    addresses: [%s/%d]\n    gateway4: %s\n'
            % (self.mac, self.address, PREFIX, ROUTER))
        seed = os.path.join(self.workdir, 'seed.img')
        nocloud.write_seed(seed, self.user_data, nocloud.meta_data(
            'iid-%s-%s' % (self.name, uuid.uuid4().hex[:6]), self.name),
            dict(self.extra_files, **{'network-config': network_config}))
        tap = self.network.tap('tap%d' % self.index)
        self.addCleanup(self.network.ip, 'link', 'del', tap)
        self.qga = os.path.join(self.workdir, 'qga.sock')
        self.serial = os.path.join(self.workdir, 'serial.log')
        cmd = [
            'qemu-system-x86_64', '-accel', 'tcg', '-m', '1536', '-smp', '1',
            '-display', 'none', '-snapshot',
            '-kernel', self.image + '.vmlinuz',
            '-initrd', self.image + '.initrd',
            '-append', 'root=LABEL=cloudimg-rootfs rw console=ttyS0 '
                       'net.ifnames=0 quiet systemd.show_status=false '
                       'modprobe.blacklist=floppy',
            '-drive', 'file=%s.raw,format=raw,if=virtio' % self.image,
            '-drive', 'file=%s,format=raw,if=virtio' % seed,
            '-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no' % tap,
            '-device', 'virtio-net-pci,netdev=n0,mac=%s' % self.mac,
            '-chardev', 'socket,id=qga0,path=%s,server=on,wait=off'
                        % self.qga,
            '-device', 'virtio-serial',
            '-device', 'virtserialport,chardev=qga0,'
                       'name=org.qemu.guest_agent.0',
            '-serial', 'file:' + self.serial]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ['ip', 'netns', 'exec', self.network.netns] + cmd,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self._stop)
        self.agent = guest_agent.GuestAgent(self.qga)

    @property
    def mac(self):
        return '52:54:00:b0:00:%02x' % (0x10 + self.index)

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait_agent(self, timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.agent.ping():
            if self.proc.poll() is not None:
                raise RuntimeError('%s: qemu exited %s: %s' % (
                    self.name, self.proc.returncode,
                    self.proc.stderr.read().decode(errors='replace')))
            if time.monotonic() > deadline:
                raise RuntimeError('%s: no guest agent after %ds; serial:\n%s'
                                   % (self.name, timeout, self.console()))
            time.sleep(2)

    def run(self, script, timeout=300):
        return self.agent.run(script, timeout=timeout)

    def check(self, script, timeout=300):
        status, out = self.run(script, timeout)
        if status != 0:
            raise RuntimeError('%s: %r exited %d:\n%s'
                               % (self.name, script, status, out))
        return out

    def console(self, tail=80):
        try:
            with open(self.serial, errors='replace') as log:
                return ''.join(log.readlines()[-tail:])
        except OSError:
            return ''
