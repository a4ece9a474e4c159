"""Endpoints that got no network because their filters could not be put on.

Attaching the classifiers can fail (Join then fails, or the interface is
removed: no container runs unfiltered). Each failure is logged, counted
and appended as one JSON line to ``<state_dir>/failures.jsonl`` so that
``iovisor-policy failures`` can show them from another process, across
daemon restarts. Lines are written with one ``write`` on an ``O_APPEND``
file, so concurrent writers never interleave; a line that cannot be read
(a crash mid-write) is shown as unreadable, never dropped silently.
"""

import collections
import json
import logging
import os
import time

LOG = logging.getLogger(__name__)
FILE = 'failures.jsonl'
KINDS = ('attach', 'sandbox')   # at Join; in the sandbox watcher

Failure = collections.namedtuple('Failure',
                                 'at kind endpoint interface reason')


def path(state_dir):
    return os.path.join(state_dir, FILE)


def record(state_dir, kind, endpoint_id, interface, reason):
    """Log and keep one failure; never raises (the caller fails closed)."""
    if kind not in KINDS:
        raise ValueError('failure kind %r; one of %s' % (kind, KINDS))
    at = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    LOG.error('endpoint %s: %s failure on %s: %s', endpoint_id[:12], kind,
              interface, reason)
    line = json.dumps({'at': at, 'kind': kind, 'endpoint': endpoint_id,
                       'interface': interface, 'reason': reason},
                      sort_keys=True) + '\n'
    try:
        fd = os.open(path(state_dir),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        LOG.error('cannot record the failure in %s: %s', path(state_dir),
                  exc)


def listing(state_dir):
    """[Failure], oldest first."""
    try:
        with open(path(state_dir)) as lines:
            raw = lines.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for number, line in enumerate(raw, 1):
        try:
            item = json.loads(line)
            found.append(Failure(item['at'], item['kind'], item['endpoint'],
                                 item['interface'], item['reason']))
        except (ValueError, KeyError, TypeError):
            found.append(Failure('?', '?', '?', '?', '%s line %d unreadable'
                                 % (FILE, number)))
    return found
