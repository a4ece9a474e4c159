"""A NoCloud seed disk for cloud-init: a vfat file system labelled cidata.

cloud-init's NoCloud datasource reads ``user-data`` and ``meta-data`` from
a vfat or iso9660 file system labelled ``cidata``, as it reads a config
drive on Nova. Extra files ride along for the test's own use (the guest
mounts the disk read-only to find them).
"""

import os
import subprocess

SEED_SIZE_KB = 16384


def write_seed(path, user_data, meta_data, extra=None):
    """``path``: a vfat image holding user-data, meta-data and ``extra``.

    ``extra`` maps a file name to bytes or str.
    """
    files = dict(extra or {})
    files['user-data'] = user_data
    files['meta-data'] = meta_data
    staging = path + '.d'
    os.makedirs(staging)
    try:
        for name, content in files.items():
            mode = 'wb' if isinstance(content, bytes) else 'w'
            with open(os.path.join(staging, name), mode) as out:
                out.write(content)
        subprocess.run(['mkfs.vfat', '-n', 'CIDATA', '-C', path,
                        str(SEED_SIZE_KB)], check=True, capture_output=True)
        subprocess.run(['mcopy', '-i', path] + [
            os.path.join(staging, name) for name in sorted(files)] + ['::'],
            check=True, capture_output=True)
    finally:
        for name in files:
            os.unlink(os.path.join(staging, name))
        os.rmdir(staging)
    return path


def meta_data(instance_id, hostname):
    return 'instance-id: %s\nlocal-hostname: %s\n' % (instance_id, hostname)
