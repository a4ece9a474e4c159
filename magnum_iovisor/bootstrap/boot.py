"""What the boot-time unit does: the policy first, then the network."""

from oslo_log import log as logging

from magnum_iovisor.bootstrap import docker_network
from magnum_iovisor.bootstrap import policy_file

LOG = logging.getLogger(__name__)


def boot(params, dataplane, docker, cluster_policy=False):
    """What the boot-time unit does: policy first, then the network.

    With ``cluster_policy`` in force the Heat policy is only validated: the
    cluster's is authoritative.
    """
    new = policy_file.read_policy(params.policy_file)
    if cluster_policy:
        LOG.info('a cluster policy is in force; %s is not applied',
                 params.policy_file)
    else:
        policy_file.apply_policy(dataplane, new)
    if params.docker_network:
        docker_network.ensure_network(docker, params)
    else:
        LOG.info('IOVISOR_DOCKER_NETWORK is empty: no Docker network made')
