/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource tuning as a frontend asks for it (issue 14, part cgroup; docs/resources.md):
 * libvirt's virDomainGet/SetMemoryParameters, Get/SetSchedulerParametersFlags and
 * Get/SetBlkioParameters with libvirt's parameter names and AFFECT flags. LIVE writes the
 * run's cgroup (domain-cgroup.c) and the live definition; CONFIG the persistent one.
 */
#include "config.h"

#include <string.h>

#include "domain-cgroup.h"
#include "domain-list-priv.h"
#include "domain-memev.h"
#include "domain-tune.h"
#include "vb-error.h"

typedef struct {
    const char *name;    /* libvirt's parameter name */
    VbTuneItem item;
    gboolean is_signed;  /* "x" (quotas), else "t" (or "u" for weight) */
} TuneParam;

static const TuneParam memory_params[] = {
    { "hard_limit", VB_TUNE_HARD_LIMIT, FALSE },
    { "soft_limit", VB_TUNE_SOFT_LIMIT, FALSE },
    { "swap_hard_limit", VB_TUNE_SWAP_HARD_LIMIT, FALSE },
    { "min_guarantee", VB_TUNE_MIN_GUARANTEE, FALSE },
};

static const TuneParam sched_params[] = {
    { "cpu_shares", VB_TUNE_SHARES, FALSE },
    { "vcpu_period", VB_TUNE_PERIOD, FALSE },
    { "vcpu_quota", VB_TUNE_QUOTA, TRUE },
    { "emulator_period", VB_TUNE_EMULATOR_PERIOD, FALSE },
    { "emulator_quota", VB_TUNE_EMULATOR_QUOTA, TRUE },
    { "global_period", VB_TUNE_GLOBAL_PERIOD, FALSE },
    { "global_quota", VB_TUNE_GLOBAL_QUOTA, TRUE },
    { "iothread_period", VB_TUNE_IOTHREAD_PERIOD, FALSE },
    { "iothread_quota", VB_TUNE_IOTHREAD_QUOTA, TRUE },
};

/* <blkiotune><device> fields as libvirt names their parameters */
static const char *const device_params[] = {
    "device_weight", "device_read_iops_sec", "device_write_iops_sec",
    "device_read_bytes_sec", "device_write_bytes_sec", NULL,
};

static const char *const group_methods[][2] = {
    { "GetMemoryParameters", "SetMemoryParameters" },
    { "GetSchedulerParameters", "SetSchedulerParameters" },
    { "GetBlkioParameters", "SetBlkioParameters" },
};

static guint64 *
device_field(VbBlkioDevice *d, guint k)
{
    switch (k) {
    case 1:
        return &d->read_iops_sec;
    case 2:
        return &d->write_iops_sec;
    case 3:
        return &d->read_bytes_sec;
    case 4:
        return &d->write_bytes_sec;
    default:
        return NULL;
    }
}

static guint64
device_value(const VbBlkioDevice *d, guint k)
{
    return k == 0 ? d->weight : *device_field((VbBlkioDevice *)d, k);
}

/* "/dev/sda,500,/dev/sdb,100": the devices with field @k set */
static char *
format_devices(const VbDomainTune *t, guint k)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < t->devices->len; i++) {
        const VbBlkioDevice *d = g_ptr_array_index(t->devices, i);

        if (device_value(d, k) == 0)
            continue;
        g_string_append_printf(s, "%s%s,%" G_GUINT64_FORMAT, s->len > 0 ? "," : "", d->path,
                               device_value(d, k));
    }
    return g_string_free(s, FALSE);
}

static GVariant *
to_dict(const VbDomainTune *t, VbTuneGroup group)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    if (group == VB_TUNE_GROUP_MEMORY) {
        for (guint i = 0; i < G_N_ELEMENTS(memory_params); i++) {
            VbTuneItem item = memory_params[i].item;

            g_variant_builder_add(&b, "{sv}", memory_params[i].name,
                                  g_variant_new_uint64(VB_TUNE_HAS(t, item)
                                                           ? (guint64)t->v[item]
                                                           : (guint64)VB_TUNE_MEMORY_UNLIMITED));
        }
    } else if (group == VB_TUNE_GROUP_SCHEDULER) {
        for (guint i = 0; i < G_N_ELEMENTS(sched_params); i++) {
            VbTuneItem item = sched_params[i].item;
            gint64 v = VB_TUNE_HAS(t, item) ? t->v[item] : 0;

            g_variant_builder_add(&b, "{sv}", sched_params[i].name,
                                  sched_params[i].is_signed ? g_variant_new_int64(v)
                                                            : g_variant_new_uint64((guint64)v));
        }
    } else {
        g_variant_builder_add(&b, "{sv}", "weight",
                              g_variant_new_uint32(VB_TUNE_HAS(t, VB_TUNE_BLKIO_WEIGHT)
                                                       ? (guint32)t->v[VB_TUNE_BLKIO_WEIGHT]
                                                       : 0));
        for (guint k = 0; device_params[k] != NULL; k++)
            g_variant_builder_add(&b, "{sv}", device_params[k],
                                  g_variant_new_take_string(format_devices(t, k)));
    }
    return g_variant_builder_end(&b);
}

static gboolean
check_affect(VbDomainObj *dom, guint *flags, const char *method, gboolean get, GError **error)
{
    if (get && (*flags & VB_TUNE_LIVE) && (*flags & VB_TUNE_CONFIG)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s: the LIVE and CONFIG flags exclude each other", method);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (*flags == 0)
        *flags = dom->id >= 0 ? VB_TUNE_LIVE : VB_TUNE_CONFIG;
    if ((*flags & VB_TUNE_LIVE) && dom->id < 0) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        g_prefix_error(error, "%s with the LIVE flag: ", method);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if ((*flags & VB_TUNE_CONFIG) && !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "%s: domain '%s' is transient: it has no persistent configuration; use "
                    "the LIVE flag", method, dom->def->name);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/**
 * vb_domain_get_tune_params:
 * @group: memory, scheduler or blkio parameters
 * @flags: LIVE or CONFIG (0: LIVE when running, else CONFIG)
 *
 * Returns: (transfer floating): "a{sv}" with libvirt's names: memory in KiB (9007199254740991,
 *   libvirt's unlimited, when not set), periods and quotas in µs (0 when not set), blkio
 *   weight and devices ("path,value,..."); %NULL with @error. Any thread; takes dom->lock.
 */
GVariant *
vb_domain_get_tune_params(VbDomainObj *dom, VbTuneGroup group, guint flags, GError **error)
{
    g_autoptr(VbDomainTune) t = NULL;

    if (!check_affect(dom, &flags, group_methods[group][0], TRUE, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    t = vb_domain_tune_copy(vb_domain_def_get_tune(
        (flags & VB_TUNE_CONFIG) && dom->id >= 0 && dom->new_def != NULL ? dom->new_def
                                                                          : dom->def));
    g_mutex_unlock(&dom->lock);
    return to_dict(t, group);
}

static gboolean
int_value(GVariant *v, const char *name, gboolean is_signed, gint64 *out, GError **error)
{
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64) && g_variant_get_uint64(v) <= G_MAXINT64)
        *out = (gint64)g_variant_get_uint64(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64))
        *out = g_variant_get_int64(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
        *out = g_variant_get_uint32(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32))
        *out = g_variant_get_int32(v);
    else {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "parameter '%s' must be an integer (%s), not '%s'", name,
                    is_signed ? "x" : "t", g_variant_get_type_string(v));
        return FALSE;
    }
    if (!is_signed && *out < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "parameter '%s' must not be negative", name);
        return FALSE;
    }
    return TRUE;
}

/* "path,value,path,value" into field @k of the devices */
static gboolean
parse_devices(VbDomainTune *t, guint k, const char *text, GError **error)
{
    g_auto(GStrv) f = g_strsplit(text, ",", -1);
    guint n = g_strv_length(f);

    if (*text == '\0')
        return TRUE;
    if (n % 2 != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "parameter '%s' must be 'path,value[,path,value...]', not '%s'",
                    device_params[k], text);
        return FALSE;
    }
    for (guint i = 0; i < n; i += 2) {
        guint64 v;
        VbBlkioDevice *d;

        if (!vb_tune_device_path_check(f[i]) ||
            !g_ascii_string_to_unsigned(f[i + 1], 10, 0,
                                        k == 0 ? VB_TUNE_WEIGHT_MAX : G_MAXINT64, &v, NULL)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "parameter '%s': '%s,%s' must be an absolute device path and a "
                        "number%s", device_params[k], f[i], f[i + 1],
                        k == 0 ? " from 0 to 10000" : "");
            return FALSE;
        }
        d = vb_domain_tune_device(t, f[i], TRUE);
        if (k == 0)
            d->weight = (guint)v;
        else
            *device_field(d, k) = v;
    }
    return TRUE;
}

static const TuneParam *
find_param(VbTuneGroup group, const char *name)
{
    const TuneParam *table = group == VB_TUNE_GROUP_MEMORY ? memory_params : sched_params;
    gsize n = group == VB_TUNE_GROUP_MEMORY ? G_N_ELEMENTS(memory_params)
                                            : G_N_ELEMENTS(sched_params);
    static const TuneParam weight = { "weight", VB_TUNE_BLKIO_WEIGHT, FALSE };

    if (group == VB_TUNE_GROUP_BLKIO)
        return g_str_equal(name, "weight") ? &weight : NULL;
    for (gsize i = 0; i < n; i++) {
        if (g_str_equal(table[i].name, name))
            return &table[i];
    }
    return NULL;
}

typedef struct {
    VbTuneGroup group;
    GVariant *params;
    guint32 items;      /* out: the items the call sets */
    gboolean devices;   /* out: whether it sets devices */
} TuneEdit;

/* @t with the call's parameters; @e->items and @e->devices say what changed */
static gboolean
apply_params(VbDomainTune *t, TuneEdit *e, GError **error)
{
    GVariantIter it;
    const char *name;
    GVariant *value;

    g_variant_iter_init(&it, e->params);
    while (g_variant_iter_loop(&it, "{&sv}", &name, &value)) {
        const TuneParam *p = find_param(e->group, name);
        gint64 v;

        if (p == NULL && e->group == VB_TUNE_GROUP_BLKIO &&
            g_strv_contains(device_params, name)) {
            guint k = 0;

            while (!g_str_equal(device_params[k], name))
                k++;
            if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "parameter '%s' must be a string (s)", name);
                return FALSE;
            }
            if (!parse_devices(t, k, g_variant_get_string(value, NULL), error))
                return FALSE;
            e->devices = TRUE;
            continue;
        }
        if (p == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "%s: unknown parameter '%s'",
                        group_methods[e->group][1], name);
            return FALSE;
        }
        if (!int_value(value, name, p->is_signed, &v, error))
            return FALSE;
        if (p->item <= VB_TUNE_MIN_GUARANTEE && v > VB_TUNE_MEMORY_UNLIMITED)
            v = VB_TUNE_MEMORY_UNLIMITED;
        /* libvirt: a period or quota of 0 leaves it as it is */
        if (v == 0 && p->item >= VB_TUNE_PERIOD && p->item <= VB_TUNE_IOTHREAD_QUOTA)
            continue;
        if (p->is_signed && v < 0)
            v = -1;
        if (!vb_tune_item_check(p->item, v, error)) {
            g_prefix_error(error, "parameter '%s': ", name);
            return FALSE;
        }
        vb_domain_tune_set(t, p->item, v);
        e->items |= 1u << p->item;
    }
    /* a device left with nothing set goes */
    for (guint i = t->devices->len; i > 0; i--) {
        const VbBlkioDevice *d = g_ptr_array_index(t->devices, i - 1);
        gboolean any = FALSE;

        for (guint k = 0; k < 5; k++)
            any = any || device_value(d, k) != 0;
        if (!any && e->devices)
            g_ptr_array_remove_index(t->devices, i - 1);
    }
    return vb_domain_tune_validate(t, error);
}

static VbDomainDef *
edit_tune(const VbDomainDef *def, gpointer data, GError **error)
{
    g_autoptr(VbDomainTune) t = vb_domain_tune_copy(vb_domain_def_get_tune(def));

    if (!apply_params(t, data, error))
        return NULL;
    return vb_domain_def_with_tune(def, t, error);
}

static gboolean
set_live(VbDomainList *list, VbDomainObj *dom, TuneEdit *e, GError **error)
{
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(VbDomainTune) t = NULL;
    g_autoptr(GError) err = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->id < 0) {
        vb_domain_obj_set_not_running_error(dom, group_methods[e->group][1], error);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    live = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (live == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot copy the definition");
        return FALSE;
    }
    t = vb_domain_tune_copy(vb_domain_def_get_tune(live));
    if (!apply_params(t, e, error))
        return FALSE;
    if ((e->items != 0 || e->devices) &&
        !vb_domain_cgroup_set_live(dom, t, e->items, e->devices, error))
        return FALSE;
    g_clear_pointer(&live, vb_domain_def_free);
    g_mutex_lock(&dom->lock);
    live = vb_domain_def_with_tune(dom->def, t, &err);
    if (live != NULL) {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&live);
    }
    g_mutex_unlock(&dom->lock);
    if (err != NULL)
        g_warning("live definition not updated: %s", err->message);
    else if (!vb_domain_status_save(list, dom, &err))
        g_warning("%s", err->message);
    return TRUE;
}

/**
 * vb_domain_set_tune_params:
 * @params: "a{sv}" with libvirt's names (see vb_domain_get_tune_params())
 * @flags: LIVE and/or CONFIG (0: LIVE when running, else CONFIG)
 *
 * Worker thread; takes a modify job. LIVE applies to the run's cgroup first: when that
 * fails nothing changes.
 */
gboolean
vb_domain_set_tune_params(VbDomainList *list, VbDomainObj *dom, VbTuneGroup group,
                          GVariant *params, guint flags, const char *owner, GError **error)
{
    const char *method = group_methods[group][1];
    TuneEdit e = { group, params, 0, FALSE };
    gboolean ok = TRUE;

    if (!check_affect(dom, &flags, method, FALSE, error))
        return FALSE;
    {
        /* refuse bad parameters before taking the job */
        g_autoptr(VbDomainTune) probe = vb_domain_tune_new();
        TuneEdit pe = e;

        if (!apply_params(probe, &pe, error))
            return FALSE;
    }
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, method, owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return FALSE;
    if (flags & VB_TUNE_LIVE)
        ok = set_live(list, dom, &e, error);
    if (ok && (flags & VB_TUNE_CONFIG)) {
        e.items = 0;
        e.devices = FALSE;
        ok = vb_domain_edit_persistent(list, dom, edit_tune, &e, error);
    }
    vb_domain_job_end(dom);
    return ok;
}
