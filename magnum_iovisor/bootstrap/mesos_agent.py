"""The Mesos agent's MESOS_* environment, from the Heat parameters.

``mesos-agent.service`` (element ``mesos-agent``) has it written by
``iovisor-bootstrap --mesos-agent-env /run/mesos-agent/env`` before it
starts: the agent's only configuration path.
"""

import os
import shlex

from magnum_iovisor.bootstrap import BootstrapError
from magnum_iovisor.bootstrap import heat_params

ZOOKEEPER_PORT = 2181


def agent_env(values):
    """``{MESOS_*: value}`` for the agent of a node with these parameters."""
    def get(name):
        return heat_params.value(values, name)

    masters = get('MESOS_MASTERS').replace(',', ' ').split()
    if not masters:
        raise BootstrapError('MESOS_MASTERS is empty: the agent needs the '
                             'masters\' addresses')
    attributes = [a for a in get('MESOS_AGENT_ATTRIBUTES').split(';') if a]
    network = get('IOVISOR_DOCKER_NETWORK')
    if network:
        attributes.append('docker_network:%s' % network)
    env = {
        'MESOS_MASTER': 'zk://%s/mesos' % ','.join(
            m if ':' in m else '%s:%d' % (m, ZOOKEEPER_PORT)
            for m in masters),
        'MESOS_CONTAINERIZERS': 'docker,mesos',
        'MESOS_WORK_DIR': '/var/lib/mesos',
        'MESOS_SYSTEMD_ENABLE_SUPPORT': 'false',
        'MESOS_EXECUTOR_REGISTRATION_TIMEOUT': get(
            'EXECUTOR_REGISTRATION_TIMEOUT'),
    }
    if attributes:
        env['MESOS_ATTRIBUTES'] = ';'.join(attributes)
    return env


def write_agent_env(values, path):
    """An EnvironmentFile= for systemd, replaced atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as out:
        for key, value in sorted(agent_env(values).items()):
            out.write('%s=%s\n' % (key, shlex.quote(value)))
    os.replace(path + '.tmp', path)
