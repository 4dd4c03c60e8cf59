#!/usr/bin/env bash
# Directory listings over NESTED mail stores, served by the web servers the world runs them on
# (Debian's packages, each on its own loopback address, port 8080, plain HTTP):
#   127.0.81.1  nginx autoindex        /home/example.jp/{taro,hanako}/Maildir/{cur,new,tmp}
#   127.0.81.2  Apache, FancyIndexing with HTMLTable (Debian's default)
#                                      /users/taro@example.jp/{cur,new,tmp}, dovecot.index, maildirsize
#   127.0.81.3  Apache, plain list (IndexOptions -FancyIndexing)
#                                      /vmail/example.jp/jiro/{Inbox,mail/Sent,mail/Trash} (mbox)
#   127.0.81.4  lighttpd mod_dirlisting /archive/example.jp/2026-11/*.eml
#   127.0.81.5  Apache, FancyIndexing without HTMLTable (a <pre> listing)
#                                      /backup/home/hanako/Maildir/{cur,new,tmp}, courierimapuiddb
#   127.0.81.6  nginx autoindex over a software download tree (no mail: stays web.dir_listing)
#   127.0.81.7  python3 -m http.server  /srv/mail/shiro@example.jp/{cur,new,tmp}
# Every server writes an access log (DIR/IP-access.log, lighttpd's DIR/lig/IP-access.log) so tests can count the requests.
# Usage: webstores.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

mail_file() { mkdir -p "$(dirname "$1")"; printf 'From: %s\nSubject: test\n\nnot a real message\n' "$2" > "$1"; }
maildir() { # maildir DIR ADDRESS
    mkdir -p "$1/cur" "$1/new" "$1/tmp"
    mail_file "$1/cur/1700000000.M1P1.mx:2,S" "$2"
    mail_file "$1/new/1700000100.M2P2.mx" "$2"
}

case "${1:-}" in
install)
    install_packages nginx nginx
    install_packages apache2 apache2
    install_packages lighttpd lighttpd
    install_packages python3 python3
    ;;
start)
    d=${2:?usage: webstores.sh start DIR}
    mkdir -p "$d/tmp" "$d/www"; chmod 755 "$d"
    w=$d/www
    # 127.0.81.1 nginx: a listing at / leading three levels down to per-user Maildirs.
    for u in taro hanako; do maildir "$w/ngx/home/example.jp/$u/Maildir" "$u@example.jp"; done
    mkdir -p "$w/ngx/pub"; echo "hello" > "$w/ngx/pub/readme.txt"; echo "<html>hi</html>" > "$w/ngx/about.html"
    # 127.0.81.2 Apache fancy table: address-named Maildirs with Dovecot's files.
    maildir "$w/apf/users/taro@example.jp" "taro@example.jp"
    : > "$w/apf/users/taro@example.jp/dovecot.index"; echo "2048S" > "$w/apf/users/taro@example.jp/maildirsize"
    mkdir -p "$w/apf/icons" "$w/apf/css"; echo "body{}" > "$w/apf/css/site.css"
    # 127.0.81.3 Apache plain: mbox files (Inbox, mail/Sent, mail/Trash) under domain/user.
    mail_file "$w/app/vmail/example.jp/jiro/Inbox" "jiro@example.jp"
    mail_file "$w/app/vmail/example.jp/jiro/mail/Sent" "jiro@example.jp"
    mail_file "$w/app/vmail/example.jp/jiro/mail/Trash" "jiro@example.jp"
    mkdir -p "$w/app/docs"; echo "manual" > "$w/app/docs/manual.txt"
    # 127.0.81.4 lighttpd: .eml files in a dated archive.
    for n in 0001 0002 0003; do mail_file "$w/lig/archive/example.jp/2026-11/$n.eml" "saburo@example.jp"; done
    mkdir -p "$w/lig/images"; echo "x" > "$w/lig/images/logo.txt"
    # 127.0.81.5 Apache fancy <pre>: a home backup with a Courier Maildir.
    maildir "$w/apr/backup/home/hanako/Maildir" "hanako@example.jp"
    : > "$w/apr/backup/home/hanako/Maildir/courierimapuiddb"
    # 127.0.81.6 nginx: software downloads, no mail anywhere.
    for v in 1.0 1.1 2.0; do
        mkdir -p "$w/soft/releases/$v"
        echo "not really a tarball" > "$w/soft/releases/$v/mxtool-$v.tar.gz"
        echo "0000  mxtool-$v.tar.gz" > "$w/soft/releases/$v/SHA256SUMS"
    done
    mkdir -p "$w/soft/docs/api" "$w/soft/contrib"; echo "docs" > "$w/soft/docs/index.txt"
    echo "api" > "$w/soft/docs/api/v1.txt"; echo "tools" > "$w/soft/contrib/README"
    # 127.0.81.7 python http.server: an address-named Maildir two levels down.
    maildir "$w/py/srv/mail/shiro@example.jp" "shiro@example.jp"
    mkdir -p "$w/py/static"; echo "x" > "$w/py/static/app.js"
    chmod -R a+rX "$w"

    cat > "$d/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/nginx-error.log;
events { worker_connections 64; }
http {
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    server_tokens off;
    server { listen 127.0.81.1:8080; root $w/ngx; autoindex on;
             access_log $d/127.0.81.1-access.log; }
    server { listen 127.0.81.6:8080; root $w/soft; autoindex on;
             access_log $d/127.0.81.6-access.log; }
}
CONF
    nginx -c "$d/nginx.conf" -p "$d"

    mods=/usr/lib/apache2/modules
    cat > "$d/apache2.conf" <<CONF
ServerRoot $d
PidFile $d/apache2.pid
ErrorLog $d/apache2-error.log
Mutex file:$d
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule dir_module $mods/mod_dir.so
LoadModule mime_module $mods/mod_mime.so
LoadModule autoindex_module $mods/mod_autoindex.so
User www-data
Group www-data
ServerName mxray-webstores.lab
ServerTokens Prod
ServerSignature On
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
TypesConfig /etc/mime.types
LogFormat "%h %l %u %t \"%r\" %>s %b" common
Listen 127.0.81.2:8080
Listen 127.0.81.3:8080
Listen 127.0.81.5:8080
<Directory />
    Require all denied
</Directory>
<VirtualHost 127.0.81.2:8080>
    ServerName 127.0.81.2
    DocumentRoot $w/apf
    CustomLog $d/127.0.81.2-access.log common
    <Directory $w/apf>
        Options +Indexes
        IndexOptions FancyIndexing VersionSort HTMLTable NameWidth=* DescriptionWidth=* Charset=UTF-8
        Require all granted
    </Directory>
</VirtualHost>
<VirtualHost 127.0.81.3:8080>
    ServerName 127.0.81.3
    DocumentRoot $w/app
    CustomLog $d/127.0.81.3-access.log common
    <Directory $w/app>
        Options +Indexes
        IndexOptions -FancyIndexing Charset=UTF-8
        Require all granted
    </Directory>
</VirtualHost>
<VirtualHost 127.0.81.5:8080>
    ServerName 127.0.81.5
    DocumentRoot $w/apr
    CustomLog $d/127.0.81.5-access.log common
    <Directory $w/apr>
        Options +Indexes
        IndexOptions FancyIndexing NameWidth=* Charset=UTF-8
        Require all granted
    </Directory>
</VirtualHost>
CONF
    apache2 -f "$d/apache2.conf" -k start

    cat > "$d/lighttpd.conf" <<CONF
server.modules = ( "mod_dirlisting", "mod_accesslog" )
server.bind = "127.0.81.4"
server.port = 8080
server.document-root = "$w/lig"
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/lig/lighttpd-error.log"
server.username = "www-data"
server.groupname = "www-data"
accesslog.filename = "$d/lig/127.0.81.4-access.log"
dir-listing.activate = "enable"
mimetype.assign = ( ".txt" => "text/plain", ".html" => "text/html" )
CONF
    mkdir -p "$d/lig"; chown www-data:www-data "$d/lig"
    lighttpd -f "$d/lighttpd.conf"

    (cd "$w/py" && exec python3 -m http.server 8080 --bind 127.0.81.7 \
        >"$d/127.0.81.7-access.log" 2>&1) &
    echo $! > "$d/python.pid"

    for ip in 127.0.81.1 127.0.81.2 127.0.81.3 127.0.81.4 127.0.81.5 127.0.81.6 127.0.81.7; do
        wait_port "$ip" 8080
    done
    ;;
stop)
    d=${2:?usage: webstores.sh stop DIR}
    stop_pidfile "$d/nginx.pid"
    stop_pidfile "$d/apache2.pid"
    stop_pidfile "$d/lighttpd.pid"
    stop_pidfile "$d/python.pid"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
