"""Where pins live: checks that a directory is on a bpffs."""

import os


class NotOnBpffs(RuntimeError):
    pass


def mount_point_type(path):
    """The filesystem type of the mount that holds ``path``."""
    path = os.path.realpath(path)
    best, fstype = '', None
    with open('/proc/self/mountinfo') as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[4].replace('\\040', ' ')
            sep = fields.index('-')
            inside = path == point or path.startswith(point.rstrip('/') + '/')
            if inside and len(point) >= len(best):
                best, fstype = point, fields[sep + 1]
    return fstype


def ensure_pin_dir(path):
    """Create ``path`` on an existing bpffs, or say clearly why not."""
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if mount_point_type(parent) != 'bpf':
        raise NotOnBpffs(
            'pin directory %s is not on a bpffs; mount one first, e.g. '
            '"mount -t bpf bpf /sys/fs/bpf" (tools/install-system.sh does)'
            % path)
    os.makedirs(path, exist_ok=True)
