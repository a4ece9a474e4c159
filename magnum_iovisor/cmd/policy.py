"""``iovisor-policy``: look at and change the policy on this host."""

import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg

from magnum_iovisor.cmd import cluster_commands
from magnum_iovisor import config
from magnum_iovisor import dataplane


class PolicyApp(app.App):
    def __init__(self):
        super().__init__(
            description=__doc__,
            version='magnum-iovisor',
            command_manager=commandmanager.CommandManager(
                'iovisor.policy.commands'),
            deferred_help=True)
        self._dataplane = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', default=None,
            help='oslo.config file (default: %s when it exists)'
                 % config.DEFAULT_CONFIG_FILE)
        parser.add_argument(
            '--pin-dir', default=None,
            help='bpffs directory of the pinned maps (overrides [dataplane] '
                 'pin_dir)')
        return parser

    def load_config(self):
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        config.parse(conf, config_file=self.options.config_file)
        if self.options.pin_dir:
            conf.set_override('pin_dir', self.options.pin_dir, 'dataplane')
        return conf

    @property
    def dataplane(self):
        """Opened on first use, so that --help needs no bpffs."""
        if self._dataplane is None:
            self._dataplane = dataplane.Dataplane(self.load_config().dataplane)
        return self._dataplane

    def prepare_to_run_command(self, cmd):
        if getattr(cmd, 'changes_policy', False):
            # After argument parsing (--help opens nothing), and under the
            # policy write lock from the cluster check to the last write
            # (dataplane/writer.py).
            take_action = cmd.take_action

            def guarded(args):
                with self.dataplane.writing_policy():
                    cluster_commands.refuse_local_change(self)
                    return take_action(args)
            cmd.take_action = guarded

    def clean_up(self, cmd, result, err):
        if self._dataplane is not None:
            self._dataplane.close()
            self._dataplane = None


def main(argv=None):
    return PolicyApp().run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
