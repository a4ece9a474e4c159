"""Magnum 13's services (tests/magnum/services.py) as a test fixture."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import fixtures
import requests
from testtools import content

SERVICES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'services.py')
CONFIG = """[DEFAULT]
transport_url = fake://
host = test
periodic_interval_max = 1
state_path = {d}
[database]
connection = sqlite:///{d}/magnum.sqlite
[drivers]
disabled_drivers = mesos_ubuntu_v1
[certificates]
cert_manager_type = x509keypair
[conductor]
workers = 1
[oslo_concurrency]
lock_path = {d}
[api]
api_paste_config = {d}/api-paste.ini
"""
# Magnum's pipeline without its middleware (cloud.NoAuth stands in for
# authtoken), with the filter that registers the iovisor label checks.
PASTE = """[pipeline:main]
pipeline = iovisor api_v1
[app:api_v1]
paste.app_factory = magnum.api.app:app_factory
[filter:iovisor]
paste.filter_factory = magnum_iovisor.magnum.api_validation:filter_factory
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class MagnumServices(fixtures.Fixture):
    """magnum-api and magnum-conductor on a sqlite file, restartable."""

    def __init__(self, heat_url='http://127.0.0.1:9/v1/project'):
        self.heat_url = heat_url

    def _setUp(self):
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.config = os.path.join(self.dir, 'magnum.conf')
        with open(self.config, 'w') as conf:
            conf.write(CONFIG.format(d=self.dir))
        with open(os.path.join(self.dir, 'api-paste.ini'), 'w') as paste:
            paste.write(PASTE)
        self.process = None
        self.addCleanup(self.stop)
        self.start()

    def start(self):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d/v1' % self.port
        self.log = open(os.path.join(self.dir, 'services.log'), 'ab')
        self.process = subprocess.Popen(
            [sys.executable, SERVICES, self.config, self.heat_url,
             str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('Magnum services exited: see %s'
                                   % self.log.name)
            try:
                requests.get(self.url, timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.3)
        raise RuntimeError('Magnum API did not answer in 60 s')

    def stop(self):
        if self.process and self.process.poll() is None:
            # SIGTERM makes oslo.service wait for eventlet's server, which
            # does not stop: 10 s per test. What the services keep is in
            # the sqlite file, committed.
            self.process.kill()
            self.process.wait()
        if self.process:
            self.log.close()
            # shown by testtools when a test fails
            self.addDetail('magnum-services.log', content.content_from_file(
                self.log.name, buffer_now=True))
        self.process = None

    def rows(self, table, **where):
        """Rows of one of Magnum's tables, as dicts, read from its file."""
        query = 'SELECT * FROM %s' % table
        if where:
            query += ' WHERE ' + ' AND '.join('%s = ?' % k for k in where)
        with sqlite3.connect(os.path.join(self.dir, 'magnum.sqlite')) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(query,
                                                    tuple(where.values()))]

    def keystone(self):
        """The trustees and trusts the fake Keystone holds (cloud.py)."""
        try:
            with open(os.path.join(self.dir, 'keystone.json')) as record:
                return json.load(record)
        except FileNotFoundError:
            return {'trustees': {}, 'trusts': {}}

    def restart(self):
        self.stop()
        self.start()
