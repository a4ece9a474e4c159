"""Magnum driver for ('vm', 'ubuntu', 'mesos') bays enforcing iovisor policy.

Registered in the ``magnum.drivers`` entry point group as
``iovisor_mesos_ubuntu``. Magnum's own ``mesos_ubuntu_v1`` claims the same
cluster type: list it in ``[drivers] disabled_drivers``.
"""

from magnum.common import cert_manager
from magnum.common import exception
from magnum.conductor import utils as conductor_utils
from magnum.drivers.heat import driver
from oslo_log import log as logging

from magnum_iovisor.magnum import api_validation
from magnum_iovisor.magnum import template_def

LOG = logging.getLogger(__name__)

api_validation.register()


class Driver(driver.HeatDriver):

    @property
    def provides(self):
        return [dict(kind) for kind in template_def.PROVIDES]

    def get_template_definition(self):
        return template_def.IovisorMesosTemplateDefinition()

    def create_cluster(self, context, cluster, cluster_create_timeout):
        """Refuse bad labels and node counts before anything reaches Heat.

        The second line: magnum-api refuses both already (api_validation),
        but not when api_validation was not registered, and not a scale
        to 0 (the stack parameters, template_def).
        This runs in magnum-conductor, which records the error as the
        cluster's status_reason (CREATE_FAILED).
        """
        template_def.check_node_count(cluster.default_ng_worker.node_count)
        template_def.label_parameters(template_def.bay_labels(
            cluster, conductor_utils.retrieve_cluster_template(context,
                                                               cluster)))
        super().create_cluster(context, cluster, cluster_create_timeout)

    def delete_cluster(self, context, cluster):
        """Also delete the two CAs Magnum 13 creates but never deletes.

        Its conductor deletes ca_cert_ref and magnum_cert_ref only
        (magnum/conductor/handlers/common/cert_manager.py); a Mesos bay
        uses neither the etcd nor the front-proxy CA. Done first: the
        stack delete raises when a failed create left no stack. As in
        Magnum's own clean-up, a certificate that cannot be deleted is
        logged, not a reason to keep the bay.
        """
        for ref in (cluster.etcd_ca_cert_ref, cluster.front_proxy_ca_cert_ref):
            if not ref:
                continue
            try:
                cert_manager.get_backend().CertManager.delete_cert(
                    ref, resource_ref=cluster.uuid, context=context)
            except Exception as exc:
                LOG.warning('Bay %s: certificate %s not deleted: %s',
                            cluster.uuid, ref, exc)
        cluster.etcd_ca_cert_ref = cluster.front_proxy_ca_cert_ref = None
        cluster.save()
        super().delete_cluster(context, cluster)

    def upgrade_cluster(self, context, cluster, cluster_template,
                        max_batch_size, nodegroup, scale_manager=None,
                        rollback=False):
        raise exception.NotSupported(operation='Upgrading a Mesos bay')
