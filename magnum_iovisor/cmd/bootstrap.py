"""``iovisor-bootstrap``: set a slave up from its Heat parameters.

    iovisor-bootstrap                   # at boot: policy, then Docker network
    iovisor-bootstrap --write-config    # before the daemon: its config
    iovisor-bootstrap --heat-config -   # a Heat software deployment (stdin)
    iovisor-bootstrap --mesos-agent-env FILE  # the Mesos agent's MESOS_*

Exits non-zero, with the reason in the log (the journal, under systemd),
when the node cannot be set up; a bad policy changes nothing.
"""

import argparse
import json
import os
import sys

from oslo_config import cfg
from oslo_log import log as logging

from magnum_iovisor import bootstrap
from magnum_iovisor.bootstrap import boot
from magnum_iovisor.bootstrap import deployment
from magnum_iovisor.bootstrap import docker_network
from magnum_iovisor.bootstrap import heat_params
from magnum_iovisor.bootstrap import mesos_agent
from magnum_iovisor.bootstrap import node as node_params
from magnum_iovisor.bootstrap import policy_file as policy_files
from magnum_iovisor.bootstrap import registry_config
from magnum_iovisor import config
from magnum_iovisor import dataplane as dataplane_module
from magnum_iovisor.dataplane import bpffs
from magnum_iovisor import policy as policy_model
from magnum_iovisor import registry

LOG = logging.getLogger(__name__)
FAILURES = (bootstrap.BootstrapError, policy_model.PolicyError, OSError,
            bpffs.NotOnBpffs, dataplane_module.BpfError,
            dataplane_module.AttachError)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='iovisor-bootstrap', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--heat-params', default=None,
                        help='heat-params file (overrides [bootstrap] '
                             'heat_params)')
    parser.add_argument('--config-file', default=None,
                        help='oslo.config file (default: %s when it exists)'
                             % config.DEFAULT_CONFIG_FILE)
    parser.add_argument('--pin-dir', default=None,
                        help='bpffs directory of the pinned maps')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--write-config', action='store_true',
                      help='only write the daemon\'s config drop-in from the '
                           'Heat parameters')
    mode.add_argument('--mesos-agent-env', metavar='FILE',
                      help='only write the Mesos agent\'s MESOS_* '
                           'environment (systemd EnvironmentFile) from the '
                           'Heat parameters')
    mode.add_argument('--heat-config', nargs='?', const='-', metavar='FILE',
                      help='apply the iovisor_policy input of a heat-config '
                           'deployment (JSON; "-" or no FILE: stdin) and '
                           'answer with heat-config JSON on stdout')
    return parser.parse_args(argv)


def load_config(args):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    logging.register_options(conf)
    # stdout belongs to the heat-config answer; the journal takes stderr.
    conf.set_default('use_stderr', True)
    config.parse(conf, config_file=args.config_file)
    if args.pin_dir:
        conf.set_override('pin_dir', args.pin_dir, 'dataplane')
    if args.heat_params:
        conf.set_override('heat_params', args.heat_params, 'bootstrap')
    logging.setup(conf, 'magnum-iovisor')
    return conf


class Node:
    """What bootstrap acts on, made on first use (tests swap them)."""

    def __init__(self, conf):
        self.conf = conf
        self._dataplane = None

    @property
    def dataplane(self):
        if self._dataplane is None:
            self._dataplane = dataplane_module.Dataplane(self.conf.dataplane)
        return self._dataplane

    @property
    def docker(self):
        return docker_network.DockerCli(self.conf.bootstrap.docker)

    def cluster_policy_in_force(self):
        """Whether the bay's ZooKeeper holds a cluster policy (it wins).

        Unreachable is no answer, so nothing is applied: the Heat policy
        could overwrite a cluster policy the daemon has just applied. The
        unit fails (systemd retries it) and the policy stays as it is.
        """
        conf = self.conf.registry
        if conf.backend != 'zookeeper':
            return False
        cluster = registry.open_registry(conf)
        try:
            cluster.wait_connected(conf.connect_timeout)
            return cluster.cluster_policy() is not None
        except registry.Unavailable as exc:
            raise bootstrap.BootstrapError(
                '%s: cannot tell whether a cluster policy is in force, so '
                'the policy in force is left as it is' % exc)
        except policy_model.PolicyError:
            return True   # a bad cluster document still means "cluster"
        finally:
            cluster.close()

    def writing_policy(self):
        return self.dataplane.writing_policy()

    def close(self):
        if self._dataplane is not None:
            self._dataplane.close()


def params(conf):
    return node_params.NodeParams.from_heat_params(
        heat_params.read(conf.bootstrap.heat_params))


def deploy(conf, node, source, stdin):
    """Apply a software deployment's policy and keep it for the next boot."""
    if source == '-':
        text = stdin.read()
    else:
        with open(source) as document:
            text = document.read()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise bootstrap.BootstrapError('heat-config %s: not JSON: %s'
                                       % (source, exc))
    new = deployment.policy_from_deployment(document)
    if os.path.exists(conf.bootstrap.heat_params):
        policy_file = params(conf).policy_file
    else:
        policy_file = policy_files.DEFAULT_PATH
    with node.writing_policy():
        if node.cluster_policy_in_force():
            raise bootstrap.BootstrapError(
                "a cluster policy is in force and overrides the stack's; "
                "change it with 'iovisor-policy cluster load', or remove it "
                "with 'iovisor-policy cluster clear' first")
        upserts, removals = policy_files.apply_policy(node.dataplane, new)
    policy_files.write_policy_file(new, policy_file)
    return ('policy in force: %s (%d written, %d removed; kept in %s)'
            % (policy_model.format_text(new) or '(default deny)',
               len(upserts), len(removals), policy_file))


def run(argv, node_factory=Node, stdin=None, stdout=None):
    args = parse_args(argv)
    conf = load_config(args)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    node = node_factory(conf)
    try:
        if args.heat_config:
            message, error = None, None
            try:
                message = deploy(conf, node, args.heat_config, stdin)
            except FAILURES as exc:
                error = str(exc)
            if error is not None:
                # Logged outside the handler: oslo.log would repeat it.
                LOG.error('iovisor-bootstrap: %s; the policy in force is '
                          'unchanged', error)
            json.dump({'deploy_stdout': message or '',
                       'deploy_stderr': error or '',
                       'deploy_status_code': 0 if error is None else 1},
                      stdout)
            return 0 if error is None else 1
        error = None
        try:
            if args.mesos_agent_env:
                mesos_agent.write_agent_env(
                    heat_params.read(conf.bootstrap.heat_params),
                    args.mesos_agent_env)
                return 0
            settings = params(conf)
            if args.write_config:
                registry_config.write_registry_config(
                    settings, conf.bootstrap.config_drop_in)
            else:
                with node.writing_policy():
                    boot.boot(settings, node.dataplane, node.docker,
                              node.cluster_policy_in_force())
        except policy_model.PolicyError as exc:
            error = ('bad policy, nothing changed (the previous policy, or '
                     'default deny, stays): %s' % exc)
        except FAILURES as exc:
            error = str(exc)
        if error is not None:
            LOG.error('iovisor-bootstrap: %s', error)
            return 1
        return 0
    finally:
        node.close()


def main():
    sys.exit(run(sys.argv[1:]))


if __name__ == '__main__':
    main()
