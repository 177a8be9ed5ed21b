/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    VB_PATHS_SYSTEM,  /* /etc, /run, /var/lib, /var/log */
    VB_PATHS_SESSION, /* the XDG directories of the user */
} VbPathsKind;

/*
 * Every file the service owns is below these directories, all derived from
 * one root. No other code builds a path from a literal.
 */
typedef struct {
    char *root;         /* "" for the real system/session layout */
    char *config_dir;   /* persistent domain configs: <name>.xml */
    char *autostart_dir; /* symlinks/markers of autostarted domains */
    char *run_dir;      /* status XML, sockets */
    char *data_dir;     /* host uuid, caps cache, save images */
    char *caps_dir;
    char *save_dir;
    char *snapshot_dir;
    char *log_dir;      /* per-domain QEMU logs */
    char *nvram_dir;    /* UEFI variable stores: <name>_VARS.fd (created on use) */
    char *swtpm_dir;    /* emulated TPM state: <uuid>/tpm2/ (created on use) */
    char *config_file;  /* the service's keyfile */
    char *network_config_dir;    /* persistent network configs: <name>.xml (issue 12) */
    char *network_autostart_dir; /* symlinks of autostarted networks */
    char *network_run_dir;       /* status of running networks */
    char *dnsmasq_dir;           /* dnsmasq configs, hosts and lease files */
} VbPaths;

VbPaths *vb_paths_new(VbPathsKind kind, const char *root);
void vb_paths_free(VbPaths *paths);
gboolean vb_paths_ensure(const VbPaths *paths, GError **error);
char *vb_paths_domain_config(const VbPaths *paths, const char *name);
char *vb_paths_domain_unsupported(const VbPaths *paths, const char *name);
char *vb_paths_domain_autostart(const VbPaths *paths, const char *name);
char *vb_paths_network_config(const VbPaths *paths, const char *name);
char *vb_paths_network_autostart(const VbPaths *paths, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbPaths, vb_paths_free)

G_END_DECLS
