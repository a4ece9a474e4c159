"""Where the bay's Heat templates are (no Magnum import: usable anywhere)."""

import os
import sys

from oslo_config import cfg

from magnum_iovisor import config

CLUSTER_TEMPLATE = 'cluster.yaml'


def templates_dir(conf=None):
    """The configured directory, the installed copy, or the source tree's."""
    conf = conf or cfg.CONF
    config.register_bay_opts(conf)
    configured = conf.iovisor_bay.heat_templates_dir
    candidates = [configured] if configured else [
        os.path.join(sys.prefix, 'share', 'magnum-iovisor', 'heat-templates'),
        os.path.join(os.path.dirname(__file__), '..', '..', 'heat-templates'),
    ]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, CLUSTER_TEMPLATE)):
            return os.path.realpath(candidate)
    raise FileNotFoundError('Heat templates (%s) not found in %s; set '
                            '[iovisor_bay] heat_templates_dir'
                            % (CLUSTER_TEMPLATE, ', '.join(candidates)))
