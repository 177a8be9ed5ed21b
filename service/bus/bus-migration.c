/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gunixfdlist.h>

#include "bus-names.h"
#include "bus-service.h"
#include "migration-cookie.h"
#include "migration.h"
#include "vb-error.h"

/*
 * The migration methods (docs/migration.md): argument unpacking and
 * replies only; the phases live in service/migration/.
 */

static void
host_of(VbBusCall *call, VbMigrationHost *host)
{
    host->host_uuid = call->service->host_uuid;
    host->host_name = g_get_host_name();
}

static GBytes *
bytes_of(GVariant *ay)
{
    gsize n = 0;
    const guint8 *data = g_variant_get_fixed_array(ay, &n, 1);

    return g_bytes_new(data, n);
}

static GVariant *
bytes_value(GBytes *b)
{
    return g_variant_new_from_bytes(G_VARIANT_TYPE("ay"), b, TRUE);
}

GVariant *
vb_bus_migrate_begin(VbBusCall *call, GError **error)
{
    const char *xml_in;
    guint32 flags;
    VbMigrationHost host;
    g_autofree char *xml = NULL;
    g_autoptr(GBytes) cookie = NULL;

    g_variant_get(call->parameters, "(&su)", &xml_in, &flags);
    host_of(call, &host);
    if (!vb_migration_begin(call->service->domains, call->dom, &host, xml_in, flags,
                            vb_bus_owner(call), &xml, &cookie, error))
        return NULL;
    return g_variant_new("(s@ay)", xml, bytes_value(cookie));
}

GVariant *
vb_bus_migrate_perform(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) cookie_v = NULL;
    g_autoptr(GVariant) params = NULL;
    g_autoptr(GBytes) cookie = NULL;
    const char *uri;
    guint32 flags;
    VbMigrationHost host;

    g_variant_get(call->parameters, "(@ay&s@a{sv}u)", &cookie_v, &uri, &params, &flags);
    cookie = bytes_of(cookie_v);
    host_of(call, &host);
    return vb_bus_job_reply(vb_migration_perform(call->service->domains, call->dom, &host, cookie,
                                               uri, params, flags, vb_bus_owner(call), error));
}

GVariant *
vb_bus_migrate_confirm(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) cookie_v = NULL;
    g_autoptr(GBytes) cookie = NULL;
    guint32 flags;
    gboolean cancelled;
    VbMigrationHost host;

    g_variant_get(call->parameters, "(@ayub)", &cookie_v, &flags, &cancelled);
    cookie = bytes_of(cookie_v);
    host_of(call, &host);
    if (!vb_migration_confirm(call->service->domains, call->dom, &host, cookie, flags, cancelled,
                              vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_migrate(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) params = NULL;
    const char *uri;
    guint32 flags;
    VbMigrationHost host;

    g_variant_get(call->parameters, "(&s@a{sv}u)", &uri, &params, &flags);
    host_of(call, &host);
    return vb_bus_job_reply(vb_migration_migrate(call->service->domains, call->dom, &host, uri,
                                               params, flags, vb_bus_owner(call), error));
}

GVariant *
vb_bus_migrate_start_postcopy(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "MigrateStartPostCopy", error) ||
        !vb_migration_start_postcopy(call->service->domains, call->dom, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_migrate_set_max_speed(VbBusCall *call, GError **error)
{
    guint64 bw;
    guint32 flags;

    g_variant_get(call->parameters, "(tu)", &bw, &flags);
    if (!vb_bus_check_flags(flags, VB_MIGRATE_MAX_SPEED_POSTCOPY, "MigrateSetMaxSpeed", error) ||
        !vb_migration_set_max_speed(call->service->domains, call->dom, bw, flags,
                                    vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_migrate_get_max_speed(VbBusCall *call, GError **error)
{
    guint64 bw = 0;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_MIGRATE_MAX_SPEED_POSTCOPY, "MigrateGetMaxSpeed", error) ||
        !vb_migration_get_max_speed(call->service->domains, call->dom, flags,
                                    vb_bus_owner(call), &bw, error))
        return NULL;
    return g_variant_new("(t)", bw);
}

GVariant *
vb_bus_migrate_set_max_downtime(VbBusCall *call, GError **error)
{
    guint64 ms;
    guint32 flags;

    g_variant_get(call->parameters, "(tu)", &ms, &flags);
    if (!vb_bus_check_flags(flags, 0, "MigrateSetMaxDowntime", error) ||
        !vb_migration_set_max_downtime(call->service->domains, call->dom, ms, vb_bus_owner(call),
                                       error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_migrate_get_max_downtime(VbBusCall *call, GError **error)
{
    guint64 ms = 0;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "MigrateGetMaxDowntime", error) ||
        !vb_migration_get_max_downtime(call->service->domains, call->dom, vb_bus_owner(call), &ms,
                                       error))
        return NULL;
    return g_variant_new("(t)", ms);
}

/* The polkit details of a domain definition: its name and uuid. */
static void
name_def(VbBusCall *call, const char *xml)
{
    VbDomainDef *def = vb_domain_parse_config(xml, NULL);
    char uuid[37];

    if (def == NULL)
        return; /* reported after authorization */
    vb_uuid_format(def->uuid, uuid);
    call->detail_domain = g_strdup(def->name);
    call->detail_uuid = g_strdup(uuid);
    vb_domain_def_free(def);
}

/*
 * MigratePrepare, MigratePrepareTunnel (non-root callers, before the
 * checks): name the incoming domain from the call's XML, as DefineXML
 * does, so that rules per domain hold for migrate and define. Parsing
 * reads no file and runs nothing.
 */
void
vb_bus_migrate_prepare_details(VbBusCall *call)
{
    const char *xml;

    g_variant_get_child(call->parameters, 0, "&s", &xml);
    name_def(call, xml);
}

/*
 * MigrateFinish (non-root callers, before the checks): the domain the
 * cookie is about: the incoming domain with the cookie's uuid, or for
 * OFFLINE the definition the cookie carries (what Finish defines).
 */
void
vb_bus_migrate_finish_details(VbBusCall *call)
{
    g_autoptr(GVariant) cookie_v = NULL;
    g_autoptr(VbMigrationCookie) cookie = NULL;
    VbDomainId id = { 0 };
    const guint8 *data;
    gsize n = 0;
    guint32 flags;

    cookie_v = g_variant_get_child_value(call->parameters, 0);
    g_variant_get_child(call->parameters, 1, "u", &flags);
    data = g_variant_get_fixed_array(cookie_v, &n, 1);
    cookie = vb_migration_cookie_parse(data, n, NULL);
    if (cookie == NULL)
        return; /* reported after authorization */
    if ((flags & VB_MIGRATE_OFFLINE) && cookie->persistent_xml != NULL) {
        name_def(call, cookie->persistent_xml);
        return;
    }
    vb_domain_list_identify(call->service->domains, NULL, cookie->uuid, &id, NULL);
    call->detail_domain = id.name != NULL ? id.name : g_strdup(cookie->name);
    call->detail_uuid = g_strdup(cookie->uuid);
}

GVariant *
vb_bus_migrate_prepare(VbBusCall *call, GError **error)
{
    const char *xml, *uri_in;
    g_autoptr(GVariant) cookie_v = NULL;
    g_autoptr(GBytes) cookie = NULL;
    g_autoptr(GBytes) out_cookie = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    g_autofree char *uri_out = NULL;
    g_autoptr(GError) local = NULL;
    guint32 flags;
    VbMigrationHost host;

    g_variant_get(call->parameters, "(&s@ay&su)", &xml, &cookie_v, &uri_in, &flags);
    cookie = bytes_of(cookie_v);
    host_of(call, &host);
    dom = vb_migration_prepare(call->service->domains, &host, xml, cookie, uri_in, flags,
                               vb_bus_owner(call), &out_cookie, &uri_out, &local);
    if (local != NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    /* an offline migration runs nothing here until Finish */
    return g_variant_new("(@ayso)", bytes_value(out_cookie), uri_out,
                         dom != NULL ? dom->object_path : "/");
}

GVariant *
vb_bus_migrate_finish(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) cookie_v = NULL;
    g_autoptr(GBytes) cookie = NULL;
    g_autoptr(GBytes) out_cookie = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    g_autoptr(GError) local = NULL;
    guint32 flags;
    gboolean cancelled;
    VbMigrationHost host;

    g_variant_get(call->parameters, "(@ayub)", &cookie_v, &flags, &cancelled);
    cookie = bytes_of(cookie_v);
    host_of(call, &host);
    dom = vb_migration_finish(call->service->domains, &host, cookie, flags, cancelled,
                              vb_bus_owner(call), &out_cookie, &local);
    if (local != NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (out_cookie == NULL)
        out_cookie = g_bytes_new(NULL, 0);
    return g_variant_new("(o@ay)", dom != NULL ? dom->object_path : "/",
                         bytes_value(out_cookie));
}

GVariant *
vb_bus_migrate_prepare_tunnel(VbBusCall *call, GError **error)
{
    const char *xml;
    g_autoptr(GVariant) cookie_v = NULL;
    g_autoptr(GBytes) cookie = NULL;
    g_autoptr(GBytes) out_cookie = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    guint32 flags;
    VbMigrationHost host;

    g_variant_get(call->parameters, "(&s@ayu)", &xml, &cookie_v, &flags);
    cookie = bytes_of(cookie_v);
    host_of(call, &host);
    dom = vb_migration_prepare_tunnel(call->service->domains, &host, xml, cookie, flags,
                                      vb_bus_owner(call), &out_cookie, error);
    if (dom == NULL)
        return NULL;
    return g_variant_new("(@ayo)", bytes_value(out_cookie), dom->object_path);
}

/* The polkit details of a tunnel call: its domain (non-root callers only). */
void
vb_bus_migrate_tunnel_prepare(VbBusCall *call)
{
    const char *path;
    g_autofree char *uuid = NULL;
    VbDomainId id = { 0 };

    g_variant_get_child(call->parameters, 0, "&o", &path);
    uuid = vb_bus_domain_path_to_uuid(path);
    if (uuid == NULL || !vb_domain_list_identify(call->service->domains, NULL, uuid, &id, NULL))
        return;
    call->detail_domain = g_steal_pointer(&id.name);
    call->detail_uuid = g_strdup(id.uuid_str);
}

typedef struct {
    VbBusCall *call;
    GError *error;
} TunnelReply;

static gboolean
tunnel_reply_on_main(gpointer data)
{
    TunnelReply *r = data;

    vb_bus_call_return(r->call, r->error == NULL ? g_variant_new("()") : NULL, r->error);
    g_clear_error(&r->error);
    g_free(r);
    return G_SOURCE_REMOVE;
}

/* A chunk or the end marker is through (or failed): the reply, from any thread. */
static void
tunnel_done(const GError *error, gpointer user_data)
{
    VbBusCall *call = user_data;
    TunnelReply *r = g_new0(TunnelReply, 1);

    r->call = call;
    r->error = error != NULL ? g_error_copy(error) : NULL;
    vb_bus_service_queue(call->service, tunnel_reply_on_main, r);
}

static char *
tunnel_uuid(const char *path, GError **error)
{
    char *uuid = vb_bus_domain_path_to_uuid(path);

    if (uuid == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "'%s' is not a domain's path", path);
    return uuid;
}

/* Inline and deferred: queues the chunk; the reply comes once it is in QEMU's socket. */
GVariant *
vb_bus_migrate_tunnel_data(VbBusCall *call, GError **error)
{
    const char *path;
    guint64 offset;
    g_autoptr(GVariant) data_v = NULL;
    g_autoptr(GBytes) data = NULL;
    g_autofree char *uuid = NULL;

    g_variant_get(call->parameters, "(&ot@ay)", &path, &offset, &data_v);
    uuid = tunnel_uuid(path, error);
    if (uuid == NULL)
        return NULL;
    data = g_variant_get_data_as_bytes(data_v); /* no copy */
    vb_migration_tunnel_data(call->service->domains, uuid, vb_bus_owner(call), offset, data,
                             tunnel_done, call, error);
    return NULL; /* kept, or the error */
}

GVariant *
vb_bus_migrate_tunnel_end(VbBusCall *call, GError **error)
{
    const char *path;
    guint64 length;
    gboolean abort;
    g_autofree char *uuid = NULL;

    g_variant_get(call->parameters, "(&otb)", &path, &length, &abort);
    uuid = tunnel_uuid(path, error);
    if (uuid == NULL)
        return NULL;
    vb_migration_tunnel_end(call->service->domains, uuid, vb_bus_owner(call), length, abort,
                            tunnel_done, call, error);
    return NULL;
}

/*
 * MigrateTunnelAttach: inline (never blocks): hands the descriptor to the
 * tunnel's thread and returns. Reached only after polkit said yes.
 */
GVariant *
vb_bus_migrate_tunnel_attach(VbBusCall *call, GError **error)
{
    const char *path, *token;
    gint32 index;
    guint32 flags;
    g_autofree char *uuid = NULL;
    GUnixFDList *fds = NULL;
    int fd;

    g_variant_get(call->parameters, "(&o&shu)", &path, &token, &index, &flags);
    if (!vb_bus_check_flags(flags, 0, "MigrateTunnelAttach", error))
        return NULL;
    uuid = tunnel_uuid(path, error);
    if (uuid == NULL)
        return NULL;
    if (call->invocation != NULL)
        fds = g_dbus_message_get_unix_fd_list(
            g_dbus_method_invocation_get_message(call->invocation));
    if (fds == NULL || index < 0 || index >= g_unix_fd_list_get_length(fds)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "MigrateTunnelAttach: the call carries no descriptor for 'stream' (index "
                    "%d); the connection must pass Unix descriptors", index);
        return NULL;
    }
    fd = g_unix_fd_list_get(fds, index, error); /* a duplicate, close-on-exec */
    if (fd < 0)
        return NULL;
    if (!vb_migration_tunnel_attach(call->service->domains, uuid, token, fd, error))
        return NULL;
    return g_variant_new("()");
}
