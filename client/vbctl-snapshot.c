/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "vbctl.h"

/*
 * Snapshots (issue 15, part snapbus), with virsh's names and options: snapshot-create-as,
 * snapshot-create, snapshot-list, snapshot-info, snapshot-dumpxml, snapshot-revert,
 * snapshot-delete, snapshot-current. The first argument is always the domain.
 */

static VbDBusSnapshot *
snapshot_proxy(VbctlContext *ctx, const char *path, GError **error)
{
    g_autoptr(VbDBusSnapshot) snap = vb_dbus_snapshot_proxy_new_sync(
        ctx->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, VBCTL_BUS_NAME, path, NULL,
        error);

    if (snap == NULL || !vbctl_ensure_properties(G_DBUS_PROXY(snap), error))
        return NULL;
    return g_steal_pointer(&snap);
}

/* The snapshot named ctx->args[1] of the domain ctx->args[0]. */
static VbDBusSnapshot *
lookup_snapshot(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autofree char *path = NULL;

    if (domain == NULL ||
        !vb_dbus_domain_call_snapshot_lookup_by_name_sync(domain, ctx->args[1], 0, &path, NULL,
                                                          error))
        return NULL;
    return snapshot_proxy(ctx, path, error);
}

static gboolean
create(VbctlContext *ctx, const char *xml, guint flags, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) result = NULL;
    const char *name = NULL;
    const char *path = "/";

    if (domain == NULL)
        return FALSE;
    /* a job: a live snapshot takes as long as writing the guest's memory */
    result = vbctl_run_job(ctx, G_DBUS_PROXY(domain), "SnapshotCreateXML",
                           g_variant_new("(su)", xml, flags), error);
    if (result == NULL)
        return FALSE;
    g_variant_lookup(result, "name", "&s", &name);
    g_variant_lookup(result, "snapshot", "&o", &path);
    if (g_str_equal(path, "/"))
        printf(_("Domain snapshot %s created (no metadata kept)\n"), name != NULL ? name : "");
    else
        printf((flags & 1) ? _("Domain snapshot %s redefined\n")
                           : _("Domain snapshot %s created\n"), name != NULL ? name : "");
    return TRUE;
}

/* One --diskspec item as a <disk> element: DISK[,snapshot=KIND][,file=PATH]. */
static gboolean
append_diskspec(GString *xml, const char *spec, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    g_autofree char *name = g_markup_escape_text(parts[0], -1);
    const char *kind = NULL, *file = NULL;

    for (guint i = 1; parts[i] != NULL; i++) {
        if (g_str_has_prefix(parts[i], "snapshot="))
            kind = parts[i] + strlen("snapshot=");
        else if (g_str_has_prefix(parts[i], "file="))
            file = parts[i] + strlen("file=");
        else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        _("--diskspec %s: unknown item '%s' (snapshot=, file=)"), spec,
                        parts[i]);
            return FALSE;
        }
    }
    if (*parts[0] == '\0') {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--diskspec %s: no disk named"), spec);
        return FALSE;
    }
    g_string_append_printf(xml, "    <disk name='%s'", name);
    if (kind != NULL || file != NULL) {
        g_autofree char *k = g_markup_escape_text(kind != NULL ? kind : "external", -1);

        g_string_append_printf(xml, " snapshot='%s'", k);
    }
    if (file != NULL) {
        g_autofree char *f = g_markup_escape_text(file, -1);

        g_string_append_printf(xml, "><source file='%s'/></disk>\n", f);
    } else {
        g_string_append(xml, "/>\n");
    }
    return TRUE;
}

/* --memspec as virsh: [file=]PATH[,snapshot=KIND] as the <memory> element. */
static gboolean
append_memspec(GString *xml, const char *spec, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    const char *kind = NULL, *file = NULL;
    g_autofree char *k = NULL;

    for (guint i = 0; parts[i] != NULL; i++) {
        if (g_str_has_prefix(parts[i], "snapshot="))
            kind = parts[i] + strlen("snapshot=");
        else if (g_str_has_prefix(parts[i], "file="))
            file = parts[i] + strlen("file=");
        else if (i == 0 && *parts[i] != '\0')
            file = parts[i];
        else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        _("--memspec %s: unknown item '%s' (file=, snapshot=)"), spec,
                        parts[i]);
            return FALSE;
        }
    }
    k = g_markup_escape_text(kind != NULL ? kind : file != NULL ? "external" : "no", -1);
    g_string_append_printf(xml, "  <memory snapshot='%s'", k);
    if (file != NULL) {
        g_autofree char *f = g_markup_escape_text(file, -1);

        g_string_append_printf(xml, " file='%s'", f);
    }
    g_string_append(xml, "/>\n");
    return TRUE;
}

/* `snapshot-create-as DOMAIN [NAME] [--description TEXT] [--disk-only] [--no-metadata]
 *  [--reuse-external] [--quiesce] [--halt] [--diskspec SPECS] [--memspec SPEC] [--live]
 *  [--validate]` */
gboolean
vbctl_cmd_snapshot_create_as(VbctlContext *ctx, GError **error)
{
    const VbctlSnapshotFlags *f = &ctx->flags.snapshot;
    GString *xml = g_string_new("<domainsnapshot>\n");
    g_autofree char *text = NULL;
    guint flags = 0;

    if (ctx->n_args > 1) {
        g_autofree char *name = g_markup_escape_text(ctx->args[1], -1);

        g_string_append_printf(xml, "  <name>%s</name>\n", name);
    }
    if (f->description != NULL) {
        g_autofree char *d = g_markup_escape_text(f->description, -1);

        g_string_append_printf(xml, "  <description>%s</description>\n", d);
    }
    if (f->memspec != NULL && !append_memspec(xml, f->memspec, error)) {
        g_string_free(xml, TRUE);
        return FALSE;
    }
    if (f->diskspec != NULL) {
        g_auto(GStrv) specs = g_strsplit_set(f->diskspec, " \t", -1);

        g_string_append(xml, "  <disks>\n");
        for (guint i = 0; specs[i] != NULL; i++) {
            if (*specs[i] != '\0' && !append_diskspec(xml, specs[i], error)) {
                g_string_free(xml, TRUE);
                return FALSE;
            }
        }
        g_string_append(xml, "  </disks>\n");
    }
    g_string_append(xml, "</domainsnapshot>\n");
    text = g_string_free(xml, FALSE);
    if (f->disk_only)
        flags |= 16;
    if (f->no_metadata)
        flags |= 4;
    if (f->reuse_external)
        flags |= 32;
    if (f->quiesce)
        flags |= 64;
    if (f->halt)
        flags |= 8;
    if (f->live)
        flags |= 256;
    if (f->validate)
        flags |= 512;
    return create(ctx, text, flags, error);
}

/* `snapshot-create DOMAIN FILE [--redefine] [--current] [--validate]` */
gboolean
vbctl_cmd_snapshot_create(VbctlContext *ctx, GError **error)
{
    const VbctlSnapshotFlags *f = &ctx->flags.snapshot;
    g_autofree char *xml = vbctl_read_definition(ctx->args[1], error);

    if (xml == NULL)
        return FALSE;
    return create(ctx, xml,
                  (f->redefine ? 1u : 0u) | (f->current ? 2u : 0u) | (f->validate ? 512u : 0u),
                  error);
}

typedef struct {
    char *path;
    char *name;
    char *parent; /* object path, "/" for a root */
    char *state;
    gint64 ctime;
    gboolean current;
} Row;

static void
row_free(Row *r)
{
    g_free(r->path);
    g_free(r->name);
    g_free(r->parent);
    g_free(r->state);
    g_free(r);
}

static void
print_tree(GPtrArray *rows, const char *parent, const char *prefix)
{
    g_autoptr(GPtrArray) kids = g_ptr_array_new();

    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];

        if (g_str_equal(r->parent, parent))
            g_ptr_array_add(kids, r);
    }
    for (guint i = 0; i < kids->len; i++) {
        Row *r = kids->pdata[i];
        gboolean last = i + 1 == kids->len;
        g_autofree char *sub = NULL;

        if (*prefix == '\0' && g_str_equal(parent, "/")) {
            printf("%s\n", r->name);
            sub = g_strdup("");
        } else {
            printf("%s%s %s\n", prefix, last ? "+-" : "|-", r->name);
            sub = g_strconcat(prefix, last ? "   " : "|  ", NULL);
        }
        print_tree(rows, r->path, sub);
    }
}

/* `snapshot-list DOMAIN [--tree] [--roots] [--name]` */
gboolean
vbctl_cmd_snapshot_list(VbctlContext *ctx, GError **error)
{
    const VbctlSnapshotFlags *f = &ctx->flags.snapshot;
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_auto(GStrv) paths = NULL;
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)row_free);

    if (f->tree && f->roots) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--tree and --roots exclude each other"));
        return FALSE;
    }
    if (domain == NULL ||
        !vb_dbus_domain_call_list_snapshots_sync(domain, f->roots ? 1 : 0, &paths, NULL, error))
        return FALSE;
    for (guint i = 0; paths[i] != NULL; i++) {
        g_autoptr(VbDBusSnapshot) s = snapshot_proxy(ctx, paths[i], error);
        Row *r;

        if (s == NULL)
            return FALSE;
        r = g_new0(Row, 1);
        r->path = g_strdup(paths[i]);
        r->name = g_strdup(vb_dbus_snapshot_get_name(s));
        r->parent = g_strdup(vb_dbus_snapshot_get_parent(s));
        r->state = g_strdup(vb_dbus_snapshot_get_state(s));
        r->ctime = vb_dbus_snapshot_get_creation_time(s);
        r->current = vb_dbus_snapshot_get_current(s);
        g_ptr_array_add(rows, r);
    }
    if (f->tree) {
        print_tree(rows, "/", "");
        return TRUE;
    }
    if (f->name) {
        for (guint i = 0; i < rows->len; i++)
            printf("%s\n", ((Row *)rows->pdata[i])->name);
        return TRUE;
    }
    printf(" %-20s %-27s %s\n", _("Name"), _("Creation Time"), _("State"));
    printf("---------------------------------------------------------------\n");
    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(r->ctime);
        g_autofree char *when = t != NULL ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S %z")
                                          : g_strdup("-");

        printf(" %-20s %-27s %s\n", r->name, when, r->state);
    }
    return TRUE;
}

/* `snapshot-info DOMAIN SNAPSHOT` */
gboolean
vbctl_cmd_snapshot_info(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusSnapshot) s = lookup_snapshot(ctx, error);
    g_autoptr(VbDBusDomain) domain = NULL;
    g_auto(GStrv) kids = NULL;
    const char *parent;
    g_autofree char *parent_name = NULL;
    guint n_children = 0, n_desc = 0;
    g_auto(GStrv) all = NULL;

    if (s == NULL)
        return FALSE;
    parent = vb_dbus_snapshot_get_parent(s);
    if (!g_str_equal(parent, "/")) {
        g_autoptr(VbDBusSnapshot) p = snapshot_proxy(ctx, parent, error);

        if (p == NULL)
            return FALSE;
        parent_name = g_strdup(vb_dbus_snapshot_get_name(p));
    }
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL ||
        !vb_dbus_domain_call_list_snapshots_sync(domain, 0, &all, NULL, error))
        return FALSE;
    /* children and descendants from the parents of every snapshot */
    {
        g_autoptr(GHashTable) parent_of = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                                g_free, g_free);
        const char *me = g_dbus_proxy_get_object_path(G_DBUS_PROXY(s));

        for (guint i = 0; all[i] != NULL; i++) {
            g_autoptr(VbDBusSnapshot) o = snapshot_proxy(ctx, all[i], error);

            if (o == NULL)
                return FALSE;
            g_hash_table_insert(parent_of, g_strdup(all[i]),
                                g_strdup(vb_dbus_snapshot_get_parent(o)));
        }
        for (guint i = 0; all[i] != NULL; i++) {
            const char *up = g_hash_table_lookup(parent_of, all[i]);

            if (g_strcmp0(up, me) == 0)
                n_children++;
            while (up != NULL && !g_str_equal(up, "/")) {
                if (g_str_equal(up, me)) {
                    n_desc++;
                    break;
                }
                up = g_hash_table_lookup(parent_of, up);
            }
        }
    }
    printf("%-15s %s\n", _("Name:"), vb_dbus_snapshot_get_name(s));
    printf("%-15s %s\n", _("Domain:"), ctx->args[0]);
    printf("%-15s %s\n", _("Current:"), vb_dbus_snapshot_get_current(s) ? _("yes") : _("no"));
    printf("%-15s %s\n", _("State:"), vb_dbus_snapshot_get_state(s));
    printf("%-15s %s\n", _("Location:"),
           vb_dbus_snapshot_get_is_external(s) ? _("external") : _("internal"));
    printf("%-15s %s\n", _("Parent:"), parent_name != NULL ? parent_name : "-");
    printf("%-15s %u\n", _("Children:"), n_children);
    printf("%-15s %u\n", _("Descendants:"), n_desc);
    printf("%-15s %s\n", _("Metadata:"), vb_dbus_snapshot_get_has_metadata(s) ? _("yes")
                                                                               : _("no"));
    return TRUE;
}

/* `snapshot-dumpxml DOMAIN SNAPSHOT [--security-info]` */
gboolean
vbctl_cmd_snapshot_dumpxml(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusSnapshot) s = lookup_snapshot(ctx, error);
    g_autoptr(GVariant) r = NULL;
    const char *xml;

    if (s == NULL)
        return FALSE;
    r = vbctl_call_mutating(G_DBUS_PROXY(s), "GetXMLDesc",
                            g_variant_new("(u)", ctx->flags.security_info ? 1u : 0u),
                            G_VARIANT_TYPE("(s)"), error);
    if (r == NULL)
        return FALSE;
    g_variant_get(r, "(&s)", &xml);
    fputs(xml, stdout);
    return TRUE;
}

/* `snapshot-revert DOMAIN SNAPSHOT [--running|--paused] [--force] [--reset-nvram]` */
gboolean
vbctl_cmd_snapshot_revert(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusSnapshot) s = lookup_snapshot(ctx, error);
    g_autoptr(GVariant) r = NULL;

    if (s == NULL)
        return FALSE;
    r = vbctl_run_job(ctx, G_DBUS_PROXY(s), "Revert",
                      g_variant_new("(u)", (ctx->flags.snapshot.running ? 1u : 0u) |
                                               (ctx->flags.snapshot.paused ? 2u : 0u) |
                                               (ctx->flags.snapshot.force ? 4u : 0u) |
                                               (ctx->flags.snapshot.reset_nvram ? 8u : 0u)),
                      error);
    return r != NULL;
}

/* `snapshot-delete DOMAIN SNAPSHOT [--children] [--children-only] [--metadata]` */
gboolean
vbctl_cmd_snapshot_delete(VbctlContext *ctx, GError **error)
{
    const VbctlSnapshotFlags *f = &ctx->flags.snapshot;
    g_autoptr(VbDBusSnapshot) s = NULL;
    g_autoptr(GVariant) r = NULL;
    guint flags = (f->children ? 1u : 0u) | (f->metadata ? 2u : 0u) |
                  (f->children_only ? 4u : 0u);

    if (f->children && f->children_only) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--children and --children-only exclude each other"));
        return FALSE;
    }
    s = lookup_snapshot(ctx, error);
    if (s == NULL)
        return FALSE;
    r = vbctl_call_mutating(G_DBUS_PROXY(s), "Delete", g_variant_new("(u)", flags), NULL, error);
    if (r == NULL)
        return FALSE;
    if (f->children_only)
        printf(_("Domain snapshot %s children deleted\n"), ctx->args[1]);
    else
        printf(_("Domain snapshot %s deleted\n"), ctx->args[1]);
    return TRUE;
}

/* `snapshot-current DOMAIN [--name]`: the current snapshot's XML, or its name */
gboolean
vbctl_cmd_snapshot_current(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autofree char *path = NULL;
    g_autoptr(VbDBusSnapshot) s = NULL;
    g_autofree char *xml = NULL;

    if (domain == NULL ||
        !vb_dbus_domain_call_snapshot_current_sync(domain, 0, &path, NULL, error))
        return FALSE;
    s = snapshot_proxy(ctx, path, error);
    if (s == NULL)
        return FALSE;
    if (ctx->flags.snapshot.name) {
        printf("%s\n", vb_dbus_snapshot_get_name(s));
        return TRUE;
    }
    if (!vb_dbus_snapshot_call_get_xmldesc_sync(s, 0, &xml, NULL, error))
        return FALSE;
    fputs(xml, stdout);
    return TRUE;
}
