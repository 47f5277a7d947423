#!/bin/sh
# A new directory at each start, from the files the test mounts on /seed:
#   ldap-ca.crt, ldap.crt, ldap.key  the test CA and the server's certificate for its alias
#   ldap-data.ldif                   the suffix, ou=people, ou=groups, the service account
# and LDAP_ADMIN_PASSWORD_HASH (the rootDN's {SSHA}) in the environment.
set -eu
: "${LDAP_ADMIN_PASSWORD_HASH:?}"

# slapd reads its TLS files as openldap, after dropping root.
install -d -o openldap -g openldap -m 700 /etc/ldap/tls
install -o openldap -g openldap -m 644 /seed/ldap-ca.crt /etc/ldap/tls/ca.crt
install -o openldap -g openldap -m 644 /seed/ldap.crt /etc/ldap/tls/server.crt
install -o openldap -g openldap -m 600 /seed/ldap.key /etc/ldap/tls/server.key

rm -rf /etc/ldap/slapd.d/* /var/lib/ldap/*
sed "s|@ADMIN_PASSWORD_HASH@|${LDAP_ADMIN_PASSWORD_HASH}|" /usr/local/share/test-ldap/config.ldif \
  | slapadd -n 0 -F /etc/ldap/slapd.d
slapadd -n 1 -F /etc/ldap/slapd.d -l /seed/ldap-data.ldif
install -d -o openldap -g openldap /var/run/slapd
chown -R openldap:openldap /etc/ldap/slapd.d /var/lib/ldap

# -d: stay in the foreground, logging each connection and operation (docker logs).
exec slapd -d stats -u openldap -g openldap -F /etc/ldap/slapd.d -h "ldap:/// ldaps:/// ldapi:///"
