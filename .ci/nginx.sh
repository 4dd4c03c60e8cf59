#!/usr/bin/env bash
# nginx (Debian's package) on loopback for the tests, one process, two virtual servers:
#   127.0.80.1:8080 / :8443  autoindex on over a fake mail store (Maildir cur/new/tmp in
#                            user@domain folders), a backup folder, an exposed .git/HEAD,
#                            stub_status at /server-status, server_tokens on
#   127.0.80.2:8080 / :8443  a clean site: an index page, no listing, server_tokens off
# Usage: nginx.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

case "${1:-}" in
install)
    install_packages nginx nginx openssl
    ;;
start)
    d=${2:?usage: nginx.sh start DIR}
    mkdir -p "$d/tmp" "$d/open" "$d/clean"; chmod 755 "$d"; self_signed "$d"
    for u in alice bob; do
        for sub in cur new tmp; do mkdir -p "$d/open/mail/$u@mxray-nginx.lab/$sub"; done
        echo "Subject: hello $u" > "$d/open/mail/$u@mxray-nginx.lab/cur/1700000000.M1P1.mx:2,S"
    done
    mkdir -p "$d/open/backup" "$d/open/.git"
    echo "not really a backup" > "$d/open/backup/site-2026-11-01.tar.gz"
    echo "ref: refs/heads/main" > "$d/open/.git/HEAD"
    echo "<html><title>mxray clean site</title><h1>Hello</h1></html>" > "$d/clean/index.html"
    chmod -R a+rX "$d/open" "$d/clean"
    cat > "$d/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    ssl_certificate $d/cert.pem;
    ssl_certificate_key $d/key.pem;
    server {
        listen 127.0.80.1:8080;
        listen 127.0.80.1:8443 ssl;
        server_tokens on;
        root $d/open;
        autoindex on;
        location = /server-status { stub_status; }
    }
    server {
        listen 127.0.80.2:8080;
        listen 127.0.80.2:8443 ssl;
        server_tokens off;
        root $d/clean;
        autoindex off;
    }
}
CONF
    nginx -c "$d/nginx.conf" -p "$d"
    wait_port 127.0.80.1 8080; wait_port 127.0.80.2 8443
    ;;
stop)
    d=${2:?usage: nginx.sh stop DIR}
    stop_pidfile "$d/nginx.pid"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
