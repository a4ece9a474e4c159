import os
import tempfile

import testtools

from magnum_iovisor.plugin import failures


class FailuresTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.state_dir = tempfile.mkdtemp()
        self.addCleanup(lambda: [os.remove(os.path.join(self.state_dir, n))
                                 for n in os.listdir(self.state_dir)]
                        and os.rmdir(self.state_dir))

    def test_recorded_in_order_and_listed(self):
        self.assertEqual([], failures.listing(self.state_dir))
        failures.record(self.state_dir, 'attach', 'e1' * 32, 'ime1', 'boom')
        failures.record(self.state_dir, 'sandbox', 'e2' * 32, 'ime2', 'late')
        listed = failures.listing(self.state_dir)
        self.assertEqual([('attach', 'e1' * 32, 'ime1', 'boom'),
                          ('sandbox', 'e2' * 32, 'ime2', 'late')],
                         [tuple(f)[1:] for f in listed])

    def test_a_cut_line_is_shown_not_dropped(self):
        failures.record(self.state_dir, 'attach', 'e1', 'ime1', 'boom')
        with open(failures.path(self.state_dir), 'a') as out:
            out.write('{"at": "2026-')
        listed = failures.listing(self.state_dir)
        self.assertEqual(2, len(listed))
        self.assertEqual('failures.jsonl line 2 unreadable',
                         listed[1].reason)

    def test_unknown_kind_is_refused(self):
        self.assertRaises(ValueError, failures.record, self.state_dir,
                          'other', 'e1', 'ime1', 'boom')
