"""``iovisor-policy cluster ...`` on a host without a cluster."""

import os
import subprocess
import sys
import tempfile

import testtools


class LocalBackendTest(testtools.TestCase):
    def run_policy(self, *args, backend='local'):
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as conf:
            conf.write('[registry]\nbackend = %s\n' % backend)
            conf.flush()
            return subprocess.run(
                (sys.executable, '-m', 'magnum_iovisor.cmd.policy',
                 '--config-file', conf.name) + args,
                capture_output=True, text=True, timeout=60, input='100>0',
                cwd=os.path.join(os.path.dirname(__file__), '..', '..'))

    def test_cluster_commands_say_there_is_no_cluster(self):
        for args in (('cluster', 'load', '-'), ('cluster', 'export'),
                     ('cluster', 'clear'), ('cluster', 'endpoints')):
            done = self.run_policy(*args)
            self.assertEqual(1, done.returncode, args)
            self.assertIn("[registry] backend is 'local': this host is not "
                          "part of a cluster", done.stderr)

    def test_a_bad_cluster_policy_is_refused_before_connecting(self):
        with tempfile.NamedTemporaryFile('w', suffix='.txt') as bad:
            bad.write('100>0 1>x')
            bad.flush()
            done = self.run_policy('cluster', 'load', bad.name,
                                   backend='zookeeper')
        self.assertEqual(1, done.returncode)
        self.assertIn("rule 2 ('1>x'): group 'x' is not an integer or a "
                      "reserved name", done.stderr)

    def test_an_unknown_backend_is_refused_by_the_configuration(self):
        done = self.run_policy('cluster', 'export', backend='etcd')
        self.assertEqual(1, done.returncode)
        self.assertIn('etcd', done.stderr)
