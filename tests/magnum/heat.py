"""A fake Heat API (orchestration v1) on loopback HTTP, for magnum-conductor.

Magnum's heat client (python-heatclient) talks to it as to Heat: stack
create, show, update (PATCH) and delete. It refuses, as Heat does, a
parameter the root template does not declare, one it declares without a
default but the request lacks, and a file a template refers to but the
request does not carry. A stack's action (create, update,
delete) is complete when Magnum first looks: shown *_COMPLETE; a deleted
stack is gone (404) from the second look on. Outputs are what Magnum
reads of a bay, for the outputs the template declares: api_address,
mesos_master(_private) and mesos_slaves(_private), one address per node.
"""

import http.server
import json
import re
import threading
import uuid

import fixtures
import yaml

STACK_PATH = re.compile(r'^/v1/(?P<project>[^/]+)/stacks'
                        r'(?:/(?P<name_or_id>[^/?]+))?(?:/(?P<id>[^/?]+))?')


def referenced_files(template):
    """get_file paths and nested template types in a template document."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'get_file' and isinstance(value, str):
                    found.add(value)
                elif (key == 'type' and isinstance(value, str)
                      and value.endswith('.yaml')):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(template)
    return found


def missing_files(template, files):
    """Files the root template or its nested templates need but lack."""
    missing, seen = set(), set()
    todo = [template]
    while todo:
        for name in referenced_files(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            if name not in files:
                missing.add(name)
            elif name.endswith('.yaml'):
                todo.append(yaml.safe_load(files[name]))
    return missing


class Stack(object):

    def __init__(self, fields):
        self.id = str(uuid.uuid4())
        self.name = fields['stack_name']
        self.template = fields['template']
        self.files = fields.get('files', {})
        self.parameters = dict(fields.get('parameters', {}))
        self.action = 'CREATE'
        self.state = 'IN_PROGRESS'
        self.shown = 0
        self.gone = False

    def addresses(self, param, base):
        return ['10.0.%d.%d' % (base, n + 10)
                for n in range(int(self.parameters.get(param, 1)))]

    def outputs(self):
        masters = self.addresses('number_of_masters', 0)
        slaves = self.addresses('number_of_slaves', 1)
        values = {'api_address': '172.24.4.10',
                  'mesos_master': ['172.24.4.%d' % (10 + n)
                                   for n in range(len(masters))],
                  'mesos_master_private': masters,
                  'mesos_slaves': slaves, 'mesos_slaves_private': slaves}
        declared = self.template.get('outputs', {})
        return [{'output_key': key, 'output_value': values[key],
                 'description': declared[key].get('description', '')}
                for key in declared if key in values]

    def show(self):
        """The stack as GET answers: its action has completed."""
        self.shown += 1
        self.state = 'COMPLETE'
        body = {'id': self.id, 'stack_name': self.name,
                'stack_status': '%s_%s' % (self.action, self.state),
                'stack_status_reason': 'fake Heat',
                'parameters': {k: str(v) for k, v in
                               self.parameters.items()},
                'links': []}
        if self.state == 'COMPLETE':
            body['outputs'] = self.outputs()
        return body


class Heat(object):
    """What the fake Heat received, and its stacks."""

    def __init__(self):
        self.requests = []      # (method, path, body)
        self.stacks = {}
        self.lock = threading.Lock()

    def find(self, name_or_id):
        for stack in self.stacks.values():
            if name_or_id in (stack.id, stack.name) and not stack.gone:
                return stack
        return None

    def handle(self, method, path, body):
        with self.lock:
            self.requests.append((method, path, body))
            match = STACK_PATH.match(path)
            if not match:
                return 404, {'error': {'message': 'no route %s' % path}}
            key = match.group('id') or match.group('name_or_id')
            if method == 'POST' and key is None:
                return self.create(body)
            stack = self.find(key) if key else None
            if stack is None:
                return 404, {'error': {'type': 'EntityNotFound',
                                       'message': 'Stack %s not found'
                                                  % key}}
            if method == 'GET':
                if stack.action == 'DELETE' and stack.shown:
                    stack.gone = True
                    return 404, {'error': {'type': 'EntityNotFound',
                                           'message': 'gone'}}
                return 200, {'stack': stack.show()}
            if method == 'PATCH':
                refused = self.undeclared(stack.template, body['parameters'])
                if refused:
                    return 400, refused
                stack.parameters.update(body['parameters'])
                stack.action, stack.state, stack.shown = (
                    'UPDATE', 'IN_PROGRESS', 0)
                return 202, None
            if method == 'DELETE':
                stack.action, stack.state, stack.shown = (
                    'DELETE', 'IN_PROGRESS', 0)
                return 204, None
            return 405, {'error': {'message': method}}

    @staticmethod
    def undeclared(template, parameters):
        extra = sorted(set(parameters) - set(template.get('parameters', {})))
        if extra:
            return {'error': {'type': 'UnknownUserParameter',
                              'message': 'The Parameter (%s) was not '
                                         'defined in template.'
                                         % ', '.join(extra)}}
        return None

    @staticmethod
    def not_provided(template, parameters):
        missing = sorted(name for name, declared
                         in template.get('parameters', {}).items()
                         if 'default' not in declared
                         and name not in parameters)
        if missing:
            return {'error': {'type': 'UserParameterMissing',
                              'message': 'The Parameter (%s) was not '
                                         'provided.' % ', '.join(missing)}}
        return None

    def create(self, body):
        refused = (self.undeclared(body['template'], body['parameters'])
                   or self.not_provided(body['template'],
                                        body['parameters']))
        missing = missing_files(body['template'], body.get('files', {}))
        if missing:
            refused = {'error': {'type': 'InvalidTemplateReference',
                                 'message': 'files not sent: %s'
                                            % ', '.join(sorted(missing))}}
        if refused:
            return 400, refused
        stack = Stack(body)
        self.stacks[stack.id] = stack
        return 201, {'stack': {'id': stack.id, 'links': []}}

    def created(self):
        """The bodies of every stack create request received."""
        return [body for method, path, body in self.requests
                if method == 'POST']

    def updates(self):
        return [body for method, path, body in self.requests
                if method == 'PATCH']


class Handler(http.server.BaseHTTPRequestHandler):

    def _answer(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        body = json.loads(raw) if raw else None
        status, answer = self.server.heat.handle(self.command, self.path,
                                                 body)
        data = json.dumps(answer).encode() if answer is not None else b''
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


class FakeHeat(fixtures.Fixture):
    """The fake Heat API in a thread of the test; ``url`` is its endpoint."""

    def _setUp(self):
        self.heat = Heat()
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.server.heat = self.heat
        self.url = 'http://127.0.0.1:%d/v1/project' % self.server.server_port
        thread = threading.Thread(target=self.server.serve_forever,
                                  daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
