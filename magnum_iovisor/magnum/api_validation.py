"""The iovisor label checks, in magnum-api's own label validation.

Magnum 13's cluster, bay, cluster template and baymodel POSTs run
``magnum.api.attr_validator.validate_os_resources``, whose ``labels``
check calls every function in ``attr_validator.labels_validators`` whose
label is set; an ``exception.InvalidParameterValue`` it raises is the
API's 400, with the message. ``register`` puts ours in that table.

The cluster API (1.10) takes node_count 0 for every COE; its POST then
calls ``attr_validator.validate_master_count(cluster, cluster_template)``,
the one check that sees both. ``register`` wraps it so that a cluster of
our driver's template with no slave is a 400 too, before any row, trust or
stack (a bay POST refuses 0 itself, and a scale to 0 fails in the driver).

magnum-api imports drivers on a cluster or cluster template POST only,
not on a bay or baymodel POST: magnum_iovisor.magnum.driver registers on
import, and ``filter_factory`` (a paste filter for api-paste.ini) makes
magnum-api register at start, before any request.
"""

from magnum.api import attr_validator

from magnum_iovisor.magnum import template_def


def _validator(label):
    def validate(labels):
        template_def.label_parameters({label: labels[label]})
    return validate


def ours(cluster_template):
    """Whether our driver builds clusters of ``cluster_template``."""
    return any(cluster_template.get('server_type') == kind['server_type']
               and cluster_template.get('cluster_distro') == kind['os']
               and cluster_template.get('coe') == kind['coe']
               for kind in template_def.PROVIDES)


def _with_node_count(validate_master_count):
    def validate(cluster, cluster_template):
        validate_master_count(cluster, cluster_template)
        if ours(cluster_template) and 'node_count' in cluster:
            template_def.check_node_count(cluster['node_count'])
    validate.iovisor_wrapped = validate_master_count
    return validate


def register():
    for label in template_def.LABELS:
        attr_validator.labels_validators.setdefault(label, _validator(label))
    current = attr_validator.validate_master_count
    if not hasattr(current, 'iovisor_wrapped'):
        attr_validator.validate_master_count = _with_node_count(current)


def filter_factory(global_conf, **local_conf):
    """``[filter:iovisor]`` in magnum-api's pipeline: registers, no more."""
    register()
    return lambda app: app
