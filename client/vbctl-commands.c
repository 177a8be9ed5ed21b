/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <unistd.h>

#include "vb-error.h"
#include "vbctl-output.h"
#include "vbctl.h"

/* GetXMLDesc flag bits (libvirt's values) */
#define XML_SECURE 1u
#define XML_INACTIVE 2u
#define XML_MIGRATABLE 8u

static gint
compare_info_by_name(gconstpointer a, gconstpointer b)
{
    const VbctlDomainInfo *x = *(VbctlDomainInfo *const *)a;
    const VbctlDomainInfo *y = *(VbctlDomainInfo *const *)b;

    return g_strcmp0(x->name, y->name);
}

/*
 * All domains with their properties from one GetManagedObjects call, sorted
 * by name, keeping the active ones, the inactive ones, or both.
 */
static GPtrArray *
collect_domains(VbctlContext *ctx, gboolean want_active, gboolean want_inactive, GError **error)
{
    g_autoptr(GDBusObjectManager) om = NULL;
    g_autoptr(GPtrArray) infos = NULL;
    g_autofree char *owner = NULL;
    GList *objects;

    om = vb_dbus_object_manager_client_new_sync(ctx->connection,
                                                G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                VBCTL_BUS_NAME, VBCTL_MANAGER_PATH, NULL, error);
    if (om == NULL)
        return NULL;
    owner = g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(om));
    if (owner == NULL) {
        vbctl_set_service_missing_error(ctx, error);
        return NULL;
    }
    infos = g_ptr_array_new_with_free_func((GDestroyNotify)vbctl_domain_info_free);
    objects = g_dbus_object_manager_get_objects(om);
    for (GList *l = objects; l != NULL; l = l->next) {
        VbDBusDomain *domain = vb_dbus_object_peek_domain(VB_DBUS_OBJECT(l->data));
        gboolean active;

        if (domain == NULL)
            continue;
        active = vb_dbus_domain_get_active(domain);
        if ((active && want_active) || (!active && want_inactive))
            g_ptr_array_add(infos, vbctl_domain_info_new(domain));
    }
    g_list_free_full(objects, g_object_unref);
    g_ptr_array_sort(infos, compare_info_by_name);
    return g_steal_pointer(&infos);
}

static void
print_domain_table(GPtrArray *infos)
{
    const char *headers[] = {_("Id"), _("Name"), _("State")};
    g_autoptr(VbctlTable) table = vbctl_table_new(3, headers);
    g_autofree char *text = NULL;

    for (guint i = 0; i < infos->len; i++) {
        VbctlDomainInfo *info = g_ptr_array_index(infos, i);
        g_autofree char *id = info->id >= 0 ? g_strdup_printf("%d", info->id) : g_strdup("-");
        const char *row[] = {id, info->name, info->state};

        vbctl_table_add_row(table, row);
    }
    text = vbctl_table_format(table);
    g_print("%s", text);
}

static gboolean
any_state_filter(const VbctlFlags *f)
{
    return f->state_running || f->state_paused || f->state_shutoff || f->state_other;
}

/* Whether @info passes the --state-*, --persistent/--transient and --with-managed-save filters. */
static gboolean
list_filter_matches(const VbctlFlags *f, const VbctlDomainInfo *info)
{
    if (any_state_filter(f)) {
        gboolean running = g_str_equal(info->state, "running");
        gboolean paused = g_str_equal(info->state, "paused");
        gboolean shutoff = g_str_equal(info->state, "shutoff");

        if (!((f->state_running && running) || (f->state_paused && paused) ||
              (f->state_shutoff && shutoff) ||
              (f->state_other && !running && !paused && !shutoff)))
            return FALSE;
    }
    if ((f->persistent && !info->persistent) || (f->transient && info->persistent))
        return FALSE;
    return !f->with_managed_save || info->managed_save;
}

/**
 * vbctl_cmd_list:
 *
 * `list [--all] [--inactive] [--state-*] [--persistent|--transient]
 * [--with-managed-save] [--json]`: active domains by default, like virsh; a
 * --state-* option looks at every domain. The hidden `--name` prints bare
 * names for shell completion, which uses the filters to offer each command
 * the domains it can act on.
 */
gboolean
vbctl_cmd_list(VbctlContext *ctx, GError **error)
{
    gboolean by_state = any_state_filter(&ctx->flags);
    gboolean want_inactive = ctx->flags.all || ctx->flags.inactive || by_state;
    gboolean want_active = ctx->flags.all || !ctx->flags.inactive || by_state;
    g_autoptr(GPtrArray) infos = collect_domains(ctx, want_active, want_inactive, error);

    if (infos == NULL)
        return FALSE;
    for (guint i = infos->len; i > 0; i--) {
        if (!list_filter_matches(&ctx->flags, infos->pdata[i - 1]))
            g_ptr_array_remove_index(infos, i - 1);
    }
    if (ctx->flags.json) {
        g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
        JsonArray *array = json_array_sized_new(infos->len);

        for (guint i = 0; i < infos->len; i++)
            json_array_add_element(array, vbctl_domain_info_to_json(infos->pdata[i]));
        json_node_take_array(root, array);
        vbctl_print_json(root);
    } else if (ctx->flags.names_only) {
        for (guint i = 0; i < infos->len; i++)
            g_print("%s\n", ((VbctlDomainInfo *)infos->pdata[i])->name);
    } else {
        print_domain_table(infos);
    }
    return TRUE;
}

static char *
read_stdin(GError **error)
{
    g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
    g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();

    if (g_output_stream_splice(out, in, G_OUTPUT_STREAM_SPLICE_NONE, NULL, error) < 0)
        return NULL;
    /* splice does not terminate the data */
    if (!g_output_stream_write_all(out, "", 1, NULL, NULL, error) ||
        !g_output_stream_close(out, NULL, error))
        return NULL;
    return g_memory_output_stream_steal_data(G_MEMORY_OUTPUT_STREAM(out));
}

/**
 * vbctl_read_definition:
 * @file: a file name, or "-" for standard input
 *
 * Returns: (transfer full): the file's text, checked to be UTF-8, or %NULL
 * with @error set.
 */
char *
vbctl_read_definition(const char *file, GError **error)
{
    g_autofree char *contents = NULL;

    if (g_strcmp0(file, "-") == 0) {
        contents = read_stdin(error);
        if (contents == NULL)
            g_prefix_error(error, _("cannot read standard input: "));
    } else if (!g_file_get_contents(file, &contents, NULL, error)) {
        return NULL;
    }
    if (contents != NULL && !g_utf8_validate(contents, -1, NULL)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("'%s' is not valid UTF-8 text"),
                    file);
        return NULL;
    }
    return g_steal_pointer(&contents);
}

/* What the service would not act on, after a define (Domain.Unsupported). */
static void
print_unsupported(VbDBusDomain *domain)
{
    g_auto(GStrv) list = vb_dbus_domain_dup_unsupported(domain);

    if (list == NULL || list[0] == NULL)
        return;
    g_print(_("Not acted on (see 'virtbusctl info'; --validate refuses them):\n"));
    for (guint i = 0; list[i] != NULL; i++)
        g_print("  %s\n", list[i]);
}

/**
 * vbctl_cmd_define:
 *
 * `define FILE`: defines (or updates) a domain from FILE, or stdin for "-".
 */
gboolean
vbctl_cmd_define(VbctlContext *ctx, GError **error)
{
    const char *file = ctx->args[0];
    g_autofree char *xml = vbctl_read_definition(file, error);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(VbDBusDomain) domain = NULL;
    VbDBusManager *manager;
    const char *path;

    if (xml == NULL || (manager = vbctl_manager(ctx, error)) == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(manager), "DefineXML",
                                g_variant_new("(su)", xml, ctx->flags.validate ? 1u : 0u),
                                G_VARIANT_TYPE("(o)"), error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&o)", &path);
    domain = vbctl_domain_proxy(ctx, path, TRUE, error);
    if (domain == NULL)
        return FALSE;
    g_print(_("Domain '%s' defined from %s\n"), vb_dbus_domain_get_name(domain), file);
    print_unsupported(domain);
    return TRUE;
}

/**
 * vbctl_cmd_undefine:
 *
 * `undefine NAME|UUID [--nvram|--keep-nvram] [--tpm|--keep-tpm]`: removes a domain's
 * persistent definition; the flags are Undefine's (libvirt's values).
 */
gboolean
vbctl_cmd_undefine(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *name = NULL;
    guint flags = (ctx->flags.nvram ? 4u : 0u) | (ctx->flags.keep_nvram ? 8u : 0u) |
                  (ctx->flags.tpm ? 32u : 0u) | (ctx->flags.keep_tpm ? 64u : 0u) |
                  (ctx->flags.snapshot.metadata ? 2u : 0u); /* --snapshots-metadata */

    if (domain == NULL)
        return FALSE;
    name = g_strdup(vb_dbus_domain_get_name(domain));
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "Undefine", g_variant_new("(u)", flags),
                                G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
    g_print(_("Domain '%s' has been undefined\n"), name);
    return TRUE;
}

/**
 * vbctl_cmd_dumpxml:
 *
 * `dumpxml NAME|UUID [--inactive] [--migratable] [--security-info]`.
 */
gboolean
vbctl_cmd_dumpxml(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autofree char *xml = NULL;
    guint flags = 0;

    if (domain == NULL)
        return FALSE;
    if (ctx->flags.security_info)
        flags |= XML_SECURE;
    if (ctx->flags.inactive)
        flags |= XML_INACTIVE;
    if (ctx->flags.migratable)
        flags |= XML_MIGRATABLE;
    if (!vb_dbus_domain_call_get_xmldesc_sync(domain, flags, &xml, NULL, error))
        return FALSE;
    g_print("%s%s", xml, g_str_has_suffix(xml, "\n") ? "" : "\n");
    return TRUE;
}

/**
 * vbctl_cmd_info:
 *
 * `info NAME|UUID [--json]`: the fields of `virsh dominfo`.
 */
gboolean
vbctl_cmd_info(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(VbctlDomainInfo) info = NULL;
    g_autofree char *id = NULL, *state = NULL, *memory = NULL, *vcpus = NULL, *text = NULL;
    g_autofree char *tainted = NULL;
    g_autofree char *unsupported = NULL;

    if (domain == NULL)
        return FALSE;
    info = vbctl_domain_info_new(domain);
    if (ctx->flags.json) {
        g_autoptr(JsonNode) node = vbctl_domain_info_to_json(info);
        vbctl_print_json(node);
        return TRUE;
    }
    id = info->id >= 0 ? g_strdup_printf("%d", info->id) : g_strdup("-");
    state = *info->reason != '\0' ? g_strdup_printf("%s (%s)", info->state, info->reason)
                                  : g_strdup(info->state);
    memory = g_strdup_printf("%" G_GUINT64_FORMAT " KiB", info->memory_kib);
    vcpus = g_strdup_printf("%u", info->vcpus);
    tainted = info->tainted[0] != NULL ? g_strjoinv(", ", info->tainted) : g_strdup(_("no"));
    unsupported = info->unsupported[0] != NULL ? g_strjoinv("\n  ", info->unsupported)
                                               : g_strdup(_("none"));
    {
        const char *labels[] = {_("Id"),           _("Name"),
                                _("UUID"),         _("State"),
                                _("CPU(s)"),       _("Max memory"),
                                _("Persistent"),   _("Autostart"),
                                _("Managed save"), _("Autodestroy owner"),
                                _("Tainted"),      _("Unsupported"),
                                NULL};
        const char *values[] = {id,
                                info->name,
                                info->uuid,
                                state,
                                vcpus,
                                memory,
                                info->persistent ? _("yes") : _("no"),
                                info->autostart ? _("enable") : _("disable"),
                                info->managed_save ? _("yes") : _("no"),
                                *info->autodestroy_owner != '\0' ? info->autodestroy_owner : "-",
                                tainted,
                                unsupported};

        text = vbctl_format_fields(labels, values);
    }
    g_print("%s", text);
    return TRUE;
}

/**
 * vbctl_cmd_autostart:
 *
 * `autostart NAME|UUID [--disable]`: writes the Autostart property.
 */
gboolean
vbctl_cmd_autostart(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    gboolean enable = !ctx->flags.disable;

    if (domain == NULL)
        return FALSE;
    if (!vbctl_set_property(G_DBUS_PROXY(domain), "Autostart", g_variant_new_boolean(enable),
                            error))
        return FALSE;
    if (enable)
        g_print(_("Domain '%s' marked as autostarted\n"), vb_dbus_domain_get_name(domain));
    else
        g_print(_("Domain '%s' unmarked as autostarted\n"), vb_dbus_domain_get_name(domain));
    return TRUE;
}

/**
 * vbctl_cmd_capabilities:
 *
 * `capabilities`: prints the host's capabilities XML.
 */
gboolean
vbctl_cmd_capabilities(VbctlContext *ctx, GError **error)
{
    VbDBusManager *manager = vbctl_manager(ctx, error);
    g_autofree char *caps = NULL;

    if (manager == NULL || !vb_dbus_manager_call_get_capabilities_sync(manager, &caps, NULL, error))
        return FALSE;
    g_print("%s%s", caps, g_str_has_suffix(caps, "\n") ? "" : "\n");
    return TRUE;
}

/**
 * vbctl_cmd_version:
 *
 * `version`: the client's version, and the service's when it is reachable
 * (otherwise a note on stderr says why not; the command still succeeds).
 */
gboolean
vbctl_cmd_version(VbctlContext *ctx, GError **error)
{
    g_autoptr(GError) service_error = NULL;
    VbDBusManager *manager = NULL;
    g_autofree char *text = NULL;

    if (ctx->connection == NULL)
        service_error = g_error_copy(ctx->bus_error);
    else if ((manager = vbctl_manager(ctx, &service_error)) != NULL &&
             !vbctl_ensure_properties(G_DBUS_PROXY(manager), &service_error))
        manager = NULL;
    if (manager != NULL) {
        const char *labels[] = {_("Client version"), _("Service version"), _("Host name"), NULL};
        const char *values[] = {PACKAGE_VERSION, vb_dbus_manager_get_version(manager),
                                vb_dbus_manager_get_host_name(manager)};

        text = vbctl_format_fields(labels, values);
    } else {
        const char *labels[] = {_("Client version"), _("Service version"), NULL};
        const char *values[] = {PACKAGE_VERSION, _("unknown (service not reachable)")};

        text = vbctl_format_fields(labels, values);
    }
    g_print("%s", text);
    /* the client's version is what was asked for: a missing service is a note, not a failure */
    if (service_error != NULL) {
        if (g_dbus_error_is_remote_error(service_error))
            g_dbus_error_strip_remote_error(service_error);
        g_printerr(_("note: %s\n"), service_error->message);
    }
    return TRUE;
}
