"""The slave's Docker network, made with the iovisor driver."""

import json
import subprocess

from oslo_log import log as logging

from magnum_iovisor.bootstrap import BootstrapError
from magnum_iovisor.bootstrap.node import DRIVER

LOG = logging.getLogger(__name__)


class DockerCli:
    """The few ``docker network`` calls bootstrap needs (a seam for tests)."""

    def __init__(self, command='docker', timeout=120):
        self.command = command
        self.timeout = timeout

    def _run(self, *args):
        try:
            return subprocess.run([self.command, *args], capture_output=True,
                                  text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BootstrapError('docker %s: %s' % (' '.join(args), exc))

    def inspect_network(self, name):
        """The network's ``docker network inspect`` object, or None."""
        done = self._run('network', 'inspect', name)
        if done.returncode != 0:
            if 'no such network' in done.stderr.lower():
                return None
            raise BootstrapError('docker network inspect %s: %s'
                                 % (name, done.stderr.strip()))
        return json.loads(done.stdout)[0]

    def create_network(self, name, driver, subnet, options):
        args = ['network', 'create', '-d', driver, '--subnet', subnet]
        for key, value in sorted(options.items()):
            args += ['-o', '%s=%s' % (key, value)]
        done = self._run(*args, name)
        if done.returncode != 0:
            raise BootstrapError('docker %s: %s' % (' '.join(args + [name]),
                                                    done.stderr.strip()))


PARENT_MODES = ('ipvlan', 'macvlan')


def network_options(params):
    """The driver's -o options; a parent only where the mode has one."""
    options = {'iovisor.mode': params.mode}
    if params.mode in PARENT_MODES:
        options['iovisor.parent'] = params.parent
    return options


def _settings(network):
    subnets = [c.get('Subnet') for c in
               (network.get('IPAM') or {}).get('Config') or []]
    return network.get('Driver'), subnets, network.get('Options') or {}


def ensure_network(docker, params):
    """Create the slave's Docker network; return 'created' or 'present'.

    An existing network with the same settings is left alone; one with
    other settings is an error (containers may be attached to it).
    """
    name = params.docker_network
    wanted = (DRIVER, [str(params.routed_subnet)], network_options(params))
    existing = docker.inspect_network(name)
    if existing is not None:
        driver, subnets, options = _settings(existing)
        have = (driver, subnets,
                {k: options.get(k) for k in wanted[2]})
        if have != wanted:
            raise BootstrapError(
                'Docker network %s exists with driver %s, subnets %s, '
                'options %s; the Heat parameters want driver %s, subnet %s, '
                'options %s. Remove it (docker network rm %s) once no '
                'container uses it.'
                % (name, driver, ','.join(map(str, subnets)), have[2],
                   DRIVER, params.routed_subnet, wanted[2], name))
        LOG.info('Docker network %s already exists for %s', name,
                 params.routed_subnet)
        return 'present'
    docker.create_network(name, DRIVER, str(params.routed_subnet),
                          wanted[2])
    LOG.info('created Docker network %s (%s, %s)', name,
             params.routed_subnet, ' '.join('%s=%s' % option
                                            for option in wanted[2].items()))
    return 'created'
