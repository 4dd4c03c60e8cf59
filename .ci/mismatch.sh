#!/usr/bin/env bash
# A real server that is not HTTP on the HTTP port, for the web probe's `protocol-mismatch`:
#   127.0.90.1:80  OpenSSH's sshd (Debian's package), which greets with `SSH-2.0-…` and never
#                  lets anyone in (no password, no keyboard-interactive, no keys, DenyUsers *).
# Same hardening as .ci/sshd.sh, its own throw-away host key and config; the package's
# maintainer scripts are kept from starting the system sshd (policy-rc.d, lib-servers.sh).
# Only the PID we started is stopped.
# Usage: mismatch.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"
IP=127.0.90.1
PORT=80

case "${1:-}" in
install)
    install_packages /usr/sbin/sshd openssh-server openssh-client
    ;;
start)
    d=${2:?usage: mismatch.sh start DIR}
    mkdir -p "$d"; chmod 755 "$d"
    stop_pidfile "$d/sshd.pid"
    [ -s "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mxray-test -f "$d/host_ed25519"
    if [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd && echo 1 > "$d/made-run-sshd"; fi
    cat > "$d/sshd_config" <<CONF
ListenAddress $IP:$PORT
AddressFamily inet
HostKey $d/host_ed25519
PidFile none
UsePAM no
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
DenyUsers *
AllowTcpForwarding no
X11Forwarding no
PermitTunnel no
UseDNS no
LoginGraceTime 10
MaxStartups 20:30:60
LogLevel INFO
CONF
    /usr/sbin/sshd -t -f "$d/sshd_config"
    /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" </dev/null >/dev/null 2>&1 &
    echo $! > "$d/sshd.pid"
    wait_port "$IP" "$PORT"
    ;;
stop)
    d=${2:?usage: mismatch.sh stop DIR}
    stop_pidfile "$d/sshd.pid"
    if [ -f "$d/made-run-sshd" ]; then rmdir /run/sshd 2>/dev/null || true; rm -f "$d/made-run-sshd"; fi
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
