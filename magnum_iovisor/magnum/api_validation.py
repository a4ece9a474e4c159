"""The iovisor label checks, in magnum-api's own label validation.

Magnum 13's cluster, bay, cluster template and baymodel POSTs run
``magnum.api.attr_validator.validate_os_resources``, whose ``labels``
check calls every function in ``attr_validator.labels_validators`` whose
label is set; an ``exception.InvalidParameterValue`` it raises is the
API's 400, with the message. ``register`` puts ours in that table.

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


def register():
    for label in template_def.LABELS:
        attr_validator.labels_validators.setdefault(label, _validator(label))


def filter_factory(global_conf, **local_conf):
    """``[filter:iovisor]`` in magnum-api's pipeline: registers, no more."""
    register()
    return lambda app: app
