"""The keys the templates write are the keys the image reads.

Heat renders each node's heat-params from heat-templates/ (as in
test_nodes); the node's own reader (magnum_iovisor.bootstrap.heat_params,
what iovisor-bootstrap runs on the image) parses it, and the result must
hold exactly the keys its table says the templates write for that role,
with values the slave's settings and the Mesos agent accept.
"""

from magnum_iovisor.bootstrap import heat_params
from magnum_iovisor.bootstrap import mesos_agent
from magnum_iovisor.bootstrap import node as node_params
from tests.heat import test_nodes


class TestKeysAgree(test_nodes.ClusterTestCase):

    def written(self, group, index=0):
        cluster = self.boot(masters=3, slaves=2,
                            environments=['environments/seed-policy.yaml'])
        node = self.node(self.member(cluster, group, index))
        return heat_params.read(node.root + heat_params.DEFAULT_PATH)

    def assertKeys(self, role, values):
        unknown = set(values) - heat_params.keys(role)
        self.assertEqual(set(), unknown,
                         'written by the templates, read by no %s' % role)
        missing = heat_params.keys(role, written=True) - set(values)
        self.assertEqual(set(), missing,
                         'read by a %s, written by no template' % role)

    def test_slave(self):
        values = self.written('slaves', 1)
        self.assertKeys(heat_params.SLAVE, values)
        settings = node_params.NodeParams.from_heat_params(values)
        self.assertEqual('10.1.1.0/24', str(settings.routed_subnet))
        self.assertEqual('zk://10.0.0.3:2181,10.0.0.4:2181,10.0.0.5:2181'
                         '/mesos', mesos_agent.agent_env(values)[
                             'MESOS_MASTER'])

    def test_master(self):
        self.assertKeys(heat_params.MASTER, self.written('masters', 2))

    def test_a_key_the_image_does_not_know_fails(self):
        values = dict(self.written('slaves'), MESOS_MASTERS_IPS='10.0.0.3')
        self.assertRaises(AssertionError, self.assertKeys,
                          heat_params.SLAVE, values)
        values = self.written('slaves')
        del values['ROUTED_SUBNET']
        self.assertRaises(AssertionError, self.assertKeys,
                          heat_params.SLAVE, values)
