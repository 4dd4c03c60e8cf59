#!/usr/bin/env bash
# OpenSSH's sshd (Debian's package) on loopback for the tests, one instance, never reaching out:
#   127.0.22.1:2222  sshd -D with its own config and a throw-away ed25519 host key; nobody can
#                    log in (no password, no keyboard-interactive, no authorized keys,
#                    DenyUsers *); it only ever sends its identification string
#                    (`SSH-2.0-OpenSSH_<version> Debian-<revision>`, Debian's DebianBanner).
# Linux routes all of 127/8 to lo and sshd binds it without the address being on lo.
# The package's maintainer scripts are kept from starting the system sshd (policy-rc.d) and
# its system host keys are never used. Only the PID we started is stopped.
# Usage: sshd.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"
IP=127.0.22.1
PORT=2222

case "${1:-}" in
install)
    # openssh-client comes with it: the tests read the installed version from `ssh -V`.
    install_packages /usr/sbin/sshd openssh-server openssh-client
    ;;
start)
    d=${2:?usage: sshd.sh start DIR}
    mkdir -p "$d"; chmod 755 "$d"
    stop_pidfile "$d/sshd.pid"
    [ -s "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mxray-test -f "$d/host_ed25519"
    # sshd wants its privilege-separation directory; remember whether we made it.
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
    d=${2:?usage: sshd.sh stop DIR}
    stop_pidfile "$d/sshd.pid"
    if [ -f "$d/made-run-sshd" ]; then rmdir /run/sshd 2>/dev/null || true; rm -f "$d/made-run-sshd"; fi
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
