"""iovisor-bootstrap against the real pinned dataplane (root, bpffs, bcc)."""

import json
import os
import shutil
import uuid

import fixtures
import testtools

from magnum_iovisor.cmd import bootstrap as cmd
from magnum_iovisor import config
from magnum_iovisor import dataplane
from magnum_iovisor.dataplane import loader
from magnum_iovisor import policy as policy_model

from oslo_config import cfg


class BootstrapDataplaneTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.pin_dir = '/sys/fs/bpf/mi-bootstrap-%s' % uuid.uuid4().hex[:8]
        self.addCleanup(shutil.rmtree, self.pin_dir, ignore_errors=True)
        self.addCleanup(self.remove_lock)
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.policy_file = os.path.join(self.dir, 'iovisor-policy')
        self.heat_params = os.path.join(self.dir, 'heat-params')
        with open(self.heat_params, 'w') as out:
            out.write('ROUTED_SUBNET="10.1.1.0/24"\n'
                      'IOVISOR_DOCKER_NETWORK=""\n'
                      'IOVISOR_POLICY_FILE="%s"\n' % self.policy_file)
        self.conf_file = os.path.join(self.dir, 'empty.conf')
        open(self.conf_file, 'w').close()

    def bootstrap(self, policy_text):
        with open(self.policy_file, 'w') as out:
            out.write(policy_text)
        return cmd.run(['--config-file', self.conf_file, '--heat-params',
                        self.heat_params, '--pin-dir', self.pin_dir])

    def open_dataplane(self):
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('pin_dir', self.pin_dir, 'dataplane')
        plane = dataplane.Dataplane(conf.dataplane)
        self.addCleanup(plane.close)
        return plane

    def counters(self, plane):
        return {(rule.src, rule.dst): (rule.action.value, packets)
                for rule, packets, _ in plane.rules()}

    def test_rerun_applies_only_the_diff_and_bad_policy_changes_nothing(self):
        self.assertEqual(0, self.bootstrap('rules:\n'
                                           '  - {src: 100, dst: 0}\n'
                                           '  - {src: 0, dst: 100}\n'
                                           '  - {src: 100, dst: 200}\n'))
        plane = self.open_dataplane()
        # Traffic counted on a rule that stays must survive the re-run.
        counters = plane.maps['counters']
        index = plane.rule_index(policy_model.Rule(100, 0))
        counters.set((index,), [(7, 700)] + [(0, 0)] * (
            counters.value.cpus - 1))

        self.assertEqual(0, self.bootstrap('100>0 0>100:deny 300>100'))
        self.assertEqual({(100, 0): ('allow', 7), (0, 100): ('deny', 0),
                          (300, 100): ('allow', 0)}, self.counters(plane))
        self.assertIn('3 rules (2 written, 1 removed)', self.log())

        self.assertEqual(1, self.bootstrap(json.dumps(
            {'rules': [{'src': 100, 'dst': 0}, {'src': 1, 'dst': -1}]})))
        self.assertEqual({(100, 0): ('allow', 7), (0, 100): ('deny', 0),
                          (300, 100): ('allow', 0)}, self.counters(plane))
        self.assertIn('bad policy, nothing changed', self.log())
        self.assertEqual(policy_model.parse('100>0 0>100:deny 300>100'),
                         plane.policy())

    def remove_lock(self):
        lock = os.path.join(loader.LOCK_DIR, 'magnum-iovisor%s.lock'
                            % self.pin_dir.replace('/', '_'))
        if os.path.exists(lock):
            os.unlink(lock)

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()
