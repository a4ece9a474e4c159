"""``iovisor-policy`` subcommands about the Docker driver's state files."""

from cliff import lister

from magnum_iovisor import config
from magnum_iovisor.plugin import quarantine


class Quarantined(lister.Lister):
    """State files the Docker driver moved aside as unusable, and why."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--state-dir', default=None,
                            help='the driver\'s state directory (overrides '
                                 '[docker] state_dir)')
        return parser

    def take_action(self, args):
        state_dir = args.state_dir
        if state_dir is None:
            conf = self.app.load_config()
            config.register_docker_opts(conf)
            state_dir = conf.docker.state_dir
        return (('Kind', 'File', 'Moved at', 'Reason', 'Now at'),
                [(q.kind, q.name, q.moved_at, q.reason, q.path)
                 for q in quarantine.listing(state_dir)])
