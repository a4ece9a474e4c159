"""``iovisor-docker-plugin``: the libnetwork driver and cluster agent."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from magnum_iovisor import config
from magnum_iovisor import dataplane
from magnum_iovisor.dataplane import reserved
from magnum_iovisor.plugin import driver
from magnum_iovisor.plugin import listener
from magnum_iovisor.plugin import routes
from magnum_iovisor.plugin import state
from magnum_iovisor import registry
from magnum_iovisor.registry import agent
from magnum_iovisor.telemetry import metrics

LOG = logging.getLogger(__name__)


def load_config(argv):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    config.register_docker_opts(conf)
    logging.register_options(conf)
    config.parse(conf, argv)
    return conf


def main(argv=None):
    conf = load_config(sys.argv[1:] if argv is None else argv)
    logging.setup(conf, 'magnum-iovisor')
    docker = conf.docker
    try:
        listener.clear_stale(docker.socket_path)
        plane = dataplane.Dataplane(conf.dataplane)
        # the slave's own addresses are "host", not the world
        reserved.sync(plane, conf.dataplane, networks=None)
    except Exception as exc:
        LOG.error('cannot start: %s', exc)
        return 1
    subnets = []        # set below, once the registry is open
    keeper = reserved.Keeper(
        plane, conf.dataplane,
        networks=lambda: subnets[0]() if subnets else None)
    keeper.start()
    with plane:
        try:
            # connects in the background: never waits for ZooKeeper
            cluster = registry.open_registry(conf.registry)
        except Exception as exc:
            LOG.error('cannot start: [registry] %s', exc)
            return 1
        LOG.info('registry %s: this host is %s', conf.registry.backend,
                 cluster.host_name)
        host = agent.Agent(plane, cluster)
        # never fatal: a bad [metrics] listen is logged, Docker is served
        metrics_server = metrics.serve(conf.metrics, plane, cluster,
                                       docker.state_dir)
        try:
            network_driver = driver.Driver(
                host, state.Store(docker.state_dir),
                default_mode=docker.default_mode,
                default_parent=docker.default_parent,
                sandbox_timeout=docker.sandbox_timeout,
                qdisc_bypass_guard=docker.qdisc_bypass_guard)
            host.routed_subnets = lambda: [
                n.subnet for n in network_driver.networks.values()]
            subnets.append(cluster.held_subnets)
            network_driver.reconcile()
            host.start()
            listener.serve(routes.make_app(network_driver),
                           docker.socket_path)
        finally:
            if metrics_server is not None:
                metrics_server.close()
            # a clean stop ends the session; this host's endpoints stay
            # announced (a restart is not a departure: see README)
            host.close()
            keeper.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
