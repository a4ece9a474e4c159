"""The bay's identity in ZooKeeper: digest credentials and their ACL.

``[registry] credentials_file`` holds one line ``USER:SECRET``. Every
client of the bay authenticates with it (ZooKeeper's ``digest`` scheme) and
every node it creates carries one ACL entry: that identity, all rights.
The file is refused when its group or others have any access to it.
"""

import dataclasses
import os
import stat

from kazoo import security

from magnum_iovisor import registry


@dataclasses.dataclass(frozen=True)
class Credentials:
    user: str
    secret: str = dataclasses.field(repr=False)

    @property
    def auth_data(self):
        return [('digest', '%s:%s' % (self.user, self.secret))]

    @property
    def acl(self):
        """The one ACL every node of the bay has."""
        return [security.make_digest_acl(self.user, self.secret, all=True)]

    @property
    def identity(self):
        """``digest:USER:HASH``, as ZooKeeper shows it in ACLs."""
        return 'digest:' + security.make_digest_acl_credential(
            self.user, self.secret)


def read(path):
    """The Credentials in ``path``; RegistryError names what is wrong."""
    what = '[registry] credentials_file %s' % path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise registry.RegistryError('%s: %s' % (what, exc.strerror))
    with os.fdopen(fd, 'rb') as secret_file:
        mode = os.fstat(secret_file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise registry.RegistryError('%s is not a regular file' % what)
        if mode & 0o077:
            raise registry.RegistryError(
                '%s is open to its group or others (mode %04o); it holds the '
                "bay's ZooKeeper secret: chmod 600 it" % (what, mode & 0o7777))
        data = secret_file.read(4097)
    # the secret itself never appears in an error
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise registry.RegistryError('%s is not UTF-8 text' % what)
    lines = text.splitlines()
    if len(data) > 4096 or len(lines) != 1:
        raise registry.RegistryError(
            '%s must hold exactly one line USER:SECRET' % what)
    user, colon, secret = lines[0].partition(':')
    if not colon or not user or not secret or user != user.strip():
        raise registry.RegistryError(
            '%s must hold USER:SECRET with a non-empty user and secret' % what)
    return Credentials(user, secret)
