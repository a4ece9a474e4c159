"""Where the bay's Heat templates are (no Magnum import: usable anywhere)."""

from oslo_config import cfg

from magnum_iovisor import config
from magnum_iovisor import shipped

CLUSTER_TEMPLATE = 'cluster.yaml'


def templates_dir(conf=None):
    """The configured directory, the installed copy, or the source tree's."""
    conf = conf or cfg.CONF
    config.register_bay_opts(conf)
    return shipped.find('heat-templates', CLUSTER_TEMPLATE,
                        conf.iovisor_bay.heat_templates_dir,
                        '[iovisor_bay] heat_templates_dir')
