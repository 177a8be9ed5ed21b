/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vb-error.h"
#include "vbctl-migrate-priv.h"
#include "vbctl.h"

/*
 * virtbusctl migrate: modelled on virsh migrate.
 *
 * Peer-to-peer (--p2p, and the default for an ssh:// DEST_URI, as the issue's
 * `virtbusctl migrate --live vm1 ssh://root@host2` asks): one call,
 * Domain.Migrate on the source; the source service runs the five phases and
 * the client follows the returned Job.
 *
 * Client-driven (a D-Bus address as DEST_URI, without --p2p): the client
 * runs protocol v3 itself, as libvirt's virDomainMigrateVersion3Full does:
 * Begin on the source, Prepare on the destination, Perform on the source
 * (a Job, followed), Finish on the destination, Confirm on the source. A
 * failure in any phase is undone in order (Finish cancelled on the
 * destination once Prepare succeeded, then Confirm cancelled on the source
 * once Begin succeeded) and the first error is the one reported; later
 * clean-up errors are warnings.
 */

/* The typed-parameter names of libvirt (VIR_MIGRATE_PARAM_*). */
#define PARAM_URI "migrate_uri"
#define PARAM_DEST_NAME "destination_name"
#define PARAM_DEST_XML "destination_xml"
#define PARAM_PERSIST_XML "persistent_xml"
#define PARAM_BANDWIDTH "bandwidth"
#define PARAM_BANDWIDTH_POSTCOPY "bandwidth.postcopy"
#define PARAM_PARALLEL_CONNECTIONS "parallel.connections"
#define PARAM_COMPRESSION "compression"

/* MigrateSetMaxSpeed / MigrateGetMaxSpeed flag */
#define SPEED_POSTCOPY 1u

/* libvirt's QEMU limit: QEMU takes bytes/s in an int64. */
#define BANDWIDTH_MAX_MIB ((guint64)G_MAXINT64 / (1024 * 1024))

void
vbctl_migrate_flags_clear(VbctlMigrateFlags *flags)
{
    g_clear_pointer(&flags->parallel_connections, g_free);
    g_clear_pointer(&flags->comp_methods, g_free);
    g_clear_pointer(&flags->bandwidth, g_free);
    g_clear_pointer(&flags->postcopy_bandwidth, g_free);
    g_clear_pointer(&flags->migrateuri, g_free);
    g_clear_pointer(&flags->dname, g_free);
    g_clear_pointer(&flags->persistent_xml, g_free);
    g_clear_pointer(&flags->comp_methods_value, g_strfreev);
}

static gboolean usage(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* Sets a usage error (virtbusctl exits with 2) and returns FALSE. */
static gboolean
usage(GError **error, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    g_propagate_error(error,
                      g_error_new_valist(G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, format, ap));
    va_end(ap);
    return FALSE;
}

/* An unsigned decimal number in [min, max]; for @what in the error. */
static gboolean
parse_u64(const char *text, const char *what, guint64 min, guint64 max, guint64 *out_value,
          GError **error)
{
    g_autoptr(GError) local = NULL;
    guint64 value;

    if (!g_ascii_string_to_unsigned(text, 10, min, max, &value, &local))
        return usage(error,
                     _("%s must be a whole number from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                       ", not '%s'"),
                     what, min, max, text);
    *out_value = value;
    return TRUE;
}

/* "a,b,c" of --comp-methods: no empty item, no repeat. */
static gboolean
parse_list(const char *text, const char *what, char ***out_list, GError **error)
{
    g_auto(GStrv) items = g_strsplit(text, ",", -1);

    for (guint i = 0; items[i] != NULL; i++) {
        if (*items[i] == '\0')
            return usage(error, _("%s has an empty item: '%s'"), what, text);
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(items[i], items[j]))
                return usage(error, _("%s names '%s' twice"), what, items[i]);
        }
    }
    if (items[0] == NULL)
        return usage(error, _("%s is empty"), what);
    *out_list = g_steal_pointer(&items);
    return TRUE;
}

/* Whether DEST_URI names a remote host (the source service reaches it over ssh). */
static gboolean
dest_is_ssh(const char *dest_uri)
{
    return g_str_has_prefix(dest_uri, "ssh://");
}

/* Peer-to-peer: asked for, or implied by an ssh:// destination. */
static gboolean
migrate_is_p2p(const VbctlContext *ctx)
{
    return ctx->flags.migrate.p2p || (ctx->n_args > 1 && dest_is_ssh(ctx->args[1]));
}

#define EXCLUSIVE(a, b, name_a, name_b)                                                            \
    do {                                                                                           \
        if ((a) && (b))                                                                            \
            return usage(error, _("%s and %s exclude each other"), name_a, name_b);                \
    } while (0)
#define REQUIRES(a, b, name_a, name_b)                                                             \
    do {                                                                                           \
        if ((a) && !(b))                                                                           \
            return usage(error, _("%s needs %s"), name_a, name_b);                                 \
    } while (0)

/* virsh's option rules, and the flag rules libvirt's client library checks. */
static gboolean
check_migrate_combinations(const VbctlContext *ctx, GError **error)
{
    const VbctlMigrateFlags *m = &ctx->flags.migrate;
    gboolean p2p = migrate_is_p2p(ctx);
    gboolean has_timeout = ctx->flags.timeout > 0;

    EXCLUSIVE(m->live, m->offline, "--live", "--offline");
    EXCLUSIVE(m->p2p, m->direct, "--p2p", "--direct");
    EXCLUSIVE(m->copy_storage_all, m->copy_storage_inc, "--copy-storage-all", "--copy-storage-inc");
    EXCLUSIVE(m->timeout_suspend, m->timeout_postcopy, "--timeout-suspend", "--timeout-postcopy");
    EXCLUSIVE(m->tunnelled, m->parallel, "--tunnelled", "--parallel");
    REQUIRES(m->postcopy_after_precopy, m->postcopy, "--postcopy-after-precopy", "--postcopy");
    REQUIRES(m->timeout_postcopy, m->postcopy, "--timeout-postcopy", "--postcopy");
    REQUIRES(m->persistent_xml != NULL, ctx->flags.persistent, "--persistent-xml", "--persistent");
    REQUIRES(m->parallel_connections != NULL, m->parallel, "--parallel-connections", "--parallel");
    REQUIRES(m->comp_methods != NULL, m->compressed, "--comp-methods", "--compressed");
    REQUIRES(has_timeout, m->live, "--timeout", "--live");
    REQUIRES(m->timeout_suspend, has_timeout, "--timeout-suspend", "--timeout");
    REQUIRES(m->timeout_postcopy, has_timeout, "--timeout-postcopy", "--timeout");
    if (m->tunnelled && !p2p)
        return usage(error, _("--tunnelled needs a peer-to-peer migration (--p2p, or an ssh:// "
                              "DEST_URI)"));
    if (m->persistent_xml != NULL && !p2p)
        return usage(error, _("--persistent-xml needs a peer-to-peer migration (--p2p, or an "
                              "ssh:// DEST_URI): MigrateFinish takes no definition"));
    return TRUE;
}

/* The numbers and lists of migrate's options, into their typed fields. */
static gboolean
check_migrate_values(VbctlContext *ctx, GError **error)
{
    VbctlMigrateFlags *m = &ctx->flags.migrate;
    guint64 n;

    if (*ctx->args[1] == '\0')
        return usage(error, _("DEST_URI is empty"));
    if (m->bandwidth != NULL &&
        !parse_u64(m->bandwidth, "--bandwidth", 0, BANDWIDTH_MAX_MIB, &m->bandwidth_value, error))
        return FALSE;
    m->has_bandwidth = m->bandwidth != NULL;
    if (m->postcopy_bandwidth != NULL &&
        !parse_u64(m->postcopy_bandwidth, "--postcopy-bandwidth", 0, BANDWIDTH_MAX_MIB,
                   &m->postcopy_bandwidth_value, error))
        return FALSE;
    m->has_postcopy_bandwidth = m->postcopy_bandwidth != NULL;
    /* QEMU's multifd-channels is 1..255 */
    if (m->parallel_connections != NULL) {
        if (!parse_u64(m->parallel_connections, "--parallel-connections", 1, 255, &n, error))
            return FALSE;
        m->parallel_connections_value = (gint)n;
    }
    if (m->comp_methods != NULL &&
        !parse_list(m->comp_methods, "--comp-methods", &m->comp_methods_value, error))
        return FALSE;
    if (m->dname != NULL && *m->dname == '\0')
        return usage(error, _("--dname is empty"));
    if (m->migrateuri != NULL && *m->migrateuri == '\0')
        return usage(error, _("--migrateuri is empty"));
    return TRUE;
}

/**
 * vbctl_migrate_check_args:
 * @command: the command's name
 *
 * The command-line checks of migrate and migrate-* (exclusive and required
 * options, numbers), run after the options and arguments were parsed, for
 * every command (the others pass). A failure is a usage error.
 */
gboolean
vbctl_migrate_check_args(const char *command, VbctlContext *ctx, GError **error)
{
    VbctlMigrateFlags *m = &ctx->flags.migrate;

    if (g_str_equal(command, "migrate"))
        return check_migrate_combinations(ctx, error) && check_migrate_values(ctx, error);
    if (g_str_equal(command, "migrate-setspeed"))
        return parse_u64(ctx->args[1], _("the bandwidth (MiB/s)"), 0, BANDWIDTH_MAX_MIB,
                         &m->number_arg, error);
    /* virsh refuses a downtime of 0 */
    if (g_str_equal(command, "migrate-setmaxdowntime"))
        return parse_u64(ctx->args[1], _("the downtime (ms)"), 1, G_MAXUINT64, &m->number_arg,
                         error);
    return TRUE;
}

/* libvirt's virDomainMigrateFlags */
#define MIGRATE_LIVE (1u << 0)
#define MIGRATE_PEER2PEER (1u << 1)
#define MIGRATE_TUNNELLED (1u << 2)
#define MIGRATE_PERSIST_DEST (1u << 3)
#define MIGRATE_UNDEFINE_SOURCE (1u << 4)
#define MIGRATE_PAUSED (1u << 5)
#define MIGRATE_NON_SHARED_DISK (1u << 6)
#define MIGRATE_NON_SHARED_INC (1u << 7)
#define MIGRATE_OFFLINE (1u << 10)
#define MIGRATE_COMPRESSED (1u << 11)
#define MIGRATE_ABORT_ON_ERROR (1u << 12)
#define MIGRATE_AUTO_CONVERGE (1u << 13)
#define MIGRATE_RDMA_PIN_ALL (1u << 14)
#define MIGRATE_POSTCOPY (1u << 15)
#define MIGRATE_PARALLEL (1u << 17)

static guint
migrate_flags(const VbctlContext *ctx)
{
    const VbctlMigrateFlags *m = &ctx->flags.migrate;
    const struct {
        gboolean set;
        guint bit;
    } map[] = {
        {m->live, MIGRATE_LIVE},
        {migrate_is_p2p(ctx), MIGRATE_PEER2PEER},
        {m->tunnelled, MIGRATE_TUNNELLED},
        {ctx->flags.persistent, MIGRATE_PERSIST_DEST},
        {m->undefinesource, MIGRATE_UNDEFINE_SOURCE},
        {m->suspend, MIGRATE_PAUSED},
        {m->copy_storage_all, MIGRATE_NON_SHARED_DISK},
        {m->copy_storage_inc, MIGRATE_NON_SHARED_INC},
        {m->offline, MIGRATE_OFFLINE},
        {m->compressed, MIGRATE_COMPRESSED},
        {m->abort_on_error, MIGRATE_ABORT_ON_ERROR},
        {m->auto_converge, MIGRATE_AUTO_CONVERGE},
        {m->rdma_pin_all, MIGRATE_RDMA_PIN_ALL},
        {m->postcopy, MIGRATE_POSTCOPY},
        {m->parallel, MIGRATE_PARALLEL},
    };
    guint flags = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(map); i++)
        flags |= map[i].set ? map[i].bit : 0;
    return flags;
}

/*
 * The typed parameters. MigratePerform takes only the transfer's tuning;
 * with @p2p Migrate also takes where and as what the domain goes (the
 * client-driven path puts those into Begin, Prepare and the XML instead).
 */
static GVariant *
migrate_params(const VbctlContext *ctx, gboolean p2p, const char *dest_xml, const char *persist_xml)
{
    const VbctlMigrateFlags *m = &ctx->flags.migrate;
    g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);

    if (m->has_bandwidth)
        g_variant_builder_add(&b, "{sv}", PARAM_BANDWIDTH,
                              g_variant_new_uint64(m->bandwidth_value));
    if (m->has_postcopy_bandwidth)
        g_variant_builder_add(&b, "{sv}", PARAM_BANDWIDTH_POSTCOPY,
                              g_variant_new_uint64(m->postcopy_bandwidth_value));
    if (m->parallel_connections_value > 0)
        g_variant_builder_add(&b, "{sv}", PARAM_PARALLEL_CONNECTIONS,
                              g_variant_new_int32(m->parallel_connections_value));
    if (m->comp_methods_value != NULL)
        g_variant_builder_add(&b, "{sv}", PARAM_COMPRESSION,
                              g_variant_new_strv((const char *const *)m->comp_methods_value, -1));
    if (!p2p)
        return g_variant_builder_end(&b);
    if (m->migrateuri != NULL)
        g_variant_builder_add(&b, "{sv}", PARAM_URI, g_variant_new_string(m->migrateuri));
    if (m->dname != NULL)
        g_variant_builder_add(&b, "{sv}", PARAM_DEST_NAME, g_variant_new_string(m->dname));
    if (dest_xml != NULL)
        g_variant_builder_add(&b, "{sv}", PARAM_DEST_XML, g_variant_new_string(dest_xml));
    if (persist_xml != NULL)
        g_variant_builder_add(&b, "{sv}", PARAM_PERSIST_XML, g_variant_new_string(persist_xml));
    return g_variant_builder_end(&b);
}

/* Strips a D-Bus error's remote prefix, then adds @prefix (printf-style). */
static void phase_error(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
phase_error(GError **error, const char *format, ...)
{
    g_autofree char *prefix = NULL;
    va_list ap;

    if (error == NULL || *error == NULL)
        return;
    vbctl_migrate_strip_remote(*error);
    va_start(ap, format);
    prefix = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_prefix_error(error, "%s", prefix);
}

/* A clean-up call that failed after the first error: a warning, not the error. */
static void
cleanup_warning(GError *error, const char *what)
{
    vbctl_migrate_strip_remote(error);
    g_printerr(_("warning: %s failed: %s\n"), what, error->message);
}

/* Per-phase notes with --verbose. */
static void verbose(const VbctlContext *ctx, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
verbose(const VbctlContext *ctx, const char *format, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (!ctx->flags.migrate.verbose)
        return;
    va_start(ap, format);
    msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_printerr("%s\n", msg);
}

/*
 * The connection to the destination service of a client-driven migration.
 * The one place that reaches the destination: a D-Bus address on this
 * machine (unix:path=..., tcp:..., anything g_dbus_connection_new_for_address
 * takes). An ssh:// DEST_URI is migrated peer-to-peer and does not come
 * here; a client-driven migration over ssh would open vb_remote_connect()
 * here (and close it with vb_remote_close()), as virtbusctl -H does.
 */
static GDBusConnection *
connect_destination(const char *dest_uri, GError **error)
{
    g_autofree char *description = g_strdup_printf(_("the destination bus at %s"), dest_uri);
    g_autoptr(GDBusConnection) conn = NULL;
    g_autoptr(GVariant) reply = NULL;
    gboolean has_owner = FALSE;

    if (dest_is_ssh(dest_uri)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    _("a client-driven migration to %s is not possible yet; use --p2p"), dest_uri);
        return NULL;
    }
    if (!g_dbus_is_address(dest_uri)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("'%s' is neither ssh://[USER@]HOST[:PORT][?bus=ADDRESS] nor a D-Bus "
                      "address such as unix:path=SOCKET"),
                    dest_uri);
        return NULL;
    }
    conn = vbctl_connect(FALSE, dest_uri, description, error);
    if (conn == NULL)
        return NULL;
    reply = g_dbus_connection_call_sync(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner",
                                        g_variant_new("(s)", VBCTL_BUS_NAME), G_VARIANT_TYPE("(b)"),
                                        G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
    if (reply == NULL) {
        g_prefix_error(error, _("cannot reach %s: "), description);
        return NULL;
    }
    g_variant_get(reply, "(b)", &has_owner);
    if (!has_owner) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("the virtbus service (%s) is not running on %s"), VBCTL_BUS_NAME,
                    description);
        return NULL;
    }
    return g_steal_pointer(&conn);
}

/* @xml with its (first, the domain's) <name> replaced by @name, for --dname. */
static char *
xml_with_name(const char *xml, const char *name, GError **error)
{
    const char *start = strstr(xml, "<name>");
    const char *end = start != NULL ? strstr(start, "</name>") : NULL;
    g_autofree char *escaped = NULL;

    if (end == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("the migratable XML of the source has no <name> element"));
        return NULL;
    }
    escaped = g_markup_escape_text(name, -1);
    return g_strdup_printf("%.*s<name>%s%s", (int)(start - xml), xml, escaped, end);
}

/* The state of a client-driven migration, for its clean-up. */
typedef struct {
    VbctlMigrateRun *run;
    VbctlContext *ctx;
    VbDBusDomain *source;
    GDBusConnection *dconn;
    GDBusProxy *dmanager;
    guint flags;
    char *xml;              /* of Begin (renamed with --dname) */
    GVariant *cookie_begin; /* ay, from here on each phase's output cookie */
    GVariant *cookie_prepare;
    GVariant *cookie_perform;
    GVariant *cookie_finish;
    char *uri_out;
    char *dest_domain; /* path on the destination */
    gboolean begun;    /* Begin succeeded: Confirm must follow */
    gboolean prepared; /* Prepare succeeded: Finish must follow */
    gboolean finished; /* Finish was called */
    /* the transfer ran and failed: the source service has ended its job and
     * resumed the guest, the destination's QEMU has ended (libvirt's rule) */
    gboolean transfer_failed;
} Drive;

static void
drive_clear(Drive *d)
{
    g_clear_object(&d->dmanager);
    g_clear_object(&d->dconn);
    g_clear_pointer(&d->xml, g_free);
    g_clear_pointer(&d->cookie_begin, g_variant_unref);
    g_clear_pointer(&d->cookie_prepare, g_variant_unref);
    g_clear_pointer(&d->cookie_perform, g_variant_unref);
    g_clear_pointer(&d->cookie_finish, g_variant_unref);
    g_clear_pointer(&d->uri_out, g_free);
    g_clear_pointer(&d->dest_domain, g_free);
}

/* (transfer floating) */
static GVariant *
empty_cookie(void)
{
    return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, NULL, 0, 1);
}

/* Stops a client-driven migration between phases when the user interrupted it. */
static gboolean
drive_check_interrupt(Drive *d, GError **error)
{
    if (!vbctl_migrate_run_interrupted(d->run))
        return TRUE;
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("migration of domain '%s' cancelled"),
                d->run->domain_name);
    return FALSE;
}

static gboolean
drive_begin(Drive *d, const char *xml_in, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    const char *dname = d->ctx->flags.migrate.dname;

    reply = vbctl_call_mutating(G_DBUS_PROXY(d->source), "MigrateBegin",
                                g_variant_new("(su)", xml_in != NULL ? xml_in : "", d->flags),
                                G_VARIANT_TYPE("(say)"), error);
    if (reply == NULL) {
        phase_error(error, _("cannot begin the migration of domain '%s': "), d->run->domain_name);
        return FALSE;
    }
    d->begun = TRUE;
    g_variant_get_child(reply, 0, "s", &d->xml);
    d->cookie_begin = g_variant_get_child_value(reply, 1);
    verbose(d->ctx, _("Begin: the source returned the domain's XML (%zu bytes) and a cookie"),
            strlen(d->xml));
    if (dname != NULL) {
        char *renamed = xml_with_name(d->xml, dname, error);

        if (renamed == NULL)
            return FALSE;
        g_free(d->xml);
        d->xml = renamed;
    }
    return TRUE;
}

static gboolean
drive_prepare(Drive *d, const char *dest_uri, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    const char *uri_in = d->ctx->flags.migrate.migrateuri;

    d->dmanager = g_dbus_proxy_new_sync(
        d->dconn, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES | G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
        NULL, VBCTL_BUS_NAME, VBCTL_MANAGER_PATH, "org.virtbus.Virt1.Manager", NULL, error);
    if (d->dmanager != NULL)
        reply = vbctl_call_mutating(d->dmanager, "MigratePrepare",
                                    g_variant_new("(s@aysu)", d->xml, d->cookie_begin,
                                                  uri_in != NULL ? uri_in : "", d->flags),
                                    G_VARIANT_TYPE("(ayso)"), error);
    if (reply == NULL) {
        phase_error(error, _("cannot prepare the migration on %s: "), dest_uri);
        return FALSE;
    }
    d->prepared = TRUE;
    d->cookie_prepare = g_variant_get_child_value(reply, 0);
    g_variant_get_child(reply, 1, "s", &d->uri_out);
    g_variant_get_child(reply, 2, "o", &d->dest_domain);
    verbose(d->ctx, _("Prepare: the destination waits at %s (domain %s)"),
            *d->uri_out != '\0' ? d->uri_out : (uri_in != NULL ? uri_in : "?"), d->dest_domain);
    return TRUE;
}

static gboolean
drive_perform(Drive *d, GError **error)
{
    const char *uri = *d->uri_out != '\0' ? d->uri_out : d->ctx->flags.migrate.migrateuri;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) result = NULL;
    const char *job;

    reply = vbctl_call_mutating(G_DBUS_PROXY(d->source), "MigratePerform",
                                g_variant_new("(@ays@a{sv}u)", d->cookie_prepare,
                                              uri != NULL ? uri : "",
                                              migrate_params(d->ctx, FALSE, NULL, NULL), d->flags),
                                G_VARIANT_TYPE("(o)"), error);
    if (reply == NULL) {
        phase_error(error, _("cannot start the transfer of domain '%s': "), d->run->domain_name);
        return FALSE;
    }
    g_variant_get(reply, "(&o)", &job);
    verbose(d->ctx, _("Perform: the transfer runs as job %s"), job);
    result = vbctl_migrate_follow_job(d->run, d->source, job, error);
    if (result == NULL) {
        d->transfer_failed = TRUE;
        if (!g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            phase_error(error, _("migration of domain '%s' failed: "), d->run->domain_name);
        return FALSE;
    }
    d->cookie_perform = g_variant_lookup_value(result, "cookie", G_VARIANT_TYPE_BYTESTRING);
    if (d->cookie_perform == NULL)
        d->cookie_perform = g_variant_ref_sink(empty_cookie());
    if (vbctl_migrate_run_interrupted(d->run))
        g_printerr(_("The transfer had completed; the migration goes on to its end\n"));
    return TRUE;
}

static gboolean
drive_finish(Drive *d, const char *dest_uri, GError **error)
{
    g_autoptr(GVariant) reply = NULL;

    d->finished = TRUE;
    reply = vbctl_call_mutating(d->dmanager, "MigrateFinish",
                                g_variant_new("(@ayub)", d->cookie_perform, d->flags, FALSE),
                                G_VARIANT_TYPE("(oay)"), error);
    if (reply == NULL) {
        phase_error(error, _("cannot finish the migration on %s: "), dest_uri);
        return FALSE;
    }
    d->cookie_finish = g_variant_get_child_value(reply, 1);
    verbose(d->ctx, _("Finish: the domain runs on the destination"));
    return TRUE;
}

/* After the guest moved: a failed Confirm is a warning, as in libvirt. */
static void
drive_confirm(Drive *d)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GError) error = NULL;

    d->begun = FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(d->source), "MigrateConfirm",
                                g_variant_new("(@ayub)", d->cookie_finish, d->flags, FALSE),
                                G_VARIANT_TYPE_UNIT, &error);
    if (reply == NULL) {
        cleanup_warning(error, _("stopping the domain on the source (MigrateConfirm); it is "
                                 "probably left paused there"));
        return;
    }
    verbose(d->ctx, _("Confirm: the source has stopped the domain"));
}

/*
 * Undoes what the phases did, in order; errors are warnings (the first error
 * stays). After a failed transfer the services have undone it themselves, so
 * a clean-up call that finds nothing left to undo is only a --verbose note.
 */
static void
drive_rollback(Drive *d)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = NULL;

    if (d->prepared && !d->finished) {
        d->finished = TRUE;
        reply = vbctl_call_mutating(d->dmanager, "MigrateFinish",
                                    g_variant_new("(@ayub)", d->cookie_begin, d->flags, TRUE),
                                    G_VARIANT_TYPE("(oay)"), &error);
        if (reply == NULL && d->transfer_failed &&
            g_error_matches(error, VB_ERROR, VB_ERROR_NO_DOMAIN))
            verbose(d->ctx, _("Finish: the incoming domain had already gone"));
        else if (reply == NULL)
            cleanup_warning(error, _("removing the incoming domain (MigrateFinish)"));
        else
            verbose(d->ctx, _("Finish: the incoming domain was removed"));
        g_clear_error(&error);
        g_clear_pointer(&reply, g_variant_unref);
    }
    if (d->begun) {
        d->begun = FALSE;
        reply = vbctl_call_mutating(
            G_DBUS_PROXY(d->source), "MigrateConfirm",
            g_variant_new("(@ayub)", d->cookie_finish != NULL ? d->cookie_finish : empty_cookie(),
                          d->flags, TRUE),
            G_VARIANT_TYPE_UNIT, &error);
        if (reply == NULL && d->transfer_failed &&
            g_error_matches(error, VB_ERROR, VB_ERROR_INVALID_STATE))
            verbose(d->ctx, _("Confirm: the source had already taken the domain back"));
        else if (reply == NULL)
            cleanup_warning(error, _("resuming the domain on the source (MigrateConfirm)"));
        else
            verbose(d->ctx, _("Confirm: the source took the domain back"));
    }
}

/* Client-driven: the five phases of protocol v3, run from here. */
static gboolean
migrate_client_driven(VbctlMigrateRun *run, VbDBusDomain *source, const char *dest_uri,
                      const char *dest_xml, GError **error)
{
    Drive d = {0};
    gboolean ok;

    d.run = run;
    d.ctx = run->ctx;
    d.source = source;
    d.flags = migrate_flags(run->ctx);
    /* the destination first: a wrong DEST_URI must not take the domain's job */
    d.dconn = connect_destination(dest_uri, error);
    ok = d.dconn != NULL && drive_begin(&d, dest_xml, error) && drive_check_interrupt(&d, error) &&
         drive_prepare(&d, dest_uri, error) && drive_check_interrupt(&d, error) &&
         drive_perform(&d, error) && drive_finish(&d, dest_uri, error);
    if (ok)
        drive_confirm(&d);
    else
        drive_rollback(&d);
    drive_clear(&d);
    return ok;
}

/* Peer-to-peer: one call on the source, then its Job. */
static gboolean
migrate_p2p(VbctlMigrateRun *run, VbDBusDomain *source, const char *dest_uri, const char *dest_xml,
            const char *persist_xml, GError **error)
{
    VbctlContext *ctx = run->ctx;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) result = NULL;
    const char *job;

    reply = vbctl_call_mutating(G_DBUS_PROXY(source), "Migrate",
                                g_variant_new("(s@a{sv}u)", dest_uri,
                                              migrate_params(ctx, TRUE, dest_xml, persist_xml),
                                              migrate_flags(ctx)),
                                G_VARIANT_TYPE("(o)"), error);
    if (reply == NULL) {
        phase_error(error, _("cannot migrate domain '%s': "), run->domain_name);
        return FALSE;
    }
    g_variant_get(reply, "(&o)", &job);
    verbose(ctx, _("Peer-to-peer migration runs as job %s"), job);
    result = vbctl_migrate_follow_job(run, source, job, error);
    if (result == NULL && !g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        phase_error(error, _("migration of domain '%s' failed: "), run->domain_name);
    return result != NULL;
}

/* The contents of an XML file option, or NULL (and no error) without it. */
static gboolean
read_xml_option(const char *file, char **out_xml, GError **error)
{
    *out_xml = NULL;
    if (file == NULL)
        return TRUE;
    *out_xml = vbctl_read_definition(file, error);
    return *out_xml != NULL;
}

/**
 * vbctl_cmd_migrate:
 *
 * `migrate [options] NAME|UUID DEST_URI` (see the file's comment and
 * virtbusctl(1)).
 */
gboolean
vbctl_cmd_migrate(VbctlContext *ctx, GError **error)
{
    const char *dest_uri = ctx->args[1];
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autofree char *dest_xml = NULL, *persist_xml = NULL, *name = NULL;
    VbctlMigrateRun run = {0};
    gboolean ok;

    if (ctx->flags.migrate.direct) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    _("direct migration is not supported (as with QEMU in libvirt); use --p2p, "
                      "or neither for a migration driven by virtbusctl"));
        return FALSE;
    }
    if (!read_xml_option(ctx->flags.xml_file, &dest_xml, error) ||
        !read_xml_option(ctx->flags.migrate.persistent_xml, &persist_xml, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    /* UNDEFINE_SOURCE may take the domain off the bus: keep its name */
    name = g_strdup(vb_dbus_domain_get_name(domain) ?: ctx->args[0]);
    vbctl_migrate_run_init(&run, ctx, name);
    if (migrate_is_p2p(ctx))
        ok = migrate_p2p(&run, domain, dest_uri, dest_xml, persist_xml, error);
    else
        ok = migrate_client_driven(&run, domain, dest_uri, dest_xml, error);
    vbctl_migrate_run_clear(&run);
    if (!ok)
        return FALSE;
    g_print(_("Domain '%s' migrated to %s\n"), name, dest_uri);
    return TRUE;
}

/**
 * vbctl_cmd_migrate_setspeed:
 *
 * `migrate-setspeed NAME|UUID MiB/s [--postcopy]`.
 */
gboolean
vbctl_cmd_migrate_setspeed(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;
    guint flags = ctx->flags.migrate.postcopy ? SPEED_POSTCOPY : 0;

    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "MigrateSetMaxSpeed",
                                g_variant_new("(tu)", ctx->flags.migrate.number_arg, flags),
                                G_VARIANT_TYPE_UNIT, error);
    return reply != NULL;
}

/**
 * vbctl_cmd_migrate_getspeed:
 *
 * `migrate-getspeed NAME|UUID [--postcopy]`: prints MiB/s (0: unlimited).
 */
gboolean
vbctl_cmd_migrate_getspeed(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    guint64 bandwidth = 0;

    if (domain == NULL ||
        !vb_dbus_domain_call_migrate_get_max_speed_sync(
            domain, ctx->flags.migrate.postcopy ? SPEED_POSTCOPY : 0, &bandwidth, NULL, error))
        return FALSE;
    g_print("%" G_GUINT64_FORMAT "\n", bandwidth);
    return TRUE;
}

/**
 * vbctl_cmd_migrate_setmaxdowntime:
 *
 * `migrate-setmaxdowntime NAME|UUID MS`.
 */
gboolean
vbctl_cmd_migrate_setmaxdowntime(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;

    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "MigrateSetMaxDowntime",
                                g_variant_new("(tu)", ctx->flags.migrate.number_arg, 0u),
                                G_VARIANT_TYPE_UNIT, error);
    return reply != NULL;
}

/**
 * vbctl_cmd_migrate_getmaxdowntime:
 *
 * `migrate-getmaxdowntime NAME|UUID`: prints milliseconds.
 */
gboolean
vbctl_cmd_migrate_getmaxdowntime(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    guint64 downtime = 0;

    if (domain == NULL ||
        !vb_dbus_domain_call_migrate_get_max_downtime_sync(domain, 0, &downtime, NULL, error))
        return FALSE;
    g_print("%" G_GUINT64_FORMAT "\n", downtime);
    return TRUE;
}

/**
 * vbctl_cmd_migrate_postcopy:
 *
 * `migrate-postcopy NAME|UUID`: switches the domain's running migration to
 * post-copy.
 */
gboolean
vbctl_cmd_migrate_postcopy(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;

    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "MigrateStartPostCopy",
                                g_variant_new("(u)", 0u), G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
    g_print(_("Domain '%s': switch to post-copy requested\n"), vb_dbus_domain_get_name(domain));
    return TRUE;
}
