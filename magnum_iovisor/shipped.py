"""Where the files shipped beside the package are: the eBPF sources and the
Heat templates, installed under ``share/magnum-iovisor/`` by pbr's
data_files, or at the top of a source checkout.
"""

import os
import sys


def find(name, marker, configured=None, option=None):
    """The directory ``name`` holding file ``marker``.

    ``configured`` (an option's value) wins when set; ``option`` names that
    option in the error.
    """
    candidates = [configured] if configured else [
        os.path.join(sys.prefix, 'share', 'magnum-iovisor', name),
        os.path.join(os.path.dirname(__file__), '..', name),
    ]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, marker)):
            return os.path.realpath(candidate)
    raise FileNotFoundError('%s (%s) not found in %s%s'
                            % (name, marker, ', '.join(candidates),
                               '; set %s' % option if option else ''))
