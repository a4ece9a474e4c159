"""The registry over TLS, against a real TLS-only ZooKeeper.

The server (Debian's ZooKeeper, Netty, PEM key stores) listens only on its
secureClientPort and wants a client certificate from the bay's CA. Its
certificate names 127.0.0.1; it listens on every address of its private
namespace, so 127.0.0.2 reaches it by a name its certificate does not hold.
"""

import os

import fixtures
from oslo_config import cfg

from magnum_iovisor import config
from magnum_iovisor.dataplane import attach
from magnum_iovisor import registry
from magnum_iovisor.registry import tls as tls_options
from tests.functional import certs
from tests.functional import test_zookeeper_registry as base

ep = base.ep
NAMED = '127.0.0.1:2181'       # the address the certificate names
UNNAMED = '127.0.0.2:2181'     # the same server, by another address
WAIT = 5.0


class TLSTest(base.RegistryTestCase):
    server_address = '0.0.0.0'     # of its own namespace

    def server_tls(self):
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.ca = certs.CA(self.dir, 'bay-ca')
        self.stranger = certs.CA(self.dir, 'other-ca')
        cert, key = self.ca.issue('zookeeper', 'IP:127.0.0.1')
        self.client_cert = self.ca.issue('slave')
        return certs.ServerTLS(cert, key, client_ca=self.ca.cert)

    def conf(self, **overrides):
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        cert, key = self.client_cert
        secret = os.path.join(self.dir, 'credentials')
        with open(os.open(secret, os.O_CREAT | os.O_WRONLY, 0o600),
                  'w') as out:
            out.write('%s:%s\n' % (base.BAY.user, base.BAY.secret))
        options = dict(backend='zookeeper', hosts=NAMED, root=base.ROOT,
                       use_ssl=True, ssl_ca_file=self.ca.cert,
                       ssl_cert_file=cert, ssl_key_file=key,
                       credentials_file=secret, session_timeout=2.0,
                       instance_file=os.path.join(self.dir, 'instance'))
        options.update(overrides)
        for name, value in options.items():
            conf.set_override(name, value, 'registry')
        return conf.registry

    def over_tls(self, host_name, hosts=NAMED, start=True, **overrides):
        return self.registry(host_name, start=start, hosts=hosts,
                             tls=tls_options.kazoo_options(
                                 self.conf(**overrides)))

    def refused(self, reg):
        error = self.assertRaises(registry.Unavailable, reg.wait_connected,
                                  WAIT)
        return str(error)

    def test_the_registry_works_over_tls_with_a_client_certificate(self):
        conf = self.conf(host_name='a')
        with attach.in_netns(self.zk.netns):
            publisher = registry.open_registry(conf)
        self.addCleanup(publisher.close)
        publisher.set_subnets(base.SUBNETS['a'])
        publisher.start()
        publisher.publish(ep('10.1.1.1', 100, 'a'))
        publisher.publish(ep('fd00:1::1', 200, 'a'))
        watcher = base.Snapshots()
        self.over_tls('b').watch_endpoints(watcher)
        expected = {ep('10.1.1.1', 100, 'a'), ep('fd00:1::1', 200, 'a')}
        self.assertEqual(expected, watcher.wait_for(expected))
        # and nothing talks to it in the clear
        plain = self.registry('plain', start=False, hosts=NAMED)
        self.assertIn('is not reachable', self.refused(plain))

    def test_a_server_or_client_the_certificates_do_not_prove(self):
        # signed by a CA the client does not trust
        self.assertIn('CERTIFICATE_VERIFY_FAILED', self.refused(self.over_tls(
            'c', start=False, ssl_ca_file=self.stranger.cert)))
        # the right CA, but reached by a name the certificate does not hold
        self.assertIn('IP address mismatch', self.refused(self.over_tls(
            'c', hosts=UNNAMED, start=False)))
        # which is only the name: unchecked, the same server answers
        unchecked = self.over_tls('d', hosts=UNNAMED, start=False,
                                  ssl_check_hostname=False)
        self.assertFalse(unchecked.wait_connected(WAIT))
        # a client without a certificate of the bay's CA
        for cert in (None, self.stranger.issue('intruder')):
            self.assertRegex(self.refused(self.over_tls(
                'e', start=False, ssl_cert_file=cert and cert[0],
                ssl_key_file=cert and cert[1])),
                r'last attempt: Connection dropped: .*\[SSL: SSLV3_ALERT_'
                r'(BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)\]')

    def test_tls_options_are_checked_before_connecting(self):
        cert, key = self.client_cert
        missing = os.path.join(self.dir, 'missing.pem')
        for overrides, message in (
                (dict(ssl_key_file=None),
                 'ssl_cert_file and ssl_key_file go together'),
                (dict(ssl_cert_file=None),
                 'ssl_cert_file and ssl_key_file go together'),
                (dict(ssl_ca_file=missing),
                 r'ssl_ca_file \(%s\): cannot be loaded: No such file'
                 % missing),
                (dict(ssl_ca_file=key), r'ssl_ca_file \(%s\): cannot be '
                 'loaded' % key),
                (dict(ssl_key_file=self.stranger.key),
                 r'ssl_cert_file and ssl_key_file \(%s, %s\): cannot be '
                 'loaded' % (cert, self.stranger.key))):
            conf = self.conf(**overrides)
            self.assertRaisesRegex(registry.RegistryError, message,
                                   tls_options.kazoo_options, conf)
            self.assertRaisesRegex(registry.RegistryError, message,
                                   registry.open_registry, conf)
            # and nothing was made: not even this installation's identity
            self.assertFalse(os.path.exists(conf.instance_file))
        self.assertIsNone(tls_options.kazoo_options(self.conf(
            use_ssl=False)))
        self.assertEqual(
            dict(ca=self.ca.cert, certfile=cert, keyfile=key,
                 check_hostname=True),
            tls_options.kazoo_options(self.conf()))
