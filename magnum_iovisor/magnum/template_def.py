"""Cluster template, cluster and labels -> parameters of heat-templates/.

Labels (all optional):

``iovisor_policy``
    The policy in magnum_iovisor's text form, e.g.
    ``100>0 0>100 100>100 100<>200`` (no commas: the client splits labels
    on them). Passed to Heat as the JSON document. Without it, slaves
    start with no rule: every container pair is denied.
``iovisor_mode``
    ``ipvlan`` (default) or ``veth`` (the Heat templates refuse macvlan:
    port security drops its MACs).
``iovisor_parent``
    Parent interface of ipvlan links (default ``eth0``).
``iovisor_registry``
    ``local``, or a ``zookeeper://`` URL; default: the bay's own ZooKeeper.
``iovisor_routed_subnet_prefix``
    First two octets of the slaves' container subnets (default ``10.1``:
    slave N routes 10.1.N.0/24).
"""

import os

from magnum.common import exception
from magnum.drivers.heat import template_def

from magnum_iovisor.bootstrap import node
from magnum_iovisor.magnum import templates
from magnum_iovisor import policy


def _policy(text):
    return policy.dump(policy.parse(text, 'text'), 'json')


def _mode(text):
    if text not in node.MODES:
        raise ValueError('not one of %s' % ', '.join(node.MODES))
    return text


# the cluster templates our driver builds (driver.Driver.provides)
PROVIDES = ({'server_type': 'vm', 'os': 'ubuntu', 'coe': 'mesos'},)

# label -> (Heat parameter, conversion raising ValueError)
LABELS = {
    'iovisor_policy': ('iovisor_policy', _policy),
    'iovisor_mode': ('iovisor_mode', _mode),
    'iovisor_parent': ('iovisor_parent', str),
    'iovisor_registry': ('iovisor_registry', str),
    'iovisor_routed_subnet_prefix': ('routed_subnet_prefix', str),
}


def bay_labels(cluster, cluster_template):
    """The labels a bay is created with.

    Magnum 13's bay API (v1/bays, ``magnum bay-create``) leaves the bay's
    labels empty instead of copying the baymodel's: it tests ``labels is
    None``, which wsme never gives. Its cluster API's rule is applied:
    empty labels are the cluster template's.
    """
    return cluster.labels or cluster_template.labels


def label_parameters(labels):
    """Heat parameters from the iovisor labels; a bad one names itself."""
    params = {}
    for label, (param, convert) in LABELS.items():
        value = (labels or {}).get(label)
        if value is None:
            continue
        try:
            params[param] = convert(value)
        except ValueError as exc:    # PolicyError is one
            raise exception.InvalidParameterValue(
                err='label %s=%r: %s' % (label, value, exc))
    return params


def check_node_count(node_count):
    """A Mesos bay runs its containers on slaves: at least one."""
    if node_count < 1:
        raise exception.InvalidParameterValue(
            err='node_count %d: a Mesos bay needs at least one slave'
                % node_count)


class IovisorMesosTemplateDefinition(template_def.BaseTemplateDefinition):
    """A Mesos bay on Ubuntu VMs whose slaves enforce an iovisor policy."""

    def __init__(self):
        super().__init__()
        self.add_parameter('external_network',
                           cluster_template_attr='external_network_id',
                           required=True)
        self.add_parameter('fixed_network',
                           cluster_template_attr='fixed_network',
                           cluster_attr='fixed_network')
        self.add_parameter('fixed_subnet',
                           cluster_template_attr='fixed_subnet',
                           cluster_attr='fixed_subnet')
        self.add_parameter('cluster_name', cluster_attr='name')

        self.add_output('api_address', cluster_attr='api_address')
        self.add_output('mesos_master_private', cluster_attr=None)
        self.add_output('mesos_slaves_private', cluster_attr=None)

    def get_nodegroup_param_maps(self, master_params=None, worker_params=None):
        master_params = dict(master_params or {}, master_flavor='flavor_id',
                             master_image='image_id')
        worker_params = dict(worker_params or {},
                             number_of_slaves='node_count',
                             slave_flavor='flavor_id', slave_image='image_id')
        return super().get_nodegroup_param_maps(master_params=master_params,
                                                worker_params=worker_params)

    def get_params(self, context, cluster_template, cluster, **kwargs):
        extra_params = kwargs.pop('extra_params', {})
        extra_params.update(label_parameters(
            self._get_relevant_labels(cluster, kwargs)
            or cluster_template.labels))
        return super().get_params(context, cluster_template, cluster,
                                  extra_params=extra_params, **kwargs)

    def update_outputs(self, stack, cluster_template, cluster,
                       nodegroups=None):
        nodegroups = nodegroups or [cluster.default_ng_worker,
                                    cluster.default_ng_master]
        for nodegroup in nodegroups:
            if nodegroup.role == 'master':
                self.add_output(
                    'mesos_master', nodegroup_attr='node_addresses',
                    nodegroup_uuid=nodegroup.uuid,
                    mapping_type=template_def.NodeGroupOutputMapping)
            else:
                self.add_output(
                    'mesos_slaves', nodegroup_attr='node_addresses',
                    nodegroup_uuid=nodegroup.uuid,
                    mapping_type=template_def.NodeGroupOutputMapping)
                self.add_output(
                    'number_of_slaves', nodegroup_attr='node_count',
                    nodegroup_uuid=nodegroup.uuid, is_stack_param=True,
                    mapping_type=template_def.NodeGroupOutputMapping)
        super().update_outputs(stack, cluster_template, cluster,
                               nodegroups=nodegroups)

    def get_scale_params(self, context, cluster, node_count,
                         scale_manager=None, nodes_to_remove=None):
        check_node_count(node_count)
        return {'number_of_slaves': node_count}

    def get_env_files(self, cluster_template, cluster, nodegroup=None):
        return []

    @property
    def driver_module_path(self):
        return __name__[:__name__.rindex('.')]

    @property
    def template_path(self):
        return os.path.join(templates.templates_dir(),
                            templates.CLUSTER_TEMPLATE)
