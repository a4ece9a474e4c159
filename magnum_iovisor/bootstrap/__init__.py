"""A booting node, set up from its Heat parameters.

``heat_params``   the keys (one table) and the file's reader
``node``          the slave's settings, validated from those keys
``policy_file``   the policy document on disk, loaded as a diff
``registry_config`` the daemon's [registry] drop-in
``docker_network`` the slave's Docker network
``deployment``    a Heat software deployment (heat-config) carrying a policy
``mesos_agent``   the Mesos agent's MESOS_* environment
``boot``          what the boot-time unit does, in order
"""


class BootstrapError(Exception):
    """The node cannot be set up; the message says what to fix."""


# tests/magnum reads the policy file back as ``bootstrap.read_policy``.
from magnum_iovisor.bootstrap.policy_file import read_policy  # noqa
