"""``iovisor-docker-plugin`` as a process, on a socket of its own.

Docker names a plugin after its socket, so each fixture serves a unique
name (``iovisor-<uuid8>``) that its tests pass to ``docker network create
-d``. The pin and state directories are unique too and removed afterwards.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import fixtures

from magnum_iovisor.dataplane import loader

PLUGIN_DIR = '/run/docker/plugins'
PIN_ROOT = '/sys/fs/bpf'
READY_TIMEOUT = 60


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout=30):
        super().__init__('localhost', timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class PluginError(RuntimeError):
    """The daemon answered a request with {"Err"}."""


class PluginDaemon(fixtures.Fixture):
    def __init__(self, default_mode='veth', netns=None, registry=None,
                 metrics_listen='', docker=None):
        """Options: ``netns``, ``registry``, ``metrics_listen``, ``docker``.

        ``netns``: run there (a name from ip netns), keeping the root mount
        namespace and so the pins; ``registry``: [registry] options;
        ``metrics_listen``: [metrics] listen (default: no metrics).
        """
        super().__init__()
        self.metrics_listen = metrics_listen
        self.default_mode = default_mode
        self.netns = netns
        self.registry = registry or {}
        self.docker = docker or {}     # more [docker] options

    def _setUp(self):
        self.name = 'iovisor-%s' % uuid.uuid4().hex[:8]
        self.socket = os.path.join(PLUGIN_DIR, self.name + '.sock')
        self.root = tempfile.mkdtemp(prefix='mi-plugin-')
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.pin_dir = os.path.join(PIN_ROOT, 'mi-test-' + self.name)
        self.addCleanup(shutil.rmtree, self.pin_dir, ignore_errors=True)
        self.addCleanup(_remove, loader.lock_path(self.pin_dir))
        self.state_dir = os.path.join(self.root, 'state')
        self.log_path = os.path.join(self.root, 'plugin.log')
        self.config_file = os.path.join(self.root, 'magnum-iovisor.conf')
        with open(self.config_file, 'w') as conf:
            conf.write('[dataplane]\npin_dir = %s\n\n'
                       '[docker]\nsocket_path = %s\nstate_dir = %s\n'
                       'default_mode = %s\n'
                       % (self.pin_dir, self.socket, self.state_dir,
                          self.default_mode))
            conf.write(''.join('%s = %s\n' % item
                               for item in self.docker.items()))
            conf.write('\n[metrics]\nlisten = %s\n' % self.metrics_listen)
            if self.registry:
                conf.write('\n[registry]\n' + ''.join(
                    '%s = %s\n' % item for item in self.registry.items()))
        self.process = None
        self.addCleanup(self._remove_socket)
        self.start()
        self.addCleanup(self.stop)

    def start(self):
        log = open(self.log_path, 'a')
        enter = (['nsenter', '--net=/run/netns/' + self.netns, '--']
                 if self.netns else [])
        self.process = subprocess.Popen(
            enter + self.command() + ['--config-file', self.config_file],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError('iovisor-docker-plugin exited: %s'
                                   % self.log_tail())
            try:
                if self.request('Plugin.Activate', b'{}')[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError('iovisor-docker-plugin not ready: %s'
                                   % self.log_tail())
            time.sleep(0.05)

    def command(self):
        return [sys.executable, '-m', 'magnum_iovisor.cmd.docker_plugin']

    def signal(self, signum):
        self.process.send_signal(signum)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)

    def kill(self):
        self.signal(signal.SIGKILL)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def _remove_socket(self):
        _remove(self.socket)

    def log_tail(self, lines=30):
        with open(self.log_path) as log:
            return ''.join(log.readlines()[-lines:])

    def log(self):
        with open(self.log_path, errors='replace') as log:
            return log.read()

    def request(self, method, body):
        """POST raw ``body`` bytes; returns (status, decoded JSON reply)."""
        connection = UnixHTTPConnection(self.socket)
        try:
            connection.request('POST', '/' + method, body=body)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def call(self, method, body):
        """Send a request as Docker does; the reply, or PluginError."""
        status, reply = self.request('NetworkDriver.' + method,
                                     json.dumps(body).encode())
        if status != 200 or 'Err' in reply:
            raise PluginError('%s: %s' % (method, reply.get('Err', reply)))
        return reply

    def state_files(self):
        found = []
        for kind in ('networks', 'endpoints'):
            directory = os.path.join(self.state_dir, kind)
            if os.path.isdir(directory):
                found += [os.path.join(kind, n) for n in os.listdir(directory)]
        return sorted(found)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
