/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "migration-priv.h"
#include "vb-error.h"

/*
 * Migration URIs: where QEMU's stream goes. Callers write libvirt's forms
 * (tcp://HOST[:PORT], tcp:HOST[:PORT]); QEMU takes tcp:HOST:PORT, with an
 * IPv6 address in brackets. Nothing else is accepted: an exec: or a
 * file: URI would make QEMU run or write what the caller names.
 */

static gboolean
host_is_sane(const char *host)
{
    if (*host == '\0' || *host == '-' || strlen(host) > 253)
        return FALSE;
    for (const char *c = host; *c != '\0'; c++) {
        if (!g_ascii_isalnum(*c) && strchr(".-_:", *c) == NULL)
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_migration_parse_tcp_uri:
 * @out_port: (out): the port, or -1 when the URI has none
 *
 * Splits tcp://HOST[:PORT] or tcp:HOST[:PORT] (HOST may be [IPv6]).
 */
gboolean
vb_migration_parse_tcp_uri(const char *uri, char **out_host, int *out_port, GError **error)
{
    const char *rest;
    g_autofree char *host = NULL;
    const char *port = NULL;

    if (g_str_has_prefix(uri, "tcp://"))
        rest = uri + 6;
    else if (g_str_has_prefix(uri, "tcp:"))
        rest = uri + 4;
    else
        goto bad;
    if (*rest == '[') {
        const char *end = strchr(rest, ']');

        if (end == NULL)
            goto bad;
        host = g_strndup(rest + 1, end - rest - 1);
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0' && !(end[1] == '/' && end[2] == '\0'))
            goto bad;
    } else {
        const char *colon = strrchr(rest, ':');
        gsize n = strlen(rest);

        if (n > 0 && rest[n - 1] == '/')
            n--;
        if (colon != NULL && strchr(rest, ':') != colon)
            goto bad; /* an IPv6 address needs brackets */
        host = colon != NULL ? g_strndup(rest, colon - rest) : g_strndup(rest, n);
        if (colon != NULL)
            port = colon + 1;
    }
    if (!host_is_sane(host))
        goto bad;
    *out_port = -1;
    if (port != NULL) {
        guint64 v;
        g_autofree char *digits = g_strdup(port);

        if (g_str_has_suffix(digits, "/"))
            digits[strlen(digits) - 1] = '\0';
        if (!g_ascii_string_to_unsigned(digits, 10, 1, 65535, &v, NULL))
            goto bad;
        *out_port = (int)v;
    }
    *out_host = g_steal_pointer(&host);
    return TRUE;
bad:
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "migration URI '%s' is not tcp://HOST[:PORT] or tcp:HOST[:PORT]", uri);
    return FALSE;
}

/* The URI QEMU's migrate command takes for a caller's tcp URI with a port. */
char *
vb_migration_qemu_uri(const char *uri, GError **error)
{
    g_autofree char *host = NULL;
    int port;

    if (!vb_migration_parse_tcp_uri(uri, &host, &port, error))
        return NULL;
    if (port < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "migration URI '%s' has no port (pass MigratePrepare's uri_out)", uri);
        return NULL;
    }
    return strchr(host, ':') != NULL ? g_strdup_printf("tcp:[%s]:%d", host, port)
                                     : g_strdup_printf("tcp:%s:%d", host, port);
}

/**
 * vb_migration_check_params:
 *
 * What the parameters need from the flags (libvirt's rules), and what
 * this version cannot do yet.
 */
gboolean
vb_migration_check_params(const VbMigrationParams *p, guint flags, GError **error)
{
    gboolean multifd_comp = FALSE;

    for (guint i = 0; p->compression != NULL && p->compression[i] != NULL; i++) {
        if (!g_str_equal(p->compression[i], "xbzrle"))
            multifd_comp = TRUE;
    }
    if (p->parallel_connections > 0 && !(flags & VB_MIGRATE_PARALLEL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "'parallel.connections' needs the PARALLEL flag (131072)");
        return FALSE;
    }
    if (p->compression != NULL && !(flags & VB_MIGRATE_COMPRESSED)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "'compression' needs the COMPRESSED flag (2048)");
        return FALSE;
    }
    if (multifd_comp && !(flags & VB_MIGRATE_PARALLEL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "compression methods zlib and zstd need the PARALLEL flag (131072)");
        return FALSE;
    }
    if (p->has_postcopy_bandwidth && !(flags & VB_MIGRATE_POSTCOPY)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "'bandwidth.postcopy' needs the POSTCOPY flag (32768)");
        return FALSE;
    }
    if ((p->ac_initial > 0 || p->ac_increment > 0) && !(flags & VB_MIGRATE_AUTO_CONVERGE)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "'auto_converge.*' needs the AUTO_CONVERGE flag (8192)");
        return FALSE;
    }
    return TRUE;
}
