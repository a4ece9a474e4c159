#!/bin/bash
# devstack plugin: the iovisor Mesos bay driver for Magnum.
#   - installs magnum-iovisor where Magnum runs (registers the driver);
#   - puts its label checks into magnum-api's paste pipeline;
#   - disables Magnum's own mesos_ubuntu_v1, which claims the same
#     (vm, ubuntu, mesos) cluster type;
#   - builds the bay image (masters and slaves) with diskimage-builder
#     and uploads it to Glance with os_distro=ubuntu, the property Magnum
#     matches. Only the Debian composition is built by the tests; the
#     devstack path itself is not run here.

function install_magnum_iovisor {
    setup_develop "$MAGNUM_IOVISOR_DIR"
}

function configure_magnum_iovisor {
    local disabled
    disabled=$(iniget "$MAGNUM_CONF" drivers disabled_drivers)
    if [[ ",$disabled," != *",mesos_ubuntu_v1,"* ]]; then
        iniset "$MAGNUM_CONF" drivers disabled_drivers \
            "${disabled:+$disabled,}mesos_ubuntu_v1"
    fi
    iniset "$MAGNUM_CONF" iovisor_bay heat_templates_dir \
        "$MAGNUM_IOVISOR_DIR/heat-templates"
    # magnum-api refuses bad iovisor labels on every path only with this
    # filter in its pipeline (doc/walkthrough.md, section 1)
    local paste=${MAGNUM_API_PASTE:-/etc/magnum/api-paste.ini} pipeline
    iniset "$paste" filter:iovisor paste.filter_factory \
        magnum_iovisor.magnum.api_validation:filter_factory
    pipeline=$(iniget "$paste" pipeline:main pipeline)
    if [[ " $pipeline " != *" iovisor "* ]]; then
        iniset "$paste" pipeline:main pipeline "${pipeline/api_v1/iovisor api_v1}"
    fi
}

function build_magnum_iovisor_image {
    local out=$DATA_DIR/magnum-iovisor/$MAGNUM_IOVISOR_IMAGE_NAME
    mkdir -p "$(dirname "$out")"
    pip_install diskimage-builder
    # One image for both roles, as Magnum's was: masters run its ZooKeeper,
    # slaves its Docker driver and policy (elements/*/README.rst).
    ELEMENTS_PATH=$MAGNUM_IOVISOR_DIR/elements \
    DIB_IOVISOR_SOURCE=$MAGNUM_IOVISOR_DIR \
    DIB_MESOS_TARBALL=$MAGNUM_IOVISOR_MESOS_TARBALL \
    DIB_MESOS_APT_REPO=$MAGNUM_IOVISOR_MESOS_APT_REPO \
        disk-image-create -a amd64 -t qcow2 -o "$out" \
        $MAGNUM_IOVISOR_IMAGE_ELEMENTS iovisor-bay-node iovisor-mesos-slave \
        mesos-agent
    # os_distro=ubuntu is the property Magnum matches for (vm, ubuntu,
    # mesos), whatever distribution the image is built from.
    openstack image create "$MAGNUM_IOVISOR_IMAGE_NAME" --public \
        --disk-format qcow2 --container-format bare \
        --property os_distro=ubuntu --file "$out.qcow2"
}

if is_service_enabled magnum-iovisor; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing magnum-iovisor"
        install_magnum_iovisor
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring Magnum for the iovisor Mesos bay"
        configure_magnum_iovisor
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        if [[ "$MAGNUM_IOVISOR_BUILD_IMAGE" == "True" ]]; then
            echo_summary "Building the iovisor Mesos bay image"
            build_magnum_iovisor_image
        fi
    fi
fi
