"""The cluster policy in ZooKeeper, in pieces well under 1 MiB.

``<root>/policy`` is a small header::

    {"format": "zlib-chunks", "generation": G, "chunks": N,
     "bytes": B, "sha256": H, "rules": R}

and the document itself (``policy.format_json``, zlib) is split into
chunks of at most ``CHUNK`` bytes at ``<root>/policy-chunks/G-0`` to
``G-(N-1)``. A writer creates the new generation's chunks, then switches
the header in one conditional write (a concurrent writer's change is never
overwritten unseen), then deletes older generations. A reader reads the
header, then its chunks, checks the digest, and parses; a header naming
chunks that a newer write removed meanwhile is followed by the newer one.

A header that is a plain policy document (the layout before this one) is
read as such. A document whose compressed size passes ``max_bytes`` is
refused before anything is written.
"""

import hashlib
import json
import zlib

from magnum_iovisor import policy as policy_model

FORMAT = 'zlib-chunks'
CHUNK = 256 * 1024
# JSON rules compress about 14 times; a document expanding far more is not
# one (a zip bomb): refused before it fills memory
EXPANSION = 64


class TooLarge(policy_model.PolicyError):
    pass


def encode(policy, max_bytes):
    """(header fields, [chunk bytes]) of ``policy``."""
    document = policy_model.format_json(policy).encode('utf-8')
    packed = zlib.compress(document, 6)
    if len(packed) > max_bytes:
        raise TooLarge(
            'the cluster policy (%d rules) is %d bytes compressed, over '
            '[registry] policy_max_bytes = %d; split it or raise the limit'
            % (len(policy), len(packed), max_bytes))
    chunks = [packed[i:i + CHUNK] for i in range(0, len(packed), CHUNK)]
    header = {'format': FORMAT, 'chunks': len(chunks), 'bytes': len(packed),
              'sha256': hashlib.sha256(packed).hexdigest(),
              'rules': len(policy)}
    return header, chunks


def parse_header(data):
    """The header dict, or None when ``data`` is a plain policy document.

    PolicyError names what is wrong with anything else.
    """
    try:
        doc = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise policy_model.PolicyError('policy: not valid JSON: %s' % exc)
    if isinstance(doc, dict) and doc.get('format') == FORMAT:
        for key in ('generation', 'chunks', 'bytes', 'rules'):
            if not isinstance(doc.get(key), int) or doc[key] < 0:
                raise policy_model.PolicyError(
                    'policy header: %r must be a non-negative integer' % key)
        if not isinstance(doc.get('sha256'), str):
            raise policy_model.PolicyError('policy header: no sha256')
        return doc
    return None


def decode(header, chunks, max_bytes):
    packed = b''.join(chunks)
    if len(packed) != header['bytes'] or (
            hashlib.sha256(packed).hexdigest() != header['sha256']):
        raise policy_model.PolicyError(
            'policy generation %d: its chunks do not match its header '
            '(%d bytes)' % (header['generation'], len(packed)))
    if header['bytes'] > max_bytes:
        raise TooLarge('policy generation %d is %d bytes compressed, over '
                       '[registry] policy_max_bytes = %d'
                       % (header['generation'], header['bytes'], max_bytes))
    limit = EXPANSION * max_bytes
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(packed, limit)
        if inflate.unconsumed_tail:
            raise policy_model.PolicyError(
                'policy generation %d expands beyond %d bytes'
                % (header['generation'], limit))
        text = text.decode('utf-8')
    except (zlib.error, UnicodeDecodeError) as exc:
        raise policy_model.PolicyError('policy generation %d: %s'
                                       % (header['generation'], exc))
    return policy_model.parse_json(text)


def chunk_name(generation, index):
    return '%d-%d' % (generation, index)


def generation_of(name):
    head, _, _ = name.partition('-')
    return int(head) if head.isdigit() else None
