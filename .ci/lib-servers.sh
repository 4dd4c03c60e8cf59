# Shared helpers for .ci/<server>.sh: idempotent installation from Debian's packages without
# letting a package start its system-wide daemon, and a self-signed certificate per test dir.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# install_packages BINARY PACKAGE...: installs PACKAGEs unless BINARY is already there.
install_packages() {
    local bin=$1; shift
    if command -v "$bin" >/dev/null 2>&1; then return 0; fi
    local rc=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$rc" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$rc"; chmod 755 "$rc"; created=1
    fi
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "$@" >/dev/null
    if [ "$created" = 1 ]; then rm -f "$rc"; fi
}

# self_signed DIR: DIR/cert.pem and DIR/key.pem for CN mxray-test.lab (30 days).
self_signed() {
    [ -s "$1/cert.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mxray-test.lab \
        -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
    chmod 644 "$1/cert.pem" "$1/key.pem"
}

# wait_port IP PORT: until something listens (10 s at most).
wait_port() {
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "nothing listens on $1:$2" >&2; return 1
}

# stop_pidfile FILE: stops the process whose PID is in FILE (only that one).
stop_pidfile() {
    [ -s "$1" ] || return 0
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
