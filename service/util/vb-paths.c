/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vb-error.h"
#include "vb-paths.h"

/**
 * vb_paths_new:
 * @kind: system or session layout
 * @root: (nullable): a directory under which the whole system layout is
 *   placed (tests, the quick start); %NULL or "" for the real layout
 *
 * Returns: (transfer full): the service's directories. Nothing is created.
 */
VbPaths *
vb_paths_new(VbPathsKind kind, const char *root)
{
    VbPaths *p = g_new0(VbPaths, 1);
    /* the system layout is fixed by DESIGN.md, whatever the install prefix */
    const char *r = root != NULL && *root != '\0' ? root : "/";

    p->root = g_strdup(root != NULL ? root : "");
    if (kind == VB_PATHS_SYSTEM || g_strcmp0(r, "/") != 0) {
        p->config_dir = g_build_filename(r, "etc", "virtbus", "qemu", NULL);
        p->config_file = g_build_filename(r, "etc", "virtbus", "virtbusd.conf", NULL);
        p->run_dir = g_build_filename(r, "run", "virtbus", "qemu", NULL);
        p->data_dir = g_build_filename(r, "var", "lib", "virtbus", NULL);
        p->log_dir = g_build_filename(r, "var", "log", "virtbus", "qemu", NULL);
    } else {
        const char *rt = g_get_user_runtime_dir();

        p->config_dir = g_build_filename(g_get_user_config_dir(), "virtbus", "qemu", NULL);
        p->config_file = g_build_filename(g_get_user_config_dir(), "virtbus", "virtbusd.conf",
                                          NULL);
        p->run_dir = g_build_filename(rt, "virtbus", "qemu", NULL);
        p->data_dir = g_build_filename(g_get_user_data_dir(), "virtbus", NULL);
        p->log_dir = g_build_filename(g_get_user_cache_dir(), "virtbus", "qemu", "log", NULL);
    }
    p->autostart_dir = g_build_filename(p->config_dir, "autostart", NULL);
    /* libvirt's layout: <config>/qemu/networks, /run/.../network, <data>/dnsmasq */
    p->network_config_dir = g_build_filename(p->config_dir, "networks", NULL);
    p->network_autostart_dir = g_build_filename(p->network_config_dir, "autostart", NULL);
    {
        g_autofree char *run_parent = g_path_get_dirname(p->run_dir);

        p->network_run_dir = g_build_filename(run_parent, "network", NULL);
    }
    p->dnsmasq_dir = g_build_filename(p->data_dir, "dnsmasq", NULL);
    p->caps_dir = g_build_filename(p->data_dir, "caps", NULL);
    p->save_dir = g_build_filename(p->data_dir, "save", NULL);
    p->snapshot_dir = g_build_filename(p->data_dir, "snapshot", NULL);
    p->nvram_dir = g_build_filename(p->data_dir, "nvram", NULL);
    p->swtpm_dir = g_build_filename(p->data_dir, "swtpm", NULL);
    return p;
}

void
vb_paths_free(VbPaths *p)
{
    if (p == NULL)
        return;
    g_free(p->root);
    g_free(p->config_dir);
    g_free(p->autostart_dir);
    g_free(p->network_config_dir);
    g_free(p->network_autostart_dir);
    g_free(p->network_run_dir);
    g_free(p->dnsmasq_dir);
    g_free(p->config_file);
    g_free(p->run_dir);
    g_free(p->data_dir);
    g_free(p->caps_dir);
    g_free(p->save_dir);
    g_free(p->snapshot_dir);
    g_free(p->nvram_dir);
    g_free(p->swtpm_dir);
    g_free(p->log_dir);
    g_free(p);
}

/**
 * vb_paths_ensure:
 *
 * Creates every directory of @paths that does not exist yet: configs and
 * data readable by their owner only (they may hold secrets).
 */
gboolean
vb_paths_ensure(const VbPaths *p, GError **error)
{
    const struct {
        const char *dir;
        int mode;
    } dirs[] = {
        { p->config_dir, 0700 }, { p->autostart_dir, 0700 }, { p->run_dir, 0700 },
        { p->data_dir, 0700 },   { p->caps_dir, 0700 },      { p->save_dir, 0700 },
        { p->snapshot_dir, 0700 }, { p->log_dir, 0700 },
        { p->network_config_dir, 0700 }, { p->network_autostart_dir, 0700 },
        { p->network_run_dir, 0700 }, { p->dnsmasq_dir, 0700 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++) {
        GStatBuf st;

        if (g_mkdir_with_parents(dirs[i].dir, dirs[i].mode) < 0) {
            int saved = errno;

            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create directory '%s': %s",
                        dirs[i].dir, g_strerror(saved));
            return FALSE;
        }
        /* one made earlier with looser permissions would show status
         * files and configs (with their secrets) to other users */
        if (g_stat(dirs[i].dir, &st) == 0 && st.st_uid == geteuid() &&
            (st.st_mode & 07777 & ~dirs[i].mode) != 0 && chmod(dirs[i].dir, dirs[i].mode) < 0) {
            int saved = errno;

            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot restrict directory '%s' to %04o: %s",
                        dirs[i].dir, dirs[i].mode, g_strerror(saved));
            return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_paths_domain_config:
 * @name: a validated domain name (no '/', no leading '.')
 *
 * Returns: (transfer full): the path of the domain's persistent config.
 */
char *
vb_paths_domain_config(const VbPaths *p, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);

    return g_build_filename(p->config_dir, file, NULL);
}

/**
 * vb_paths_domain_unsupported:
 * @name: a validated domain name
 *
 * Returns: (transfer full): the list of settings of the domain's config that a start does
 *   not act on, as computed from the caller's document at define (next to the config).
 */
char *
vb_paths_domain_unsupported(const VbPaths *p, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".unsupported", NULL);

    return g_build_filename(p->config_dir, file, NULL);
}

/* Returns: (transfer full): the persistent config of the network @name (validated). */
char *
vb_paths_network_config(const VbPaths *p, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);

    return g_build_filename(p->network_config_dir, file, NULL);
}

/* Returns: (transfer full): the autostart symlink of the network @name. */
char *
vb_paths_network_autostart(const VbPaths *p, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);

    return g_build_filename(p->network_autostart_dir, file, NULL);
}

/**
 * vb_paths_domain_autostart:
 * @name: a validated domain name
 *
 * Returns: (transfer full): the autostart marker of the domain: a symlink
 *   to its config, as libvirt keeps them.
 */
char *
vb_paths_domain_autostart(const VbPaths *p, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);

    return g_build_filename(p->autostart_dir, file, NULL);
}
