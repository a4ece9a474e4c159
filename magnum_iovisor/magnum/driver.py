"""Magnum driver for ('vm', 'ubuntu', 'mesos') bays enforcing iovisor policy.

Registered in the ``magnum.drivers`` entry point group as
``iovisor_mesos_ubuntu``. Magnum's own ``mesos_ubuntu_v1`` claims the same
cluster type: list it in ``[drivers] disabled_drivers``.
"""

from magnum.common import exception
from magnum.drivers.heat import driver

from magnum_iovisor.magnum import template_def


class Driver(driver.HeatDriver):

    @property
    def provides(self):
        return [{'server_type': 'vm', 'os': 'ubuntu', 'coe': 'mesos'}]

    def get_template_definition(self):
        return template_def.IovisorMesosTemplateDefinition()

    def upgrade_cluster(self, context, cluster, cluster_template,
                        max_batch_size, nodegroup, scale_manager=None,
                        rollback=False):
        raise exception.NotSupported(operation='Upgrading a Mesos bay')
