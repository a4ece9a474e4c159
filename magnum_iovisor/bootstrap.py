"""Heat parameters -> policy and Docker network on a booting slave.

Magnum hands a node its Heat parameters as shell ``KEY="value"`` lines in
``/etc/sysconfig/heat-params``. They are parsed here (never sourced):

``IOVISOR_MODE``
    ``ipvlan`` (default), ``macvlan`` or ``veth``: how the Docker driver
    makes container interfaces.
``ROUTED_SUBNET``
    This slave's container subnet, e.g. ``10.1.1.0/24``.
``IOVISOR_PARENT``
    Parent interface for ipvlan and macvlan (default ``eth0``).
``IOVISOR_REGISTRY``
    ``local`` (default) or ``zookeeper://host:2181[,host2:2181]/path``;
    written into the daemon's configuration.
``IOVISOR_REGISTRY_CREDENTIALS``
    Path of the file holding the bay's ZooKeeper identity ``USER:SECRET``
    (mode 0600, written by the Heat template, never in heat-params);
    becomes ``[registry] credentials_file``. Empty: open nodes.
``IOVISOR_POLICY_FILE``
    The policy document, in any format ``policy.parse`` reads (default
    ``/etc/sysconfig/iovisor-policy.json``).
``IOVISOR_DOCKER_NETWORK``
    Name of the Docker network made for ``ROUTED_SUBNET`` (default
    ``iovisor``); empty: make none.

The policy is loaded as a whole and applied as a diff; a bad document
changes nothing.
"""

import dataclasses
import ipaddress
import json
import os
import re
import shlex
import subprocess
import tempfile
import urllib.parse

from oslo_log import log as logging

from magnum_iovisor import policy as policy_model

LOG = logging.getLogger(__name__)

DEFAULT_POLICY_FILE = '/etc/sysconfig/iovisor-policy.json'
MODES = ('ipvlan', 'macvlan', 'veth')
DRIVER = 'iovisor'
POLICY_INPUT = 'iovisor_policy'

_KEY = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_IFNAME = re.compile(r'^[^\s/:]{1,15}$')
_NETWORK_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_ZOOKEEPER = re.compile(r'^zookeeper://[^/\s,]+:\d+(,[^/\s,]+:\d+)*/\S*$')


class BootstrapError(Exception):
    """The node cannot be set up; the message says what to fix."""


def _read(path, what):
    try:
        with open(path) as source:
            return source.read()
    except OSError as exc:
        raise BootstrapError('cannot read %s %s: %s'
                             % (what, path, exc.strerror))


def read_heat_params(path):
    """``{KEY: value}`` from a heat-params file of ``KEY="value"`` lines."""
    text = _read(path, 'Heat parameters')
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError as exc:
        raise BootstrapError('%s: not shell KEY="value" lines: %s'
                             % (path, exc))
    values = {}
    for token in tokens:
        key, sep, value = token.partition('=')
        if not sep or not _KEY.match(key):
            raise BootstrapError('%s: %r is not a KEY="value" assignment'
                                 % (path, token))
        values[key] = value
    return values


@dataclasses.dataclass(frozen=True)
class NodeParams:
    mode: str = 'ipvlan'
    routed_subnet: ipaddress.IPv4Network = None
    parent: str = 'eth0'
    registry: str = 'local'
    registry_credentials: str = ''
    policy_file: str = DEFAULT_POLICY_FILE
    docker_network: str = DRIVER

    @classmethod
    def from_heat_params(cls, values):
        """Validate the keys this node uses; errors name the key."""
        def get(key, default):
            return values.get(key, default).strip()

        mode = get('IOVISOR_MODE', cls.mode)
        if mode not in MODES:
            raise BootstrapError('IOVISOR_MODE=%r: expected one of %s'
                                 % (mode, ', '.join(MODES)))
        parent = get('IOVISOR_PARENT', cls.parent)
        if not _IFNAME.match(parent):
            raise BootstrapError('IOVISOR_PARENT=%r is not an interface name'
                                 % parent)
        registry = get('IOVISOR_REGISTRY', cls.registry)
        if registry != 'local' and not _ZOOKEEPER.match(registry):
            raise BootstrapError(
                'IOVISOR_REGISTRY=%r: expected "local" or '
                'zookeeper://HOST:PORT[,HOST:PORT]/PATH' % registry)
        credentials = get('IOVISOR_REGISTRY_CREDENTIALS',
                          cls.registry_credentials)
        if credentials and not os.path.isabs(credentials):
            raise BootstrapError('IOVISOR_REGISTRY_CREDENTIALS=%r is not an '
                                 'absolute path' % credentials)
        policy_file = get('IOVISOR_POLICY_FILE', cls.policy_file)
        if not os.path.isabs(policy_file):
            raise BootstrapError('IOVISOR_POLICY_FILE=%r is not an absolute '
                                 'path' % policy_file)
        network = get('IOVISOR_DOCKER_NETWORK', cls.docker_network)
        if network and not _NETWORK_NAME.match(network):
            raise BootstrapError('IOVISOR_DOCKER_NETWORK=%r is not a Docker '
                                 'network name' % network)
        subnet = get('ROUTED_SUBNET', '')
        if subnet:
            try:
                subnet = ipaddress.IPv4Network(subnet)
            except ValueError as exc:
                raise BootstrapError('ROUTED_SUBNET=%r: %s' % (subnet, exc))
        elif network:
            raise BootstrapError('ROUTED_SUBNET is missing: the Docker '
                                 'network %s needs this slave\'s container '
                                 'subnet' % network)
        return cls(mode=mode, routed_subnet=subnet or None, parent=parent,
                   registry=registry, registry_credentials=credentials,
                   policy_file=policy_file,
                   docker_network=network)


def read_policy(path):
    """Parse the policy document at ``path``; errors name the file."""
    text = _read(path, 'the policy')
    try:
        return policy_model.parse(text, filename=path)
    except policy_model.PolicyError as exc:
        raise policy_model.PolicyError('%s: %s' % (path, exc))


def apply_policy(dataplane, policy):
    """Make ``policy`` the one in force; only the difference is written."""
    upserts, removals = dataplane.replace_policy(policy)
    LOG.info('policy in force: %d rules (%d written, %d removed): %s',
             len(policy), len(upserts), len(removals),
             policy_model.format_text(policy) or '(default deny)')
    return upserts, removals


def write_policy_file(policy, path):
    """Keep ``policy`` for the next boot; the file is replaced atomically."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile('w', dir=directory, delete=False,
                                     prefix='.iovisor-policy') as out:
        out.write(policy_model.format_json(policy) + '\n')
    os.replace(out.name, path)


def registry_config(params):
    """The daemon's config drop-in carrying the Heat parameters it needs.

    ``zookeeper://HOST:PORT[,HOST:PORT]/PATH`` becomes [registry] backend,
    hosts and root; ``local`` the local backend.
    """
    header = '# Written by iovisor-bootstrap from the Heat parameters.\n'
    if params.registry == 'local':
        return header + '[registry]\nbackend = local\n'
    location = urllib.parse.urlsplit(params.registry)
    root = location.path.rstrip('/') or '/'
    text = header + ('[registry]\nbackend = zookeeper\nhosts = %s\n'
                     'root = %s\n' % (location.netloc, root))
    if params.registry_credentials:
        text += 'credentials_file = %s\n' % params.registry_credentials
    return text


def write_registry_config(params, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as out:
        out.write(registry_config(params))
    os.replace(path + '.tmp', path)
    LOG.info('registry %s written to %s', params.registry, path)


# -- Docker ---------------------------------------------------------------

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


# -- Heat software deployments ---------------------------------------------

def policy_from_deployment(document):
    """The policy in a heat-config deployment (its ``iovisor_policy`` input).

    ``document`` is one deployment (``{"inputs": [...], ...}``) or a list
    of them (the last one carrying the input wins). The input's value is a
    policy document: a JSON object, or text in any format.
    """
    deployments = document if isinstance(document, list) else [document]
    value = None
    for deployment in deployments:
        if not isinstance(deployment, dict):
            raise BootstrapError('heat-config: expected a deployment object, '
                                 'not %s' % type(deployment).__name__)
        inputs = deployment.get('inputs') or []
        if not isinstance(inputs, list):
            raise BootstrapError('heat-config: "inputs" must be a list')
        for item in inputs:
            if isinstance(item, dict) and item.get('name') == POLICY_INPUT:
                value = item.get('value')
    if value is None:
        raise BootstrapError('heat-config: no input named %s' % POLICY_INPUT)
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise BootstrapError('heat-config: input %s must be a policy '
                             'document, not %s'
                             % (POLICY_INPUT, type(value).__name__))
    try:
        return policy_model.parse(value)
    except policy_model.PolicyError as exc:
        raise policy_model.PolicyError('heat-config input %s: %s'
                                       % (POLICY_INPUT, exc))


def boot(params, dataplane, docker, cluster_policy=False):
    """What the boot-time unit does: policy first, then the network.

    With ``cluster_policy`` in force the Heat policy is only validated: the
    cluster's is authoritative.
    """
    new = read_policy(params.policy_file)
    if cluster_policy:
        LOG.info('a cluster policy is in force; %s is not applied',
                 params.policy_file)
    else:
        apply_policy(dataplane, new)
    if params.docker_network:
        ensure_network(docker, params)
    else:
        LOG.info('IOVISOR_DOCKER_NETWORK is empty: no Docker network made')
