"""Every configuration option of magnum-iovisor, in one place.

``list_opts`` feeds oslo-config-generator (``tox -e genconfig``).
"""

import os

from oslo_config import cfg

DEFAULT_CONFIG_FILE = '/etc/magnum-iovisor/magnum-iovisor.conf'
# drop-ins, e.g. the one iovisor-bootstrap writes from the Heat parameters
DEFAULT_CONFIG_DIR = DEFAULT_CONFIG_FILE + '.d'

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
               help='Capacity of the endpoints map (one IPv4 or IPv6 '
                    'address -> group). Takes effect when the maps are '
                    'first created.'),
    cfg.IntOpt('prefixes_max', default=262144, min=1,
               help='Capacity of the CIDR prefix map (prefix -> group, '
                    'longest prefix wins). Takes effect when the maps are '
                    'first created.'),
    cfg.IntOpt('rules_max', default=131072, min=1,
               help='How many rules the policy may hold (each has a per-CPU '
                    'counter, preallocated). Takes effect when the maps are '
                    'first created.'),
    cfg.IntOpt('policy_entries_max', default=2097152, min=1,
               help='Capacity of the policy trie, which holds only the '
                    'port rules of a (source, destination, protocol) that '
                    'resolve into more than 8 runs of ports: one entry per '
                    'aligned block of each run (up to 30 a run). Takes '
                    'effect when the maps are first created.'),
    cfg.IntOpt('conntrack_max', default=262144, min=1,
               help='Capacity of the connection table (preallocated, least '
                    'recently used forgotten first). Takes effect when the '
                    'maps are first created.'),
    cfg.IntOpt('denied_max', default=65536, min=1,
               help='How many distinct denied pairs are counted; the least '
                    'recently seen are forgotten first.'),
    cfg.IntOpt('events_bytes', default=262144, min=4096,
               help='Size of the drop event ring buffer in bytes (a power '
                    'of two, multiple of the page size).'),
    cfg.ListOpt('node_networks', default=[],
                help='CIDR prefixes of the bay\'s nodes (masters and other '
                     'slaves), IPv4 or IPv6: put in the reserved group '
                     '"nodes" (65534) by the Docker driver daemon.'),
    cfg.ListOpt('container_networks', default=[],
                help='CIDR prefixes of the bay\'s container subnets: their '
                     'addresses that are no known endpoint are in the '
                     'reserved group "unknown" (65533), denied unless a '
                     'rule names it.'),
]

iovisor_bay_opts = [
    cfg.StrOpt('heat_templates_dir',
               help='Directory of the bay\'s Heat templates (cluster.yaml, '
                    'master.yaml, slave.yaml, fragments/) that the Magnum '
                    'driver hands to Heat. Default: the copy installed with '
                    'the package, or heat-templates/ of a source checkout.'),
]


def register_bay_opts(conf):
    """Options of the Magnum driver, registered into Magnum's own config."""
    conf.register_opts(iovisor_bay_opts, group='iovisor_bay')


registry_opts = [
    cfg.StrOpt('backend', default='local',
               choices=[('local', 'this host only; no service needed'),
                        ('zookeeper', "share endpoints and the cluster "
                                      "policy through the bay's ZooKeeper")],
               help='Where endpoints are published and other hosts\' '
                    'endpoints learned from.'),
    cfg.StrOpt('hosts', default='127.0.0.1:2181',
               help='ZooKeeper servers, as HOST:PORT[,HOST:PORT...].'),
    cfg.StrOpt('root', default='/magnum-iovisor',
               help='ZooKeeper path under which the hosts (<root>/hosts: '
                    'subnets and endpoints) and the cluster policy '
                    '(<root>/policy) live.'),
    cfg.FloatOpt('session_timeout', default=10.0, min=1.0,
                 help='ZooKeeper session timeout in seconds. A host\'s '
                      'endpoints outlive its sessions (a restart or a '
                      'death is not a departure); only decommissioning '
                      'removes them.'),
    cfg.FloatOpt('connect_timeout', default=5.0, min=0.1,
                 help='How long a command (not the daemon, which never '
                      'waits) waits for ZooKeeper before giving up.'),
    cfg.StrOpt('host_name', sample_default='<the machine\'s host name>',
               help='Name this host publishes its endpoints under; unique '
                    'in the cluster. Default: the machine\'s host name.'),
    cfg.StrOpt('credentials_file',
               help='File holding the bay\'s ZooKeeper identity, one line '
                    'USER:SECRET (digest authentication), readable by its '
                    'owner only (refused when its group or others have any '
                    'access). Every node the project creates then gives '
                    'this identity all rights and nobody else anything, '
                    'and a root created otherwise is refused. Unset: nodes '
                    'are open to every ZooKeeper client (a warning says '
                    'so).'),
    cfg.StrOpt('instance_file',
               default='/var/lib/magnum-iovisor/registry-instance',
               help='File holding this installation\'s random identity '
                    '(made at first start). A host name already taken in '
                    'the registry by another identity is a name collision '
                    'between two slaves: refused and reported, until one is '
                    'renamed or the old one decommissioned '
                    '("iovisor-policy cluster decommission HOST").'),
    cfg.IntOpt('policy_max_bytes', default=8 * 1024 * 1024, min=1024,
               help='Largest cluster policy accepted, in bytes once '
                    'compressed (stored in pieces of 256 KiB; 100,000 '
                    'rules take about 0.6 MiB). Larger ones are refused by '
                    '"cluster load" and ignored by the daemons.'),
    cfg.BoolOpt('use_ssl', default=False,
                help='Talk TLS to ZooKeeper (its secureClientPort; the '
                     'server needs a Netty connection factory).'),
    cfg.StrOpt('ssl_ca_file',
               help='With use_ssl: CA bundle the servers\' certificates are '
                    'checked against, besides the system\'s CAs (kazoo '
                    'always trusts those too).'),
    cfg.BoolOpt('ssl_check_hostname', default=True,
                help='With use_ssl: a server\'s certificate must name the '
                     'host or address it is reached by, as written in '
                     '"hosts" (a subjectAltName). Turning this off accepts '
                     'any certificate a trusted CA signed, for any name.'),
    cfg.StrOpt('ssl_cert_file',
               help='With use_ssl: client certificate (PEM), for servers '
                    'that require one.'),
    cfg.StrOpt('ssl_key_file',
               help='With use_ssl: the client certificate\'s key (PEM).'),
]


docker_opts = [
    cfg.StrOpt('socket_path', default='/run/docker/plugins/iovisor.sock',
               help='Unix socket the libnetwork driver serves. Docker names '
                    'the driver after the basename (iovisor.sock: '
                    '"docker network create -d iovisor").'),
    cfg.StrOpt('state_dir', default='/var/lib/magnum-iovisor',
               help='Directory where the driver keeps its networks and '
                    'endpoints, one JSON file each, across restarts.'),
    cfg.StrOpt('default_mode', default='veth',
               choices=[('veth', 'routed veth pair, programs on the host '
                                 'end; works on every kernel'),
                        ('macvlan', 'macvlan slave of the parent, programs '
                                    'inside the container'),
                        ('ipvlan', 'ipvlan L3 slave of the parent, programs '
                                   'inside the container')],
               help='Interface kind of a network created without '
                    '"-o iovisor.mode=...".'),
    cfg.StrOpt('default_parent',
               help='Parent interface of macvlan/ipvlan networks created '
                    'without "-o iovisor.parent=...".'),
    cfg.FloatOpt('sandbox_timeout', default=60.0, min=1.0,
                 help='Seconds to wait for Docker to move a macvlan/ipvlan '
                      'interface into its container. Without tcx the '
                      'classifiers can be attached only there, so the '
                      'interface is removed after this long; with tcx its '
                      'links filter it from Join on, so the driver warns '
                      'and waits on, and removes it only once the '
                      'container has started (a process other than '
                      'runc\'s init in the sandbox) and run this long '
                      'without it.'),
    cfg.StrOpt('qdisc_bypass_guard', default='auto',
               choices=[('auto', 'only where from_parent cannot judge on '
                                 'the parent what a container sends past '
                                 'its own filters (kernels without '
                                 'bpf_get_netns_cookie in tc programs, or '
                                 'without tcx)'),
                        ('always', 'on every kernel, as well as '
                                   'from_parent')],
               help='While a macvlan/ipvlan network exists, refuse '
                    'setsockopt(PACKET_QDISC_BYPASS) to every socket '
                    'outside the host\'s network namespace (a cgroup '
                    'program on the cgroup v2 root; see README "Raw '
                    'senders"). With the option, a raw sender skips its '
                    'interface\'s egress filter.'),
]


# 9479: in Prometheus's exporter range (9100-9999); see README "Metrics"
DEFAULT_METRICS_LISTEN = '127.0.0.1:9479'

metrics_opts = [
    cfg.StrOpt('listen', default=DEFAULT_METRICS_LISTEN,
               help='HOST:PORT where iovisor-docker-plugin serves Prometheus '
                    'metrics (/metrics); [::1]:PORT for IPv6. Empty: no '
                    'metrics. A value that cannot be parsed or bound is '
                    'logged at start and the daemon serves Docker without '
                    'metrics.'),
    cfg.IntOpt('per_rule_limit', default=1000, min=0,
               help='At most this many rules (and as many denied pairs) get '
                    'series of their own, those with the most packets; the '
                    'rest are summed into one series per action labelled '
                    '"other". 0: every rule its own series.'),
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
    conf.register_opts(registry_opts, group='registry')
    conf.register_opts(bootstrap_opts, group='bootstrap')


def register_docker_opts(conf):
    conf.register_opts(docker_opts, group='docker')
    conf.register_opts(metrics_opts, group='metrics')


def parse(conf, argv=(), config_file=None):
    """Parse ``argv`` into ``conf``, reading the config file and drop-ins.

    ``config_file`` replaces the default file and directory, as an oslo
    ``--config-file`` on the command line does.
    """
    if config_file:
        argv = ['--config-file', config_file, *argv]
    conf(list(argv), project='magnum-iovisor',
         default_config_files=[DEFAULT_CONFIG_FILE]
         if os.path.exists(DEFAULT_CONFIG_FILE) else [],
         default_config_dirs=[DEFAULT_CONFIG_DIR]
         if os.path.isdir(DEFAULT_CONFIG_DIR) else [])
    return conf


def list_opts():
    return [('dataplane', dataplane_opts),
            ('iovisor_bay', iovisor_bay_opts),
            ('registry', registry_opts),
            ('docker', docker_opts),
            ('metrics', metrics_opts),
            ('bootstrap', bootstrap_opts)]
