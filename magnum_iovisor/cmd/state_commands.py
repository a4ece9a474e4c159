"""``iovisor-policy`` subcommands about the Docker driver's state files."""

from cliff import lister

from magnum_iovisor import config
from magnum_iovisor.plugin import failures
from magnum_iovisor.plugin import quarantine


class _StateLister(lister.Lister):
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--state-dir', default=None,
                            help='the driver\'s state directory (overrides '
                                 '[docker] state_dir)')
        return parser

    def state_dir(self, args):
        if args.state_dir is not None:
            return args.state_dir
        conf = self.app.load_config()
        config.register_docker_opts(conf)
        return conf.docker.state_dir


class Quarantined(_StateLister):
    """State files the Docker driver moved aside as unusable, and why."""

    def take_action(self, args):
        return (('Kind', 'File', 'Moved at', 'Reason', 'Now at'),
                [(q.kind, q.name, q.moved_at, q.reason, q.path)
                 for q in quarantine.listing(self.state_dir(args))])


class Failures(_StateLister):
    """Endpoints left without network because their filters failed.

    ``attach``: at Join (``docker run`` failed); ``sandbox``: the interface
    never reached its sandbox, or its filters there failed (the interface
    was removed).
    """

    def take_action(self, args):
        return (('At', 'Kind', 'Endpoint', 'Interface', 'Reason'),
                [tuple(f) for f in failures.listing(self.state_dir(args))])
