"""Every configuration option of magnum-iovisor, in one place.

``list_opts`` feeds oslo-config-generator (``tox -e genconfig``).
"""

from oslo_config import cfg

DEFAULT_CONFIG_FILE = '/etc/magnum-iovisor/magnum-iovisor.conf'

dataplane_opts = [
    cfg.StrOpt('pin_dir', default='/sys/fs/bpf/magnum-iovisor',
               help='Directory on a bpffs where the eBPF maps and programs '
                    'are pinned. Every process that shares it shares one '
                    'policy; enforcement survives the processes.'),
    cfg.StrOpt('bpf_dir',
               help='Directory holding the eBPF C sources (classifier.c and '
                    'its headers). Default: the sources installed with the '
                    'package, or bpf/ of a source checkout.'),
    cfg.IntOpt('endpoints_max', default=1048576, min=1,
               help='Capacity of the endpoints map (IPv4 address -> group). '
                    'Takes effect when the maps are first created.'),
    cfg.IntOpt('rules_max', default=1048576, min=1,
               help='Capacity of the policy map ((src, dst) group pairs). '
                    'Takes effect when the maps are first created.'),
    cfg.IntOpt('denied_max', default=65536, min=1,
               help='How many distinct denied pairs are counted; the least '
                    'recently seen are forgotten first.'),
    cfg.IntOpt('events_bytes', default=262144, min=4096,
               help='Size of the drop event ring buffer in bytes (a power '
                    'of two, multiple of the page size).'),
]


bootstrap_opts = [
    cfg.StrOpt('heat_params', default='/etc/sysconfig/heat-params',
               help='Where the Heat parameters of the node land (shell '
                    'KEY="value" lines, as Magnum writes them).'),
    cfg.StrOpt('config_drop_in',
               default='/etc/magnum-iovisor/magnum-iovisor.conf.d/'
                       'heat-params.conf',
               help='Config file iovisor-bootstrap --write-config writes for '
                    'the daemon from the Heat parameters.'),
    cfg.StrOpt('docker', default='docker',
               help='Docker CLI used to create the slave\'s network.'),
]


def register_opts(conf):
    conf.register_opts(dataplane_opts, group='dataplane')
    conf.register_opts(bootstrap_opts, group='bootstrap')


def list_opts():
    return [('dataplane', dataplane_opts),
            ('bootstrap', bootstrap_opts)]
