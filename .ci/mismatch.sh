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
    sshd_start "${2:?usage: mismatch.sh start DIR}" "$IP" "$PORT"
    ;;
stop)
    sshd_stop "${2:?usage: mismatch.sh stop DIR}"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
