"""The 2015 walkthrough's scenario on this host, with real containers.

Run by tools/demo.sh (``PYTHONPATH=<checkout>``): a dockerd (the host's own
when one answers on /run/docker.sock, else a private one), a private
``iovisor-docker-plugin`` on its own socket, pins and state, a busybox
image imported offline, then ``dns`` and ``web`` (``--expose 100/0``) and
``db`` (``--expose 200/0``) on a veth network, the host as the outside, the
seed's policy, and the reachability matrix, expected against seen. Exits 1
on any mismatch; removes everything it made.
"""

import contextlib
import os
import sys
import time
import uuid

from oslo_config import cfg

from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
from magnum_iovisor import policy
from tests.functional import dockerd
from tests.functional import plugin_daemon
from tests.functional import seed

HOST_DOCKER = '/run/docker.sock'


class HostDockerd(dockerd.Dockerd):
    """The dockerd already running here: used, never stopped."""

    def __init__(self):
        super().__init__()
        self.socket = HOST_DOCKER

    def _setUp(self):
        self.process = None

    def import_busybox(self, tag):
        self.addCleanup(self.docker, 'rmi', tag, check=False)
        return super().import_busybox(tag)

    def answers(self):
        return (os.path.exists(self.socket)
                and self.docker('version', check=False).returncode == 0)


def docker_engine():
    host = HostDockerd()
    if host.answers():
        print('using the dockerd on %s' % HOST_DOCKER)
        return host
    print('no dockerd answers on %s: starting a private one' % HOST_DOCKER)
    return dockerd.Dockerd()


OUTSIDE_GROUP = policy.RESERVED['host']


def _outside_as_host(rule):
    def group(g):
        return OUTSIDE_GROUP if g == policy.RESERVED['world'] else g
    return rule._replace(src=group(rule.src), dst=group(rule.dst))


HOST_SEED_POLICY = policy.format_text(policy.Policy(
    _outside_as_host(r) for r in policy.parse_text(seed.SEED_POLICY).rules))


def _wait_host_tagged(dataplane, address, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = dataplane.endpoint(address)
        if entry is not None and entry.group == OUTSIDE_GROUP:
            return
        time.sleep(0.2)
    print('%s is not tagged host after %d s' % (address, timeout))


def main():
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(docker_engine())
        plugin = stack.enter_context(plugin_daemon.PluginDaemon())
        print('iovisor-docker-plugin serving %s' % plugin.socket)
        image = engine.import_busybox('mi-busybox:demo')
        site = stack.enter_context(seed.SeedSite(engine, plugin.name,
                                                 host_outside=True))
        print('network %s (%s, veth, routed by this host)'
              % (site.network, site.subnet))

        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', plugin.pin_dir, 'dataplane')
        dataplane = stack.enter_context(Dataplane(conf.dataplane))
        # The host plays the seed's untagged outside, and the host is the
        # reserved group host now, no longer 0: the seed's 0 is written host.
        rules = HOST_SEED_POLICY
        dataplane.replace_policy(policy.parse_text(rules))
        print('policy: %s (the seed\'s %s, with this host as the outside)'
              % (rules, seed.SEED_POLICY))

        prefix = 'mi-demo-' + uuid.uuid4().hex[:6]
        hosts = seed.start_seed(site, image, prefix)
        # the daemon tags this host's new addresses (the gateway the first
        # Join put on a host end) on its next pass: at most 10 s
        _wait_host_tagged(dataplane, site.outside_address)
        for role, (name, address) in hosts.items():
            group = seed.groups(OUTSIDE_GROUP)[role]
            print('  %-8s %-15s group %d' % (role, address, group))
        expected = seed.expected_matrix(rules, OUTSIDE_GROUP)
        seen = seed.seen_matrix(site, hosts)
        print(seed.format_matrix(expected, seen, OUTSIDE_GROUP))
        if expected != seen:
            print('MISMATCH')
            return 1
        print('all %d pairs as expected' % len(expected))
        return 0


if __name__ == '__main__':
    sys.exit(main())
