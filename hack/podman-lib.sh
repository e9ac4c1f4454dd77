# Sourced by the image scripts (build-image.sh, image-base.sh, image-test.sh):
# podman as it works on these hosts. crun, podman's default runtime, refuses
# their hybrid cgroup layout, so runc with cgroupfs; podman's default ulimits
# exceed the hosts' hard limits, so explicit ones below them (runc could not
# set nproc at 65536 under a hard limit of 96367 here; 32768 works).
# shellcheck shell=bash
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
_nofile=$(ulimit -Hn)
_nproc=$(ulimit -Hu)
[ "$_nofile" = unlimited ] || [ "$_nofile" -gt 65536 ] && _nofile=65536
[ "$_nproc" = unlimited ] || [ "$_nproc" -gt 32768 ] && _nproc=32768
ULIMITS=(--ulimit "nofile=$_nofile:$_nofile" --ulimit "nproc=$_nproc:$_nproc")
unset _nofile _nproc
