"""The Magnum driver of the iovisor Mesos bay (Magnum 13.x, Heat driver).

Importing these modules needs Magnum; the rest of magnum_iovisor does not.
"""
