"""Where ``monitor`` writes drop events: a stream, a file, the journal.

A file gets one JSON object per line, appended; when logrotate (or anyone)
moves or removes it, the next event goes to a new file of the same name
(the stdlib's WatchedFileHandler does the checking), so rotation is the
system's business. The journal gets one entry per event, the JSON line as
MESSAGE and every field as an IOVISOR_* field to filter on
(``journalctl IOVISOR_REASON=no_rule``).
"""

import json
import logging
import logging.handlers

SYSLOG_IDENTIFIER = 'iovisor-policy'


def as_json(drop):
    return json.dumps(drop.__dict__, sort_keys=True)


def as_text(drop):
    return ('%s%s %s -> %s group %d -> %d (%s, ifindex %d)'
            % ('would drop (audit, passed): ' if drop.audited else '',
               drop.reason, drop.source, drop.destination, drop.src_group,
               drop.dst_group, drop.direction, drop.ifindex))


class StreamSink:
    def __init__(self, stream, json_lines=False):
        self.stream = stream
        self.format = as_json if json_lines else as_text

    def write(self, drop):
        self.stream.write(self.format(drop) + '\n')
        self.stream.flush()

    def close(self):
        pass


class FileSink:
    """JSON lines appended to ``path``, reopened when it was rotated."""

    def __init__(self, path):
        # opened now, so that a path that cannot be written fails at start
        self.handler = logging.handlers.WatchedFileHandler(path)
        self.handler.setFormatter(logging.Formatter('%(message)s'))

    def write(self, drop):
        self.handler.emit(logging.makeLogRecord({'msg': as_json(drop)}))

    def close(self):
        self.handler.close()


class JournalSink:
    """One journal entry per drop, through python3-systemd."""

    def __init__(self):
        try:
            from systemd import journal
        except ImportError:
            raise RuntimeError('--journal needs python3-systemd (Debian '
                               'package python3-systemd)')
        self.journal = journal

    def write(self, drop):
        fields = {'IOVISOR_' + name.upper(): str(value)
                  for name, value in drop.__dict__.items()}
        self.journal.send(as_json(drop), SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER,
                          PRIORITY=str(self.journal.LOG_INFO), **fields)

    def close(self):
        pass
