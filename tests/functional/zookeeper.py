"""Private ZooKeeper servers (Debian's ``zookeeper`` package) for tests.

A server runs standalone on its own port and data directory under
``workdir``, optionally inside a network namespace, or as one member of an
ensemble (``peers``); ``stop`` and ``start`` again keep the data (a
restarted server, as after an outage).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import fixtures

JARS = ('/usr/share/java/zookeeper.jar', '/usr/share/java/slf4j-simple.jar')
# Debian's zookeeper.jar lists the Netty jars it needs but netty-codec, which
# TLS connections need: without it every handshake is closed at once
TLS_JARS = ('/usr/share/java/netty-codec.jar',)
MAIN = 'org.apache.zookeeper.server.ZooKeeperServerMain'
QUORUM_MAIN = 'org.apache.zookeeper.server.quorum.QuorumPeerMain'
# the smallest tick the server accepts sessions of a second or more with
TICK_MS = 500


class ZooKeeperServer:
    def __init__(self, workdir, address, port, netns=None, heap='128m',
                 peers=None, myid=None, max_connections=60, tls=None):
        """A server's configuration, written now.

        ``peers``: {id: address} of every member, ``myid`` this one's;
        ``max_connections`` per client address (ZooKeeper's maxClientCnxns,
        0: no limit); ``tls``: None, or a TLS-only server's
        ``certs.ServerTLS`` (``port`` is then its secureClientPort).
        """
        self.workdir = workdir
        self.address = address
        self.port = port
        self.netns = netns
        self.heap = heap
        self.peers = peers
        self.tls = tls
        self.proc = None
        self.config = os.path.join(workdir, 'zoo.cfg')
        self.log_path = os.path.join(workdir, 'zookeeper.log')
        os.makedirs(os.path.join(workdir, 'data'), exist_ok=True)
        with open(self.config, 'w') as cfg:
            listen = 'secureClientPort' if tls else 'clientPort'
            cfg.write('tickTime=%d\n' % TICK_MS
                      + 'dataDir=%s\n' % os.path.join(workdir, 'data')
                      + '%s=%d\n' % (listen, port)
                      + '%sAddress=%s\n' % (listen, address)
                      + 'maxSessionTimeout=%d\n' % (60 * 1000)
                      + 'admin.enableServer=false\n'
                      + 'maxClientCnxns=%d\n' % max_connections)
            if tls:
                cfg.write(tls.config())
            if peers:
                cfg.write('initLimit=10\nsyncLimit=5\n'
                          + ''.join('server.%d=%s:2888:3888\n' % peer
                                    for peer in sorted(peers.items())))
        if peers:
            with open(os.path.join(workdir, 'data', 'myid'), 'w') as out:
                out.write('%d\n' % myid)

    @property
    def hosts(self):
        return '%s:%d' % (self.address, self.port)

    def start(self, timeout=30):
        self.start_async()
        self.wait_listening(timeout)

    def start_async(self):
        cmd = ['java', '-Xmx' + self.heap, '-XX:+UseSerialGC',
               '-XX:TieredStopAtLevel=1',
               '-cp', ':'.join(JARS + (TLS_JARS if self.tls else ())),
               QUORUM_MAIN if self.peers else MAIN, self.config]
        if self.netns:
            # ip netns exec execs java: the pid is the server's
            cmd = ['ip', 'netns', 'exec', self.netns] + cmd
        log = open(self.log_path, 'a')
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log,
                                     cwd=self.workdir)
        log.close()

    def wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.listening():
            if self.proc.poll() is not None:
                raise RuntimeError('ZooKeeper exited with %d; see %s'
                                   % (self.proc.returncode, self.log_path))
            if time.monotonic() > deadline:
                raise RuntimeError('ZooKeeper not listening after %d s; see '
                                   '%s' % (timeout, self.log_path))
            time.sleep(0.05)

    def listening(self):
        cmd = ['ss', '-ltnH', 'sport = :%d' % self.port]
        if self.netns:
            cmd = ['ip', 'netns', 'exec', self.netns] + cmd
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        return bool(out.strip())

    def stop(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def log(self):
        with open(self.log_path, errors='replace') as log:
            return log.read()

    def leading(self):
        """Whether this ensemble member leads now (as its log last says)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        roles = [line for line in self.log().splitlines()
                 if ' - LEADING' in line or ' - FOLLOWING' in line
                 or ' - LOOKING' in line]
        return bool(roles) and ' - LEADING' in roles[-1]


class PrivateZooKeeper(fixtures.Fixture):
    """A ZooKeeper server alone in a new network namespace.

    It listens on that namespace's loopback; clients run there too (see
    ``magnum_iovisor.dataplane.attach.in_netns``). ``tls``: a TLS-only
    server's ``certs.ServerTLS``; ``address``: where it listens there.
    """

    def __init__(self, tls=None, address='127.0.0.1'):
        super().__init__()
        self.tls = tls
        self.address = address

    def _setUp(self):
        prefix = 'mi%s' % uuid.uuid4().hex[:6]
        self.netns = prefix + '-zk'
        subprocess.run(('ip', 'netns', 'add', self.netns), check=True)
        self.addCleanup(subprocess.run, ('ip', 'netns', 'del', self.netns))
        subprocess.run(('ip', 'netns', 'exec', self.netns, 'ip', 'link',
                        'set', 'lo', 'up'), check=True)
        workdir = tempfile.mkdtemp(prefix=prefix + '-')
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        self.server = ZooKeeperServer(workdir, self.address, 2181,
                                      netns=self.netns, tls=self.tls)
        self.addCleanup(self.server.stop)
        self.server.start()
