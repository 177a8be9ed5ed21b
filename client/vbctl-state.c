/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "qemu-json-check.h"

#include "vbctl-output.h"
#include "vbctl.h"

/**
 * vbctl_cmd_domstate:
 *
 * `domstate NAME|UUID [--reason]`: "running", or "running (booted)".
 */
gboolean
vbctl_cmd_domstate(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    const char *state, *reason;

    if (domain == NULL)
        return FALSE;
    state = vb_dbus_domain_get_state(domain) ?: "nostate";
    reason = vb_dbus_domain_get_state_reason(domain) ?: "";
    if (ctx->flags.reason && *reason != '\0')
        g_print("%s (%s)\n", state, reason);
    else
        g_print("%s\n", state);
    return TRUE;
}

/*
 * Formats GetControlInfo's a{sv} as virsh domcontrol does: "ok",
 * "occupied (1.234s)", or "job (Start from :1.5, 0.512s)"; no newline.
 */
static char *
control_info_format(GVariant *info)
{
    const char *state = "ok", *job = "", *owner = "";
    guint64 duration = 0;
    double secs;

    g_variant_lookup(info, "state", "&s", &state);
    g_variant_lookup(info, "job", "&s", &job);
    g_variant_lookup(info, "owner", "&s", &owner);
    g_variant_lookup(info, "duration", "t", &duration);
    secs = duration / (double)G_USEC_PER_SEC;
    if (g_strcmp0(state, "ok") == 0)
        return g_strdup(state);
    if (g_strcmp0(state, "job") == 0 && *job != '\0' && *owner != '\0')
        return g_strdup_printf(_("%s (%s from %s, %.3fs)"), state, job, owner, secs);
    if (g_strcmp0(state, "job") == 0 && *job != '\0')
        return g_strdup_printf(_("%s (%s, %.3fs)"), state, job, secs);
    return g_strdup_printf("%s (%.3fs)", state, secs);
}

/**
 * vbctl_cmd_domcontrol:
 *
 * `domcontrol NAME|UUID`: what the service is doing with the domain.
 */
gboolean
vbctl_cmd_domcontrol(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) info = NULL;
    g_autofree char *text = NULL;

    if (domain == NULL || !vb_dbus_domain_call_get_control_info_sync(domain, &info, NULL, error))
        return FALSE;
    text = control_info_format(info);
    g_print("%s\n", text);
    return TRUE;
}

/**
 * vbctl_cmd_domid:
 *
 * `domid NAME|UUID`: the runtime id, or "-" when the domain is not running.
 */
gboolean
vbctl_cmd_domid(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    gint id;

    if (domain == NULL)
        return FALSE;
    id = vb_dbus_domain_get_id(domain);
    if (id >= 0)
        g_print("%d\n", id);
    else
        g_print("-\n");
    return TRUE;
}

static JsonNode *
parse_json(const char *text, const char *what, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) local = NULL;
    gsize offset = 0;

    /* json-glib recurses once per level: bound the depth first, as the
     * service does */
    switch (vb_qemu_json_check(text, strlen(text), VB_QEMU_JSON_MAX_DEPTH, &offset)) {
    case VB_QEMU_JSON_CHECK_OK:
        break;
    case VB_QEMU_JSON_CHECK_TOO_DEEP:
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("%s nests arrays and objects deeper than %d levels"), what,
                    VB_QEMU_JSON_MAX_DEPTH);
        return NULL;
    case VB_QEMU_JSON_CHECK_NOT_STRICT:
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("%s is not strict JSON at byte %" G_GSIZE_FORMAT
                      " (use double-quoted strings, no comments)"),
                    what, offset);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, text, -1, &local)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s is not valid JSON: %s"), what,
                    local->message);
        return NULL;
    }
    return json_node_copy(json_parser_get_root(parser));
}

/* Sets @error when @reply is QMP's {"error": {"class": ..., "desc": ...}}. */
static gboolean
check_qmp_reply(JsonNode *reply, GError **error)
{
    JsonObject *err = NULL;
    JsonNode *member;
    const char *cls = "", *desc = "";

    if (!JSON_NODE_HOLDS_OBJECT(reply))
        return TRUE;
    member = json_object_get_member(json_node_get_object(reply), "error");
    if (member == NULL)
        return TRUE;
    if (JSON_NODE_HOLDS_OBJECT(member))
        err = json_node_get_object(member);
    if (err != NULL) {
        cls = json_object_get_string_member_with_default(err, "class", "");
        desc = json_object_get_string_member_with_default(err, "desc", "");
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, _("QEMU replied with an error: %s%s%s"), cls,
                *cls != '\0' && *desc != '\0' ? ": " : "", desc);
    return FALSE;
}

/**
 * vbctl_cmd_qemu_monitor_command:
 *
 * `qemu-monitor-command NAME|UUID JSON [--pretty]`: prints QEMU's reply;
 * fails when QEMU answered with an error.
 */
gboolean
vbctl_cmd_qemu_monitor_command(VbctlContext *ctx, GError **error)
{
    g_autoptr(JsonNode) command = parse_json(ctx->args[1], _("the command"), error);
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(JsonNode) node = NULL;
    const char *text;

    if (command == NULL)
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "QemuMonitorCommand",
                                g_variant_new("(s)", ctx->args[1]), G_VARIANT_TYPE("(s)"), error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&s)", &text);
    node = parse_json(text, _("QEMU's reply"), error);
    if (node == NULL)
        return FALSE;
    if (ctx->flags.pretty)
        vbctl_print_json(node);
    else
        g_print("%s\n", text);
    return check_qmp_reply(node, error);
}
