/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

/* Start and CreateXML flag bits (libvirt's values) */
#define START_PAUSED 1u
#define START_AUTODESTROY 2u

/* Destroy flag bits */
#define DESTROY_GRACEFUL 1u

static guint
start_flags(const VbctlContext *ctx)
{
    return (ctx->flags.paused ? START_PAUSED : 0) |
           (ctx->flags.autodestroy ? START_AUTODESTROY : 0);
}

/**
 * vbctl_cmd_start:
 *
 * `start NAME|UUID [--paused] [--autodestroy]`. With --autodestroy the
 * domain lives as long as this connection, so the command stays until the
 * domain stops or it is interrupted.
 */
gboolean
vbctl_cmd_start(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;

    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "Start",
                                g_variant_new("(u)", start_flags(ctx)), G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
    g_print(_("Domain '%s' started\n"), vb_dbus_domain_get_name(domain));
    if (ctx->flags.autodestroy)
        return vbctl_wait_autodestroy(ctx, domain, error);
    return TRUE;
}

/**
 * vbctl_cmd_create:
 *
 * `create FILE [--paused] [--autodestroy]`: a transient domain, started at
 * once; waits as start does with --autodestroy.
 */
gboolean
vbctl_cmd_create(VbctlContext *ctx, GError **error)
{
    const char *file = ctx->args[0];
    g_autofree char *xml = vbctl_read_definition(file, error);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(VbDBusDomain) domain = NULL;
    VbDBusManager *manager;
    const char *path;

    if (xml == NULL || (manager = vbctl_manager(ctx, error)) == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(manager), "CreateXML",
                                g_variant_new("(su)", xml, start_flags(ctx)), G_VARIANT_TYPE("(o)"),
                                error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&o)", &path);
    domain = vbctl_domain_proxy(ctx, path, TRUE, error);
    if (domain == NULL)
        return FALSE;
    g_print(_("Domain '%s' created from %s\n"), vb_dbus_domain_get_name(domain), file);
    if (ctx->flags.autodestroy)
        return vbctl_wait_autodestroy(ctx, domain, error);
    return TRUE;
}

/*
 * Looks the domain up and calls @method on it with @parameters (or none).
 * Returns the domain's name for the caller's message, or NULL with @error set.
 */
static char *
simple_call(VbctlContext *ctx, const char *method, GVariant *parameters, GError **error)
{
    g_autoptr(GVariant) params = parameters != NULL ? g_variant_ref_sink(parameters) : NULL;
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *name = NULL;

    if (domain == NULL)
        return NULL;
    /* a transient domain leaves the bus when destroyed: keep its name */
    name = g_strdup(vb_dbus_domain_get_name(domain));
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), method, params, G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return NULL;
    return g_steal_pointer(&name);
}

/**
 * vbctl_cmd_shutdown:
 *
 * `shutdown NAME|UUID [--mode acpi|agent|acpi,agent]`: asks the guest to power off (the
 * agent when connected, else the ACPI button; --mode chooses) and returns.
 */
gboolean
vbctl_cmd_shutdown(VbctlContext *ctx, GError **error)
{
    int flags = vbctl_power_mode_flags(ctx->flags.agent.mode, error);
    g_autofree char *name = flags < 0 ? NULL
                                      : simple_call(ctx, "Shutdown",
                                                    g_variant_new("(u)", (guint32)flags), error);

    if (name == NULL)
        return FALSE;
    g_print(_("Domain '%s' is being shutdown\n"), name);
    return TRUE;
}

/**
 * vbctl_cmd_reboot:
 *
 * `reboot NAME|UUID [--mode acpi|agent|acpi,agent]`: asks the guest to reboot and returns.
 */
gboolean
vbctl_cmd_reboot(VbctlContext *ctx, GError **error)
{
    int flags = vbctl_power_mode_flags(ctx->flags.agent.mode, error);
    g_autofree char *name = flags < 0 ? NULL
                                      : simple_call(ctx, "Reboot",
                                                    g_variant_new("(u)", (guint32)flags), error);

    if (name == NULL)
        return FALSE;
    g_print(_("Domain '%s' is being rebooted\n"), name);
    return TRUE;
}

/**
 * vbctl_cmd_reset:
 *
 * `reset NAME|UUID`.
 */
gboolean
vbctl_cmd_reset(VbctlContext *ctx, GError **error)
{
    g_autofree char *name = simple_call(ctx, "Reset", NULL, error);

    if (name == NULL)
        return FALSE;
    g_print(_("Domain '%s' was reset\n"), name);
    return TRUE;
}

/**
 * vbctl_cmd_destroy:
 *
 * `destroy NAME|UUID [--graceful]`.
 */
gboolean
vbctl_cmd_destroy(VbctlContext *ctx, GError **error)
{
    guint flags = ctx->flags.graceful ? DESTROY_GRACEFUL : 0;
    g_autofree char *name = simple_call(ctx, "Destroy", g_variant_new("(u)", flags), error);

    if (name == NULL)
        return FALSE;
    g_print(_("Domain '%s' destroyed\n"), name);
    return TRUE;
}

/**
 * vbctl_cmd_suspend:
 *
 * `suspend NAME|UUID`.
 */
gboolean
vbctl_cmd_suspend(VbctlContext *ctx, GError **error)
{
    g_autofree char *name = simple_call(ctx, "Suspend", NULL, error);

    if (name == NULL)
        return FALSE;
    g_print(_("Domain '%s' suspended\n"), name);
    return TRUE;
}

/**
 * vbctl_cmd_resume:
 *
 * `resume NAME|UUID`.
 */
gboolean
vbctl_cmd_resume(VbctlContext *ctx, GError **error)
{
    g_autofree char *name = simple_call(ctx, "Resume", NULL, error);

    if (name == NULL)
        return FALSE;
    g_print(_("Domain '%s' resumed\n"), name);
    return TRUE;
}
