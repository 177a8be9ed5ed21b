/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * issue 14, part devns: the host devices a hot-plug or a medium change gives a running QEMU
 * are made in its private /dev before QEMU opens them, and removed when the device went
 * (qemu-devns.c does the work; docs/confinement.md). Only for a run whose QEMU was started
 * in a private /dev (dom->private_dev, kept in the status file across service restarts).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "domain-hotplug-priv.h"
#include "domain-list-priv.h"
#include "qemu-devns.h"
#include "vb-log.h"

/* Under no lock: QEMU's pid when this run has a private /dev; 0 otherwise. */
static pid_t
private_pid(VbDomainObj *dom)
{
    pid_t pid = 0;

    g_mutex_lock(&dom->lock);
    if (dom->private_dev && dom->id >= 0 && dom->proc != NULL)
        pid = vb_qemu_process_get_pid(dom->proc);
    g_mutex_unlock(&dom->lock);
    return pid;
}

/**
 * vb_domain_devns_add:
 * @opts: the QEMU options of a hot-plug or medium change (option, value, ...)
 *
 * With the job, before the options go to QEMU: the /dev paths they name (and the targets
 * of links among them) made in QEMU's private /dev. A failure is the hot-plug's error.
 */
gboolean
vb_domain_devns_add(VbDomainObj *dom, GPtrArray *opts, GError **error)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_auto(GStrv) paths = NULL;
    pid_t pid = private_pid(dom);

    if (pid <= 0 || opts == NULL)
        return TRUE;
    for (guint i = 0; i < opts->len; i++)
        g_ptr_array_add(args, g_ptr_array_index(opts, i));
    g_ptr_array_add(args, NULL);
    paths = vb_qemu_devns_paths((const char *const *)args->pdata);
    if (paths[0] == NULL)
        return TRUE;
    if (!vb_qemu_devns_add(pid, (const char *const *)paths, error))
        return FALSE;
    for (guint i = 0; paths[i] != NULL; i++)
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%s made in QEMU's /dev", paths[i]);
    return TRUE;
}

/**
 * vb_domain_devns_drop:
 * @path: (nullable): the source of a disk or medium that went
 *
 * With the job, after QEMU closed it: @path (and its link target) removed from QEMU's
 * private /dev unless a disk of the live definition still names it. Failures are logged.
 */
void
vb_domain_devns_drop(VbDomainObj *dom, const char *path)
{
    g_autoptr(GPtrArray) infos = NULL;
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) drop = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) paths = NULL;
    const char *one[] = { path, NULL };
    static const char *const keep[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                        "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/kvm",
                                        "/dev/net/tun", "/dev/vhost-net", "/dev/vhost-vsock",
                                        NULL };
    pid_t pid = private_pid(dom);

    if (pid <= 0 || path == NULL || !g_str_has_prefix(path, "/dev/"))
        return;
    g_mutex_lock(&dom->lock);
    infos = vb_domain_def_get_disk_infos(dom->def);
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; i < infos->len; i++) {
        const VbDomainDiskInfo *d = g_ptr_array_index(infos, i);
        const char *p[] = { d->path, NULL };
        g_auto(GStrv) in_use = NULL;

        if (d->path == NULL)
            continue;
        in_use = vb_qemu_devns_paths(p);
        for (guint j = 0; in_use[j] != NULL; j++)
            g_hash_table_add(used, g_strdup(in_use[j]));
    }
    /* what every private /dev holds from the start stays (qemu-launch.c's basic set) */
    for (guint i = 0; keep[i] != NULL; i++)
        g_hash_table_add(used, g_strdup(keep[i]));
    paths = vb_qemu_devns_paths(one);
    for (guint i = 0; paths[i] != NULL; i++) {
        if (!g_hash_table_contains(used, paths[i]))
            g_ptr_array_add(drop, paths[i]);
    }
    g_ptr_array_add(drop, NULL);
    if (!vb_qemu_devns_remove(pid, (const char *const *)drop->pdata, &err))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", err->message);
}
