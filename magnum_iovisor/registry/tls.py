"""TLS to ZooKeeper: the ``[registry] ssl_*`` options, as kazoo takes them.

Every file is loaded once here, so a missing or malformed one is an error
naming its option at start, not a connection that fails in a loop. kazoo
trusts the system's CAs besides ``ssl_ca_file``; ``ssl_check_hostname``
(on by default) is what makes a certificate count only for the server it
names.
"""

import ssl

from magnum_iovisor import registry


def kazoo_options(conf):
    """kazoo's TLS arguments from ``conf`` ([registry]); None without TLS."""
    if not conf.use_ssl:
        return None
    if bool(conf.ssl_cert_file) != bool(conf.ssl_key_file):
        raise registry.RegistryError(
            '[registry] ssl_cert_file and ssl_key_file go together (a client '
            'certificate and its key): set both or neither')
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if conf.ssl_ca_file:
        _load('ssl_ca_file', conf.ssl_ca_file, context.load_verify_locations,
              conf.ssl_ca_file)
    if conf.ssl_cert_file:
        _load('ssl_cert_file and ssl_key_file',
              '%s, %s' % (conf.ssl_cert_file, conf.ssl_key_file),
              context.load_cert_chain, conf.ssl_cert_file, conf.ssl_key_file)
    return dict(ca=conf.ssl_ca_file, certfile=conf.ssl_cert_file,
                keyfile=conf.ssl_key_file,
                check_hostname=conf.ssl_check_hostname)


def _load(option, shown, load, *paths):
    try:
        load(*paths)
    except (OSError, ssl.SSLError) as exc:
        raise registry.RegistryError(
            '[registry] %s (%s): cannot be loaded: %s'
            % (option, shown, exc.strerror or exc))
