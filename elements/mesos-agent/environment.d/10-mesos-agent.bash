# Mesos comes from the operator: a tarball of /usr/local (as Mesos's own
# Dockerfile builds it) or an apt repository. See README.rst.
export DIB_MESOS_TARBALL=${DIB_MESOS_TARBALL:-}
export DIB_MESOS_APT_REPO=${DIB_MESOS_APT_REPO:-}
export DIB_MESOS_APT_KEY=${DIB_MESOS_APT_KEY:-}
export DIB_MESOS_PACKAGE=${DIB_MESOS_PACKAGE:-mesos}
if [ -n "$DIB_MESOS_TARBALL" ]; then
    export DIB_MESOS_SOURCE=tarball
else
    export DIB_MESOS_SOURCE=apt
fi
