"""magnum-api (its pecan app) and magnum-conductor in one process.

Usage: python services.py CONFIG_FILE HEAT_URL PORT

Both use fake:// for oslo.messaging, so they share this process. The cloud
outside Magnum comes from tests/magnum/cloud.py.
"""

import magnum.cmd  # noqa: eventlet.monkey_patch(), as magnum-api does

import os
import sys

import eventlet
from magnum.api import app as api_app
from magnum.common import clients
from magnum.common import rpc_service
from magnum.common import service
from magnum.conductor.handlers import ca_conductor
from magnum.conductor.handlers import cluster_conductor
from magnum.conductor.handlers import conductor_listener
from magnum.conductor.handlers import federation_conductor
from magnum.conductor.handlers import indirection_api
from magnum.conductor.handlers import nodegroup_conductor
import magnum.conf
from magnum.service import periodic
from oslo_service import service as oslo_service
from werkzeug import serving

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cloud  # noqa: E402


def create_schema():
    """Magnum's own tables (its alembic migrations need MySQL's ALTERs)."""
    from magnum.db.sqlalchemy import api as db_api
    from magnum.db.sqlalchemy import models
    models.Base.metadata.create_all(db_api.get_engine())


def main():
    config_file, heat_url, port = sys.argv[1:4]
    service.prepare_service(['services', '--config-file', config_file])
    create_schema()
    conf = magnum.conf.CONF
    cloud.Clients().install(clients.OpenStackClients, heat_url,
                            os.path.join(conf.state_path, 'keystone.json'))
    # the same endpoints as magnum.cmd.conductor.main
    endpoints = [indirection_api.Handler(), cluster_conductor.Handler(),
                 conductor_listener.Handler(), ca_conductor.Handler(),
                 federation_conductor.Handler(),
                 nodegroup_conductor.Handler()]
    conductor = rpc_service.Service.create(
        conf.conductor.topic, 'conductor-1', endpoints,
        binary='magnum-conductor')
    launcher = oslo_service.launch(conf, conductor, workers=1)
    # Magnum's status poller runs every 10 s (a constant): every 1 s here,
    # so a bay's create, scale and delete take seconds, not half a minute.
    periodic.MagnumPeriodicTasks._periodic_spacing['sync_cluster_status'] = 1
    conductor.create_periodic_tasks()
    eventlet.spawn(launcher.wait)
    # magnum-api's own loading and server (magnum/cmd/api.py), in one
    # process. (eventlet's server copies the headers at start_response:
    # the Content-Type Magnum's ParsableErrorMiddleware appends later is
    # lost, and both clients drop the error's message.)
    app = cloud.NoAuth(api_app.load_app())
    serving.run_simple('127.0.0.1', int(port), app)


if __name__ == '__main__':
    main()
