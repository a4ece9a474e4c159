"""The Heat parameters of a node: every key, and the file's reader.

Magnum (and ``heat-templates/``) hand a node its parameters as shell
``KEY="value"`` lines in ``/etc/sysconfig/heat-params``; they are parsed
here, never sourced. ``KEYS`` is the one list of what a node reads: the
templates' fragments must write exactly the keys marked ``written`` for the
node's role (``tests/heat/test_heat_params.py`` renders them with the Heat
engine and checks), and everything on the node reads values through
``value()``, which knows the defaults.
"""

import dataclasses
import re
import shlex

from magnum_iovisor.bootstrap import BootstrapError

DEFAULT_PATH = '/etc/sysconfig/heat-params'
SLAVE = 'slave'
MASTER = 'master'
REQUIRED = object()

_KEY = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    roles: tuple        # the roles whose node reads it
    written: bool       # the templates write it (else: operator's option)
    default: object     # REQUIRED, or the value when the line is absent
    meaning: str


KEYS = (
    Key('IOVISOR_MODE', (SLAVE,), True, 'ipvlan',
        '``ipvlan``, ``macvlan`` or ``veth`` container interfaces'),
    Key('IOVISOR_PARENT', (SLAVE,), True, 'eth0',
        'parent interface for ipvlan and macvlan'),
    Key('IOVISOR_REGISTRY', (SLAVE, MASTER), True, 'local',
        '``local`` or ``zookeeper://HOST:PORT[,HOST:PORT]/PATH``, written '
        "to the daemon's [registry] backend, hosts and root"),
    Key('IOVISOR_REGISTRY_CREDENTIALS', (SLAVE, MASTER), True, '',
        "path of the file holding the bay's ZooKeeper identity "
        '``USER:SECRET`` (mode 0600, written by the template, never in '
        'heat-params); becomes [registry] credentials_file. Empty: open '
        'nodes'),
    Key('IOVISOR_POLICY_FILE', (SLAVE, MASTER), True,
        '/etc/sysconfig/iovisor-policy.json',
        'the policy document (JSON, YAML or text)'),
    Key('ROUTED_SUBNET', (SLAVE,), True, '',
        "this slave's container subnet, e.g. ``10.1.1.0/24`` (required "
        'when a Docker network is made)'),
    Key('IOVISOR_DOCKER_NETWORK', (SLAVE, MASTER), False, 'iovisor',
        'the Docker network made for ROUTED_SUBNET (empty: none, as on '
        'masters)'),
    Key('MESOS_MASTERS', (SLAVE, MASTER), True, REQUIRED,
        'the masters\' addresses, comma separated (ZooKeeper on 2181 '
        'unless HOST:PORT)'),
    Key('EXECUTOR_REGISTRATION_TIMEOUT', (SLAVE,), False, '5mins',
        "the Mesos agent's executor registration timeout"),
    Key('MESOS_AGENT_ATTRIBUTES', (SLAVE,), False, '',
        'extra Mesos agent attributes, ``;`` separated'),
    Key('MESOS_MASTER_INDEX', (MASTER,), True, REQUIRED,
        "this master's position; ZooKeeper's myid is INDEX + 1"),
    Key('MESOS_MASTER_IP', (MASTER,), True, REQUIRED,
        "this master's address"),
    Key('CLUSTER_NAME', (MASTER,), True, REQUIRED, 'the Mesos cluster name'),
)
BY_NAME = {key.name: key for key in KEYS}


def keys(role, written=None):
    """The names a node of ``role`` reads (only the written ones, or not)."""
    return {key.name for key in KEYS if role in key.roles
            and (written is None or key.written == written)}


def read(path=DEFAULT_PATH):
    """``{KEY: value}`` from a heat-params file of ``KEY="value"`` lines."""
    try:
        with open(path) as source:
            text = source.read()
    except OSError as exc:
        raise BootstrapError('cannot read Heat parameters %s: %s'
                             % (path, exc.strerror))
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


def value(values, name):
    """The value of key ``name`` (stripped), its default when absent."""
    key = BY_NAME[name]
    if name in values:
        return values[name].strip()
    if key.default is REQUIRED:
        raise BootstrapError('%s is missing from the Heat parameters: %s'
                             % (name, key.meaning))
    return key.default
