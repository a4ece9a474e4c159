"""A private dockerd for tests and the demo, and an offline busybox image.

The engine gets its own data root, exec root and API socket, leaves the
host's firewall, bridges and forwarding alone, and is stopped and removed
in cleanup together with everything it ran.
"""

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import fixtures

DOCKER = '/usr/bin/docker'   # the 20.10 client that matches the engine
DOCKERD = 'dockerd'
BUSYBOX = '/bin/busybox'
READY_TIMEOUT = 30


def busybox_rootfs():
    """A tar of /bin/busybox and its applet links, for ``docker import``."""
    applets = subprocess.run([BUSYBOX, '--list'], check=True, text=True,
                             capture_output=True).stdout.split()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode='w') as rootfs:
        for directory in ('bin', 'tmp', 'etc', 'proc', 'sys', 'dev'):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            rootfs.addfile(info)
        rootfs.add(BUSYBOX, 'bin/busybox')
        for applet in applets:
            if applet != 'busybox':
                info = tarfile.TarInfo('bin/' + applet)
                info.type, info.linkname = tarfile.SYMTYPE, 'busybox'
                rootfs.addfile(info)
    return data.getvalue()


class DockerError(RuntimeError):
    pass


class Dockerd(fixtures.Fixture):
    def __init__(self, prefix='mi-dockerd-', netns=None, extra=()):
        """``netns``: run in that network namespace (a name from ip netns).

        Entered with nsenter, which keeps the root mount namespace (and so
        /sys/fs/cgroup and /run/docker/plugins); containers get their own
        namespaces as always, and Docker moves their interfaces from this
        one.
        """
        super().__init__()
        self.prefix = prefix
        self.netns = netns
        self.extra = tuple(extra)   # dockerd options, e.g. --live-restore

    def _setUp(self):
        # exec roots hold unix sockets: keep the path short
        self.root = tempfile.mkdtemp(prefix=self.prefix, dir='/tmp')
        self.addCleanup(self._remove_root)
        self.socket = os.path.join(self.root, 'docker.sock')
        self.log_path = os.path.join(self.root, 'dockerd.log')
        self.process = None
        self.start()
        self.addCleanup(self.stop)
        self.addCleanup(self.remove_containers)

    def start(self, *more):
        extra = self.extra + more
        log = open(self.log_path, 'a')
        enter = (['nsenter', '--net=/run/netns/' + self.netns, '--']
                 if self.netns else [])
        command = [DOCKERD, '--data-root', os.path.join(self.root, 'data'),
                   '--exec-root', os.path.join(self.root, 'exec'),
                   '-H', 'unix://' + self.socket,
                   '--pidfile', os.path.join(self.root, 'dockerd.pid'),
                   '--iptables=false', '--ip6tables=false', '--bridge=none',
                   '--ip-forward=false', '--ip-masq=false', *extra]
        self.process = subprocess.Popen(
            enter + command,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while self.docker('version', check=False).returncode != 0:
            if self.process.poll() is not None:
                raise DockerError('dockerd exited: %s' % self.log_tail())
            if time.monotonic() > deadline:
                raise DockerError('dockerd not ready: %s' % self.log_tail())
            time.sleep(0.1)

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self):
        self.stop()
        self.start()

    def log_tail(self, lines=20):
        with open(self.log_path) as log:
            return ''.join(log.readlines()[-lines:])

    def docker(self, *args, check=True, timeout=120, input=None):
        result = subprocess.run((DOCKER, '-H', 'unix://' + self.socket)
                                + args, capture_output=True, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise DockerError('docker %s: %s' % (' '.join(args),
                                                 result.stderr.strip()))
        return result

    def remove_containers(self):
        if self.process is None or self.process.poll() is not None:
            return
        ids = self.docker('ps', '-aq', check=False).stdout.split()
        if ids:
            self.docker('rm', '-f', *ids, check=False)

    def _remove_root(self):
        mounts = []
        with open('/proc/self/mounts') as table:
            for line in table:
                point = line.split()[1]
                if point.startswith(self.root + '/'):
                    mounts.append(point)
        for point in sorted(mounts, reverse=True):
            subprocess.run(['umount', '-l', point], check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- images ---------------------------------------------------------------

    def import_busybox(self, tag):
        """Import a rootfs of /bin/busybox and its applet links as ``tag``."""
        data = busybox_rootfs()
        result = subprocess.run(
            (DOCKER, '-H', 'unix://' + self.socket, 'import', '-', tag),
            input=data, capture_output=True, timeout=120)
        if result.returncode != 0:
            raise DockerError('docker import: %s' % result.stderr.decode())
        return tag

    # -- containers -----------------------------------------------------------

    def address(self, container, network):
        return self.docker(
            'inspect', '-f',
            '{{(index .NetworkSettings.Networks "%s").IPAddress}}' % network,
            container).stdout.strip()
