"""Throwaway certificate authorities for TLS tests (openssl's CLI).

Keys are P-256, unencrypted PKCS#8, as both Python's ssl and ZooKeeper's
PEM key stores read them; certificates last a day.
"""

import dataclasses
import os
import subprocess


def _openssl(*args):
    subprocess.run(('openssl',) + args, check=True, capture_output=True)


class CA:
    def __init__(self, directory, name):
        self.directory = directory
        self.name = name
        self.key = os.path.join(directory, name + '.key')
        self.cert = os.path.join(directory, name + '.pem')
        _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
                 'ec_paramgen_curve:P-256', '-nodes', '-keyout', self.key,
                 '-out', self.cert, '-days', '1', '-subj', '/CN=' + name)

    def issue(self, name, *names):
        """(certificate, key) paths for ``name``, valid for ``names``.

        ``names``: subjectAltName entries, 'IP:127.0.0.1' or 'DNS:zk'.
        """
        base = os.path.join(self.directory, '%s-%s' % (self.name, name))
        key, request, cert = base + '.key', base + '.csr', base + '.pem'
        _openssl('req', '-newkey', 'ec', '-pkeyopt',
                 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
                 '-out', request, '-subj', '/CN=' + name)
        extensions = base + '.ext'
        with open(extensions, 'w') as out:
            if names:
                out.write('subjectAltName=%s\n' % ','.join(names))
        _openssl('x509', '-req', '-in', request, '-CA', self.cert,
                 '-CAkey', self.key, '-CAcreateserial', '-out', cert,
                 '-days', '1', '-extfile', extensions)
        return cert, key


@dataclasses.dataclass
class ServerTLS:
    """A ZooKeeper server's TLS: its key store and whom it trusts."""
    cert: str
    key: str
    client_ca: str           # the CA client certificates must come from
    client_auth: str = 'need'   # ZooKeeper's ssl.clientAuth

    def config(self):
        """zoo.cfg lines; the key store is written next to the key."""
        keystore = self.key + '.keystore'
        with open(keystore, 'w') as out:
            for path in (self.key, self.cert):
                with open(path) as part:
                    out.write(part.read())
        return ('serverCnxnFactory='
                'org.apache.zookeeper.server.NettyServerCnxnFactory\n'
                'ssl.keyStore.location=%s\nssl.keyStore.type=PEM\n'
                'ssl.trustStore.location=%s\nssl.trustStore.type=PEM\n'
                'ssl.clientAuth=%s\n'
                % (keystore, self.client_ca, self.client_auth))
