/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

/* Save, ManagedSave and Restore flag bits (libvirt's values) */
#define SAVE_RUNNING 2u
#define SAVE_PAUSED 4u
#define SAVE_COMPRESS 0x80000000u

/* --running / --paused (exclusive, checked when parsing) and --compress */
static guint
save_flags(const VbctlContext *ctx)
{
    return (ctx->flags.running ? SAVE_RUNNING : 0) | (ctx->flags.paused ? SAVE_PAUSED : 0) |
           (ctx->flags.compress ? SAVE_COMPRESS : 0);
}

/* The service wants absolute paths; FILE is taken relative to our directory. */
static char *
absolute_path(const char *file)
{
    return g_canonicalize_filename(file, NULL);
}

/* The XML of --xml FILE, "" without it, or NULL with @error set. */
static char *
xml_option(const VbctlContext *ctx, GError **error)
{
    if (ctx->flags.xml_file == NULL)
        return g_strdup("");
    return vbctl_read_definition(ctx->flags.xml_file, error);
}

/**
 * vbctl_cmd_save:
 *
 * `save NAME|UUID FILE [--running|--paused] [--compress] [--xml FILE] [--no-progress]`.
 */
gboolean
vbctl_cmd_save(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) result = NULL;
    g_autofree char *xml = NULL, *path = NULL, *name = NULL;
    guint flags = save_flags(ctx);

    if ((xml = xml_option(ctx, error)) == NULL)
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    /* a transient domain leaves the bus once saved: keep its name */
    name = g_strdup(vb_dbus_domain_get_name(domain));
    path = absolute_path(ctx->args[1]);
    result = vbctl_run_job(ctx, G_DBUS_PROXY(domain), "Save",
                           g_variant_new("(ssu)", path, xml, flags), error);
    if (result == NULL)
        return FALSE;
    g_print(_("Domain '%s' saved to %s\n"), name, ctx->args[1]);
    return TRUE;
}

/* The name of the domain a restore produced, from the job's result. */
static char *
restored_domain_name(VbctlContext *ctx, GVariant *result)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    const char *path = NULL;

    if (!g_variant_lookup(result, "domain", "&o", &path))
        return NULL;
    domain = vbctl_domain_proxy(ctx, path, TRUE, NULL);
    if (domain == NULL || vb_dbus_domain_get_name(domain) == NULL)
        return NULL;
    return g_strdup(vb_dbus_domain_get_name(domain));
}

/**
 * vbctl_cmd_restore:
 *
 * `restore FILE [--running|--paused] [--xml FILE] [--no-progress]`.
 */
gboolean
vbctl_cmd_restore(VbctlContext *ctx, GError **error)
{
    g_autoptr(GVariant) result = NULL;
    g_autofree char *xml = NULL, *path = NULL, *name = NULL;
    VbDBusManager *manager;
    guint flags = save_flags(ctx);

    if ((xml = xml_option(ctx, error)) == NULL)
        return FALSE;
    manager = vbctl_manager(ctx, error);
    if (manager == NULL)
        return FALSE;
    path = absolute_path(ctx->args[0]);
    result = vbctl_run_job(ctx, G_DBUS_PROXY(manager), "Restore",
                           g_variant_new("(ssu)", path, xml, flags), error);
    if (result == NULL)
        return FALSE;
    name = restored_domain_name(ctx, result);
    if (name != NULL)
        g_print(_("Domain '%s' restored from %s\n"), name, ctx->args[0]);
    else
        g_print(_("Domain restored from %s\n"), ctx->args[0]);
    return TRUE;
}

/**
 * vbctl_cmd_managedsave:
 *
 * `managedsave NAME|UUID [--running|--paused] [--compress] [--no-progress]`:
 * saves to the service's own image; the next start restores from it.
 */
gboolean
vbctl_cmd_managedsave(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) result = NULL;
    guint flags = save_flags(ctx);

    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    result =
        vbctl_run_job(ctx, G_DBUS_PROXY(domain), "ManagedSave", g_variant_new("(u)", flags), error);
    if (result == NULL)
        return FALSE;
    g_print(_("Domain '%s' state saved by the virtbus service\n"), vb_dbus_domain_get_name(domain));
    return TRUE;
}

/**
 * vbctl_cmd_managedsave_remove:
 *
 * `managedsave-remove NAME|UUID`.
 */
gboolean
vbctl_cmd_managedsave_remove(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;

    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "ManagedSaveRemove", g_variant_new("(u)", 0u),
                                G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
    g_print(_("Removed the managed save image of domain '%s'\n"), vb_dbus_domain_get_name(domain));
    return TRUE;
}

/**
 * vbctl_cmd_dump:
 *
 * `dump NAME|UUID FILE [--no-progress]`: an ELF memory dump of the guest.
 */
gboolean
vbctl_cmd_dump(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) result = NULL;
    g_autofree char *path = NULL;

    if (domain == NULL)
        return FALSE;
    path = absolute_path(ctx->args[1]);
    result = vbctl_run_job(ctx, G_DBUS_PROXY(domain), "CoreDump", g_variant_new("(su)", path, 0u),
                           error);
    if (result == NULL)
        return FALSE;
    g_print(_("Domain '%s' dumped to %s\n"), vb_dbus_domain_get_name(domain), ctx->args[1]);
    return TRUE;
}

/**
 * vbctl_cmd_domjobabort:
 *
 * `domjobabort NAME|UUID`: cancels the domain's running job.
 */
gboolean
vbctl_cmd_domjobabort(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;

    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "AbortJob", NULL, G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
    g_print(_("Abort of the job of domain '%s' requested\n"), vb_dbus_domain_get_name(domain));
    return TRUE;
}
