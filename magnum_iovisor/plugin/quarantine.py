"""State files the driver could not use, moved aside instead of served.

A state file that is truncated, empty, unparsable or of another version
must neither stop the daemon (every other network would die with it) nor
be guessed at. It is moved to ``<state_dir>/quarantine/<kind>/`` under its
own name plus the time it was moved, next to a ``.reason`` file saying
what was wrong, and logged once, when it is moved. ``iovisor-policy
quarantined`` lists them; nothing reads them again.
"""

import collections
import logging
import os
import time

LOG = logging.getLogger(__name__)

REASON = '.reason'

Quarantined = collections.namedtuple('Quarantined',
                                     'kind name moved_at reason path')


def directory(state_dir, kind=None):
    parts = [state_dir, 'quarantine'] + ([kind] if kind else [])
    return os.path.join(*parts)


def move(state_dir, kind, path, reason):
    """Move ``path`` (a file under ``state_dir``/``kind``) aside."""
    target_dir = directory(state_dir, kind)
    os.makedirs(target_dir, mode=0o700, exist_ok=True)
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
    target = os.path.join(target_dir,
                          '%s.%s' % (os.path.basename(path), stamp))
    serial = 1
    while os.path.exists(target):
        serial += 1
        target = os.path.join(target_dir, '%s.%s.%d'
                              % (os.path.basename(path), stamp, serial))
    with open(target + REASON, 'w') as note:
        note.write(reason + '\n')
    os.replace(path, target)
    LOG.error('state file %s: %s; moved to %s, not served', path, reason,
              target)
    return target


def listing(state_dir):
    """[Quarantined], oldest first."""
    found = []
    root = directory(state_dir)
    if not os.path.isdir(root):
        return found
    for kind in sorted(os.listdir(root)):
        kind_dir = os.path.join(root, kind)
        for name in sorted(os.listdir(kind_dir)):
            if name.endswith(REASON):
                continue
            path = os.path.join(kind_dir, name)
            original, _, stamp = name.partition('.json.')
            try:
                with open(path + REASON) as note:
                    reason = note.read().strip()
            except FileNotFoundError:
                reason = 'unknown'
            found.append(Quarantined(kind, original + '.json',
                                     stamp.split('.')[0], reason, path))
    return sorted(found, key=lambda q: (q.moved_at, q.kind, q.name))


def names(state_dir, kind):
    """The stems (record ids) of the files of ``kind`` moved aside."""
    return {q.name[:-len('.json')] for q in listing(state_dir)
            if q.kind == kind}
