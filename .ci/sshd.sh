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
    sshd_start "${2:?usage: sshd.sh start DIR}" "$IP" "$PORT"
    ;;
stop)
    sshd_stop "${2:?usage: sshd.sh stop DIR}"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
