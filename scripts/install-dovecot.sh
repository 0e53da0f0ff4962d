#!/bin/sh
# Installs Debian's Dovecot IMAP server, once: the email tests run it unprivileged on a high port
# (tests/connectors/email/servers.py). Nothing is started here and no system configuration is used.
set -eu

if [ -x /usr/sbin/dovecot ]; then
    echo "dovecot is already installed: $(/usr/sbin/dovecot --version 2>/dev/null || echo /usr/sbin/dovecot)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

$SUDO apt-get update
# policy-rc.d-free containers have no init system to start the packaged service; it is not needed.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dovecot-imapd
/usr/sbin/dovecot --version
