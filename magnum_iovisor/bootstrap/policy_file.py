"""The policy document a node keeps on disk, and loading it as a diff."""

import os
import tempfile

from oslo_log import log as logging

from magnum_iovisor.bootstrap import BootstrapError
from magnum_iovisor.bootstrap import heat_params
from magnum_iovisor import policy as policy_model

LOG = logging.getLogger(__name__)

DEFAULT_PATH = heat_params.BY_NAME['IOVISOR_POLICY_FILE'].default


def read_policy(path):
    """Parse the policy document at ``path``; errors name the file."""
    try:
        with open(path) as source:
            text = source.read()
    except OSError as exc:
        raise BootstrapError('cannot read the policy %s: %s'
                             % (path, exc.strerror))
    try:
        return policy_model.parse(text, filename=path)
    except policy_model.PolicyError as exc:
        raise policy_model.PolicyError('%s: %s' % (path, exc))


def apply_policy(dataplane, policy):
    """Make ``policy`` the one in force; only the difference is written."""
    upserts, removals = dataplane.replace_policy(policy)
    LOG.info('policy in force: %d rules (%d written, %d removed): %s',
             len(policy), len(upserts), len(removals),
             policy_model.format_text(policy) or '(default deny)')
    return upserts, removals


def write_policy_file(policy, path):
    """Keep ``policy`` for the next boot; the file is replaced atomically."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile('w', dir=directory, delete=False,
                                     prefix='.iovisor-policy') as out:
        out.write(policy_model.format_json(policy) + '\n')
    os.replace(out.name, path)
