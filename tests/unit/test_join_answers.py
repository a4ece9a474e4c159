"""What each interface kind adds to the Join answer Docker gets."""

import testtools

from magnum_iovisor.plugin import links
from magnum_iovisor.plugin import state

NETWORK = state.Network(id='n' * 64, mode='ipvlan', subnet='10.1.1.0/24',
                        gateway='10.1.1.1', parent='eth0')


class TestJoinAnswers(testtools.TestCase):

    def test_ipvlan_has_a_connected_default_route_and_no_gateway(self):
        # libnetwork joins a sandbox without a gateway to docker_gwbridge
        # unless told not to, and that gateway then collides with the
        # connected default route: "failed to set gateway ... file exists".
        answer = links.KINDS['ipvlan'].join_info(NETWORK)
        self.assertEqual({'StaticRoutes': [{'Destination': '0.0.0.0/0',
                                            'RouteType': 1}],
                          'DisableGatewayService': True}, answer)
        self.assertNotIn('Gateway', answer)

    def test_macvlan_and_veth_route_through_the_gateway(self):
        for mode in ('macvlan', 'veth'):
            answer = links.KINDS[mode].join_info(NETWORK)
            self.assertEqual({'Gateway': '10.1.1.1'}, answer, mode)
