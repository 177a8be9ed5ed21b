/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices while running (issue 13, part hotplug): attach-device, detach-device,
 * detach-device-alias and update-device, with virsh's names and options (--live,
 * --config, --current, --persistent, --force).
 */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

#define AFFECT_LIVE 1u
#define AFFECT_CONFIG 2u
#define DEVICE_FORCE 4u

/* virsh's flags: --current alone, or --live/--config; --persistent is LIVE|CONFIG on a
 * running domain, CONFIG on a stopped one */
static gboolean
modify_flags(VbctlContext *ctx, VbDBusDomain *domain, guint *out, GError **error)
{
    guint flags = 0;

    if (ctx->flags.dev_current && (ctx->flags.dev_live || ctx->flags.dev_config ||
                                   ctx->flags.dev_persistent)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--current cannot be combined with --live, --config or "
                              "--persistent"));
        return FALSE;
    }
    if (ctx->flags.dev_live)
        flags |= AFFECT_LIVE;
    if (ctx->flags.dev_config)
        flags |= AFFECT_CONFIG;
    if (ctx->flags.dev_persistent) {
        flags |= AFFECT_CONFIG;
        if (vb_dbus_domain_get_active(domain))
            flags |= AFFECT_LIVE;
    }
    *out = flags;
    return TRUE;
}

static char *
read_file_arg(const char *file, GError **error)
{
    char *xml = NULL;

    if (g_strcmp0(file, "-") == 0) {
        g_autoptr(GIOChannel) ch = g_io_channel_unix_new(0);
        gsize len = 0;

        if (g_io_channel_read_to_end(ch, &xml, &len, error) != G_IO_STATUS_NORMAL)
            return NULL;
        return xml;
    }
    if (!g_file_get_contents(file, &xml, NULL, error))
        return NULL;
    return xml;
}

static gboolean
device_call(VbctlContext *ctx, const char *method, gboolean from_file, guint extra,
            const char *done_msg, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autofree char *arg = NULL;
    g_autoptr(GVariant) r = NULL;
    guint flags = 0;

    if (domain == NULL || !modify_flags(ctx, domain, &flags, error))
        return FALSE;
    arg = from_file ? read_file_arg(ctx->args[1], error) : g_strdup(ctx->args[1]);
    if (arg == NULL)
        return FALSE;
    r = vbctl_call_mutating(G_DBUS_PROXY(domain), method,
                            g_variant_new("(su)", arg, flags | extra), NULL, error);
    if (r == NULL)
        return FALSE;
    g_print("%s\n\n", done_msg);
    return TRUE;
}

/* `attach-device NAME|UUID FILE [--live] [--config] [--current] [--persistent]` */
gboolean
vbctl_cmd_attach_device(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "AttachDevice", TRUE, 0, _("Device attached successfully"), error);
}

/* `detach-device NAME|UUID FILE [...]` */
gboolean
vbctl_cmd_detach_device(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "DetachDevice", TRUE, 0, _("Device detached successfully"), error);
}

/* `detach-device-alias NAME|UUID ALIAS [...]` */
gboolean
vbctl_cmd_detach_device_alias(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "DetachDeviceAlias", FALSE, 0,
                       _("Device detach request sent successfully"), error);
}

/* `update-device NAME|UUID FILE [--force] [...]` */
gboolean
vbctl_cmd_update_device(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "UpdateDevice", TRUE, ctx->flags.dev_force ? DEVICE_FORCE : 0,
                       _("Device updated successfully"), error);
}

/* ---- change-media (virsh's, issue 13 part hotplug, second session) ---- */

#define XML_INACTIVE 2u

/* What change-media needs of one <disk> of the domain XML. */
typedef struct {
    const char *path; /* the target dev or source the user named */
    int depth;
    int disk_depth; /* depth of the <disk> being read, or -1 */
    gboolean found;
    /* the current disk, then the matching one */
    char *device;
    GString *driver; /* the <driver>'s attributes, serialised */
    GString *target; /* the <target>'s attributes */
    char *target_dev;
    char *source;  /* file, dev, dir, pool or name of <source>, or NULL */
    char *startup; /* <source startupPolicy> */
    gboolean has_source;
    gboolean matches;
    gboolean readonly;
} MediaFind;

static void
media_reset(MediaFind *m)
{
    g_clear_pointer(&m->device, g_free);
    g_clear_pointer(&m->target_dev, g_free);
    g_clear_pointer(&m->source, g_free);
    g_clear_pointer(&m->startup, g_free);
    if (m->driver != NULL)
        g_string_free(m->driver, TRUE);
    if (m->target != NULL)
        g_string_free(m->target, TRUE);
    m->driver = m->target = NULL;
    m->has_source = m->matches = m->readonly = FALSE;
}

static GString *
attrs_string(const char **names, const char **values)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; names[i] != NULL; i++) {
        g_autofree char *v = g_markup_escape_text(values[i], -1);

        g_string_append_printf(s, " %s='%s'", names[i], v);
    }
    return s;
}

static const char *
attr_of(const char **names, const char **values, const char *name)
{
    for (guint i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], name) == 0)
            return values[i];
    return NULL;
}

static void
media_start(G_GNUC_UNUSED GMarkupParseContext *pc, const char *el, const char **names,
            const char **values, gpointer data, G_GNUC_UNUSED GError **error)
{
    MediaFind *m = data;

    m->depth++;
    if (m->found)
        return;
    if (m->disk_depth < 0 && m->depth == 3 && strcmp(el, "disk") == 0) {
        media_reset(m);
        m->disk_depth = m->depth;
        m->device = g_strdup(attr_of(names, values, "device"));
        return;
    }
    if (m->disk_depth < 0 || m->depth != m->disk_depth + 1)
        return;
    if (strcmp(el, "driver") == 0 && m->driver == NULL) {
        m->driver = attrs_string(names, values);
    } else if (strcmp(el, "target") == 0 && m->target == NULL) {
        m->target = attrs_string(names, values);
        m->target_dev = g_strdup(attr_of(names, values, "dev"));
        if (g_strcmp0(m->target_dev, m->path) == 0)
            m->matches = TRUE;
    } else if (strcmp(el, "source") == 0 && !m->has_source) {
        static const char *const keys[] = {"file", "dev", "dir", "pool", "name"};

        m->has_source = TRUE;
        m->startup = g_strdup(attr_of(names, values, "startupPolicy"));
        for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
            const char *v = attr_of(names, values, keys[i]);

            if (v != NULL && m->source == NULL)
                m->source = g_strdup(v);
            if (i != 3 && g_strcmp0(v, m->path) == 0)
                m->matches = TRUE;
        }
    } else if (strcmp(el, "readonly") == 0) {
        m->readonly = TRUE;
    }
}

static void
media_end(G_GNUC_UNUSED GMarkupParseContext *pc, G_GNUC_UNUSED const char *el, gpointer data,
          G_GNUC_UNUSED GError **error)
{
    MediaFind *m = data;

    if (!m->found && m->disk_depth == m->depth) {
        m->disk_depth = -1;
        /* virshFindDisk: only cdroms and floppies can change their medium */
        if (m->matches && (g_strcmp0(m->device, "cdrom") == 0 ||
                           g_strcmp0(m->device, "floppy") == 0))
            m->found = TRUE;
    }
    m->depth--;
}

/*
 * `change-media NAME|UUID PATH [SOURCE] [--eject|--insert|--update] [--force] [--block]
 * [--live] [--config] [--current]`: virsh's change-media. PATH is the cdrom's or
 * floppy's target (sda) or its current source; the disk's XML with the new <source>
 * (none to eject) goes to UpdateDevice.
 */
gboolean
vbctl_cmd_change_media(VbctlContext *ctx, GError **error)
{
    static const GMarkupParser parser = {media_start, media_end, NULL, NULL, NULL};
    const VbctlFlags *f = &ctx->flags;
    const char *path = ctx->args[1];
    const char *source = ctx->args[2]; /* NULL-terminated: 2 or 3 arguments */
    gboolean eject = f->media_eject, insert = f->media_insert, update = f->media_update;
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GMarkupParseContext) pc = NULL;
    g_autoptr(GVariant) r = NULL;
    g_autoptr(GString) xml = NULL;
    g_autofree char *doc = NULL;
    const char *msg, *action;
    MediaFind m = {.path = path, .disk_depth = -1};
    guint flags = 0;
    gboolean ok;

    if (eject + insert + update > 1 || (eject && f->media_block)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--eject, --insert and --update are mutually exclusive, and "
                              "--block does not go with --eject"));
        return FALSE;
    }
    if (f->dev_current && (f->dev_live || f->dev_config)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--current cannot be combined with --live or --config"));
        return FALSE;
    }
    if (update && source == NULL) { /* virsh: update without a source is eject */
        update = FALSE;
        eject = TRUE;
    }
    if (eject) {
        action = "eject";
        msg = _("Successfully ejected media.");
    } else if (insert) {
        action = "insert";
        msg = _("Successfully inserted media.");
    } else {
        action = "update";
        msg = _("Successfully updated media.");
    }
    flags = (f->dev_live ? AFFECT_LIVE : 0) | (f->dev_config ? AFFECT_CONFIG : 0) |
            (f->dev_force ? DEVICE_FORCE : 0);

    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    r = g_dbus_proxy_call_sync(G_DBUS_PROXY(domain), "GetXMLDesc",
                               g_variant_new("(u)", (flags & AFFECT_CONFIG) ? XML_INACTIVE : 0),
                               G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
    if (r == NULL)
        return FALSE;
    g_variant_get(r, "(s)", &doc);
    g_clear_pointer(&r, g_variant_unref);
    pc = g_markup_parse_context_new(&parser, 0, &m, NULL);
    ok = g_markup_parse_context_parse(pc, doc, -1, error) &&
         g_markup_parse_context_end_parse(pc, error);
    if (!ok || !m.found) {
        if (ok)
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                        _("No disk found whose source path or target is %s"), path);
        media_reset(&m);
        return FALSE;
    }
    if (eject && m.source == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("The disk device '%s' doesn't have media"), path);
        media_reset(&m);
        return FALSE;
    }
    if (!eject && source == NULL) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("New disk media source was not specified"));
        media_reset(&m);
        return FALSE;
    }
    if (insert && m.source != NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("The disk device '%s' already has media"), path);
        media_reset(&m);
        return FALSE;
    }

    xml = g_string_new(NULL);
    g_string_append_printf(xml, "<disk type='%s' device='%s'>",
                           f->media_block && !eject ? "block" : "file", m.device);
    if (m.driver != NULL)
        g_string_append_printf(xml, "<driver%s/>", m.driver->str);
    if (!eject) {
        g_autofree char *src = g_markup_escape_text(source, -1);

        g_string_append_printf(xml, "<source %s='%s'", f->media_block ? "dev" : "file", src);
        if (m.startup != NULL) {
            g_autofree char *sp = g_markup_escape_text(m.startup, -1);

            g_string_append_printf(xml, " startupPolicy='%s'", sp);
        }
        g_string_append(xml, "/>");
    }
    g_string_append_printf(xml, "<target%s/>", m.target != NULL ? m.target->str : "");
    if (m.readonly)
        g_string_append(xml, "<readonly/>");
    g_string_append(xml, "</disk>");
    media_reset(&m);
    if (f->guest2.print_xml) { /* issue 13, part guest2: virsh's --print-xml */
        g_print("%s\n", xml->str);
        return TRUE;
    }

    r = vbctl_call_mutating(G_DBUS_PROXY(domain), "UpdateDevice",
                            g_variant_new("(su)", xml->str, flags), NULL, error);
    if (r == NULL) {
        g_prefix_error(error, _("Failed to complete action %s on media: "), action);
        return FALSE;
    }
    g_print("%s\n", msg);
    return TRUE;
}
