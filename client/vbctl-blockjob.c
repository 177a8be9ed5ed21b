/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block jobs (issue 15, part blockjob; docs/blockjobs.md): blockpull, blockcommit,
 * blockcopy, blockjob, blockresize, domblkthreshold.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

#define PULL_BANDWIDTH_BYTES 64u
#define COMMIT_SHALLOW 1u
#define COMMIT_ACTIVE 4u
#define COMMIT_BANDWIDTH_BYTES 16u
#define JOB_BANDWIDTH_BYTES 1u
#define ABORT_ASYNC 1u
#define ABORT_PIVOT 2u
#define RESIZE_BYTES 1u

/* A size with an optional unit (b, k/KiB, M/MiB, G/GiB, T/TiB, kb, mb, gb, tb) in bytes;
 * @def_unit is the unit of a bare number. */
static gboolean
parse_bytes(const char *text, guint64 def_unit, guint64 *out, GError **error)
{
    static const struct {
        const char *unit;
        guint64 bytes;
    } units[] = {
        {"b", 1}, {"bytes", 1}, {"k", 1024}, {"kib", 1024}, {"kb", 1000},
        {"m", 1024 * 1024}, {"mib", 1024 * 1024}, {"mb", 1000 * 1000},
        {"g", 1024 * 1024 * 1024}, {"gib", 1024 * 1024 * 1024}, {"gb", 1000 * 1000 * 1000},
        {"t", G_GUINT64_CONSTANT(1) << 40}, {"tib", G_GUINT64_CONSTANT(1) << 40},
        {"tb", G_GUINT64_CONSTANT(1000000000000)},
    };
    char *end = NULL;
    guint64 n, mul = 0;

    if (text == NULL || !g_ascii_isdigit(*text))
        goto bad;
    n = g_ascii_strtoull(text, &end, 10);
    if (*end == '\0')
        mul = def_unit;
    for (gsize i = 0; mul == 0 && i < G_N_ELEMENTS(units); i++) {
        if (g_ascii_strcasecmp(end, units[i].unit) == 0)
            mul = units[i].bytes;
    }
    if (mul == 0 || n > G_MAXUINT64 / mul)
        goto bad;
    *out = n * mul;
    return TRUE;
bad:
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                _("invalid size '%s': give a number with an optional unit (b, k, M, G, T)"),
                text != NULL ? text : "");
    return FALSE;
}

/* --bandwidth N: MiB/s, bytes/s with --bytes; 0 when not given */
static gboolean
bandwidth_arg(VbctlContext *ctx, guint64 *out, GError **error)
{
    const char *text = ctx->flags.block.bandwidth;
    char *end = NULL;

    *out = 0;
    if (text == NULL)
        return TRUE;
    if (!g_ascii_isdigit(*text) || (*out = g_ascii_strtoull(text, &end, 10), *end != '\0')) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid bandwidth '%s': give MiB/s (bytes/s with --bytes)"), text);
        return FALSE;
    }
    return TRUE;
}

/* `blockpull NAME|UUID DISK [--bandwidth N] [--bytes] [--no-progress]`: waits for the end */
gboolean
vbctl_cmd_blockpull(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) result = NULL;
    guint64 bw;

    if (!bandwidth_arg(ctx, &bw, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    result = vbctl_run_job(ctx, G_DBUS_PROXY(domain), "BlockPull",
                           g_variant_new("(stu)", ctx->args[1], bw,
                                         ctx->flags.block.bytes ? PULL_BANDWIDTH_BYTES : 0),
                           error);
    if (result == NULL)
        return FALSE;
    g_print(_("Block Pull of disk %s complete\n"), ctx->args[1]);
    return TRUE;
}

/* What a --wait'ed copy or active commit does once ready: BlockJobAbort, with PIVOT or not */
typedef struct {
    VbDBusDomain *domain;
    const char *disk;
    gboolean pivot;
} ReadyAction;

static gboolean
finish_ready_job(VbctlContext *ctx, gpointer data, GError **error)
{
    ReadyAction *a = data;
    g_autoptr(GVariant) reply = NULL;

    (void)ctx;
    /* ASYNC: the job's own end is followed by Wait */
    reply = vbctl_call_mutating(G_DBUS_PROXY(a->domain), "BlockJobAbort",
                                g_variant_new("(su)", a->disk,
                                              ABORT_ASYNC | (a->pivot ? ABORT_PIVOT : 0)),
                                NULL, error);
    return reply != NULL;
}

/*
 * A copy or an active commit with --wait: followed (progress on stderr) until ready, then
 * left running, pivoted (--pivot) or ended without pivot (@finish); the message of the
 * outcome.
 */
static gboolean
run_until_ready(VbctlContext *ctx, VbDBusDomain *domain, const char *method, GVariant *params,
                const char *disk, gboolean pivot, gboolean finish, const char *ready_msg,
                const char *finish_msg, GError **error)
{
    ReadyAction a = { domain, disk, pivot };
    g_autoptr(GVariant) result = NULL;
    g_autoptr(GError) local = NULL;

    result = vbctl_run_job_until_ready(ctx, G_DBUS_PROXY(domain), method, params,
                                       pivot || finish ? finish_ready_job : NULL, &a, &local);
    if (result == NULL) {
        g_autofree char *remote = g_dbus_error_get_remote_error(local);

        /* a ready job ended without pivot ends "cancelled on request": what was asked */
        if (!finish || g_strcmp0(remote, "org.virtbus.Virt1.Error.Aborted") != 0) {
            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        g_print("%s\n", finish_msg);
        return TRUE;
    }
    if (pivot)
        g_print(_("Successfully pivoted\n"));
    else if (finish)
        g_print("%s\n", finish_msg);
    else
        g_print("%s\n", ready_msg);
    return TRUE;
}

/*
 * `blockcommit NAME|UUID DISK [--base PATH] [--top PATH] [--shallow] [--active [--wait]
 * [--pivot|--keep-overlay]] [--bandwidth N] [--bytes] [--no-progress]`: an inner commit is
 * waited for; an active one is started and left ready for `blockjob --pivot` or `--abort`,
 * or with --wait followed until ready, then pivoted, ended keeping the overlay, or left.
 */
gboolean
vbctl_cmd_blockcommit(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) result = NULL;
    VbctlBlockFlags *f = &ctx->flags.block;
    guint flags = (f->shallow ? COMMIT_SHALLOW : 0) | (f->active ? COMMIT_ACTIVE : 0) |
                  (f->bytes ? COMMIT_BANDWIDTH_BYTES : 0);
    GVariant *params;
    guint64 bw;

    if (!bandwidth_arg(ctx, &bw, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    if ((f->wait || f->pivot || f->keep_overlay) && !f->active) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--wait, --pivot and --keep-overlay go with --active"));
        return FALSE;
    }
    if (f->pivot && f->keep_overlay) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--pivot and --keep-overlay exclude each other"));
        return FALSE;
    }
    params = g_variant_new("(ssstu)", ctx->args[1], f->base != NULL ? f->base : "",
                           f->top != NULL ? f->top : "", bw, flags);
    if (f->active && (f->wait || f->pivot || f->keep_overlay))
        return run_until_ready(ctx, domain, "BlockCommit", params, ctx->args[1], f->pivot,
                               f->keep_overlay, _("Now in synchronized phase"),
                               _("Commit complete, overlay image kept"), error);
    if (f->active) {
        g_autoptr(GVariant) reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "BlockCommit",
                                                        params, G_VARIANT_TYPE("(o)"), error);
        const char *job;

        if (reply == NULL)
            return FALSE;
        g_variant_get(reply, "(&o)", &job);
        g_print(_("Active Block Commit of disk %s started (job %s); when it is ready, finish "
                  "it with 'blockjob %s %s --pivot' or cancel it with --abort\n"),
                ctx->args[1], job, ctx->args[0], ctx->args[1]);
        return TRUE;
    }
    result = vbctl_run_job(ctx, G_DBUS_PROXY(domain), "BlockCommit", params, error);
    if (result == NULL)
        return FALSE;
    g_print(_("Successfully committed\n"));
    return TRUE;
}

/*
 * `blockcopy NAME|UUID DISK DEST [--format raw|qcow2] [--reuse-external] [--shallow]
 * [--bandwidth N] [--bytes] [--wait [--pivot|--finish]] [--no-progress]`: starts the copy
 * (into a new image the service makes, or the existing one with --reuse-external) and
 * leaves it to `blockjob --pivot` or `--abort`; with --wait follows it until it is ready
 * and then pivots (--pivot), ends it keeping the copy (--finish) or leaves it running.
 */
gboolean
vbctl_cmd_blockcopy(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *dest = NULL;
    VbctlBlockFlags *f = &ctx->flags.block;
    GVariantDict params;
    GVariant *args;
    const char *job;
    guint64 bw;

    if (!bandwidth_arg(ctx, &bw, error))
        return FALSE;
    if (f->pivot && f->finish) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--pivot and --finish exclude each other"));
        return FALSE;
    }
    if (!f->bytes && bw > (G_MAXUINT64 >> 20)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid bandwidth '%s'"), f->bandwidth);
        return FALSE;
    }
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    dest = g_path_is_absolute(ctx->args[2]) ? g_strdup(ctx->args[2])
                                            : g_canonicalize_filename(ctx->args[2], NULL);
    /* without --format the service chooses (the disk's format for an image it makes) */
    if (f->format != NULL)
        xml = g_markup_printf_escaped("<disk type='file'><driver type='%s'/>"
                                      "<source file='%s'/></disk>", f->format, dest);
    else
        xml = g_markup_printf_escaped("<disk type='file'><source file='%s'/></disk>", dest);
    g_variant_dict_init(&params, NULL);
    if (bw > 0)
        g_variant_dict_insert(&params, "bandwidth", "t", f->bytes ? bw : bw << 20);
    args = g_variant_new("(ss@a{sv}u)", ctx->args[1], xml, g_variant_dict_end(&params),
                         (f->reuse_external ? 2u : 0u) | (f->shallow ? 1u : 0u));
    if (f->wait || f->pivot || f->finish)
        return run_until_ready(ctx, domain, "BlockCopy", args, ctx->args[1], f->pivot,
                               f->finish, _("Now in mirroring phase"),
                               _("Successfully copied"), error);
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "BlockCopy", args, G_VARIANT_TYPE("(o)"),
                                error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&o)", &job);
    g_print(_("Block Copy of disk %s to %s started (job %s); when it is ready, finish it "
              "with 'blockjob %s %s --pivot' or cancel it with --abort\n"),
            ctx->args[1], dest, job, ctx->args[0], ctx->args[1]);
    return TRUE;
}

/* `blockjob NAME|UUID DISK [--info|--abort|--pivot|--bandwidth N] [--async] [--bytes]` */
gboolean
vbctl_cmd_blockjob(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) reply = NULL;
    VbctlBlockFlags *f = &ctx->flags.block;
    guint n = (f->abort ? 1 : 0) + (f->pivot ? 1 : 0) + (f->info ? 1 : 0) +
              (f->bandwidth != NULL ? 1 : 0);
    guint64 bw;

    if (n > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--info, --abort, --pivot and --bandwidth exclude each other"));
        return FALSE;
    }
    if (!bandwidth_arg(ctx, &bw, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    if (f->abort || f->pivot) {
        guint flags = (f->async ? ABORT_ASYNC : 0) | (f->pivot ? ABORT_PIVOT : 0);

        reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "BlockJobAbort",
                                    g_variant_new("(su)", ctx->args[1], flags),
                                    G_VARIANT_TYPE_UNIT, error);
        return reply != NULL;
    }
    if (f->bandwidth != NULL) {
        reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "BlockJobSetSpeed",
                                    g_variant_new("(stu)", ctx->args[1], bw,
                                                  f->bytes ? JOB_BANDWIDTH_BYTES : 0),
                                    G_VARIANT_TYPE_UNIT, error);
        return reply != NULL;
    }
    {
        g_autofree char *type = NULL;
        guint64 bandwidth, cur, end;

        if (!vb_dbus_domain_call_get_block_job_info_sync(domain, ctx->args[1],
                                                         f->bytes ? JOB_BANDWIDTH_BYTES : 0,
                                                         &type, &bandwidth, &cur, &end, NULL,
                                                         error))
            return FALSE;
        if (g_str_equal(type, "none")) {
            g_print(_("No current block job for %s\n"), ctx->args[1]);
            return TRUE;
        }
        g_print("%s: [%3u %%] %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "\n", type,
                end > 0 ? (guint)(cur * 100 / end) : 0u, cur, end);
        if (bandwidth > 0)
            g_print(f->bytes ? _("Bandwidth limit: %" G_GUINT64_FORMAT " bytes/s\n")
                             : _("Bandwidth limit: %" G_GUINT64_FORMAT " MiB/s\n"),
                    bandwidth);
    }
    return TRUE;
}

/* `blockresize NAME|UUID DISK SIZE`: SIZE in KiB unless it has a unit */
gboolean
vbctl_cmd_blockresize(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) reply = NULL;
    guint64 size;

    if (!parse_bytes(ctx->args[2], 1024, &size, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "BlockResize",
                                g_variant_new("(stu)", ctx->args[1], size, RESIZE_BYTES),
                                G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
    g_print(_("Block device '%s' is resized\n"), ctx->args[1]);
    return TRUE;
}

/* `domblkthreshold NAME|UUID DEV THRESHOLD`: bytes unless it has a unit */
gboolean
vbctl_cmd_domblkthreshold(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) reply = NULL;
    guint64 threshold;

    if (!parse_bytes(ctx->args[2], 1, &threshold, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    if (domain == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "SetBlockThreshold",
                                g_variant_new("(stu)", ctx->args[1], threshold, 0u),
                                G_VARIANT_TYPE_UNIT, error);
    return reply != NULL;
}
