#!/bin/sh
# need-package.sh PACKAGE CONSEQUENCE PROBE...
#
# Makes sure Debian's PACKAGE is installed, for `make browser` and `make services`. It is there when any
# PROBE (a path, a glob or a command name) is an executable file or a command on PATH.
#   - There: nothing happens.
#   - Missing, and this is root with apt-get (CI, the developer machines): installs it, and fails if the
#     install fails or the probes still find nothing afterwards, so CI never runs without it.
#   - Missing, and it cannot be installed here (not root, or no apt-get): says so loudly, naming what
#     it costs (CONSEQUENCE) and what to install, and exits 0 so that `make test` runs everything else.
set -u
package=$1
consequence=$2
shift 2

found() {
    for probe in "$@"; do
        # Globs in a probe expand here, on purpose (/usr/lib/postgresql/*/bin/initdb).
        for path in $probe; do
            case $path in
                */*) [ -f "$path" ] && [ -x "$path" ] && return 0 ;;
                *) command -v "$path" >/dev/null 2>&1 && return 0 ;;
            esac
        done
    done
    return 1
}

found "$@" && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$package" = postgresql ]; then
        # devstack runs a server of its own from the package's binaries: no system cluster, so no
        # service starts on 5432 (postgresql-common reads createcluster.d before it makes one).
        mkdir -p /etc/postgresql-common/createcluster.d &&
            echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/incident-releases.conf
    fi
    echo "installing Debian's $package (needed and missing: $*)"
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" || {
        echo "ERROR: apt-get could not install $package" >&2
        exit 1
    }
    found "$@" && exit 0
    echo "ERROR: apt-get installed $package but none of $* is there" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    why="there is no apt-get on this machine"
else
    why="this user is not root"
fi
cat >&2 <<EOF

**********************************************************************************************
WARNING: Debian's $package is not installed, and it cannot be installed here: $why.
  $consequence
  To install it: sudo apt-get install $package   (or run make as root)
**********************************************************************************************

EOF
exit 0
