# Nova hands user_data over a config drive or the metadata service; tests
# (tox -e image, tox -e bay) over a NoCloud seed disk.
export DIB_CLOUD_INIT_DATASOURCES=${DIB_CLOUD_INIT_DATASOURCES:-"NoCloud, ConfigDrive, OpenStack"}
# Where the Heat software-config agent goes (os-collect-config and friends).
export HEAT_AGENT_VENV=${HEAT_AGENT_VENV:-/opt/heat-agent/venv}
export DIB_HEAT_AGENTS_VERSION=${DIB_HEAT_AGENTS_VERSION:-13.0.0}
