from hypothesis import settings

# Speed is measured by bench/, never asserted by tests: no deadlines.
settings.register_profile('magnum-iovisor', deadline=None)
settings.load_profile('magnum-iovisor')
