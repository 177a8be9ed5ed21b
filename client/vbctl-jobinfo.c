/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "vbctl-output.h"
#include "vbctl.h"

/* GetJobStats flag bits */
#define JOB_STATS_COMPLETED 1u

typedef enum {
    STAT_TEXT,    /* s, printed as is */
    STAT_MS,      /* t, milliseconds */
    STAT_MIB,     /* t, bytes printed in MiB */
    STAT_MIB_S,   /* t, bytes/s printed in MiB/s */
    STAT_COUNT,   /* t or u, a plain number */
    STAT_PAGES_S, /* t, pages/s */
    STAT_BYTES,   /* t, a plain number of bytes */
} StatKind;

typedef struct {
    const char *key;
    const char *label; /* N_() */
    StatKind kind;
} StatField;

/* In the order virsh domjobinfo prints them; "type" comes first, separately. */
static const StatField stat_fields[] = {
    {"operation", N_("Operation"), STAT_TEXT},
    {"phase", N_("Phase"), STAT_TEXT},
    {"time_elapsed", N_("Time elapsed"), STAT_MS},
    {"data_processed", N_("Data processed"), STAT_MIB},
    {"data_remaining", N_("Data remaining"), STAT_MIB},
    {"data_total", N_("Data total"), STAT_MIB},
    {"memory_processed", N_("Memory processed"), STAT_MIB},
    {"memory_remaining", N_("Memory remaining"), STAT_MIB},
    {"memory_total", N_("Memory total"), STAT_MIB},
    {"memory_bps", N_("Memory bandwidth"), STAT_MIB_S},
    {"memory_dirty_rate", N_("Dirty rate"), STAT_PAGES_S},
    {"memory_page_size", N_("Page size"), STAT_BYTES},
    {"memory_iteration", N_("Iteration"), STAT_COUNT},
    {"memory_constant", N_("Constant pages"), STAT_COUNT},
    {"memory_normal", N_("Normal pages"), STAT_COUNT},
    {"memory_normal_bytes", N_("Normal data"), STAT_MIB},
    {"disk_processed", N_("File processed"), STAT_MIB},
    {"disk_remaining", N_("File remaining"), STAT_MIB},
    {"disk_total", N_("File total"), STAT_MIB},
    {"disk_bps", N_("File bandwidth"), STAT_MIB_S},
    {"downtime", N_("Total downtime"), STAT_MS},
    {"setup_time", N_("Setup time"), STAT_MS},
    {"error_name", N_("Error"), STAT_TEXT},
    {"error_message", N_("Error message"), STAT_TEXT},
};

/* Any unsigned integer as guint64; FALSE for other types. */
static gboolean
variant_to_u64(GVariant *v, guint64 *out_value)
{
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
        *out_value = g_variant_get_uint64(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
        *out_value = g_variant_get_uint32(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64) && g_variant_get_int64(v) >= 0)
        *out_value = (guint64)g_variant_get_int64(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32) && g_variant_get_int32(v) >= 0)
        *out_value = (guint64)g_variant_get_int32(v);
    else
        return FALSE;
    return TRUE;
}

/* The printed value of one statistic, or NULL when the type is not the expected one. */
static char *
stat_format(const StatField *field, GVariant *v)
{
    guint64 n;

    if (field->kind == STAT_TEXT)
        return g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ? g_variant_dup_string(v, NULL)
                                                              : NULL;
    if (!variant_to_u64(v, &n))
        return NULL;
    switch (field->kind) {
    case STAT_MS:
        return g_strdup_printf("%-12" G_GUINT64_FORMAT " ms", n);
    case STAT_MIB:
        return g_strdup_printf("%.3f MiB", n / (1024.0 * 1024.0));
    case STAT_MIB_S:
        return g_strdup_printf("%.3f MiB/s", n / (1024.0 * 1024.0));
    case STAT_PAGES_S:
        return g_strdup_printf("%" G_GUINT64_FORMAT " pages/s", n);
    case STAT_BYTES:
        return g_strdup_printf("%" G_GUINT64_FORMAT " bytes", n);
    default:
        return g_strdup_printf("%" G_GUINT64_FORMAT, n);
    }
}

/* "unbounded" -> "Unbounded", as virsh prints the job type and operation. */
static char *
capitalized(const char *word)
{
    char *s = g_strdup(word);

    if (*s != '\0')
        *s = g_ascii_toupper(*s);
    return s;
}

static char *
job_stats_format(GVariant *stats)
{
    g_autoptr(GPtrArray) labels = g_ptr_array_new();
    g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func(g_free);
    const char *type = "none";

    g_variant_lookup(stats, "type", "&s", &type);
    g_ptr_array_add(labels, (gpointer)_("Job type"));
    g_ptr_array_add(values, capitalized(type));
    for (gsize i = 0; i < G_N_ELEMENTS(stat_fields); i++) {
        const StatField *field = &stat_fields[i];
        g_autoptr(GVariant) v = g_variant_lookup_value(stats, field->key, NULL);
        char *text;

        if (v == NULL || (text = stat_format(field, v)) == NULL)
            continue;
        if (field->kind == STAT_TEXT && *text == '\0') {
            g_free(text);
            continue;
        }
        if (g_str_equal(field->key, "operation")) {
            char *cap = capitalized(text);
            g_free(text);
            text = cap;
        }
        g_ptr_array_add(labels, (gpointer)_(field->label));
        g_ptr_array_add(values, text);
    }
    g_ptr_array_add(labels, NULL);
    return vbctl_format_fields((const char *const *)labels->pdata,
                               (const char *const *)values->pdata);
}

/**
 * vbctl_cmd_domjobinfo:
 *
 * `domjobinfo NAME|UUID [--completed] [--json]`: the statistics of the
 * domain's running job, or of its last completed one.
 */
gboolean
vbctl_cmd_domjobinfo(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) stats = NULL;
    g_autofree char *text = NULL;
    guint flags = ctx->flags.completed ? JOB_STATS_COMPLETED : 0;

    if (domain == NULL ||
        !vb_dbus_domain_call_get_job_stats_sync(domain, flags, &stats, NULL, error))
        return FALSE;
    if (ctx->flags.json) {
        g_autoptr(JsonNode) node = json_gvariant_serialize(stats);
        vbctl_print_json(node);
        return TRUE;
    }
    text = job_stats_format(stats);
    g_print("%s", text);
    return TRUE;
}
